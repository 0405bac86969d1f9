"""The report pages (issue 12, item 7): a chart and its table each, the same table as CSV and
as an Excel workbook. Mounted here as the console mounts them, behind its permission."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import openpyxl
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.reports.campus import load, pay
from tests.integration.web.conftest import web_runtime

from wattbook.interfaces.web import _reports, create_app

CAMPUS = (
    "account_number,holder,phone,address,bus,opening_balance\n"
    "051600007001,=HYPERLINK(1),,3栋101,bus-1,-3.50\n"
    "051600007002,乙,13800138002,3栋102,bus-1,5.00\n"
    "051600007003,丙,13800138003,3栋103,bus-1,80.00\n"
)


@pytest.fixture
async def reports(engine: Engine, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    await load(engine, clock, CAMPUS)
    await pay(engine, clock, "051600007003", 1000, operator="王", reference="W1")
    app = create_app(web_runtime(engine, clock), background=False)
    app.include_router(_reports.build_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield client
    await app.state.batcher.close()


class TestReportPages:
    @pytest.mark.parametrize("key", _reports.REPORTS)
    async def test_each_report_shows_a_chart_and_its_table(
        self, reports: httpx.AsyncClient, key: str
    ) -> None:
        answer = await reports.get(f"/console/reports/{key}")

        assert answer.status_code == 200
        assert '<svg class="chart" role="img"' in answer.text
        assert "<table>" in answer.text

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

    async def test_an_unknown_report_is_not_found(self, reports: httpx.AsyncClient) -> None:
        answer = await reports.get("/console/reports/nonsense")

        assert answer.status_code == 404
