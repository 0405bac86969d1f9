"""The kiosk flow in Chromium (Debian's, never a downloaded one), with screenshots (P2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.web.server import Server, free_port, seed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'kiosk.sqlite3'}"
    seed(url, ["051600001234"], opening_fen=1234)
    running = Server(url, free_port(), tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"kiosk-{name}.png"), full_page=True)  # type: ignore[attr-defined]


class TestKioskInChromium:
    def test_a_resident_tops_up_with_notes_and_gets_a_receipt(self, server: Server) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(f"{server.base}/kiosk")
            shot(page, "1-home")

            page.get_by_role("button", name="自助缴费").click()
            for digit in "051600001234":
                page.locator(f'.key[data-digit="{digit}"]').click()
            shot(page, "2-account")
            page.locator("#account-ok").click()
            sync_api.expect(page.locator("#d-holder")).to_have_text("张*丰")
            sync_api.expect(page.locator("#d-balance")).to_have_text(re.compile(r"^12\.34"))
            shot(page, "3-details")
            page.locator("#details-ok").click()
            for yuan in ("100", "50", "10"):
                page.locator(f'.note[data-yuan="{yuan}"]').click()
                sync_api.expect(page.locator("#acceptor-status")).to_contain_text("已收到")
            page.locator("#note-fake").click()
            sync_api.expect(page.locator("#acceptor-status")).to_have_text("假币已退回，请取回")
            sync_api.expect(page.locator("#total")).to_have_text("160.00")
            shot(page, "4-notes")
            page.locator("#notes-ok").click()
            sync_api.expect(page.locator("#done-title")).to_have_text(
                "缴费成功，请取回您的缴费凭条"
            )
            sync_api.expect(page.locator("#r-balance")).to_have_text("172.34 元")
            receipt_number = page.locator("#r-number").inner_text()
            shot(page, "5-done")
            receipt = browser.new_page(viewport={"width": 400, "height": 700})
            receipt.goto(server.base + (page.locator("#r-print").get_attribute("href") or ""))
            sync_api.expect(receipt.locator("h1")).to_have_text("文昌家属区电费缴费凭条")
            shot(receipt, "6-receipt-58mm")
            browser.close()

        assert re.fullmatch(r"KS\d{8}000001", receipt_number)
