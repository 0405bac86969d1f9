"""ASGI guards in front of the app: the Host header, the body size, the headers.

They are plain ASGI middleware, so they act before a route reads anything: a body over the
limit is refused on its Content-Length, or as soon as the chunks streamed so far pass it,
without reading the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wattbook.interfaces.web._errors import error_response

# Scripts, styles and images come from /static only: no inline script, no eval, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)
# Static files (CSS, JS) may be cached; everything else may carry a resident's data.
CACHEABLE_PREFIX = "/static/"


class BodyTooLarge(HTTPException):
    """The request body is longer than the limit (answered 413, code TOO_LARGE)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"the body exceeds {max_bytes} bytes")


async def _refuse(scope: Scope, send: Send, *, status: int, code: str) -> None:
    async def nothing() -> Message:  # the refusal reads nothing of the request
        return {"type": "http.disconnect"}

    response = error_response(Request(scope), status=status, code=code)
    await response(scope, nothing, send)


def _declared_length(headers: Headers) -> int | None:
    """Return the Content-Length, or None when the body is streamed (or it is unreadable)."""
    value = headers.get("content-length")
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a 413, reading no more than the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(Headers(scope=scope))
        if declared is not None and declared > self.max_bytes:
            await _refuse(scope, send, status=413, code="TOO_LARGE")
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            if received > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            # The app's own handler answers 413 as a rule; this is for routes that let it out.
            if started:
                raise
            await _refuse(scope, send, status=413, code="TOO_LARGE")


def host_name(header: str) -> str:
    """Return the name in a Host header, lower case, without the port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value


class TrustedHosts:
    """Answer only requests whose Host is one of ``hosts`` (a defence against DNS rebinding)."""

    def __init__(self, app: ASGIApp, *, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._refused(scope):
            await _refuse(scope, send, status=400, code="UNKNOWN_HOST")
            return
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope) -> bool:
        return host_name(Headers(scope=scope).get("host", "")) not in self.hosts


class SecurityHeaders:
    """Add the browser hardening headers, and ``Cache-Control: no-store`` outside /static."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIX)

        async def hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                # Chromium's PDF viewer does not open under a policy without plugins.
                if not headers.get("content-type", "").startswith("application/pdf"):
                    headers["content-security-policy"] = CONTENT_SECURITY_POLICY
                if not cacheable:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, hardened)
