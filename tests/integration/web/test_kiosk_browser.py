"""The kiosk flow in Chromium (Debian's, never a downloaded one), with screenshots (P2).

As deployed (issue 16): `wattbook serve`, kiosk K01 registered with `wattbook kiosk add`, and
the kiosk's agent (`wattbook kiosk agent`, simulated acceptor) in front of the screen. The
notes go in on the acceptor's panel, a second page; the screen follows them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


@pytest.fixture
def agent(server: Server, tmp_path: Path) -> Iterator[str]:
    """Register K01 and run its agent; yield the agent's base URL."""
    secret_file = tmp_path / "K01.secret"
    env = {**os.environ, "WATTBOOK_DATABASE_URL": server.url}
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattbook",
            "kiosk",
            "add",
            "K01",
            "--secret-file",
            str(secret_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert secret_file.read_text().strip() not in added.stdout
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattbook",
            "kiosk",
            "agent",
            "--kiosk",
            "K01",
            "--secret-file",
            str(secret_file),
            "--server",
            server.base,
            "--listen",
            f"127.0.0.1:{port}",
            "--acceptor",
            "simulated",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert f"http://127.0.0.1:{port}/kiosk" in line, line
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"kiosk-{name}.png"), full_page=True)  # type: ignore[attr-defined]


class TestKioskInChromium:
    def test_a_resident_tops_up_with_notes_and_gets_a_receipt(self, agent: str) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(f"{agent}/kiosk")
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
            sync_api.expect(page.locator("#notes-ok")).to_be_disabled()
            panel = browser.new_page(viewport={"width": 600, "height": 500})
            panel.goto(f"{agent}/acceptor")
            for yuan in ("100", "50", "10"):
                panel.locator(f'.note[data-yuan="{yuan}"]').click()
                sync_api.expect(page.locator("#acceptor-status")).to_have_text(f"已收到 ¥{yuan}")
            panel.locator("#note-fake").click()
            sync_api.expect(page.locator("#acceptor-status")).to_have_text("假币已退回，请取回")
            sync_api.expect(page.locator("#total")).to_have_text("160.00")
            sync_api.expect(panel.locator("#events li").first).to_have_text("假币已退回")
            shot(panel, "4-acceptor-panel")
            shot(page, "4-notes")
            page.locator("#notes-ok").click()
            sync_api.expect(page.locator("#done-title")).to_have_text(
                "缴费成功，请取回您的缴费凭条"
            )
            sync_api.expect(page.locator("#r-balance")).to_have_text("172.34 元")
            receipt_number = page.locator("#r-number").inner_text()
            shot(page, "5-done")
            receipt = browser.new_page(viewport={"width": 400, "height": 700})
            receipt.goto(agent + (page.locator("#r-print").get_attribute("href") or ""))
            sync_api.expect(receipt.locator("h1")).to_have_text("文昌家属区电费缴费凭条")
            shot(receipt, "6-receipt-58mm")
            page.locator("#done-ok").click()
            page.get_by_role("link", name="English").click()
            sync_api.expect(page.get_by_role("button", name="Pay for electricity")).to_be_visible()
            english_panel = browser.new_page()
            english_panel.goto(f"{agent}/acceptor?lang=en")
            sync_api.expect(english_panel.locator("h1")).to_have_text("Note acceptor (simulated)")
            browser.close()

        assert re.fullmatch(r"KS\d{8}000001", receipt_number)
