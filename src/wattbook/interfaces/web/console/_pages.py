"""Rendering a console page: the layout's context (operator, navigation, CSRF token, language)
and the one way an anticipated error becomes a page that says what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wattbook.domain import accounts, payments, staff
from wattbook.domain.values import SHANGHAI, Money
from wattbook.interfaces.web import _errors
from wattbook.interfaces.web._context import TEMPLATES
from wattbook.interfaces.web._i18n import language_of, remember_language, translate
from wattbook.interfaces.web.console._auth import Acting


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the console's navigation, shown to roles with its permission."""

    path: str
    key: str
    permission: staff.Permission


NAV: list[NavItem] = [
    NavItem("/console", "console.nav.home", staff.Permission.VIEW),
    NavItem("/console/accounts", "console.nav.accounts", staff.Permission.VIEW),
    NavItem("/console/counter", "console.nav.counter", staff.Permission.TAKE_PAYMENT),
    NavItem("/console/cash-up", "console.nav.cash_up", staff.Permission.CASH_UP),
    NavItem("/console/meters", "console.nav.meters", staff.Permission.VIEW),
    NavItem("/console/alarms", "console.nav.alarms", staff.Permission.VIEW),
    NavItem("/console/settings", "console.nav.settings", staff.Permission.CHANGE_SETTINGS),
    NavItem("/console/reports", "console.nav.reports", staff.Permission.READ_REPORTS),
    NavItem("/console/audit", "console.nav.audit", staff.Permission.READ_AUDIT),
    NavItem("/console/operators", "console.nav.operators", staff.Permission.MANAGE_OPERATORS),
]


def add_nav(item: NavItem, *, before: str | None = None) -> None:
    """Add an entry to the navigation (the reports add theirs), before ``before``'s path."""
    if any(existing.path == item.path for existing in NAV):
        return
    index = next((i for i, e in enumerate(NAV) if e.path == before), len(NAV))
    NAV.insert(index, item)


def yuan(amount: Money | int | None) -> str:
    """Return fen (or Money) as a yuan string, or an empty string for None."""
    if amount is None:
        return ""
    return (amount if isinstance(amount, Money) else Money(fen=amount)).yuan()


def local(at: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Return an instant in Shanghai time, or an empty string for None."""
    return "" if at is None else at.astimezone(SHANGHAI).strftime(pattern)


def render(
    request: Request,
    template: str,
    *,
    acting: Acting | None,
    status: int = 200,
    **context: Any,
) -> Response:
    """Return the console page ``template`` with the layout's context."""
    lang = language_of(request)
    operator = acting.operator if acting is not None else None
    nav = [
        item for item in NAV if operator is not None and staff.may(operator.role, item.permission)
    ]
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "operator": operator,
            "nav": nav,
            "path": request.url.path,
            "csrf_token": acting.session.csrf_token if acting is not None else "",
            "yuan": yuan,
            "local": local,
            "may": (lambda p: operator is not None and staff.may(operator.role, p)),
            "P": staff.Permission,
            **context,
        },
        status_code=status,
    )
    remember_language(request, response)
    return response


def problem(request: Request, error: Exception, *, acting: Acting | None, back: str) -> Response:
    """Return the page saying why an action was refused; nothing was changed."""
    found = _errors.classify(error)
    status, code = found if found is not None else (422, "INVALID_INPUT")
    lang = language_of(request)
    message = translate(lang, f"error.{code}")
    if message == f"error.{code}":
        message = translate(lang, "console.error.invalid")
    return render(
        request,
        "console/problem.html",
        acting=acting,
        status=status,
        code=code,
        message=message,
        detail=str(error),
        back=back,
    )


_REFUSALS: tuple[type[Exception], ...] = (
    ValueError,
    LookupError,
    accounts.AccountError,
    payments.PaymentError,
)


def refusals() -> tuple[type[Exception], ...]:
    """Return the errors a console action answers with a page rather than a 500: bad input
    and anticipated refusals, which change nothing."""
    return _REFUSALS
