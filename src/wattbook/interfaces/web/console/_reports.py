"""The staff's reports (issue 12, item 7): a page each with a chart and its table, and the
same table as CSV and as an Excel workbook.

Every route here is behind the console's guard with the reports permission (viewers and up);
none changes anything. Each route makes one query call (``application.queries``) and lays the
answer out; the thresholds come from the domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from wattbook import i18n
from wattbook.application import queries
from wattbook.application.queries import report_ports as rp
from wattbook.domain import metering, staff
from wattbook.domain.values import AccountNumber, Energy, Money, local_date, to_local
from wattbook.interfaces.web import _charts, _context
from wattbook.interfaces.web._errors import InvalidCursor
from wattbook.interfaces.web._exports import Cell, to_csv, to_xlsx
from wattbook.interfaces.web._i18n import language_of
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, render

PREFIX = "/console/reports"
# How many bars a chart shows: the rest stay in the table and the exports.
CHART_BARS = 20
DEFAULT_DAYS = 7
# Rows a balance list shows a page; its exports hold every row, up to EXPORT_ROWS.
PAGE_ROWS = 200
EXPORT_ROWS = 50_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """A column: its message id and whether it holds numbers (right-aligned)."""

    message: str
    numeric: bool = False


@dataclass(slots=True, kw_only=True)
class ReportView:
    """What a report page, its CSV and its workbook show."""

    key: str
    columns: Sequence[Column]
    rows: list[list[Cell]]
    # What the chart shows: a bar (label, value) a row, the value as text, the bars' colour.
    bars: list[tuple[str, float]]
    shown: Callable[[float], str] = _charts.plain
    chart_colour: str = "brand"
    figures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    next_query: str | None = None
    first_date: date | None = None
    last_date: date | None = None


REPORTS = (
    "collections",
    "arrears",
    "low-balance",
    "no-phone",
    "consumption",
    "bus-success",
    "suspects",
)


def _kwh(energy: Energy) -> Decimal:
    return energy.kwh


def _yuan(money: Money) -> Decimal:
    return Decimal(money.yuan())


def _fen_as_yuan(fen: float) -> str:
    return Money(fen=int(fen)).yuan()


def _wh_as_kwh(wh: float) -> str:
    return f"{Energy(wh=int(wh)).kwh} kWh"


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _range(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    end = last if last is not None else today
    start = first if first is not None else end - timedelta(days=DEFAULT_DAYS - 1)
    queries.check_range(start, end)
    return start, end


def _after(fen: int | None, number: str | None) -> tuple[int, AccountNumber] | None:
    if fen is None and number is None:
        return None
    if fen is None or number is None:
        raise InvalidCursor("give both after_fen and after_number")
    try:
        return fen, AccountNumber(value=number)
    except ValueError:
        raise InvalidCursor("after_number is not an account number") from None


Builder = Callable[[Request, dict[str, Any]], Awaitable[ReportView]]


async def _collections(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)
    language = language_of(request)
    first, last = _range(params["first"], params["last"], local_date(runtime.clock.now()))
    report = await queries.daily_collections(
        uow=runtime.storage.report_factory(), first_date=first, last_date=last
    )
    by_day = report.by(lambda row: row.day.isoformat())
    return ReportView(
        key="collections",
        first_date=first,
        last_date=last,
        columns=(
            Column(message="report.col.day"),
            Column(message="report.col.channel"),
            Column(message="report.col.operator"),
            Column(message="report.col.count", numeric=True),
            Column(message="report.col.amount_yuan", numeric=True),
        ),
        rows=[
            [
                row.day.isoformat(),
                i18n.gettext(language, f"channel.{row.channel}"),
                row.operator or "—",
                row.count,
                _yuan(row.amount),
            ]
            for row in report.rows
        ],
        bars=[(day, float(total.fen)) for day, total in by_day.items()],
        shown=_fen_as_yuan,
        figures=[
            (i18n.gettext(language, "report.total_yuan"), report.total.yuan()),
            *(
                (i18n.gettext(language, f"channel.{channel}"), total.yuan())
                for channel, total in report.by(lambda row: row.channel).items()
            ),
        ],
    )


def _balance_view(
    key: str, found: queries.BalanceList, language: str, *, colour: str, note: str
) -> ReportView:
    next_query = None
    if found.next_after is not None:
        fen, number = found.next_after
        next_query = f"after_fen={fen}&after_number={number}"
    return ReportView(
        key=key,
        columns=(
            Column(message="report.col.account"),
            Column(message="report.col.holder"),
            Column(message="report.col.phone"),
            Column(message="report.col.address"),
            Column(message="report.col.balance_yuan", numeric=True),
        ),
        rows=[
            [str(r.account_number), r.holder, r.phone or "—", r.address, _yuan(r.balance)]
            for r in found.rows
        ],
        bars=[
            (f"{r.account_number} {r.holder}", float(r.balance.fen))
            for r in found.rows[:CHART_BARS]
        ],
        shown=_fen_as_yuan,
        chart_colour=colour,
        figures=[
            (
                i18n.gettext(language, "report.accounts"),
                f"{len(found.rows)}{'+' if found.next_after is not None else ''}",
            ),
            (i18n.gettext(language, "report.line_yuan"), found.line.yuan()),
        ],
        notes=[i18n.gettext(language, note)],
        next_query=next_query,
    )


async def _balance_list(
    fetch: Callable[[tuple[int, AccountNumber] | None, int], Awaitable[queries.BalanceList]],
    params: dict[str, Any],
) -> queries.BalanceList:
    """Return a page of a balance list, or for an export every row (up to EXPORT_ROWS)."""
    after = _after(params["after_fen"], params["after_number"])
    if not params["export"]:
        return await fetch(after, PAGE_ROWS)
    rows: list[rp.AccountRow] = []
    while True:
        found = await fetch(after, rp.MAX_PAGE)
        rows.extend(found.rows)
        if found.next_after is None or len(rows) >= EXPORT_ROWS:
            return queries.BalanceList(line=found.line, rows=tuple(rows), next_after=None)
        after = found.next_after


async def _arrears(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)

    async def fetch(after: tuple[int, AccountNumber] | None, limit: int) -> queries.BalanceList:
        return await queries.arrears_list(
            uow=runtime.storage.report_factory(), after=after, limit=limit
        )

    found = await _balance_list(fetch, params)
    return _balance_view(
        "arrears", found, language_of(request), colour="bad", note="report.arrears.note"
    )


async def _low_balance(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)

    async def fetch(after: tuple[int, AccountNumber] | None, limit: int) -> queries.BalanceList:
        return await queries.low_balance_list(
            uow=runtime.storage.report_factory(), now=runtime.clock.now(), after=after, limit=limit
        )

    found = await _balance_list(fetch, params)
    return _balance_view(
        "low-balance", found, language_of(request), colour="brand", note="report.low-balance.note"
    )


async def _no_phone(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)
    language = language_of(request)
    after = params["after_number"]
    try:
        start = None if after is None else AccountNumber(value=after)
    except ValueError:
        raise InvalidCursor("after_number is not an account number") from None
    found = await queries.accounts_without_phone(
        uow=runtime.reader_factory(), after=start, limit=1000
    )
    ranked = sorted(found, key=lambda r: (-r.unsent, str(r.account_number)))
    return ReportView(
        key="no-phone",
        columns=(
            Column(message="report.col.account"),
            Column(message="report.col.holder"),
            Column(message="report.col.address"),
            Column(message="report.col.balance_yuan", numeric=True),
            Column(message="report.col.unsent", numeric=True),
        ),
        rows=[
            [str(r.account_number), r.holder, r.address, _yuan(r.balance), r.unsent] for r in found
        ],
        bars=[
            (f"{r.account_number} {r.holder}", float(r.unsent))
            for r in ranked[:CHART_BARS]
            if r.unsent
        ],
        figures=[(i18n.gettext(language, "report.accounts"), str(len(found)))],
        notes=[i18n.gettext(language, "report.no-phone.note")],
        next_query=None if len(found) < 1000 else f"after_number={found[-1].account_number}",
    )


async def _consumption(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)
    language = language_of(request)
    first, last = _range(params["first"], params["last"], local_date(runtime.clock.now()))
    found = await queries.consumption_ranking(
        uow=runtime.storage.report_factory(), first_date=first, last_date=last, limit=100
    )
    return ReportView(
        key="consumption",
        first_date=first,
        last_date=last,
        columns=(
            Column(message="report.col.rank", numeric=True),
            Column(message="report.col.account"),
            Column(message="report.col.holder"),
            Column(message="report.col.address"),
            Column(message="report.col.kwh", numeric=True),
        ),
        rows=[
            [rank, str(r.account_number), r.holder, r.address, _kwh(r.energy)]
            for rank, r in enumerate(found, start=1)
        ],
        bars=[(f"{r.account_number} {r.holder}", float(r.energy.wh)) for r in found[:CHART_BARS]],
        shown=_wh_as_kwh,
        figures=[(i18n.gettext(language, "report.accounts"), str(len(found)))],
    )


async def _bus_success(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)
    first, last = _range(params["first"], params["last"], local_date(runtime.clock.now()))
    found = await queries.collection_success_by_bus(
        uow=runtime.storage.report_factory(), first_date=first, last_date=last
    )
    return ReportView(
        key="bus-success",
        first_date=first,
        last_date=last,
        columns=(
            Column(message="report.col.bus"),
            Column(message="report.col.attempts", numeric=True),
            Column(message="report.col.successes", numeric=True),
            Column(message="report.col.percent", numeric=True),
        ),
        rows=[
            [
                b.bus,
                b.attempts,
                b.successes,
                None if b.percent is None else Decimal(f"{b.percent:.1f}"),
            ]
            for b in found
        ],
        bars=[(b.bus, b.percent or 0.0) for b in found[:CHART_BARS]],
        shown=_percent,
        chart_colour="good",
    )


async def _suspects(request: Request, params: dict[str, Any]) -> ReportView:
    runtime = _context.runtime(request)
    language = language_of(request)
    found = await queries.suspect_meters(
        uow=runtime.storage.report_factory(), now=runtime.clock.now()
    )
    counts = dict.fromkeys(metering.SuspectKind, 0)
    for suspect in found:
        counts[suspect.kind] += 1
    return ReportView(
        key="suspects",
        columns=(
            Column(message="report.col.why"),
            Column(message="report.col.account"),
            Column(message="report.col.meter"),
            Column(message="report.col.holder"),
            Column(message="report.col.address"),
            Column(message="report.col.before_kwh", numeric=True),
            Column(message="report.col.after_kwh", numeric=True),
            Column(message="report.col.at"),
        ),
        rows=[
            [
                i18n.gettext(language, f"suspect.{s.kind.value}"),
                str(s.usage.account_number),
                s.usage.meter_number,
                s.usage.holder,
                s.usage.address,
                _kwh(s.usage.before),
                _kwh(s.usage.after),
                "" if s.usage.at is None else to_local(s.usage.at).strftime("%Y-%m-%d %H:%M"),
            ]
            for s in found
        ],
        bars=[
            (i18n.gettext(language, f"suspect.{kind.value}"), float(n))
            for kind, n in counts.items()
        ],
        chart_colour="bad",
        notes=[i18n.gettext(language, "report.suspects.note")],
    )


BUILDERS: dict[str, Builder] = {
    "collections": _collections,
    "arrears": _arrears,
    "low-balance": _low_balance,
    "no-phone": _no_phone,
    "consumption": _consumption,
    "bus-success": _bus_success,
    "suspects": _suspects,
}


def _header(view: ReportView, language: str) -> list[str]:
    return [i18n.gettext(language, column.message) for column in view.columns]


def _shown(cell: Cell) -> str:
    return "—" if cell is None else str(cell)


router = APIRouter(prefix=PREFIX)
_READ = Guard(staff.Permission.READ_REPORTS)


@router.get("")
async def index(request: Request, acting: Annotated[Acting, Depends(_READ)]) -> Response:
    """List the reports."""
    return render(request, "console/reports.html", acting=acting, reports=REPORTS)


@router.get("/{key}")
async def page(
    request: Request,
    acting: Annotated[Acting, Depends(_READ)],
    key: str,
    first: date | None = None,
    last: date | None = None,
    after_fen: int | None = Query(default=None, ge=-(2**62), le=2**62),
    after_number: str | None = Query(default=None, max_length=12),
    export: str | None = Query(default=None, pattern="^(csv|xlsx)$"),
) -> Response:
    """Show a report, or (``export=csv|xlsx``) download its table."""
    builder = BUILDERS.get(key)
    if builder is None:
        raise HTTPException(status_code=404)
    params = {
        "first": first,
        "last": last,
        "after_fen": after_fen,
        "after_number": after_number,
        "export": export is not None,
    }
    try:
        view = await builder(request, params)
    except (queries.InvalidReportRange, InvalidCursor) as error:
        return problem(request, error, acting=acting, back=f"{PREFIX}/{key}")
    language = language_of(request)
    title = i18n.gettext(language, f"report.{key}")
    if export is not None:
        header = _header(view, language)
        stem = f"wattbook-{key}-{local_date(_context.runtime(request).clock.now())}"
        if export == "csv":
            return Response(
                to_csv(header, view.rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
            )
        return Response(
            to_xlsx(title, header, view.rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
        )
    query = request.url.query
    return render(
        request,
        "console/report.html",
        acting=acting,
        title=title,
        view=view,
        header=_header(view, language),
        cells=[[_shown(cell) for cell in row] for row in view.rows],
        chart=_charts.rows(
            _charts.Chart(
                chart_id="report-chart",
                title=title,
                description=i18n.gettext(language, f"report.{key}.about"),
                labels=[label for label, _value in view.bars],
                series=[
                    _charts.Series(
                        name="",
                        values=[value for _label, value in view.bars],
                        colour=view.chart_colour,
                    )
                ],
                shown=view.shown,
            )
        ),
        csv_url=f"{PREFIX}/{key}?{query + '&' if query else ''}export=csv",
        xlsx_url=f"{PREFIX}/{key}?{query + '&' if query else ''}export=xlsx",
    )
