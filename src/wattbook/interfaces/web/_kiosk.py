"""The kiosk (P2): the touch-screen page at /kiosk, its JSON steps, and its receipts.

Each endpoint is one step of the session and one use case call. Every API call and receipt is
signed by a registered kiosk (``_kiosk_auth``); the screen reaches them through its
kiosk's agent, which signs them. The server makes session ids; notes come only from the
agent's acceptor side, numbered by the acceptor, which makes every step safe to retry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParameter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from wattbook.application.payments import kiosk, kiosk_devices
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money
from wattbook.interfaces.web import _i18n
from wattbook.interfaces.web._context import TEMPLATES, runtime
from wattbook.interfaces.web._i18n import catalogue, language_of
from wattbook.interfaces.web._kiosk_auth import authenticated_kiosk
from wattbook.interfaces.web._ratelimit import LookupLimiter
from wattbook.interfaces.web._receipts import (
    receipt_fields,
    receipt_notes,
    receipt_pdf,
    receipt_text,
)

router = APIRouter(prefix="/kiosk")

# Session ids are made by the server ("KS" + 32 URL-safe characters); older ones by the page.
# Anything else is refused as a 422 before it reaches storage.
TRANSACTION = r"^[A-Za-z0-9][A-Za-z0-9_-]{5,63}$"
TransactionId = Annotated[str, PathParameter(pattern=TRANSACTION)]
# Thermal paper is 58 or 80 mm wide; any other width is a mistake worth a 422.
PaperWidth = Annotated[str, Query(pattern=r"^(58|80)$")]


class AccountStep(BaseModel):
    """The number the resident typed (the kiosk is the one that signed the request)."""

    # The page sends JSON of the right types; true is not 1 and "1" is not a number here.
    model_config = ConfigDict(strict=True)

    account_number: str = Field(pattern=r"^\d{12}$")


class AcceptorNote(BaseModel):
    """A note in the acceptor's escrow, numbered by the acceptor (from its agent only)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    acceptor_sequence: int = Field(ge=1, le=2**62)
    # Bounded so a huge number is a 422 here; which notes are taken is the domain's rule.
    amount_fen: int = Field(ge=-1_000_000, le=1_000_000)


class AcceptorFault(BaseModel):
    """Something the acceptor reported that staff must see (from its agent only)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z0-9_]{1,31}$")
    detail: str = Field(max_length=500)


def limiter(request: Request) -> LookupLimiter:
    """Return the app's per-kiosk account look-up limiter."""
    found = request.app.state.kiosk_lookups
    assert isinstance(found, LookupLimiter)  # noqa: S101 - set by create_app
    return found


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
    return TEMPLATES.TemplateResponse(
        request,
        "kiosk.html",
        {
            "lang": language,
            "languages": _i18n.languages(),
            "messages": dict(catalogue(language)),
            "kiosk_id": _shown_kiosk_id(kiosk_id),
            "notes": (1, 5, 10, 20, 50, 100),
        },
    )


def _shown_kiosk_id(kiosk_id: str) -> str:
    """The kiosk id the page shows: the one asked for if well formed (the domain's rule)."""
    try:
        return payments.check_kiosk_id(kiosk_id)
    except payments.InvalidKioskId:
        return "K01"


def _kiosk_id(request: Request) -> str:
    return authenticated_kiosk(request).kiosk_id


@router.post("/api/sessions")
async def start(request: Request) -> JSONResponse:
    """Start a session on the signing kiosk; the server makes its id."""
    context = runtime(request)
    view = await kiosk.open_kiosk_session(
        uow=context.uow_factory(), clock=context.clock, kiosk_id=_kiosk_id(request)
    )
    return JSONResponse(_json(view), status_code=201)


@router.get("/api/sessions/{transaction_id}")
async def show(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """Return the session (the screen follows the notes; a restarted kiosk picks up)."""
    context = runtime(request)
    view = await kiosk.kiosk_session(
        uow=context.reader_factory(), kiosk_id=_kiosk_id(request), transaction_id=transaction_id
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/account")
async def account(
    request: Request, transaction_id: TransactionId, step: AccountStep
) -> JSONResponse:
    """Show the details of the account typed in (rate-limited per kiosk)."""
    context = runtime(request)
    kiosk_id = _kiosk_id(request)
    limiter(request).take(kiosk_id, now=context.wall_clock.now())
    view = await kiosk.enter_kiosk_account(
        uow=context.uow_factory(),
        clock=context.clock,
        kiosk_id=kiosk_id,
        transaction_id=transaction_id,
        number=AccountNumber(value=step.account_number),
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/details-confirmed")
async def details_confirmed(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """The resident checked the details: the acceptor may take notes."""
    context = runtime(request)
    view = await kiosk.confirm_kiosk_details(
        uow=context.uow_factory(),
        clock=context.clock,
        kiosk_id=_kiosk_id(request),
        transaction_id=transaction_id,
    )
    return JSONResponse(_json(view))


@router.get("/api/acceptor")
async def acceptor(request: Request) -> JSONResponse:
    """Tell the kiosk's agent its acceptor's last accepted sequence (it continues above)."""
    context = runtime(request)
    position = await kiosk_devices.acceptor_position(
        uow=context.uow_factory(), kiosk_id=_kiosk_id(request)
    )
    return JSONResponse(
        {
            "last_acceptor_sequence": position.last_acceptor_sequence,
            "taking_notes": position.taking_notes,
        }
    )


@router.post("/api/acceptor/notes")
async def note(request: Request, step: AcceptorNote) -> JSONResponse:
    """Journal a note in escrow; only a 200 lets the acceptor stack it."""
    context = runtime(request)
    view = await context.storage.in_one_hand_off(
        lambda: kiosk.accept_acceptor_note(
            uow=context.uow_factory(),
            clock=context.clock,
            kiosk_id=_kiosk_id(request),
            acceptor_sequence=step.acceptor_sequence,
            amount=Money(fen=step.amount_fen),
            caps=context.kiosk_caps,
        )
    )
    return JSONResponse(_json(view))


@router.post("/api/acceptor/returns")
async def note_returned(request: Request, step: AcceptorNote) -> JSONResponse:
    """Take back a journalled note the acceptor gave back by itself (escrow timeout)."""
    context = runtime(request)
    done = await context.storage.in_one_hand_off(
        lambda: kiosk.return_acceptor_note(
            uow=context.uow_factory(),
            clock=context.clock,
            kiosk_id=_kiosk_id(request),
            acceptor_sequence=step.acceptor_sequence,
            amount=Money(fen=step.amount_fen),
        )
    )
    return JSONResponse(
        {
            "outcome": done.outcome.value,
            "session": None if done.view is None else _json(done.view),
        }
    )


@router.post("/api/acceptor/faults")
async def acceptor_fault(request: Request, fault: AcceptorFault) -> JSONResponse:
    """Raise a system alarm for a fault the kiosk's acceptor reported."""
    context = runtime(request)
    opened = await kiosk.report_acceptor_fault(
        uow=context.uow_factory(),
        clock=context.clock,
        kiosk_id=_kiosk_id(request),
        code=fault.code,
        detail=fault.detail,
    )
    return JSONResponse({"alarm": "KIOSK_ACCEPTOR_FAULT", "opened": opened})


@router.post("/api/sessions/{transaction_id}/confirm")
async def confirm(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """Credit the notes (the resident pressed 确定) and return the receipt number."""
    context = runtime(request)
    view = await context.storage.in_one_hand_off(
        lambda: kiosk.confirm_kiosk_total(
            uow=context.uow_factory(),
            clock=context.clock,
            kiosk_id=_kiosk_id(request),
            transaction_id=transaction_id,
        )
    )
    return JSONResponse(_json(view))


@router.post("/api/sessions/{transaction_id}/abandon")
async def abandon(request: Request, transaction_id: TransactionId) -> JSONResponse:
    """End a session before any note went in."""
    context = runtime(request)
    view = await kiosk.abandon_kiosk_session(
        uow=context.uow_factory(),
        clock=context.clock,
        kiosk_id=_kiosk_id(request),
        transaction_id=transaction_id,
    )
    return JSONResponse(_json(view))


async def _receipt(request: Request, transaction_id: str) -> Any:
    context = runtime(request)
    view = await kiosk.kiosk_session(
        uow=context.reader_factory(), kiosk_id=_kiosk_id(request), transaction_id=transaction_id
    )
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
