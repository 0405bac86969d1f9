"""The staff console in Chromium (Debian's, never a downloaded one): each role's daily work.

As deployed: `wattbook serve` on a SQLite file, the operators made with
`wattbook admin create-operator`. Screenshots at desktop size and on a 390x844 phone go to
``test-artifacts/console/``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from tests.integration.web.server import Server, free_port, seed

from wattbook import bootstrap
from wattbook.application.accounts.install_meter import install_meter
from wattbook.domain.alarms import Alarm, AlarmKind
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet
from wattbook.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "test-artifacts" / "console"
HOLIDAYS = Path(__file__).parent / "data" / "holidays-2027.csv"
PASSWORD = "campus power 2027"  # noqa: S105 - a test password
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium"),
    pytest.mark.slow,
]


def _install_meter(url: str, number: str) -> None:
    """Install the meter, and let it go silent: a no-communication alarm for the engineer."""
    storage = bootstrap.build_storage(Settings(database_url=url))
    meter = MeterNumber(value=number)

    async def run() -> None:
        await install_meter(
            uow=storage.uow_factory(),
            clock=storage.clock,
            number=AccountNumber(value=number),
            meter_number=meter,
            bus="bus-1",
            initial=RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0),
        )
        now = storage.clock.now()
        async with storage.uow_factory() as uow:
            await uow.alarms.record(
                (Alarm.on_meter(meter, AlarmKind.NO_COMMUNICATION, started_at=now),),
                raised_at=now,
            )
            await uow.commit()

    try:
        asyncio.run(run())
    finally:
        storage.close()


def _create_operator(url: str, tmp_path: Path, login: str, role: str) -> None:
    secret = tmp_path / f"{login}.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattbook",
            "admin",
            "create-operator",
            login,
            "--name",
            login.title(),
            "--role",
            role,
            "--password-file",
            str(secret),
            "--database-url",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"operator {login}" in done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    seed(url, ["051600001234", "051600005678"], opening_fen=5_000)
    _install_meter(url, "051600001234")
    for login, role in (
        ("admin", "administrator"),
        ("cashier", "cashier"),
        ("engineer", "engineer"),
    ):
        _create_operator(url, tmp_path, login, role)
    running = Server(url, free_port(), tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def log_in(page: object, base: str, login: str) -> None:
    page.goto(f"{base}/console/login")  # type: ignore[attr-defined]
    page.get_by_label("登录名").fill(login)  # type: ignore[attr-defined]
    page.get_by_label("密码").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="登录").click()  # type: ignore[attr-defined]
    sync_api.expect(page.locator("h1")).to_have_text("员工管理台")  # type: ignore[attr-defined]


def nav(page: object, name: str) -> None:
    """Follow the console navigation's link ``name``."""
    menu = page.get_by_role("navigation", name="员工管理台")  # type: ignore[attr-defined]
    menu.get_by_role("link", name=name, exact=True).click()


def log_out(page: object) -> None:
    page.get_by_role("button", name="退出登录").click()  # type: ignore[attr-defined]
    sync_api.expect(page.locator("h1")).to_have_text("员工登录")  # type: ignore[attr-defined]


class TestConsoleInChromium:
    def test_a_cashiers_day(self, server: Server) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport=DESKTOP)
            # Whatever the hour the test runs, the administrator opens the counter first (P1).
            log_in(page, server.base, "admin")
            page.goto(f"{server.base}/console/settings")
            page.locator("#opening_reason").fill("测试：开放窗口")
            page.get_by_role("button", name="临时开放窗口").click()
            sync_api.expect(page.get_by_role("status")).to_have_text("窗口已临时开放")
            log_out(page)

            log_in(page, server.base, "cashier")
            shot(page, "cashier-1-home")
            nav(page, "用户")
            page.get_by_role("link", name="开户").click()
            page.get_by_label("户号").fill("051600009999")
            page.get_by_label("户名").fill("王五")
            page.get_by_label("手机号码").fill("13900139000")
            page.get_by_label("地址").fill("甲1-1-101")
            page.get_by_label("期初余额（元）").fill("20.00")
            shot(page, "cashier-2-open")
            page.get_by_role("button", name="开户").click()
            sync_api.expect(page.locator("h1")).to_have_text("王五 · 051600009999")
            sync_api.expect(page.locator(".figure").first).to_have_text("20.00 元")

            receipts = []
            for amount in ("100.00", "50.00"):
                page.goto(f"{server.base}/console/counter?number=051600009999")
                page.get_by_label("缴费金额（元）").fill(amount)
                page.get_by_role("button", name="收费").click()
                sync_api.expect(page.locator("article.receipt h1")).to_have_text(
                    "文昌家属区电费缴费凭条"
                )
                sync_api.expect(page.locator("article.receipt")).to_contain_text(amount)
                receipts.append(re.search(r"/console/receipts/(\w+)", page.url).group(1))  # type: ignore[union-attr]
            shot(page, "cashier-3-receipt-58mm")

            # The second top-up was a mistake: refunded on the receipt and an ID (P4).
            page.goto(f"{server.base}/console/counter")
            page.locator("#refund_receipt").fill(receipts[1])
            page.locator("#refund_doc_no").fill("110101199001011234")
            page.locator("#refund_reason").fill("多充了")
            page.get_by_role("button", name="现金退款").click()
            sync_api.expect(page.locator("article.receipt")).to_contain_text("-50.00")

            nav(page, "日结")
            sync_api.expect(page.locator("#balanced")).to_have_text("相符")
            sync_api.expect(page.locator("#drawer")).to_contain_text("100.00")
            shot(page, "cashier-4-cash-up")
            phone = browser.new_page(viewport=PHONE)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base}/console/cash-up")
            shot(phone, "cashier-5-cash-up-phone")
            phone.goto(f"{server.base}/console/counter?number=051600001234")
            shot(phone, "cashier-6-counter-phone")

            # Not an administrator's: refused by the server.
            refused = page.goto(f"{server.base}/console/settings")
            assert refused is not None
            assert refused.status == 403
            sync_api.expect(page.locator("h1")).to_have_text("无权限")
            browser.close()

    def test_an_engineer_trips_closes_and_acknowledges(self, server: Server) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport=DESKTOP)
            log_in(page, server.base, "engineer")
            nav(page, "电表与总线")
            page.get_by_role("link", name="051600001234").click()
            for operation, label in (("TRIP", "拉闸"), ("CLOSE", "合闸")):
                page.get_by_label("操作", exact=True).select_option(operation)
                page.locator("#relay_reason").fill(f"测试{label}")
                page.get_by_role("button", name="下发指令").click()
                sync_api.expect(page.locator("#last-command")).to_contain_text(label)
                sync_api.expect(page.locator("#last-command")).to_contain_text("待执行")
            shot(page, "engineer-1-meter")
            nav(page, "告警")
            alarm = page.locator("#alarm-list li").first
            sync_api.expect(alarm).to_contain_text("通信中断")
            sync_api.expect(alarm).to_contain_text("未确认")
            alarm.get_by_role("button", name="确认").click()
            sync_api.expect(page.locator("#alarm-list li").first).to_contain_text(
                "已确认： engineer"
            )
            shot(page, "engineer-3-alarms")
            phone = browser.new_page(viewport=PHONE)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base}/console/meters")
            shot(phone, "engineer-2-meters-phone")
            refused = page.goto(f"{server.base}/console/counter")
            assert refused is not None
            assert refused.status == 403
            browser.close()

    def test_an_administrator_changes_the_price_and_imports_2027(self, server: Server) -> None:
        tomorrow = (date.today() + timedelta(days=2)).isoformat()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport=DESKTOP)
            log_in(page, server.base, "admin")
            nav(page, "参数设置")
            page.locator("#price").fill("0.5500")
            page.locator("#price_from").fill(tomorrow)
            page.get_by_role("button", name="自该日起执行新电价").click()
            sync_api.expect(page.locator("#tariffs")).to_contain_text(tomorrow)
            sync_api.expect(page.locator("#tariffs")).to_contain_text("0.55")

            page.locator("#schedule").set_input_files(str(HOLIDAYS))
            page.locator("#holiday_note").fill("国务院办公厅通知")
            page.get_by_role("button", name="导入").click()
            sync_api.expect(page.get_by_role("status")).to_contain_text("2027")
            sync_api.expect(page.locator("#years")).to_contain_text("2027")
            shot(page, "admin-1-settings")

            nav(page, "操作日志")
            sync_api.expect(page.locator("table.audit")).to_contain_text("billing.tariff.changed")
            sync_api.expect(page.locator("table.audit")).to_contain_text(
                "prepaid.calendar.imported"
            )
            shot(page, "admin-2-audit")
            phone = browser.new_page(viewport=PHONE)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base}/console/settings")
            shot(phone, "admin-3-settings-phone")
            browser.close()
