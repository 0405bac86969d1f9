"""Smoke: log in as a cashier, take cash, see the receipt and the cash-up."""

from __future__ import annotations

import httpx
from tests.integration.web.console.helpers import log_in

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.headend.record_communication import record_communication
from wattbook.application.staff import ports as staff_ports
from wattbook.bootstrap import WebRuntime
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet


async def test_a_cashier_takes_cash(console: httpx.AsyncClient) -> None:
    token = await log_in(console, "cashier")

    desk = await console.get("/console/counter", params={"number": "051600001234"})
    form_token = desk.text.split('name="token" value="')[1].split('"')[0]
    paid = await console.post(
        "/console/counter/top-up",
        data={
            "csrf_token": token,
            "number": "051600001234",
            "amount": "50.00",
            "token": form_token,
        },
    )

    assert paid.status_code == 303, paid.text
    receipt = await console.get(paid.headers["location"])
    assert "50.00" in receipt.text
    cash = await console.get("/console/cash-up")
    assert cash.status_code == 200


async def test_an_engineer_sees_each_bus_and_meter_with_its_success(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    clock = runtime.storage.clock
    meter = MeterNumber(value="051600001234")
    await install_meter(
        uow=runtime.storage.uow_factory(),
        clock=clock,
        number=AccountNumber(value="051600001234"),
        meter_number=meter,
        bus="block-7",
        initial=RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0),
    )
    await configure_bus(
        uow=runtime.storage.uow_factory(),
        bus=hp.BusConfig(
            name="block-7", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=meter),)
        ),
    )
    await record_communication(
        uow=runtime.storage.uow_factory(),
        bus="block-7",
        outcomes=[
            hp.CommunicationOutcome(meter_number=meter, at=clock.now(), succeeded=ok)
            for ok in (True, True, True, False)
        ],
    )
    await log_in(console, "engineer")

    page = await console.get("/console/meters")

    assert page.status_code == 200
    assert "block-7" in page.text
    assert "75.0% (3/4)" in page.text


async def test_the_same_counter_form_sent_twice_credits_and_audits_once(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    token = await log_in(console, "cashier")
    form = {"csrf_token": token, "number": "051600001234", "amount": "20.00", "token": "once"}

    first = await console.post("/console/counter/top-up", data=form)
    second = await console.post("/console/counter/top-up", data=form)

    assert first.headers["location"] == second.headers["location"]
    async with runtime.storage.reader_factory() as uow:
        balance = await uow.ledger.balances([AccountNumber(value="051600001234")])
        records = await uow.staff.search_audit(
            staff_ports.AuditQuery(action="payments.counter.top-up")
        )
    assert balance[AccountNumber(value="051600001234")].fen == 1_000 + 2_000
    assert len(records) == 1
