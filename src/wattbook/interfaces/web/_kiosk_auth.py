"""Kiosk requests are signed: the ASGI guard in front of the kiosk API and receipts.

Every request under ``/kiosk/api`` and ``/kiosk/sessions`` must be signed by a registered,
unrevoked kiosk (``payments.verify_kiosk_request``), or it is answered 401 before any route
reads it. The guard reads the body (the body limit in front of it bounds it), checks the
signature over it, hands the body on unchanged and puts the kiosk in ``request.state.kiosk``.
The bare /kiosk page and the static files stay public: without the API they are harmless.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wattbook import bootstrap
from wattbook.application.payments import kiosk_devices
from wattbook.domain import payments
from wattbook.interfaces.web._context import runtime
from wattbook.interfaces.web._errors import busy_response, error_response

logger = logging.getLogger(__name__)

SIGNED_PREFIXES = ("/kiosk/api", "/kiosk/sessions/")

# (error, stable code); all are 401: the kiosk must fix its credential or its clock.
_REFUSALS: tuple[tuple[type[payments.KioskNotAuthenticated], str], ...] = (
    (payments.KioskSignatureMissing, "KIOSK_NOT_SIGNED"),
    (payments.UnknownKiosk, "KIOSK_UNKNOWN"),
    (payments.KioskRevoked, "KIOSK_REVOKED"),
    (payments.KioskTimestampOutsideWindow, "KIOSK_CLOCK"),
    (payments.KioskSignatureInvalid, "KIOSK_SIGNATURE_INVALID"),
)


def refusal_code(error: payments.KioskNotAuthenticated) -> str:
    """Return the stable code of a refused kiosk request."""
    for kind, code in _REFUSALS:
        if isinstance(error, kind):
            return code
    return "KIOSK_NOT_SIGNED"


def signed_target(scope: Scope) -> str:
    """Return the path and query as sent on the wire: what the kiosk signed."""
    raw = scope.get("raw_path") or str(scope.get("path", "")).encode()
    path = raw.split(b"?", 1)[0].decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def authenticated_kiosk(request: Request) -> payments.Kiosk:
    """Return the kiosk that signed this request (set by :class:`KioskSignatures`)."""
    kiosk = getattr(request.state, "kiosk", None)
    if not isinstance(kiosk, payments.Kiosk):  # a route outside the guarded prefixes
        raise payments.KioskSignatureMissing("this route needs a signed kiosk request")
    return kiosk


class KioskSignatures:
    """Refuse unsigned or badly signed kiosk requests with a 401; pass the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(SIGNED_PREFIXES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = Headers(scope=scope)
        request = Request(scope)
        context = runtime(request)
        try:
            signed = payments.read_signed_request(
                kiosk_id=headers.get(payments.KIOSK_HEADER),
                timestamp=headers.get(payments.TIMESTAMP_HEADER),
                signature=headers.get(payments.SIGNATURE_HEADER),
                method=str(scope["method"]),
                target=signed_target(scope),
                body=body,
            )
            kiosk = await kiosk_devices.authenticate_kiosk(
                uow=context.uow_factory(), request=signed, now=context.wall_clock.now()
            )
        except payments.KioskNotAuthenticated as error:
            logger.info("%s %s: kiosk request refused: %s", scope["method"], path, error)
            response = error_response(request, status=401, code=refusal_code(error))
            await response(scope, receive, send)
            return
        except bootstrap.DatabaseBusy as error:
            # Checking the signature needs the database too: busy is a 503 here as in a route.
            await busy_response(request, error)(scope, receive, send)
            return
        scope.setdefault("state", {})["kiosk"] = kiosk
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
