"""Anticipated errors become 4xx answers; anything else is logged once and becomes a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from wattbook import bootstrap
from wattbook.application import ports
from wattbook.application.payments.kiosk import UnknownSession
from wattbook.domain import payments
from wattbook.domain.values import InvalidAccountNumber
from wattbook.interfaces.web._i18n import language_of, translate

logger = logging.getLogger(__name__)

# (status, stable code) per anticipated error; the most specific class first.
ANTICIPATED: tuple[tuple[type[Exception], int, str], ...] = (
    (ports.UnknownAccount, 404, "UNKNOWN_ACCOUNT"),
    (InvalidAccountNumber, 422, "INVALID_ACCOUNT_NUMBER"),
    (UnknownSession, 404, "UNKNOWN_SESSION"),
    (payments.KioskStepRefused, 409, "STEP_REFUSED"),
    (payments.InvalidNote, 422, "INVALID_NOTE"),
    (payments.NoteConflict, 409, "NOTE_CONFLICT"),
    (payments.UnknownReceipt, 404, "UNKNOWN_RECEIPT"),
    (payments.DuplicatePayment, 409, "DUPLICATE_PAYMENT"),
    (payments.CounterClosed, 403, "COUNTER_CLOSED"),
    (payments.UnknownDebit, 404, "UNKNOWN_DEBIT"),
    (payments.CallbackMismatch, 409, "CALLBACK_MISMATCH"),
    (payments.InvalidAgreement, 422, "INVALID_AGREEMENT"),
    (payments.UnknownAgreement, 404, "UNKNOWN_AGREEMENT"),
    (payments.CannotCorrect, 409, "CANNOT_CORRECT"),
    (payments.IdentityRequired, 422, "IDENTITY_REQUIRED"),
    (bootstrap.BankMessageRejected[0], 401, "INVALID_SIGNATURE"),
    (bootstrap.BankMessageRejected[1], 400, "MALFORMED"),
)


def classify(error: Exception) -> tuple[int, str] | None:
    """Return the status and code of an anticipated error, or None."""
    for kind, status, code in ANTICIPATED:
        if isinstance(error, kind):
            return status, code
    return None


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith(("/kiosk/api", "/bank", "/api"))) and "text/html" in (
        request.headers.get("accept", "")
    )


def error_response(request: Request, *, status: int, code: str, detail: str = "") -> Response:
    """Return the error as JSON (APIs) or as a small page (browsers), in the request's language."""
    language = language_of(request)
    message = translate(language, f"error.{code}")
    if _wants_html(request):
        body = (
            f'<!doctype html><html lang="{language}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/app.css"><title>{status}</title>'
            f'<main class="error"><h1>{status}</h1><p>{message}</p></main></html>'
        )
        return HTMLResponse(body, status_code=status)
    return JSONResponse({"error": code, "message": message, "detail": detail}, status_code=status)


def install(app: FastAPI) -> None:
    """Map anticipated errors to 4xx, log and hide the rest."""

    async def anticipated(request: Request, error: Exception) -> Response:
        found = classify(error)
        if found is None:
            logger.exception("Unable to handle %s %s", request.method, request.url.path)
            return error_response(request, status=500, code="INTERNAL")
        status, code = found
        return error_response(request, status=status, code=code, detail=str(error))

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101 - registered for it
        code = "NOT_FOUND" if error.status_code == 404 else "INVALID_REQUEST"
        return error_response(
            request, status=error.status_code, code=code, detail=str(error.detail)
        )

    async def invalid(request: Request, error: Exception) -> Response:
        return error_response(request, status=422, code="INVALID_REQUEST", detail=str(error))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for kind, _status, _code in ANTICIPATED:
        app.add_exception_handler(kind, anticipated)
    # Starlette answers 500 for the rest and re-raises so that the server logs it once.
    app.add_exception_handler(Exception, anticipated)
