"""The kiosk agent (issue 16): the kiosk PC's daemon between its screen, acceptor and server.

Screen side: it serves the kiosk screen to the local browser by reverse-proxying the server's
/kiosk page, static files, JSON steps and receipts, signing every call with the kiosk's secret
(``payments.kiosk_headers``), so the page itself holds no secret. It refuses the note API from
the screen: notes are not the screen's to create.

Acceptor side: each note the acceptor holds in escrow is posted, signed and numbered with the
acceptor's own sequence, to the server; only a 200 stacks it, anything else returns it. On
start the agent asks the server for the kiosk's last acceptor sequence and continues above it.
The events (accepted, returned, rejected) are kept for the screen and the simulated panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wattbook import bootstrap
from wattbook.application import ports
from wattbook.application.acceptor_ports import (
    AcceptorEventKind,
    AcceptorUnavailable,
    NoteAcceptor,
)
from wattbook.domain import payments
from wattbook.domain.values import Money
from wattbook.interfaces.kiosk._panel import panel_page

logger = logging.getLogger(__name__)

# Headers of the server's answers the screen needs; the rest (hop-by-hop, length) are not.
PASSED_HEADERS = (
    "content-type",
    "content-disposition",
    "cache-control",
    "retry-after",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)
NOTE_PATH = "/kiosk/api/acceptor/notes"
POSITION_PATH = "/kiosk/api/acceptor"
# How often a note in escrow is re-sent after a network failure before it is returned.
NOTE_ATTEMPTS = 8
EVENTS_KEPT = 50


class ServerRefusedAgent(Exception):
    """The server refused the agent's own credential (401): fix the secret or the clock."""


@dataclass(slots=True)
class AgentEvents:
    """What the acceptor side did lately, numbered, for the screen and the panel."""

    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    next_id: int = 1

    def add(self, kind: str, *, amount_fen: int | None = None, error: str | None = None) -> None:
        """Record an event: escrow, stacked, returned (with the server's code) or counterfeit."""
        self.events.append(
            {"id": self.next_id, "kind": kind, "amount_fen": amount_fen, "error": error}
        )
        self.next_id += 1


class KioskAgent:
    """One kiosk's agent: the signed proxy for its screen and the relay of its acceptor."""

    def __init__(
        self,
        *,
        kiosk_id: str,
        secret: str,
        server_url: str,
        acceptor: NoteAcceptor,
        clock: ports.Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_s: float = 0.25,
    ) -> None:
        self.kiosk_id = kiosk_id
        self._secret = secret
        self.acceptor = acceptor
        self._clock = clock
        self._retry_s = retry_s
        self.events = AgentEvents()
        self.next_sequence: int | None = None
        self.client = httpx.AsyncClient(
            base_url=server_url.rstrip("/"), transport=transport, timeout=10.0
        )

    # ------------------------------------------------------------ talking to the server

    async def signed(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request signed with the kiosk's secret; ``target`` is path and query."""
        signing = payments.kiosk_headers(
            kiosk_id=self.kiosk_id,
            secret=self._secret,
            method=method,
            target=target,
            at=self._clock.now(),
            body=body,
        )
        return await self.client.request(
            method, target, content=body, headers={**(headers or {}), **signing}
        )

    async def sync_sequence(self) -> int:
        """Ask the server for the kiosk's last acceptor sequence; return the next one to use.

        :raises ServerRefusedAgent: if the server refuses the kiosk's credential.
        :raises httpx.HTTPError: if the server cannot be reached.
        """
        answer = await self.signed("GET", POSITION_PATH)
        if answer.status_code == 401:
            raise ServerRefusedAgent(answer.json().get("message", "refused"))
        answer.raise_for_status()
        self.next_sequence = int(answer.json()["last_acceptor_sequence"]) + 1
        return self.next_sequence

    async def _post_note(self, sequence: int, amount: Money) -> httpx.Response | None:
        body = json.dumps({"acceptor_sequence": sequence, "amount_fen": amount.fen}).encode()
        for attempt in range(NOTE_ATTEMPTS):
            try:
                return await self.signed(
                    "POST", NOTE_PATH, body=body, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError:
                logger.warning("Unable to reach the server for note %d; retrying", sequence)
                await asyncio.sleep(self._retry_s * 2**attempt)
        return None

    async def relay_note(self, amount: Money) -> bool:
        """Journal the note in escrow on the server; stack it on a 200, else return it.

        Return whether it was stacked. The same sequence is re-sent after a network failure
        (the server answers a repeat as before); a refusal moves on to the next sequence.
        """
        if self.next_sequence is None:
            await self.sync_sequence()
        assert self.next_sequence is not None  # noqa: S101 - synced above
        sequence = self.next_sequence
        self.events.add("escrow", amount_fen=amount.fen)
        answer = await self._post_note(sequence, amount)
        if answer is not None and answer.status_code == 409:
            code = _code(answer)
            if code == "NOTE_CONFLICT":
                # Another agent (or a restored disk) moved the sequence on: catch up once.
                sequence = await self.sync_sequence()
                answer = await self._post_note(sequence, amount)
        if answer is not None and answer.status_code == 200:
            self.next_sequence = sequence + 1
            await self.acceptor.stack()
            self.events.add("stacked", amount_fen=amount.fen)
            return True
        if answer is not None and answer.status_code < 500:
            self.next_sequence = sequence + 1
        await self.acceptor.return_note()
        code = "NETWORK" if answer is None else _code(answer)
        self.events.add("returned", amount_fen=amount.fen, error=code)
        return False

    async def run_acceptor(self, stop: asyncio.Event) -> None:
        """Relay the acceptor's notes until ``stop`` is set."""
        while not stop.is_set():
            waiting = asyncio.ensure_future(self.acceptor.next_event())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if waiting not in done:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                break
            stopping.cancel()
            try:
                event = waiting.result()
            except AcceptorUnavailable:
                logger.exception("Unable to read the note acceptor")
                await asyncio.sleep(1.0)
                continue
            if event.kind is AcceptorEventKind.REJECTED:
                self.events.add("counterfeit")
            elif event.amount is not None:
                try:
                    await self.relay_note(event.amount)
                except Exception:
                    # Whatever went wrong, the note must not stay in escrow unaccounted.
                    logger.exception("Unable to relay a note; returning it")
                    await self.acceptor.return_note()
                    self.events.add("returned", amount_fen=event.amount.fen, error="INTERNAL")

    async def close(self) -> None:
        """Close the HTTP client and the acceptor."""
        await self.client.aclose()
        await self.acceptor.close()

    # ------------------------------------------------------------ the screen's side

    async def proxy(self, request: Request) -> Response:
        """Forward a screen request to the server, signed; refuse the note API."""
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        target = f"{path}?{query}" if query else path
        if path.startswith(POSITION_PATH):
            return JSONResponse(
                {"error": "ACCEPTOR_ONLY", "message": "notes come from the note acceptor only"},
                status_code=403,
            )
        body = await request.body()
        headers = {
            name: value
            for name in ("content-type", "accept", "accept-language", "cookie")
            if (value := request.headers.get(name)) is not None
        }
        try:
            answer = await self.signed(request.method, target, body=body, headers=headers)
        except httpx.HTTPError:
            logger.warning("Unable to reach the server for %s %s", request.method, path)
            return JSONResponse(
                {"error": "NETWORK", "message": "server unreachable"}, status_code=502
            )
        passed = {name: value for name in PASSED_HEADERS if (value := answer.headers.get(name))}
        return Response(answer.content, status_code=answer.status_code, headers=passed)

    def app(self, *, panel: bootstrap.SimulatedAcceptor | None = None) -> Starlette:
        """Return the agent's web app: the proxied screen, the events, the simulated panel."""

        async def state(request: Request) -> JSONResponse:
            escrow = None
            if panel is not None and panel.escrow is not None:
                escrow = panel.escrow.fen
            return JSONResponse(
                {"events": list(self.events.events), "escrow_fen": escrow},
                headers={"Cache-Control": "no-store"},
            )

        async def home(request: Request) -> Response:
            return RedirectResponse("/kiosk")

        routes = [
            Route("/", home),
            Route("/acceptor/state", state),
            Route("/kiosk", self.proxy, methods=["GET"]),
            Route("/static/{path:path}", self.proxy, methods=["GET"]),
            Route("/kiosk/api/{path:path}", self.proxy, methods=["GET", "POST"]),
            Route("/kiosk/sessions/{path:path}", self.proxy, methods=["GET"]),
        ]
        if panel is not None:
            simulated = panel

            async def show_panel(request: Request) -> HTMLResponse:
                return HTMLResponse(panel_page(request.query_params.get("lang", "zh-CN")))

            async def insert(request: Request) -> JSONResponse:
                form = await request.json() if request.method == "POST" else {}
                yuan = form.get("yuan") if isinstance(form, dict) else None
                genuine = not (isinstance(form, dict) and form.get("counterfeit") is True)
                if not isinstance(yuan, int) or isinstance(yuan, bool) or not 1 <= yuan <= 100:
                    return JSONResponse({"error": "INVALID_REQUEST"}, status_code=422)
                note = bootstrap.SimulatedNote(amount=Money(fen=yuan * 100), genuine=genuine)
                if not simulated.insert(note):
                    return JSONResponse({"error": "SLOT_FULL"}, status_code=409)
                return JSONResponse({"inserted": yuan, "genuine": genuine})

            routes += [
                Route("/acceptor", show_panel, methods=["GET"]),
                Route("/acceptor/insert", insert, methods=["POST"]),
            ]
        return Starlette(routes=routes)


def _code(answer: httpx.Response) -> str:
    try:
        found = answer.json().get("error")
    except (ValueError, AttributeError):
        return f"HTTP_{answer.status_code}"
    return str(found) if found else f"HTTP_{answer.status_code}"
