"""The console's reports in Chromium (Debian's, never a downloaded one): a real browser's
log-in form passes the shared CSRF check (Chromium posts ``Origin: null`` under the site's
``Referrer-Policy: no-referrer``; the check trusts ``Sec-Fetch-Site``), and a report's chart
and table on a desktop, checked by axe-core, and on a 390x844 phone. (Each role's daily work
in the console is ``tests/integration/web/test_console_browser.py``.)

Screenshots are kept under test-artifacts/console/ (git-ignored) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.integration.reports.campus import load, pay
from tests.integration.web.chromium import MARKS, shot
from tests.integration.web.conftest import SECRET, web_runtime
from tests.integration.web.console.helpers import LOGINS, PASSWORD, create_operators
from tests.integration.web.portal_server import ThreadedServer, create_app, served

from wattbook.adapters.passwords import Argon2Hasher
from wattbook.domain import staff
from wattbook.settings import WebSettings

CAMPUS = (
    "account_number,holder,phone,address,bus,opening_balance\n"
    "051600007001,张三,,3栋101,bus-1,-3.50\n"
    "051600007002,李四,13800138002,3栋102,bus-1,-12.00\n"
    "051600007003,王五,13800138003,3栋103,bus-2,80.00\n"
)

# axe-core through Playwright (and so Playwright itself), or the module is skipped
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    async def build(engine: Engine) -> FastAPI:
        clock = FakeClock(local(2025, 6, 10, 9))  # a Tuesday morning: the counter is open
        runtime = web_runtime(engine, clock, web=WebSettings(bank_secret=SECRET))
        object.__setattr__(runtime, "password_hasher", Argon2Hasher(fast=True))
        await create_operators(runtime)
        await load(engine, clock, CAMPUS)
        await pay(engine, clock, "051600007003", 5_000, operator="王", reference="W1")
        return create_app(runtime, background=False)

    with served(tmp_path_factory.mktemp("console"), build) as running:
        yield running


def _shot(page: Any, name: str) -> None:
    shot(page, "console", f"reports-{name}")


def _log_in(page: Any, server: ThreadedServer, login: str) -> dict[str, str]:
    """Log in through the form as a person would; return the headers the browser posted."""
    page.goto(f"{server.base}/console/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return dict(posted.value.all_headers())


class TestReportsInChromium:
    def test_the_log_in_form_works_in_a_real_browser(
        self, browser: Any, server: ThreadedServer
    ) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()

        posted = _log_in(page, server, LOGINS[staff.Role.VIEWER])

        _shot(page, "desktop-after-log-in")
        url, html = page.url, page.content()
        context.close()
        # Chromium sends Origin: null for the form under no-referrer, and says same-origin
        assert posted.get("origin") == "null"
        assert posted.get("sec-fetch-site") == "same-origin"
        assert url == f"{server.base}/console"
        assert "/console/logout" in html

    def test_a_wrong_password_is_refused_without_a_csrf_error(
        self, browser: Any, server: ThreadedServer
    ) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{server.base}/console/login")
        page.fill("#login", LOGINS[staff.Role.VIEWER])
        page.fill("#password", "not the password")
        page.click("button[type=submit].primary")
        page.wait_for_load_state()

        text, url = page.inner_text("main"), page.url
        context.close()
        assert url == f"{server.base}/console/login"
        assert "CSRF" not in text
        assert "来源不明" not in text

    def test_a_report_on_a_desktop_passes_axe(self, browser: Any, server: ThreadedServer) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = context.new_page()
        _log_in(page, server, LOGINS[staff.Role.VIEWER])
        axe = axe_playwright.Axe()
        problems = {}
        for key in ("arrears", "collections", "suspects"):
            page.goto(f"{server.base}/console/reports/{key}")
            _shot(page, f"desktop-{key}")
            problems[key] = axe.run(page).response["violations"]
            assert page.locator("svg.chart rect title").count() >= 1, key
        context.close()

        assert {key: [v["id"] for v in found] for key, found in problems.items()} == {
            key: [] for key in problems
        }

    def test_a_report_fits_a_phone(self, browser: Any, server: ThreadedServer) -> None:
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        page = context.new_page()
        _log_in(page, server, LOGINS[staff.Role.VIEWER])
        page.goto(f"{server.base}/console/reports/arrears")
        _shot(page, "phone-arrears")

        chart = page.locator("svg.chart").bounding_box()
        page_width = page.evaluate("document.documentElement.scrollWidth")
        context.close()
        assert chart is not None
        assert chart["width"] <= 390
        assert page_width <= 390
