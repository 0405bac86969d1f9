"""The counter desk (P1, P4, P5): top-ups with a printed receipt, corrections, reprints, the
daily cash-up. Every payment goes through the payments use cases, never around them."""

from __future__ import annotations

import secrets
from collections.abc import Coroutine
from datetime import date
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from wattbook.application import ports
from wattbook.application.payments import (
    cash_up,
    corrections,
    counter,
    exchange_receipt,
    records,
)
from wattbook.application.payments.ports import Receipt
from wattbook.domain import accounts, payments, staff
from wattbook.domain.values import AccountNumber, Money, local_date
from wattbook.interfaces.web import _context
from wattbook.interfaces.web._i18n import language_of
from wattbook.interfaces.web._receipts import receipt_fields, receipt_notes, receipt_text
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console")
P = staff.Permission
PAPERS = (58, 80)


@router.get("/counter")
async def desk(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.TAKE_PAYMENT))],
    number: str = "",
) -> Response:
    """Show the counter: find the account, take cash, correct or reprint a receipt."""
    account: accounts.Account | None = None
    balance: Money | None = None
    if number.strip():
        try:
            account_number = AccountNumber(value=number.strip())
            async with _context.runtime(request).storage.reader_factory() as uow:
                account = await uow.accounts.get(account_number)
                balance = (await uow.ledger.balances([account_number])).get(account_number)
        except refusals() as error:
            return problem(request, error, acting=acting, back="/console/counter")
    return render(
        request,
        "console/counter.html",
        acting=acting,
        number=number,
        account=account,
        balance=balance,
        # The form's one-time token: submitting the same form twice credits once.
        token=secrets.token_urlsafe(16),
    )


@router.post("/counter/top-up")
async def top_up(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.TAKE_PAYMENT, audit="payments.counter.top-up"))],
    number: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    paper: Annotated[int, Form()] = 58,
) -> Response:
    """Take cash for an account and show its receipt."""
    runtime = _context.runtime(request)
    back = f"/console/counter?number={number}"
    try:
        account_number = AccountNumber(value=number.strip())
        money = Money.parse(amount.strip())
        if not token.strip():
            raise ValueError("the counter form's token is missing: open the form again")
        reference = f"{acting.login}:{token.strip()}"
        async with runtime.storage.reader_factory() as reader:
            earlier = await reader.payments.by_channel_reference(
                payments.Channel.COUNTER, (reference,)
            )
        if reference in earlier:
            # The same form sent twice (a double click, a reload): its receipt, nothing new.
            return RedirectResponse(
                f"/console/receipts/{earlier[reference].receipt_number}?paper={paper}",
                status_code=303,
            )
        receipt = await runtime.storage.in_one_hand_off(
            lambda: counter.pay_at_counter(
                uow=acting.uow(target=str(account_number), after=f"amount={money}", detail=token),
                clock=runtime.storage.clock,
                number=account_number,
                amount=money,
                operator=acting.login,
                reference=reference,
            )
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    paper_mm = paper if paper in PAPERS else 58
    return RedirectResponse(
        f"/console/receipts/{receipt.payment.receipt_number}?paper={paper_mm}", status_code=303
    )


def _identity(document_type: str, document_number: str) -> payments.IdentityShown:
    digits = document_number.strip()
    masked = (digits[:3] + "*" * max(len(digits) - 7, 0) + digits[-4:]) if len(digits) > 7 else ""
    return payments.IdentityShown(document_type=document_type.strip(), number_masked=masked)


@router.post("/counter/refund")
async def refund(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CORRECT_PAYMENT, audit="payments.top-up.refunded"))],
    receipt_number: Annotated[str, Form()] = "",
    document_type: Annotated[str, Form()] = "",
    document_number: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Refund a mistaken top-up in cash, on the receipt and an ID (P4)."""
    return await _correct(
        request,
        acting,
        receipt_number=receipt_number,
        to=None,
        document_type=document_type,
        document_number=document_number,
        reason=reason,
    )


@router.post("/counter/move")
async def move(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CORRECT_PAYMENT, audit="payments.top-up.moved"))],
    receipt_number: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    document_type: Annotated[str, Form()] = "",
    document_number: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Move a top-up credited to the wrong account to the right one (P4)."""
    return await _correct(
        request,
        acting,
        receipt_number=receipt_number,
        to=to,
        document_type=document_type,
        document_number=document_number,
        reason=reason,
    )


class _CorrectionArgs(TypedDict):
    """What a refund and a move both take."""

    uow: ports.UnitOfWork
    clock: ports.Clock
    receipt_number: str
    operator: str
    identity: payments.IdentityShown
    reason: str


async def _correct(
    request: Request,
    acting: Acting,
    *,
    receipt_number: str,
    to: str | None,
    document_type: str,
    document_number: str,
    reason: str,
) -> Response:
    """Refund a top-up (``to`` None) or move it to the account ``to``, on the ID shown (P4);
    show the new receipt."""
    runtime = _context.runtime(request)
    try:
        identity = _identity(document_type, document_number)
        target = None if to is None else AccountNumber(value=to.strip())

        def correction() -> Coroutine[Any, Any, Receipt]:
            args = _CorrectionArgs(
                uow=acting.uow(
                    target=receipt_number.strip(),
                    after="" if target is None else f"to={target}",
                    detail=f"{identity.document_type} {identity.number_masked}: {reason}",
                ),
                clock=runtime.storage.clock,
                receipt_number=receipt_number.strip(),
                operator=acting.login,
                identity=identity,
                reason=reason.strip(),
            )
            if target is None:
                return corrections.refund_top_up(**args)
            return corrections.move_top_up(to=target, **args)

        receipt = await runtime.storage.in_one_hand_off(correction)
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/counter")
    return RedirectResponse(f"/console/receipts/{receipt.payment.receipt_number}", status_code=303)


@router.post("/counter/reprint")
async def reprint(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.TAKE_PAYMENT, audit="payments.receipt.reprinted"))],
    receipt_number: Annotated[str, Form()] = "",
    paper: Annotated[int, Form()] = 58,
) -> Response:
    """Print a receipt again, marked as a reprint; who asked is recorded."""
    runtime = _context.runtime(request)
    try:
        receipt = await corrections.reprint_receipt(
            uow=acting.uow(target=receipt_number.strip()),
            clock=runtime.storage.clock,
            receipt_number=receipt_number.strip(),
            operator=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/counter")
    return _receipt_page(request, acting, receipt, paper if paper in PAPERS else 58)


@router.post("/counter/exchange")
async def exchange(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.TAKE_PAYMENT, audit="payments.receipt.exchanged"))],
    receipt_number: Annotated[str, Form()] = "",
    official_number: Annotated[str, Form()] = "",
) -> Response:
    """Exchange a kiosk or bank receipt for an official campus receipt number (P2)."""
    runtime = _context.runtime(request)
    try:
        exchanged = await exchange_receipt.exchange_receipt(
            uow=acting.uow(
                target=receipt_number.strip(), after=f"official={official_number.strip()}"
            ),
            clock=runtime.storage.clock,
            receipt_number=receipt_number.strip(),
            official_number=official_number,
            operator=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/counter")
    return RedirectResponse(
        f"/console/counter?exchanged={exchanged.receipt_number}:{exchanged.official_number}",
        status_code=303,
    )


def _receipt_page(request: Request, acting: Acting, receipt: Receipt, paper: int) -> Response:
    language = language_of(request)
    return render(
        request,
        "console/receipt.html",
        acting=acting,
        receipt=receipt,
        fields=receipt_fields(receipt, language),
        notes=receipt_notes(receipt, language),
        paper=paper,
    )


@router.get("/receipts/{receipt_number}")
async def receipt_page(
    request: Request,
    receipt_number: str,
    acting: Annotated[Acting, Depends(Guard(P.VIEW))],
    paper: int = 58,
) -> Response:
    """Show a receipt for 58 or 80 mm thermal paper (print CSS); showing is not a reprint."""
    try:
        found = await records.receipt(
            uow=_context.runtime(request).storage.reader_factory(),
            receipt_number=receipt_number,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/counter")
    return _receipt_page(request, acting, found, paper if paper in PAPERS else 58)


@router.get("/receipts/{receipt_number}/text")
async def receipt_plain(
    request: Request,
    receipt_number: str,
    acting: Annotated[Acting, Depends(Guard(P.VIEW))],
    paper: int = 58,
) -> Response:
    """Return the receipt as plain text for the thermal printer."""
    try:
        found = await records.receipt(
            uow=_context.runtime(request).storage.reader_factory(),
            receipt_number=receipt_number,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/counter")
    text = receipt_text(
        found, language=language_of(request), paper_mm=paper if paper in PAPERS else 58
    )
    return PlainTextResponse(text)


@router.get("/cash-up")
async def cash_up_page(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CASH_UP))],
    day: str = "",
) -> Response:
    """Show a day's cash-up per operator and channel, checked against the journal."""
    runtime = _context.runtime(request)
    try:
        on = date.fromisoformat(day) if day else local_date(runtime.storage.clock.now())
    except ValueError as error:
        return problem(request, error, acting=acting, back="/console/cash-up")
    found = await cash_up.cash_up(uow=runtime.storage.reader_factory(), day=on)
    return render(request, "console/cash_up.html", acting=acting, cash=found, day=on)
