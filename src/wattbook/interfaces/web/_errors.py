"""Anticipated errors become 4xx answers, a busy database a 503 with Retry-After; anything
else is logged once and becomes a 500."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from wattbook import bootstrap
from wattbook.application import queries
from wattbook.application.accounts import ports as account_ports
from wattbook.application.api import ports as api_ports
from wattbook.application.payments.kiosk import UnknownSession
from wattbook.domain import payments
from wattbook.domain.values import InvalidAccountNumber
from wattbook.interfaces.web._csrf import CsrfRefused
from wattbook.interfaces.web._i18n import language_of, translate
from wattbook.interfaces.web._ratelimit import LookupRateLimited

logger = logging.getLogger(__name__)


class InvalidCursor(ValueError):
    """A page cursor the API did not make."""


# (status, stable code) per anticipated error; the most specific class first.
ANTICIPATED: tuple[tuple[type[Exception], int, str], ...] = (
    (api_ports.InvalidToken, 401, "INVALID_TOKEN"),
    (api_ports.MissingScope, 403, "MISSING_SCOPE"),
    (api_ports.InvalidIdempotencyKey, 400, "IDEMPOTENCY_KEY_REQUIRED"),
    (api_ports.IdempotencyConflict, 409, "IDEMPOTENCY_CONFLICT"),
    (InvalidCursor, 400, "INVALID_CURSOR"),
    (queries.InvalidPage, 422, "INVALID_PAGE"),
    (queries.InvalidReportRange, 422, "INVALID_REPORT_RANGE"),
    (account_ports.UnknownAccount, 404, "UNKNOWN_ACCOUNT"),
    (InvalidAccountNumber, 422, "INVALID_ACCOUNT_NUMBER"),
    (UnknownSession, 404, "UNKNOWN_SESSION"),
    (payments.KioskStepRefused, 409, "STEP_REFUSED"),
    (payments.InvalidKioskId, 422, "INVALID_KIOSK_ID"),
    (payments.InvalidNote, 422, "INVALID_NOTE"),
    (payments.NoteConflict, 409, "NOTE_CONFLICT"),
    (payments.KioskCapReached, 409, "SESSION_CAP"),
    (payments.KioskNotAuthenticated, 401, "KIOSK_NOT_SIGNED"),
    (LookupRateLimited, 429, "TOO_MANY_LOOKUPS"),
    (CsrfRefused, 403, "CSRF_REFUSED"),
    (payments.UnknownReceipt, 404, "UNKNOWN_RECEIPT"),
    (payments.DuplicatePayment, 409, "DUPLICATE_PAYMENT"),
    (payments.CounterClosed, 403, "COUNTER_CLOSED"),
    (payments.UnknownDebit, 404, "UNKNOWN_DEBIT"),
    (payments.CallbackConflict, 409, "CALLBACK_CONFLICT"),
    (payments.CallbackMismatch, 409, "CALLBACK_MISMATCH"),
    (payments.CallbackOutsideWindow, 409, "CALLBACK_OUTSIDE_WINDOW"),
    (payments.InvalidAgreement, 422, "INVALID_AGREEMENT"),
    (payments.UnknownAgreement, 404, "UNKNOWN_AGREEMENT"),
    (payments.CannotCorrect, 409, "CANNOT_CORRECT"),
    (payments.CannotExchange, 409, "CANNOT_EXCHANGE"),
    (payments.IdentityRequired, 422, "IDENTITY_REQUIRED"),
    (bootstrap.BankMessageRejected[0], 401, "INVALID_SIGNATURE"),
    (bootstrap.BankMessageRejected[1], 400, "MALFORMED"),
)


# Seconds a client is asked to wait before retrying when the database is busy (503).
RETRY_AFTER_S = 2


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


# Pydantic's error types, grouped into the few problems a caller can act on.
_PROBLEMS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"missing"}), "MISSING"),
    (frozenset({"json_invalid"}), "NOT_JSON"),
    (frozenset({"model_attributes_type", "model_type", "dict_type"}), "NOT_OBJECT"),
    (
        frozenset({"int_parsing", "int_type", "int_from_float", "finite_number"}),
        "NOT_INTEGER",
    ),
    (frozenset({"string_type", "string_unicode"}), "NOT_TEXT"),
    (
        frozenset(
            {"greater_than", "greater_than_equal", "less_than", "less_than_equal"},
        ),
        "OUT_OF_RANGE",
    ),
    (
        frozenset({"string_pattern_mismatch", "string_too_short", "string_too_long"}),
        "BAD_FORMAT",
    ),
)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def _problem(kind: str) -> str:
    for kinds, problem in _PROBLEMS:
        if kind in kinds:
            return problem
    return "INVALID"


def _field_name(location: Sequence[object]) -> str:
    """Return the field a validation error is about, as the API names it ("body" for all).

    Only names of our own models get through, never text the caller sent.
    """
    parts = [str(part) for part in location if isinstance(part, str)]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    names = [part for part in parts if _FIELD_NAME.fullmatch(part)]
    return ".".join(names) if names and names == parts else "body"


def field_problems(errors: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """Return (field, problem code) for each validation error, without the input or context."""
    found: list[tuple[str, str]] = []
    for error in errors:
        item = (_field_name(error.get("loc", ())), _problem(str(error.get("type", ""))))
        if item not in found:
            found.append(item)
    return tuple(found)


def _describe(language: str, message: str, problems: Sequence[tuple[str, str]]) -> str:
    body = translate(language, "field.body")
    parts = [
        translate(language, f"problem.{problem}").format(field=body if field == "body" else field)
        for field, problem in problems
    ]
    separator = translate(language, "error.field_separator")
    return translate(language, "error.with_fields").format(
        message=message, problems=separator.join(parts)
    )


def error_response(
    request: Request,
    *,
    status: int,
    code: str,
    problems: Sequence[tuple[str, str]] = (),
) -> Response:
    """Return the error as JSON (APIs) or as a small page (browsers), in the request's language.

    The body holds only the stable code, a catalogue message and, for malformed requests,
    the names of the fields at fault: never the caller's input, an exception's text, a path
    or a traceback.
    """
    language = language_of(request)
    message = translate(language, f"error.{code}")
    if problems:
        message = _describe(language, message, problems)
    if _wants_html(request):
        body = (
            f'<!doctype html><html lang="{language}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/app.css"><title>{status}</title>'
            f'<main class="error"><h1>{status}</h1><p>{html.escape(message)}</p></main></html>'
        )
        return HTMLResponse(body, status_code=status)
    content: dict[str, object] = {"error": code, "message": message}
    if problems:
        content["fields"] = [{"field": field, "problem": problem} for field, problem in problems]
    return JSONResponse(content, status_code=status)


def busy_response(request: Request, error: Exception) -> Response:
    """Return the 503 for a database whose every worker stayed busy: nothing was done, and the
    client may try again after ``RETRY_AFTER_S``."""
    logger.warning("%s %s: database busy: %s", request.method, request.url.path, error)
    answer = error_response(request, status=503, code="DATABASE_BUSY")
    answer.headers["Retry-After"] = str(RETRY_AFTER_S)
    return answer


def install(app: FastAPI) -> None:
    """Map anticipated errors to 4xx, log and hide the rest."""

    async def anticipated(request: Request, error: Exception) -> Response:
        found = classify(error)
        if found is None:
            logger.exception("Unable to handle %s %s", request.method, request.url.path)
            return error_response(request, status=500, code="INTERNAL")
        status, code = found
        # The exception's own words are for the log: they may quote what the caller sent.
        logger.info("%s %s: %s %s", request.method, request.url.path, code, error)
        field = getattr(error, "field", None)
        problems = ((field, "INVALID"),) if isinstance(field, str) else ()
        response = error_response(request, status=status, code=code, problems=problems)
        if isinstance(error, LookupRateLimited):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response

    async def busy(request: Request, error: Exception) -> Response:
        return busy_response(request, error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101 - registered for it
        code = _HTTP_CODES.get(error.status_code, "INVALID_REQUEST")
        status = error.status_code if 400 <= error.status_code < 600 else 400
        return error_response(request, status=status, code=code)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for it
        return error_response(
            request,
            status=422,
            code="INVALID_REQUEST",
            problems=field_problems(error.errors()),
        )

    app.add_exception_handler(bootstrap.DatabaseBusy, busy)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for kind, _status, _code in ANTICIPATED:
        app.add_exception_handler(kind, anticipated)
    # Starlette answers 500 for the rest and re-raises so that the server logs it once.
    app.add_exception_handler(Exception, anticipated)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}
