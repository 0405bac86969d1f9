"""Read now in Chromium (Debian's): an engineer asks on the meter page, a head-end running
beside `wattbook serve` reads the simulated meter over TCP, and the page shows the values.

The web process never talks on the bus: the head-end (in a thread here, in-process in the
demo) owns it. Screenshots at desktop size and on a 390x844 phone go to
``test-artifacts/console/``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.headend.campus import bus_spec
from tests.integration.web.server import Server, free_port, seed
from tests.integration.web.test_console_browser import (
    ARGS,
    CHROMIUM,
    DESKTOP,
    PHONE,
    _create_operator,
    log_in,
    shot,
)

from wattbook import bootstrap
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.headend import ports as hp
from wattbook.dlt645 import simulator
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet
from wattbook.settings import Settings

METER = "051600001234"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
    pytest.mark.slow,
]


class HeadendThread:
    """A simulated bus on TCP and a head-end serving it, on their own event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(30), "the head-end did not start"
        assert self.failed is None, self.failed

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:  # reported to the test through start()
            self.failed = exc
            self.ready.set()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        campus = simulator.Campus.from_spec(
            simulator.CampusSpec(buses=(bus_spec("bus-1", [METER]),), seed=5),
            time_source=simulator.SystemTimeSource(),
        )
        async with campus.serving() as endpoints:
            storage = bootstrap.build_storage(Settings(database_url=self.url))
            shown = campus.meter(METER).registers()
            try:
                await install_meter(
                    uow=storage.uow_factory(),
                    clock=storage.clock,
                    number=AccountNumber(value=METER),
                    meter_number=MeterNumber(value=METER),
                    bus="bus-1",
                    initial=RegisterSet(
                        total_wh=shown.total_wh // 10 * 10,
                        sharp_wh=shown.sharp_wh // 10 * 10,
                        peak_wh=shown.peak_wh // 10 * 10,
                        flat_wh=shown.flat_wh // 10 * 10,
                        valley_wh=shown.valley_wh // 10 * 10,
                    ),
                )
            finally:
                storage.close()
            await bootstrap.add_bus(
                database_url=self.url,
                bus=hp.BusConfig(
                    name="bus-1",
                    url=f"tcp://{endpoints[0].host}:{endpoints[0].port}",
                    meters=(hp.BusMeter(meter_number=MeterNumber(value=METER)),),
                ),
            )
            headend = await bootstrap.build_headend(database_url=self.url, command_poll_s=0.2)
            try:
                self.ready.set()
                await headend.headend.run(self._stop)
            finally:
                headend.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    seed(url, [METER], opening_fen=5_000)
    headend = HeadendThread(url)
    headend.start()
    _create_operator(url, tmp_path, "engineer", "engineer")
    running = Server(url, free_port(), tmp_path / "server.log")
    running.start()
    yield running
    running.stop()
    headend.stop()


class TestReadNowInChromium:
    def test_an_engineer_reads_a_meter_now(self, server: Server) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport=DESKTOP)
            log_in(page, server.base, "engineer")
            page.goto(f"{server.base}/console/meters/{METER}")
            sync_api.expect(page.locator("#read-now")).to_have_text("立即抄读")

            page.get_by_role("button", name="立即抄读").click()
            rows = page.locator("#read-requests tbody tr")
            sync_api.expect(rows).to_have_count(1)
            sync_api.expect(rows.first).to_contain_text("engineer")
            # The head-end serves it within a second or two; the page is refreshed by hand.
            for _ in range(40):
                if "已抄读" in rows.first.inner_text():
                    break
                page.wait_for_timeout(250)
                page.get_by_role("link", name="刷新").click()
            sync_api.expect(rows.first).to_contain_text("已抄读")
            sync_api.expect(rows.first).to_contain_text("kWh")
            sync_api.expect(rows.first).to_contain_text("合闸")
            # The reading reached the core: the meter's last reading is shown above.
            shot(page, "engineer-4-read-now")

            phone = browser.new_page(viewport=PHONE)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base}/console/meters/{METER}#read-now")
            sync_api.expect(phone.locator("#read-requests")).to_contain_text("已抄读")
            shot(phone, "engineer-5-read-now-phone")
            browser.close()
