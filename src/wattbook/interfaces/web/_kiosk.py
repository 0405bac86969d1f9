"""The kiosk (P2): the touch-screen page at /kiosk, its JSON steps, and its receipts.

Each endpoint is one step of the session and one use case call. The page's transaction id
(made by the kiosk) and note sequence numbers make every step safe to retry.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParameter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from wattbook.application.payments import kiosk
from wattbook.domain.values import AccountNumber, Money
from wattbook.interfaces.web._context import TEMPLATES, runtime
from wattbook.interfaces.web._i18n import CATALOGUE, language_of, translate
from wattbook.interfaces.web._receipts import (
    receipt_fields,
    receipt_notes,
    receipt_pdf,
    receipt_text,
)

router = APIRouter(prefix="/kiosk")

TRANSACTION = r"^[A-Za-z0-9][A-Za-z0-9_-]{5,63}$"
KIOSK_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
# The page makes the id (kiosk id + "-" + 16 hex digits); anything else is refused as a 422.
TransactionId = Annotated[str, PathParameter(pattern=TRANSACTION)]
# Thermal paper is 58 or 80 mm wide; any other width is a mistake worth a 422.
PaperWidth = Annotated[str, Query(pattern=r"^(58|80)$")]


class AccountStep(BaseModel):
    """The number the resident typed, and which kiosk this is."""

    # The page sends JSON of the right types; true is not 1 and "1" is not a number here.
    model_config = ConfigDict(strict=True)

    account_number: str = Field(pattern=r"^\d{12}$")
    kiosk_id: str = Field(pattern=KIOSK_ID)


class NoteStep(BaseModel):
    """A note in the acceptor's escrow, with the kiosk's sequence number."""

    model_config = ConfigDict(strict=True)

    sequence: int = Field(ge=1, le=10_000)
    # Bounded so a huge number is a 422 here; which notes are taken is the domain's rule.
    amount_fen: int = Field(ge=-1_000_000, le=1_000_000)


def _json(view: kiosk.KioskView) -> dict[str, Any]:
    session = view.session
    receipt = view.receipt
    return {
        "transaction_id": session.transaction_id,
        "state": session.state.value,
        "account_number": None if session.account_number is None else str(session.account_number),
        "holder": view.holder_masked,
        "address": view.address,
        "balance": None if view.balance is None else view.balance.yuan(),
        "notes": [{"sequence": n.sequence, "amount": n.amount.yuan()} for n in session.notes],
        "total": session.total.yuan(),
        "receipt": None
        if receipt is None
        else {
            "number": str(receipt.payment.receipt_number),
            "amount": receipt.payment.amount.yuan(),
            "balance_after": receipt.payment.balance_after.yuan(),
        },
    }


@router.get("", response_class=HTMLResponse)
async def page(request: Request, kiosk_id: str = "K01") -> Response:
    """Serve the touch-screen page (zh-CN first; ``?lang=en``)."""
    language = language_of(request)
    messages = CATALOGUE[language]
    return TEMPLATES.TemplateResponse(
        request,
        "kiosk.html",
        {
            "lang": language,
            "t": lambda key: translate(language, key),
            "messages": dict(messages),
            "kiosk_id": kiosk_id if re.fullmatch(KIOSK_ID, kiosk_id) else "K01",
            "notes": (1, 5, 10, 20, 50, 100),
        },
    )


@router.get("/api/sessions/{transaction_id}")
async def show(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """Return the session (a restarted kiosk picks up where it was)."""
    context = runtime(request)
    view = await kiosk.kiosk_session(uow=context.uow_factory(), transaction_id=transaction_id)
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/account")
async def account(
    request: Request, transaction_id: TransactionId, step: AccountStep
) -> JSONResponse:
    """Show the details of the account typed in."""
    context = runtime(request)
    view = await kiosk.enter_kiosk_account(
        uow=context.uow_factory(),
        clock=context.clock,
        transaction_id=transaction_id,
        kiosk_id=step.kiosk_id,
        number=AccountNumber(value=step.account_number),
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/details-confirmed")
async def details_confirmed(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """The resident checked the details: open the acceptor."""
    context = runtime(request)
    view = await kiosk.confirm_kiosk_details(
        uow=context.uow_factory(), clock=context.clock, transaction_id=transaction_id
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/notes")
async def note(request: Request, transaction_id: TransactionId, step: NoteStep) -> JSONResponse:
    """Journal a note in escrow; only a 200 lets the acceptor stack it."""
    context = runtime(request)
    view = await kiosk.insert_kiosk_note(
        uow=context.uow_factory(),
        clock=context.clock,
        transaction_id=transaction_id,
        sequence=step.sequence,
        amount=Money(fen=step.amount_fen),
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/confirm")
async def confirm(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """Credit the notes (the resident pressed 确定) and return the receipt number."""
    context = runtime(request)
    view = await kiosk.confirm_kiosk_total(
        uow=context.uow_factory(), clock=context.clock, transaction_id=transaction_id
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/abandon")
async def abandon(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """End a session before any note went in."""
    context = runtime(request)
    view = await kiosk.abandon_kiosk_session(
        uow=context.uow_factory(), clock=context.clock, transaction_id=transaction_id
    )
    return JSONResponse(_json(view))


async def _receipt(request: Request, transaction_id: str) -> Any:
    context = runtime(request)
    view = await kiosk.kiosk_session(uow=context.uow_factory(), transaction_id=transaction_id)
    if view.receipt is None:
        raise kiosk.UnknownSession(f"{transaction_id} has no receipt yet")
    return view.receipt


@router.get("/sessions/{transaction_id}/receipt", response_class=HTMLResponse)
async def receipt_page(
    request: Request, transaction_id: TransactionId, paper: PaperWidth = "58"
) -> Response:
    """Show the receipt laid out for 58 or 80 mm thermal paper (print CSS)."""
    found = await _receipt(request, transaction_id)
    language = language_of(request)
    return TEMPLATES.TemplateResponse(
        request,
        "receipt.html",
        {
            "lang": language,
            "t": lambda key: translate(language, key),
            "receipt": found,
            "fields": receipt_fields(found, language),
            "notes": receipt_notes(found, language),
            "paper": int(paper),
            "transaction_id": transaction_id,
        },
    )


@router.get("/sessions/{transaction_id}/receipt.txt")
async def receipt_txt(
    request: Request, transaction_id: TransactionId, paper: PaperWidth = "58"
) -> Response:
    """Return the receipt as plain text for a thermal printer."""
    found = await _receipt(request, transaction_id)
    text = receipt_text(found, language=language_of(request), paper_mm=int(paper))
    return PlainTextResponse(text)


@router.get("/sessions/{transaction_id}/receipt.pdf")
async def receipt_file(request: Request, transaction_id: TransactionId) -> Response:
    """Return the receipt as a PDF."""
    found = await _receipt(request, transaction_id)
    pdf = receipt_pdf(found, language=language_of(request), font=runtime(request).receipt_font)
    name = f"{found.payment.receipt_number}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
