"""The report pages (issue 12, item 7): a chart and its table each, the same table as CSV and
as an Excel workbook; behind the console's log-in and the reports permission."""

from __future__ import annotations

import csv
import io

import httpx
import openpyxl
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.reports.campus import load, pay
from tests.integration.web.console.helpers import LOGINS, log_in

from wattbook.bootstrap import WebRuntime
from wattbook.domain import staff
from wattbook.interfaces.web.console import _reports

CAMPUS = (
    "account_number,holder,phone,address,bus,opening_balance\n"
    "051600007001,=HYPERLINK(1),,3栋101,bus-1,-3.50\n"
    "051600007002,乙,13800138002,3栋102,bus-1,5.00\n"
    "051600007003,丙,13800138003,3栋103,bus-1,80.00\n"
)


@pytest.fixture
async def reports(
    runtime: WebRuntime, console: httpx.AsyncClient, engine: Engine, clock: FakeClock
) -> httpx.AsyncClient:
    """Return the console's client, logged in as a viewer, over a small campus."""
    await load(engine, clock, CAMPUS)
    await pay(engine, clock, "051600007003", 1000, operator="王", reference="W1")
    await log_in(console, LOGINS[staff.Role.VIEWER])
    return console


class TestReportPages:
    @pytest.mark.parametrize("key", _reports.REPORTS)
    async def test_each_report_shows_a_chart_and_its_table(
        self, reports: httpx.AsyncClient, key: str
    ) -> None:
        answer = await reports.get(f"/console/reports/{key}")

        assert answer.status_code == 200
        assert '<svg class="chart" id="report-chart"' in answer.text
        assert 'role="img" aria-labelledby="report-chart-title report-chart-desc"' in answer.text
        assert '<table class="report">' in answer.text

    async def test_the_arrears_list_in_english(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get("/console/reports/arrears", params={"lang": "en"})

        assert "Accounts in arrears" in answer.text
        assert "051600007001" in answer.text
        assert "051600007002" not in answer.text

    async def test_the_csv_export_is_the_table(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get("/console/reports/arrears", params={"export": "csv"})

        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert answer.headers["content-type"].startswith("text/csv")
        assert rows[0] == ["户号", "户名", "手机号", "地址", "余额（元）"]
        # A holder's name that looks like a formula is quoted, never run by a spreadsheet.
        assert rows[1] == ["051600007001", "'=HYPERLINK(1)", "—", "3栋101", "-3.50"]

    async def test_the_excel_export_is_the_table(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get(
            "/console/reports/collections", params={"export": "xlsx", "lang": "en"}
        )

        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert rows[0] == ["Day", "Channel", "Operator", "Payments", "Amount (yuan)"]
        assert rows[1][1:] == ["Counter", "王", 1, 10]

    async def test_refuses_a_reversed_range(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get(
            "/console/reports/collections", params={"first": "2026-12-05", "last": "2026-12-01"}
        )

        assert answer.status_code == 422
        assert "报表日期范围无效" in answer.text

    async def test_sends_a_visitor_without_a_session_to_the_log_in(
        self, console: httpx.AsyncClient
    ) -> None:
        answer = await console.get("/console/reports/arrears")

        assert (answer.status_code, answer.headers["location"]) == (303, "/console/login")

    async def test_the_navigation_offers_the_reports(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get("/console")

        assert 'href="/console/reports"' in answer.text

    async def test_an_unknown_report_is_not_found(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get("/console/reports/nonsense")

        assert answer.status_code == 404


class TestBalanceListPages:
    async def test_a_page_links_the_next_and_the_export_holds_every_row(
        self,
        reports: httpx.AsyncClient,
        engine: Engine,
        clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await load(
            engine,
            clock,
            "account_number,holder,address,opening_balance\n051600007009,己,3栋109,-1.00\n",
        )
        monkeypatch.setattr(_reports, "PAGE_ROWS", 1)
        monkeypatch.setattr(_reports.rp, "MAX_PAGE", 1)

        first = await reports.get("/console/reports/arrears")
        second = await reports.get(
            "/console/reports/arrears",
            params={"after_fen": "-350", "after_number": "051600007001"},
        )
        exported = await reports.get("/console/reports/arrears", params={"export": "csv"})

        assert "051600007001" in first.text
        assert "051600007009" not in first.text
        assert "after_fen=-350&amp;after_number=051600007001" in first.text
        assert "051600007009" in second.text
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert [row[0] for row in rows[1:]] == ["051600007001", "051600007009"]
