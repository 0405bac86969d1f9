"""The residents' portal's pages (Q2-Q6): home, payments, charges, usage, power, texts, downloads.

Every page reads the account of the resident's own session (``_portal_auth.resident``): no
URL carries an account id, and a receipt that is not the resident's is "not found", exactly
like one that does not exist.
"""

from __future__ import annotations

import calendar
import csv
import functools
import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParameter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application import queries
from wattbook.application.payments import records
from wattbook.domain import payments
from wattbook.domain.values import BillingMonth, RegisterSet, local_date, to_local
from wattbook.interfaces.web import _charts
from wattbook.interfaces.web._context import runtime
from wattbook.interfaces.web._i18n import language_of, translate
from wattbook.interfaces.web._portal_auth import page, resident
from wattbook.interfaces.web._portal_pdf import statement_pdf
from wattbook.interfaces.web._receipts import (
    FontMissing,
    receipt_fields,
    receipt_notes,
    receipt_pdf,
)

router = APIRouter(prefix="/portal")

PER_PAGE = 20
ReceiptNumber = Annotated[str, PathParameter(pattern=r"^[A-Z]{2}\d{14}$")]
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"

NAV = (
    ("home", "/portal", "portal.nav.home"),
    ("payments", "/portal/payments", "portal.nav.payments"),
    ("charges", "/portal/charges", "portal.nav.charges"),
    ("usage", "/portal/usage", "portal.nav.usage"),
    ("power", "/portal/power", "portal.nav.power"),
    ("texts", "/portal/texts", "portal.nav.texts"),
    ("downloads", "/portal/downloads", "portal.nav.downloads"),
)


def _kwh(wh: int) -> str:
    sign = "-" if wh < 0 else ""
    whole, rest = divmod(abs(wh), 1000)
    return f"{sign}{whole}.{rest // 10:02d}"


def _chart_kwh(wh: float) -> str:
    # The usage charts' axis and tips in kWh as the tables beside them show it.
    return _kwh(int(wh))


def item_label(language: str, item: str) -> str:
    """Return the tariff item's name in ``language`` (its code if the catalogue lacks it)."""
    key = f"item.{item}"
    found = translate(language, key)
    return item if found == key else found


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def _render(
    request: Request, template: str, active: str, context: dict[str, Any], **extra: Any
) -> Response:
    session, number = resident(request)
    return page(
        request,
        template,
        {
            "nav": NAV,
            "active": active,
            "account_number": str(number),
            "kwh": _kwh,
            "local": to_local,
            "per_page": PER_PAGE,
            "item_label": lambda item: item_label(language_of(request), item),
            **context,
        },
        session=session,
        **extra,
    )


@router.get("")
async def home(request: Request) -> Response:
    """Show the balance, arrears, relay state and the days the balance lasts (Q2, Q6)."""
    _session, number = resident(request)
    context = runtime(request)
    found = await queries.resident_home(
        reader=context.storage.resident_reader,
        number=number,
        now=context.clock.now(),
    )
    return _render(request, "portal/home.html", "home", {"home": found})


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _months_back(day: date, months: int) -> date:
    """Return the day after the same day ``months`` months earlier (the range's first day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last)) + timedelta(days=1)


@router.get("/payments")
async def payment_list(
    request: Request,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    quick: Annotated[str | None, Query(alias="range", pattern=r"^(3m|1y|all)$")] = None,
) -> Response:
    """List payments in a date range, with quick ranges (3 months, 1 year), paged (Q3, P5)."""
    _session, number = resident(request)
    context = runtime(request)
    today = local_date(context.clock.now())
    error = None
    first_date, last_date = _parse_date(first), _parse_date(last)
    if (first and first_date is None) or (last and last_date is None):
        error = "portal.payments.bad_date"
        first_date = last_date = None
    if quick == "3m":
        first_date, last_date = _months_back(today, 3), today
    elif quick == "1y":
        first_date, last_date = _months_back(today, 12), today
    elif quick == "all":
        first_date = last_date = None
    if first_date is not None and last_date is not None and last_date < first_date:
        error = "portal.payments.reversed"
        first_date, last_date = last_date, first_date
    found = await queries.resident_payments(
        reader=context.storage.resident_reader,
        number=number,
        first_date=first_date,
        last_date=last_date,
        page=page_number,
        per_page=PER_PAGE,
    )
    rows = [
        {
            "payment": payment,
            "due": records.amount_due(payment),
            "receipt": str(payment.receipt_number),
        }
        for payment in found.payments
    ]
    query = {
        "from": first_date.isoformat() if first_date else "",
        "to": last_date.isoformat() if last_date else "",
    }
    return _render(
        request,
        "portal/payments.html",
        "payments",
        {
            "rows": rows,
            "total": found.total,
            "page_number": page_number,
            "pages": _pages(found.total),
            "first": query["from"],
            "last": query["to"],
            "quick": quick,
            "error": error,
        },
        status_code=200 if error is None else 422,
    )


async def _own_receipt(request: Request, receipt_number: str) -> Any:
    _session, number = resident(request)
    try:
        found = await records.receipt(
            uow=runtime(request).reader_factory(), receipt_number=receipt_number
        )
    except payments.UnknownReceipt:
        raise payments.UnknownReceipt(receipt_number) from None
    if found.payment.account_number != number:
        # Someone else's receipt is exactly as absent as one that does not exist.
        raise payments.UnknownReceipt(receipt_number)
    return found


@router.get("/receipts/{receipt_number}")
async def receipt_page(request: Request, receipt_number: ReceiptNumber) -> Response:
    """Show one of the resident's own receipts, for printing (HTML print CSS)."""
    found = await _own_receipt(request, receipt_number)
    language = language_of(request)
    return _render(
        request,
        "portal/receipt.html",
        "payments",
        {
            "receipt": found,
            "fields": receipt_fields(found, language),
            "notes": receipt_notes(found, language),
        },
    )


@router.get("/receipts/{receipt_number}/pdf")
async def receipt_download(request: Request, receipt_number: ReceiptNumber) -> Response:
    """Return one of the resident's own receipts as PDF."""
    found = await _own_receipt(request, receipt_number)
    try:
        body = receipt_pdf(found, language=language_of(request), font=runtime(request).receipt_font)
    except FontMissing:
        return Response(translate(language_of(request), "portal.pdf.no_font"), status_code=503)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{receipt_number}.pdf"'},
    )


@router.get("/charges")
async def charges(
    request: Request, page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1
) -> Response:
    """List the monthly charge details, newest month first, paged (Q4, B3)."""
    _session, number = resident(request)
    found = await queries.resident_charges(
        reader=runtime(request).storage.resident_reader,
        number=number,
        page=page_number,
        per_page=PER_PAGE,
    )
    return _render(
        request,
        "portal/charges.html",
        "charges",
        {
            "lines": found.lines,
            "total": found.total,
            "page_number": page_number,
            "pages": _pages(found.total),
        },
    )


_PERIODS = ("sharp_wh", "peak_wh", "flat_wh", "valley_wh")


def _split(registers: RegisterSet) -> list[tuple[str, int]]:
    return [(name, getattr(registers, name)) for name in _PERIODS]


@router.get("/usage")
async def usage(
    request: Request,
    month: Annotated[str | None, Query(pattern=_MONTH)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """Show usage today, this month, this year, by period, with charts and tables (Q5)."""
    _session, number = resident(request)
    context = runtime(request)
    language = language_of(request)
    now = context.clock.now()
    try:
        found = await queries.resident_usage(
            reader=context.storage.resident_reader,
            number=number,
            now=now,
            month=BillingMonth.parse(month) if month else None,
            year=year,
        )
    except queries.InvalidPage:
        found = await queries.resident_usage(
            reader=context.storage.resident_reader, number=number, now=now
        )

    def t(key: str) -> str:
        return translate(language, key)

    # kWh as the tables show it; the axis steps by 0.1 kWh at the least.
    chart = functools.partial(
        _charts.Chart, description=t("portal.usage.chart_desc"), shown=_chart_kwh, unit="kWh"
    )
    step = 100

    day_labels = [row.period[8:] for row in found.month_days]
    month_labels = [row.period[5:] for row in found.year_months]
    charts = {
        "daily": _charts.columns(
            chart(
                chart_id="chart-daily",
                title=t("portal.usage.daily_title").format(month=str(found.month)),
                labels=day_labels,
                series=[
                    _charts.Series(
                        name=str(found.month),
                        values=[row.registers.total_wh for row in found.month_days],
                    )
                ],
            ),
            step=step,
            label_every=5,
        ),
        "monthly": _charts.columns(
            chart(
                chart_id="chart-monthly",
                title=t("portal.usage.monthly_title").format(year=found.year),
                labels=month_labels,
                series=[
                    _charts.Series(
                        name=str(found.year),
                        values=[row.registers.total_wh for row in found.year_months],
                    ),
                    _charts.Series(
                        name=str(found.year - 1),
                        values=[row.registers.total_wh for row in found.last_year_months],
                    ),
                ],
            ),
            step=step,
        ),
        "split": _charts.columns(
            chart(
                chart_id="chart-split",
                title=t("portal.usage.split_title"),
                labels=[t(f"portal.period.{name}") for name in _PERIODS],
                series=[
                    _charts.Series(
                        name=t("portal.usage.this_month"),
                        values=[value for _name, value in _split(found.this_month)],
                    ),
                    _charts.Series(
                        name=t("portal.usage.this_year"),
                        values=[value for _name, value in _split(found.this_year)],
                    ),
                ],
            ),
            step=step,
        ),
    }
    current = BillingMonth.of_date(local_date(now))
    return _render(
        request,
        "portal/usage.html",
        "usage",
        {
            "usage": found,
            "charts": charts,
            "periods": _PERIODS,
            "previous_month": str(found.month.previous()),
            "next_month": str(found.month.next()) if found.month.next() <= current else None,
            "current_year": current.year,
        },
    )


@router.get("/power")
async def power(request: Request) -> Response:
    """Explain every cut and restore of the household's meter in plain words."""
    _session, number = resident(request)
    context = runtime(request)
    story = await queries.power_story(
        reader=context.storage.resident_reader, number=number, now=context.clock.now()
    )
    return _render(
        request,
        "portal/power.html",
        "power",
        {
            "events": story.events,
            "relay": story.relay,
            "held": story.held,
            "held_until": story.held_until,
        },
    )


@router.get("/texts")
async def texts(
    request: Request, page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1
) -> Response:
    """List the SMS sent to the household; without a phone on file, say how to add one."""
    _session, number = resident(request)
    context = runtime(request)
    found = await queries.resident_texts(
        reader=context.storage.resident_reader, number=number, page=page_number, per_page=PER_PAGE
    )
    return _render(
        request,
        "portal/texts.html",
        "texts",
        {
            "has_phone": found.has_phone,
            "texts": found.texts,
            "total": found.total,
            "page_number": page_number,
            "pages": _pages(found.total),
        },
    )


@router.get("/downloads")
async def downloads(request: Request) -> Response:
    """Offer the statement as CSV and as PDF."""
    return _render(request, "portal/downloads.html", "downloads", {})


async def _statement_lines(request: Request) -> Sequence[Any]:
    _session, number = resident(request)
    return await queries.resident_statement(
        reader=runtime(request).storage.resident_reader, number=number
    )


@router.get("/downloads/statement.csv")
async def statement_csv(request: Request) -> Response:
    """Return the monthly charge details as CSV (UTF-8 with BOM, so spreadsheets read Chinese)."""
    _session, number = resident(request)
    language = language_of(request)
    lines = await _statement_lines(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            translate(language, key)
            for key in (
                "portal.charges.month",
                "portal.charges.item",
                "portal.charges.price",
                "portal.charges.kwh",
                "portal.charges.amount",
                "portal.charges.status",
            )
        ]
    )
    for line in lines:
        writer.writerow(
            [
                str(line.month),
                item_label(language, line.item),
                "" if line.price is None else str(line.price.yuan_per_kwh),
                str(line.energy.kwh),
                line.amount.yuan(),
                translate(language, f"portal.status.{line.status.value}"),
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="statement-{number}.csv"'},
    )


@router.get("/downloads/statement.pdf")
async def statement_download(request: Request) -> Response:
    """Return the monthly charge details as PDF, with the Chinese text intact."""
    _session, number = resident(request)
    language = language_of(request)
    lines = await _statement_lines(request)
    profile = await runtime(request).storage.resident_reader.profile(number)
    try:
        body = statement_pdf(
            lines=lines, profile=profile, language=language, font=runtime(request).receipt_font
        )
    except FontMissing:
        return Response(translate(language, "portal.pdf.no_font"), status_code=503)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="statement-{number}.pdf"'},
    )


def go_to_portal() -> RedirectResponse:
    """Return the redirect from ``/`` to the portal."""
    return RedirectResponse("/portal", status_code=307)
