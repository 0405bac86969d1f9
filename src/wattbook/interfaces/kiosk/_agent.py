"""The kiosk agent: the kiosk PC's daemon between its screen, acceptor and server.

Screen side: it serves the kiosk screen to the local browser by reverse-proxying the server's
/kiosk page, static files, JSON steps and receipts, signing every call with the kiosk's secret
(``payments.kiosk_headers``), so the page itself holds no secret. It refuses the note API from
the screen: notes are not the screen's to create.

Acceptor side: each note the acceptor holds in escrow is posted, signed and numbered with the
acceptor's own sequence, to the server; only a 200 stacks it, a refusal returns it. While the
answer is in doubt (the server unreachable, or its reply lost) the note stays in escrow and
the same event is sent again with a capped backoff; the screen shows "checking the note" and
its confirm, abandon and new-session steps get 503 until every note is settled, so no session
is credited while the agent does not know its notes. If the device gives a journalled note
back by itself (escrow timeout), the agent tells the server, which takes it out of the open
session or raises an alarm if it was credited. Device faults become system alarms. On start
the agent asks the server for the kiosk's last acceptor sequence and continues above it. The
events (accepted, returned, rejected, checking, fault) are kept for the screen and the panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wattbook import bootstrap
from wattbook.application import ports
from wattbook.application.payments.acceptor_ports import (
    AcceptorEvent,
    AcceptorEventKind,
    AcceptorUnavailable,
    NoteAcceptor,
    NoteNotInEscrow,
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
RETURN_PATH = "/kiosk/api/acceptor/returns"
FAULT_PATH = "/kiosk/api/acceptor/faults"
POSITION_PATH = "/kiosk/api/acceptor"
SESSIONS_PATH = "/kiosk/api/sessions"
# How often a fault report is tried before it is left to the log.
FAULT_ATTEMPTS = 8
EVENTS_KEPT = 50
# While a note is held or in doubt, the screen's steps that end (or replace) a session wait.
HOLD_RETRY_AFTER_S = 2
CHECKING_NOTE = {"zh-CN": "正在确认纸币，请稍候", "en": "Checking the note, please wait"}


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
        retry_max_s: float = 5.0,
        unavailable_s: float = 1.0,
    ) -> None:
        self.kiosk_id = kiosk_id
        self._secret = secret
        self.acceptor = acceptor
        self._clock = clock
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self._unavailable_s = unavailable_s
        self.events = AgentEvents()
        # Acceptor sequences whose server answer is in doubt (note or return events).
        self._doubt: set[int] = set()
        # Notes being relayed now (one in escrow, or a return being told).
        self._busy = 0
        # A journalled note whose stacking the device did not confirm.
        self._unsettled: tuple[int, Money] | None = None
        self._device_events: deque[AcceptorEvent] = deque()
        self._device_signal = asyncio.Event()
        self._stashed: deque[AcceptorEvent] = deque()
        self._tasks: set[asyncio.Future[None]] = set()
        self.next_sequence: int | None = None
        self.client = httpx.AsyncClient(
            base_url=server_url.rstrip("/"), transport=transport, timeout=10.0
        )

    @property
    def notes_in_doubt(self) -> bool:
        """Test whether a note's server answer is in doubt (the screen shows "checking")."""
        return bool(self._doubt)

    @property
    def holding_notes(self) -> bool:
        """Test whether a note is being relayed or in doubt: confirm and abandon must wait."""
        return self._busy > 0 or bool(self._doubt)

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

    async def _post_until_answered(self, path: str, sequence: int, amount: Money) -> httpx.Response:
        """Post a note event until the server answers it (any answer below 500).

        Until then its outcome is in doubt: the server may have recorded it and lost only
        the reply. The same event (same acceptor sequence and amount) is sent again, signed
        afresh, with a backoff capped at ``retry_max_s``; the server answers a repeat as it
        answered the first.
        """
        body = json.dumps({"acceptor_sequence": sequence, "amount_fen": amount.fen}).encode()
        delay = self._retry_s
        try:
            while True:
                try:
                    answer = await self.signed(
                        "POST", path, body=body, headers={"Content-Type": "application/json"}
                    )
                    if answer.status_code < 500:
                        return answer
                    logger.warning(
                        "The server answered %d for note %d", answer.status_code, sequence
                    )
                except httpx.HTTPError:
                    logger.warning("Unable to reach the server for note %d; retrying", sequence)
                if sequence not in self._doubt:
                    self._doubt.add(sequence)
                    self.events.add("checking", amount_fen=amount.fen)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
        finally:
            self._doubt.discard(sequence)

    async def _journal(self, sequence: int, amount: Money) -> httpx.Response | None:
        """Post the note in escrow; return the server's answer, or None if the device gave
        the note back first (its escrow timer ran out while the answer was in doubt)."""
        posting = asyncio.ensure_future(self._post_until_answered(NOTE_PATH, sequence, amount))
        try:
            while True:
                waiting = asyncio.ensure_future(self._device_signal.wait())
                done, _ = await asyncio.wait(
                    {posting, waiting}, return_when=asyncio.FIRST_COMPLETED
                )
                waiting.cancel()
                while self._device_events:
                    event = self._device_events.popleft()
                    if event.kind is AcceptorEventKind.RETURNED:
                        return None
                    await self._handle_aside(event)
                self._device_signal.clear()
                if posting in done:
                    return posting.result()
        finally:
            if not posting.done():
                posting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await posting

    async def _handle_aside(self, event: AcceptorEvent) -> None:
        """Deal with an event that comes while a note is being relayed."""
        if event.kind is AcceptorEventKind.ESCROW:
            # A device holds one note at a time: this cannot happen. Deal with it after.
            logger.error("The acceptor reported a second note in escrow")
            self._stashed.append(event)
        else:
            await self._handle(event)

    async def _take_back(self, sequence: int, amount: Money, code: str) -> None:
        """Tell the server the device gave note ``sequence`` back, until it answers."""
        self._busy += 1
        try:
            answer = await self._post_until_answered(RETURN_PATH, sequence, amount)
        finally:
            self._busy -= 1
        self.events.add("returned", amount_fen=amount.fen, error=code)
        if answer.status_code != 200:
            self._spawn(
                self._report_fault(
                    "RETURN_REFUSED",
                    f"the server refused returned note {sequence} ({amount.yuan()} yuan): "
                    f"{_code(answer)}",
                )
            )

    async def relay_note(self, amount: Money) -> bool:
        """Journal the note in escrow on the server; stack it on a 200, else return it.

        Return whether it was stacked. While the server's answer is in doubt (no answer, or
        5xx) the note stays in escrow and the same event is sent again; the screen's confirm
        and abandon wait meanwhile. If the device gives the note back by itself, the server
        is told to take it out of the session. A refusal returns the note and moves on to
        the next sequence.
        """
        if self.next_sequence is None:
            await self.sync_sequence()
        assert self.next_sequence is not None  # noqa: S101 - synced above
        sequence = self.next_sequence
        self._busy += 1
        try:
            self.events.add("escrow", amount_fen=amount.fen)
            answer = await self._journal(sequence, amount)
            if (
                answer is not None
                and answer.status_code == 409
                and _code(answer) == "NOTE_CONFLICT"
            ):
                # Another agent (or a restored disk) moved the sequence on: catch up once.
                sequence = await self.sync_sequence()
                answer = await self._journal(sequence, amount)
            self.next_sequence = sequence + 1
            if answer is None:
                await self._take_back(sequence, amount, "ESCROW_TIMEOUT")
                return False
            if answer.status_code == 200:
                return await self._stack(sequence, amount)
            await self.acceptor.return_note()
            self.events.add("returned", amount_fen=amount.fen, error=_code(answer))
            return False
        finally:
            self._busy -= 1

    async def _stack(self, sequence: int, amount: Money) -> bool:
        try:
            await self.acceptor.stack()
        except NoteNotInEscrow:
            # The device gave it back between the server's answer and our stack.
            await self._take_back(sequence, amount, "ESCROW_TIMEOUT")
            return False
        except AcceptorUnavailable as error:
            # Journalled, and maybe stacked: it counts. If the device gives it back after
            # all, RETURNED follows and the server is told then.
            self._unsettled = (sequence, amount)
            self.events.add("fault", amount_fen=amount.fen, error="STACK_UNCONFIRMED")
            self._spawn(self._report_fault("STACK_UNCONFIRMED", f"note {sequence}: {error}"))
            return True
        self._unsettled = None
        self.events.add("stacked", amount_fen=amount.fen)
        return True

    async def _report_fault(self, code: str, detail: str) -> None:
        """Raise a system alarm on the server for an acceptor fault (bounded retries)."""
        logger.error("Note acceptor fault %s: %s", code, detail)
        body = json.dumps({"code": code[:31], "detail": detail[:500]}).encode()
        for attempt in range(FAULT_ATTEMPTS):
            try:
                answer = await self.signed(
                    "POST", FAULT_PATH, body=body, headers={"Content-Type": "application/json"}
                )
                if answer.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(min(self._retry_s * 2**attempt, self._retry_max_s))
        logger.error("Unable to raise the acceptor fault %s on the server", code)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, event: AcceptorEvent) -> None:
        """Deal with one acceptor event outside a relay (or a fault during one)."""
        if event.kind is AcceptorEventKind.REJECTED:
            self.events.add("counterfeit", error=event.code or None)
        elif event.kind is AcceptorEventKind.FAULT:
            fen = None if event.amount is None else event.amount.fen
            self.events.add("fault", amount_fen=fen, error=event.code)
            self._spawn(self._report_fault(event.code or "FAULT", event.detail))
        elif event.kind is AcceptorEventKind.RETURNED:
            unsettled = self._unsettled
            if unsettled is not None and event.amount == unsettled[1]:
                self._unsettled = None
                await self._take_back(*unsettled, event.code or "RETURNED")
            else:
                logger.info("The acceptor gave back a note nobody journalled: %s", event)
        elif event.amount is not None:
            try:
                await self.relay_note(event.amount)
            except Exception:
                # Failed before the server journalled it (sync, refusal): give it back.
                logger.exception("Unable to relay a note; returning it")
                with contextlib.suppress(AcceptorUnavailable):
                    await self.acceptor.return_note()
                self.events.add("returned", amount_fen=event.amount.fen, error="INTERNAL")

    async def _pump(self) -> None:
        """Read the acceptor's events into the agent's queue, for as long as it runs."""
        reported = False
        while True:
            try:
                event = await self.acceptor.next_event()
            except AcceptorUnavailable as error:
                logger.error("Unable to read the note acceptor: %s", error)
                if not reported:
                    reported = True
                    self.events.add("fault", error="ACCEPTOR_UNAVAILABLE")
                    self._spawn(self._report_fault("ACCEPTOR_UNAVAILABLE", str(error)))
                await asyncio.sleep(self._unavailable_s)
                continue
            reported = False
            self._device_events.append(event)
            self._device_signal.set()

    async def run_acceptor(self, stop: asyncio.Event) -> None:
        """Relay the acceptor's notes until ``stop`` is set."""
        pump = asyncio.ensure_future(self._pump())
        try:
            while not stop.is_set():
                if self._stashed:
                    await self._handle(self._stashed.popleft())
                    continue
                if not self._device_events:
                    self._device_signal.clear()
                    waiting = asyncio.ensure_future(self._device_signal.wait())
                    stopping = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    waiting.cancel()
                    stopping.cancel()
                    continue
                await self._handle(self._device_events.popleft())
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

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
        if request.method == "POST" and self.holding_notes and _ends_a_session(path):
            # Confirming now could credit a session while a note's fate is unknown.
            language = "en" if request.query_params.get("lang") == "en" else "zh-CN"
            return JSONResponse(
                {"error": "NOTES_IN_DOUBT", "message": CHECKING_NOTE[language]},
                status_code=503,
                headers={"Retry-After": str(HOLD_RETRY_AFTER_S)},
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
                {
                    "events": list(self.events.events),
                    "escrow_fen": escrow,
                    "checking": self.notes_in_doubt,
                },
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

            async def time_out(request: Request) -> JSONResponse:
                note = simulated.time_out_escrow()
                return JSONResponse({"returned_fen": None if note is None else note.fen})

            routes += [
                Route("/acceptor", show_panel, methods=["GET"]),
                Route("/acceptor/insert", insert, methods=["POST"]),
                Route("/acceptor/time-out", time_out, methods=["POST"]),
            ]
        return Starlette(routes=routes)


def _ends_a_session(path: str) -> bool:
    # Starting a session ends the last one (credited if it has notes), so it waits too.
    return path == SESSIONS_PATH or (
        path.startswith(SESSIONS_PATH + "/") and path.endswith(("/confirm", "/abandon"))
    )


def _code(answer: httpx.Response) -> str:
    try:
        found = answer.json().get("error")
    except (ValueError, AttributeError):
        return f"HTTP_{answer.status_code}"
    return str(found) if found else f"HTTP_{answer.status_code}"
