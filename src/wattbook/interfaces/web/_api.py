"""The JSON API for the campus's other systems, under ``/api/v1`` (issue 12, item 10).

Its document is at ``/api/v1/openapi.json``. Every call carries ``Authorization: Bearer
<token>``; each token has scopes (accounts, balances, readings, payments, alarms) and is
made, listed and revoked with ``wattbook api token``. Lists page by an opaque cursor
(``next_cursor``, null on the last page). The one call that changes money, ``POST
/payments``, needs an ``Idempotency-Key``: a replay answers the first answer and changes
nothing. Errors are JSON: ``{"error": CODE, "message": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.responses import Response

from wattbook import bootstrap
from wattbook.application import queries
from wattbook.application.api import ports as api_ports
from wattbook.application.api.authenticate import authenticate_api_token
from wattbook.application.api.pay import pay_through_api
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.application.payments.ports import Receipt
from wattbook.application.queries import report_ports as rp
from wattbook.domain.values import AccountNumber, Money
from wattbook.interfaces.web import _errors
from wattbook.interfaces.web._errors import InvalidCursor

ACCOUNT_NUMBER = r"^\d{12}$"
DEFAULT_LIMIT = 100


# ---------------------------------------------------------------------------- the models


class ErrorOut(BaseModel):
    """Every error: a stable code, a message in the request's language, the fields at fault."""

    error: str
    message: str
    fields: list[dict[str, str]] | None = None


class AccountOut(BaseModel):
    """An account (户号 and its holder, phone, address)."""

    account_number: str = Field(pattern=ACCOUNT_NUMBER)
    holder: str
    phone: str | None
    address: str
    status: str = Field(description="OPEN or CLOSED")
    opened_at: datetime


class BalanceOut(BaseModel):
    """An account's prepaid balance: integer fen, and the same in yuan as text."""

    account_number: str = Field(pattern=ACCOUNT_NUMBER)
    balance_fen: int
    balance_yuan: str


class ReadingOut(BaseModel):
    """A meter reading: cumulative registers in Wh (total, sharp, peak, flat, valley)."""

    id: int
    account_number: str
    meter_number: str
    meter_time_at: datetime
    received_at: datetime
    total_wh: int
    sharp_wh: int
    peak_wh: int
    flat_wh: int
    valley_wh: int
    outcome: str


class PaymentOut(BaseModel):
    """A payment with its receipt number (P5)."""

    id: int
    receipt_number: str
    account_number: str
    channel: str
    kind: str
    amount_fen: int
    amount_yuan: str
    balance_after_fen: int
    at: datetime
    operator: str | None


class AlarmOut(BaseModel):
    """An alarm staff see, of any kind (one alarm model, migration 0016)."""

    id: int
    kind: str
    scope: str = Field(description="METER, READING or SYSTEM")
    subject: str = Field(description="the meter number, or what a system alarm is about")
    started_at: datetime
    ended_at: datetime | None
    acknowledged_at: datetime | None
    detail: str


class PaymentIn(BaseModel):
    """A payment taken by the calling system's own cashier, credited as a counter payment."""

    account_number: str = Field(pattern=ACCOUNT_NUMBER)
    amount_fen: int = Field(gt=0, le=1_000_000, description="integer fen, at most 10,000 yuan")


class ReceiptOut(BaseModel):
    """The receipt of a payment made through the API."""

    receipt_number: str
    account_number: str
    amount_fen: int
    amount_yuan: str
    balance_after_fen: int
    at: datetime
    holder_masked: str
    address: str


class AccountPage(BaseModel):
    """A page of accounts; ``next_cursor`` fetches the next (null: last page)."""

    items: list[AccountOut]
    next_cursor: str | None


class BalancePage(BaseModel):
    """A page of balances."""

    items: list[BalanceOut]
    next_cursor: str | None


class ReadingPage(BaseModel):
    """A page of readings, oldest first."""

    items: list[ReadingOut]
    next_cursor: str | None


class PaymentPage(BaseModel):
    """A page of payments, oldest first."""

    items: list[PaymentOut]
    next_cursor: str | None


class AlarmPage(BaseModel):
    """A page of alarms, oldest first."""

    items: list[AlarmOut]
    next_cursor: str | None


# ---------------------------------------------------------------------------- cursors


def _encode(value: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode().rstrip("=")


def _decode(cursor: str | None, kind: type) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise InvalidCursor("the cursor was not made by this API") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidCursor("the cursor was not made by this API")
    return value


def _number_cursor(cursor: str | None) -> AccountNumber | None:
    value = _decode(cursor, str)
    if value is None:
        return None
    try:
        return AccountNumber(value=value)
    except ValueError:
        raise InvalidCursor("the cursor was not made by this API") from None


def _id_cursor(cursor: str | None) -> int | None:
    value = _decode(cursor, int)
    if value is not None and not 0 <= value < 2**63:
        raise InvalidCursor("the cursor was not made by this API")
    return value  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- the app

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `wattbook api token create`, sent as `Bearer wbk_...`.",
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "bad cursor or Idempotency-Key"),
        (401, "no token, or an unknown or revoked one"),
        (403, "the token lacks the scope"),
        (404, "no such account"),
        (422, "malformed request"),
        (503, "the database is busy; retry after Retry-After seconds"),
    )
}

Limit = Annotated[int, Query(ge=1, le=rp.MAX_PAGE, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
Number = Annotated[str, Path(pattern=ACCOUNT_NUMBER, description="the 12-digit account number")]


def _runtime(request: Request) -> bootstrap.WebRuntime:
    runtime: bootstrap.WebRuntime = request.app.state.runtime
    return runtime


def _needs(scope: api_ports.Scope) -> Callable[..., Awaitable[api_ports.ApiToken]]:
    async def token(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    ) -> api_ports.ApiToken:
        if credentials is None:
            raise api_ports.InvalidToken("no bearer token")
        return await authenticate_api_token(
            uow=_runtime(request).reader_factory(), secret=credentials.credentials, scope=scope
        )

    return token


PaymentsToken = Annotated[api_ports.ApiToken, Depends(_needs(api_ports.Scope.PAYMENTS))]


def _account(row: rp.AccountRow) -> AccountOut:
    return AccountOut(
        account_number=str(row.account_number),
        holder=row.holder,
        phone=row.phone,
        address=row.address,
        status=row.status,
        opened_at=row.opened_at,
    )


def _balance(row: rp.AccountRow) -> BalanceOut:
    return BalanceOut(
        account_number=str(row.account_number),
        balance_fen=row.balance.fen,
        balance_yuan=row.balance.yuan(),
    )


def _payment(row: rp.PaymentRow) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        receipt_number=row.receipt_number,
        account_number=str(row.account_number),
        channel=row.channel,
        kind=row.kind,
        amount_fen=row.amount.fen,
        amount_yuan=row.amount.yuan(),
        balance_after_fen=row.balance_after.fen,
        at=row.at,
        operator=row.operator,
    )


def _receipt(receipt: Receipt) -> tuple[int, str]:
    payment = receipt.payment
    body = ReceiptOut(
        receipt_number=str(payment.receipt_number),
        account_number=str(payment.account_number),
        amount_fen=payment.amount.fen,
        amount_yuan=payment.amount.yuan(),
        balance_after_fen=payment.balance_after.fen,
        at=payment.at,
        holder_masked=receipt.holder_masked,
        address=receipt.address,
    )
    return 201, body.model_dump_json()


def create_api(runtime: bootstrap.WebRuntime) -> FastAPI:
    """Return the API app, to mount at ``/api/v1``."""
    api = FastAPI(
        title="wattbook API",
        version="1",
        summary="Accounts, balances, readings, payments and alarms for the campus's systems.",
        description=__doc__,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    api.state.runtime = runtime
    accounts_scope = Depends(_needs(api_ports.Scope.ACCOUNTS))
    balances_scope = Depends(_needs(api_ports.Scope.BALANCES))
    readings_scope = Depends(_needs(api_ports.Scope.READINGS))
    payments_scope = Depends(_needs(api_ports.Scope.PAYMENTS))
    alarms_scope = Depends(_needs(api_ports.Scope.ALARMS))

    @api.get("/accounts", dependencies=[accounts_scope], tags=["accounts"])
    async def accounts(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> AccountPage:
        """List the accounts by number."""
        page = await queries.account_page(
            uow=runtime.storage.report_factory(), after=_number_cursor(cursor), limit=limit
        )
        last = page.items[-1] if page.more else None
        return AccountPage(
            items=[_account(row) for row in page.items],
            next_cursor=None if last is None else _encode(str(last.account_number)),
        )

    @api.get("/accounts/{account_number}", dependencies=[accounts_scope], tags=["accounts"])
    async def account(account_number: Number) -> AccountOut:
        """Return one account."""
        row = await queries.account_detail(
            uow=runtime.storage.report_factory(), number=AccountNumber(value=account_number)
        )
        return _account(row)

    @api.get("/balances", dependencies=[balances_scope], tags=["balances"])
    async def balances(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> BalancePage:
        """List every account's balance, by account number."""
        page = await queries.account_page(
            uow=runtime.storage.report_factory(), after=_number_cursor(cursor), limit=limit
        )
        last = page.items[-1] if page.more else None
        return BalancePage(
            items=[_balance(row) for row in page.items],
            next_cursor=None if last is None else _encode(str(last.account_number)),
        )

    @api.get("/accounts/{account_number}/balance", dependencies=[balances_scope], tags=["balances"])
    async def balance(account_number: Number) -> BalanceOut:
        """Return one account's balance."""
        row = await queries.account_detail(
            uow=runtime.storage.report_factory(), number=AccountNumber(value=account_number)
        )
        return _balance(row)

    @api.get(
        "/accounts/{account_number}/readings", dependencies=[readings_scope], tags=["readings"]
    )
    async def readings(
        account_number: Number, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> ReadingPage:
        """List the readings of the account's meters, oldest first."""
        page = await queries.reading_page(
            uow=runtime.storage.report_factory(),
            number=AccountNumber(value=account_number),
            after_id=_id_cursor(cursor),
            limit=limit,
        )
        last = page.items[-1] if page.more else None
        return ReadingPage(
            items=[
                ReadingOut(
                    id=row.id,
                    account_number=str(row.account_number),
                    meter_number=row.meter_number,
                    meter_time_at=row.meter_time_at,
                    received_at=row.received_at,
                    total_wh=row.total_wh,
                    sharp_wh=row.sharp_wh,
                    peak_wh=row.peak_wh,
                    flat_wh=row.flat_wh,
                    valley_wh=row.valley_wh,
                    outcome=row.outcome,
                )
                for row in page.items
            ],
            next_cursor=None if last is None else _encode(last.id),
        )

    @api.get("/payments", dependencies=[payments_scope], tags=["payments"])
    async def payments(
        account_number: Annotated[
            str | None, Query(pattern=ACCOUNT_NUMBER, description="only this account's")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> PaymentPage:
        """List payments (top-ups and corrections), oldest first."""
        page = await queries.payment_page(
            uow=runtime.storage.report_factory(),
            number=None if account_number is None else AccountNumber(value=account_number),
            after_id=_id_cursor(cursor),
            limit=limit,
        )
        last = page.items[-1] if page.more else None
        return PaymentPage(
            items=[_payment(row) for row in page.items],
            next_cursor=None if last is None else _encode(last.id),
        )

    @api.post(
        "/payments",
        status_code=201,
        tags=["payments"],
        response_model=ReceiptOut,
        responses={
            409: {"model": ErrorOut, "description": "the key was used for another request"},
            403: {"model": ErrorOut, "description": "no payments scope, or the counter is closed"},
        },
    )
    async def pay(
        request: Request,
        body: PaymentIn,
        token: PaymentsToken,
        idempotency_key: Annotated[
            str | None,
            Header(
                description="required: 1-100 visible ASCII characters, new for each payment; "
                "a replay answers the first answer and changes nothing",
            ),
        ] = None,
    ) -> Response:
        """Credit cash the calling system's cashier took, as a counter payment (P1).

        The counter's working hours apply. A replay with the same key and body answers the
        first receipt (header ``Idempotent-Replayed: true``); the same key with another body
        is refused (409).
        """
        request_sha256 = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        answer = await runtime.storage.in_one_hand_off(
            lambda: pay_through_api(
                uow_factory=runtime.uow_factory,
                clock=runtime.clock,
                token=token,
                idempotency_key=idempotency_key,
                request_sha256=request_sha256,
                number=AccountNumber(value=body.account_number),
                amount=Money(fen=body.amount_fen),
                render=_receipt,
            )
        )
        return Response(
            answer.answer.body,
            status_code=answer.answer.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true" if answer.replayed else "false"},
        )

    @api.get("/alarms", dependencies=[alarms_scope], tags=["alarms"])
    async def alarms(
        open_only: Annotated[bool, Query(description="only alarms still open")] = True,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> AlarmPage:
        """List the alarms of every kind (meter, reading, system), oldest first."""
        found = await list_alarms(uow=runtime.reader_factory(), open_only=open_only)
        after = _id_cursor(cursor)
        ordered = sorted(
            (alarm for alarm in found if alarm.id is not None),
            key=lambda alarm: alarm.id or 0,
        )
        if after is not None:
            ordered = [alarm for alarm in ordered if (alarm.id or 0) > after]
        items = [
            AlarmOut(
                id=alarm.id or 0,
                kind=alarm.kind.value,
                scope=alarm.kind.scope.value,
                subject=alarm.subject,
                started_at=alarm.started_at,
                ended_at=alarm.ended_at,
                acknowledged_at=alarm.acknowledged_at,
                detail=alarm.detail,
            )
            for alarm in ordered[:limit]
        ]
        return AlarmPage(
            items=items,
            next_cursor=_encode(items[-1].id) if len(ordered) > limit else None,
        )

    _errors.install(api)

    async def invalid_token(request: Request, error: Exception) -> Response:
        answer = _errors.error_response(request, status=401, code="INVALID_TOKEN")
        answer.headers["WWW-Authenticate"] = 'Bearer realm="wattbook"'
        return answer

    api.add_exception_handler(api_ports.InvalidToken, invalid_token)
    return api
