"""Read now on the console's meter page over HTTP: who may ask, the audit record, CSRF, one
pending request per meter, and the page's pending / done / failed / expired lines."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from tests.fakes import FakeClock
from tests.integration.web.console.conftest import FIRST, SECOND
from tests.integration.web.console.helpers import log_in

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.headend.read_now import due_read_requests, record_read_outcome
from wattbook.application.staff import ports as staff_ports
from wattbook.bootstrap import WebRuntime
from wattbook.domain import metering
from wattbook.domain.headend import READ_REQUEST_EXPIRES_AFTER, MeterStatus, ReadRequest
from wattbook.domain.values import MeterNumber, RegisterSet

ZERO = RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0)
METER = MeterNumber(value=str(FIRST))
ON_NO_BUS = MeterNumber(value=str(SECOND))
READ = "/console/meters/051600001234/read"


@pytest.fixture
async def meters(runtime: WebRuntime) -> None:
    """Install a meter on each account; only the first hangs on a bus."""
    for number in (FIRST, SECOND):
        await install_meter(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            number=number,
            meter_number=MeterNumber(value=str(number)),
            bus="block-7",
            initial=ZERO,
        )
    await configure_bus(
        uow=runtime.storage.uow_factory(),
        bus=hp.BusConfig(
            name="block-7", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=METER),)
        ),
    )


async def requests_of(runtime: WebRuntime, meter: MeterNumber) -> tuple[ReadRequest, ...]:
    async with runtime.storage.reader_factory() as uow:
        return await uow.headend.read_requests(meter=meter, limit=10)


async def audit(runtime: WebRuntime) -> tuple[staff_ports.StoredAuditRecord, ...]:
    async with runtime.storage.reader_factory() as uow:
        return await uow.staff.search_audit(
            staff_ports.AuditQuery(action="headend.read.requested", limit=100)
        )


@pytest.mark.usefixtures("meters")
class TestReadNow:
    async def test_an_engineer_asks_and_the_page_shows_it_pending_with_its_age(
        self, console: httpx.AsyncClient, runtime: WebRuntime, clock: FakeClock
    ) -> None:
        token = await log_in(console, "engineer")

        answer = await console.post(READ, data={"csrf_token": token})
        clock.advance(timedelta(minutes=4))
        page = await console.get("/console/meters/051600001234")

        assert answer.status_code == 303
        assert answer.headers["location"].endswith("#read-now")
        (request,) = await requests_of(runtime, METER)
        assert request.requested_by == "engineer"
        assert 'class="read-pending"' in page.text
        assert "4 min" in page.text
        (record,) = await audit(runtime)
        assert (record.record.actor, record.record.target) == ("engineer", str(METER))

    async def test_asking_again_while_pending_joins_the_request_and_is_audited(
        self, console: httpx.AsyncClient, runtime: WebRuntime
    ) -> None:
        token = await log_in(console, "engineer")
        await console.post(READ, data={"csrf_token": token})
        await console.post("/console/logout", data={"csrf_token": token})
        token = await log_in(console, "admin")

        again = await console.post(READ, data={"csrf_token": token})

        assert again.status_code == 303
        assert len(await requests_of(runtime, METER)) == 1
        assert [r.record.actor for r in await audit(runtime)] == ["admin", "engineer"]

    @pytest.mark.parametrize("login", ["cashier", "viewer"])
    async def test_a_cashier_or_viewer_is_refused_and_nothing_is_asked(
        self, console: httpx.AsyncClient, runtime: WebRuntime, login: str
    ) -> None:
        token = await log_in(console, login)

        answer = await console.post(READ, data={"csrf_token": token})
        page = await console.get("/console/meters/051600001234")

        assert answer.status_code == 403
        assert await requests_of(runtime, METER) == ()
        assert await audit(runtime) == ()
        assert 'id="read-now-button"' not in page.text

    async def test_a_post_without_the_token_is_refused_and_nothing_is_asked(
        self, console: httpx.AsyncClient, runtime: WebRuntime
    ) -> None:
        await log_in(console, "engineer")

        answer = await console.post(READ, data={})

        assert answer.status_code == 403
        assert await requests_of(runtime, METER) == ()
        assert await audit(runtime) == ()

    async def test_a_meter_on_no_bus_is_refused_with_a_reason(
        self, console: httpx.AsyncClient, runtime: WebRuntime
    ) -> None:
        token = await log_in(console, "engineer")

        answer = await console.post("/console/meters/051600005678/read", data={"csrf_token": token})

        assert answer.status_code == 422
        assert "hangs on no bus" in answer.text
        assert await requests_of(runtime, ON_NO_BUS) == ()
        assert await audit(runtime) == ()

    async def test_an_unserved_request_is_shown_expired(
        self, console: httpx.AsyncClient, runtime: WebRuntime, clock: FakeClock
    ) -> None:
        token = await log_in(console, "engineer")
        await console.post(READ, data={"csrf_token": token})
        clock.advance(READ_REQUEST_EXPIRES_AFTER)

        page = await console.get("/console/meters/051600001234")

        assert 'class="read-expired"' in page.text
        assert "采集程序未及时处理" in page.text  # zh-CN first

    async def test_a_served_request_shows_the_values_read(
        self, console: httpx.AsyncClient, runtime: WebRuntime, clock: FakeClock
    ) -> None:
        token = await log_in(console, "engineer")
        await console.post(READ, data={"csrf_token": token})
        (due,) = await due_read_requests(uow=runtime.storage.uow_factory(), clock=clock)
        await record_read_outcome(
            uow=runtime.storage.uow_factory(),
            clock=clock,
            request=due.request,
            collection=hp.MeterCollection(
                meter_number=METER,
                bus="block-7",
                visited_at=clock.now(),
                succeeded=True,
                reading=metering.Reading(
                    meter_number=METER,
                    registers=RegisterSet(
                        total_wh=12_340, sharp_wh=0, peak_wh=0, flat_wh=12_340, valley_wh=0
                    ),
                    meter_time_at=clock.now(),
                    received_at=clock.now(),
                ),
                latest=hp.LatestValues(
                    meter_number=METER,
                    read_at=clock.now(),
                    status=MeterStatus(relay_open=True, relay_command_open=True, keep_power=False),
                    values=hp.InstantValues(voltage_mv=229_800, current_ma=0, active_power_mw=0),
                ),
            ),
        )

        page = await console.get("/console/meters/051600001234")

        assert 'class="read-done"' in page.text
        assert "12.34 kWh" in page.text
        assert "229.8 V" in page.text
