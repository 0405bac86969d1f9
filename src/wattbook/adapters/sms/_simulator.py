"""A GSM modem simulator answering AT commands as a real SMS modem does, errors included.

It serves the tests and the demo over TCP (``serve_tcp``) or a pseudo-terminal
(``serve_pty``, whose slave device is opened exactly like ``/dev/ttyUSB0``). Faults are
switched on its :class:`ModemState`: no SIM (``+CME ERROR: 10`` to ``AT+CPIN?``, ``+CMS ERROR:
310`` to a send), no network (``+CREG: 0,0`` / ``0,2``, ``+CMS ERROR: 331``), and queued
``+CMS ERROR`` codes for the next sends. Every accepted PDU is decoded and kept, so a test can
read back what a handset would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattbook.adapters.sms._pdu import DecodedSubmit, PduError, decode_submit

_CTRL_Z = 0x1A
_ESC = 0x1B


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedMessage:
    """One message the simulated modem accepted for sending."""

    reference: int
    number: str
    text: str
    pdu: str | None
    decoded: DecodedSubmit | None


@dataclass(slots=True, kw_only=True)
class ModemState:
    """The simulated modem's SIM, network and fault switches, and what it has sent."""

    sim_inserted: bool = True
    registration: int = 1  # +CREG stat: 1 home, 5 roaming, 0 not searching, 2 searching
    signal: int = 21
    failures: deque[int] = field(default_factory=deque)  # +CMS ERROR codes for the next sends
    send_delay_s: float = 0.0
    accepted: list[AcceptedMessage] = field(default_factory=list)
    next_reference: int = 1
    # Told of each accepted message (the modem-sim command prints them).
    listener: Callable[[AcceptedMessage], None] | None = None

    def fail_next_sends(self, *codes: int) -> None:
        """Answer the next sends with these ``+CMS ERROR`` codes, one each, in order."""
        self.failures.extend(codes)

    def texts(self) -> list[str]:
        """Return the accepted messages' texts, joining concatenated parts as a handset does."""
        joined: list[str] = []
        groups: dict[tuple[str, int, int], dict[int, str]] = {}
        for message in self.accepted:
            concat = message.decoded.concatenation if message.decoded else None
            if concat is None:
                joined.append(message.text)
                continue
            key = (message.number, concat.reference, concat.total)
            # A repeated part replaces the earlier copy, as handsets discard duplicates.
            groups.setdefault(key, {})[concat.sequence] = message.text
            if len(groups[key]) == concat.total:
                parts = groups.pop(key)
                joined.append("".join(parts[i] for i in range(1, concat.total + 1)))
        return joined


class ModemSession:
    """One connection's command interpreter (echo and modes are per session, like a port)."""

    def __init__(self, state: ModemState) -> None:
        self.state = state
        self.echo = True
        self.cmee = 0
        self.pdu_mode = True
        self.charset = "IRA"
        self._line = bytearray()
        self._body: bytearray | None = None
        self._pending_command = ""

    def _error(self, family: str, code: int) -> bytes:
        if self.cmee == 0:
            return b"\r\nERROR\r\n"
        return f"\r\n+{family} ERROR: {code}\r\n".encode("ascii")

    async def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host and return the modem's answer."""
        out = bytearray()
        for byte in data:
            if self._body is not None:
                if byte == _CTRL_Z:
                    body, self._body = bytes(self._body), None
                    if self.echo:
                        out += body
                    out += await self._send(body)
                elif byte == _ESC:
                    self._body = None
                    out += b"\r\nOK\r\n"
                else:
                    self._body.append(byte)
                continue
            if byte in (0x0D, 0x0A):
                if byte == 0x0A or not self._line:
                    continue
                command = self._line.decode("ascii", errors="replace").strip()
                self._line.clear()
                if self.echo:
                    out += command.encode("ascii") + b"\r"
                out += self._execute(command)
            else:
                self._line.append(byte)
        return bytes(out)

    def _execute(self, command: str) -> bytes:
        upper = command.upper()
        ok = b"\r\nOK\r\n"
        if upper in ("AT", "ATZ", "AT&F"):
            return ok
        if upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return ok
        if upper.startswith("AT+CMEE="):
            self.cmee = int(upper.removeprefix("AT+CMEE=") or "0")
            return ok
        if upper == "AT+CGMI":
            return b"\r\nWATTBOOK\r\n" + ok
        if upper == "AT+CGMM":
            return b"\r\nSIMULATED SMS MODEM\r\n" + ok
        if upper == "AT+CPIN?":
            if not self.state.sim_inserted:
                return self._error("CME", 10)
            return b"\r\n+CPIN: READY\r\n" + ok
        if upper == "AT+CREG?":
            return f"\r\n+CREG: 0,{self.state.registration}\r\n".encode("ascii") + ok
        if upper == "AT+CSQ":
            signal = self.state.signal if self.state.sim_inserted else 99
            return f"\r\n+CSQ: {signal},99\r\n".encode("ascii") + ok
        if upper in ("AT+CMGF=0", "AT+CMGF=1"):
            self.pdu_mode = upper.endswith("0")
            return ok
        if upper == "AT+CMGF?":
            return f"\r\n+CMGF: {0 if self.pdu_mode else 1}\r\n".encode("ascii") + ok
        if upper.startswith("AT+CSCS="):
            self.charset = command.split("=", 1)[1].strip('"')
            return ok
        if upper.startswith("AT+CMGS="):
            argument = command.split("=", 1)[1]
            if self.pdu_mode != argument.isdigit():
                return self._error("CMS", 304 if self.pdu_mode else 305)
            self._pending_command = argument
            self._body = bytearray()
            return b"\r\n> "
        return b"\r\nERROR\r\n"

    async def _send(self, body: bytes) -> bytes:
        state = self.state
        if not state.sim_inserted:
            return self._error("CMS", 310)
        if state.registration not in (1, 5):
            return self._error("CMS", 331)
        if state.send_delay_s:
            await asyncio.sleep(state.send_delay_s)
        if state.failures:
            return self._error("CMS", state.failures.popleft())
        decoded: DecodedSubmit | None = None
        pdu: str | None = None
        if self.pdu_mode:
            pdu = body.decode("ascii", errors="replace").strip()
            try:
                decoded = decode_submit(pdu)
            except PduError:
                return self._error("CMS", 304)
            if decoded.tpdu_length != int(self._pending_command):
                return self._error("CMS", 304)
            number, text = decoded.number, decoded.text
        else:
            number, text = self._pending_command.strip('"'), body.decode("ascii", errors="replace")
        reference = state.next_reference
        state.next_reference = (reference + 1) % 256
        message = AcceptedMessage(
            reference=reference, number=number, text=text, pdu=pdu, decoded=decoded
        )
        state.accepted.append(message)
        if state.listener is not None:
            state.listener(message)
        return f"\r\n+CMGS: {reference}\r\n\r\nOK\r\n".encode("ascii")


class ModemSimulator:
    """Serve a simulated modem over TCP or a pseudo-terminal."""

    def __init__(self, state: ModemState | None = None) -> None:
        self.state = state if state is not None else ModemState()
        self._server: asyncio.Server | None = None
        self._pty: tuple[int, int] | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def serve_tcp(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on TCP and return the ``tcp://host:port`` URL the modem answers on."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._connections.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            session = ModemSession(self.state)
            try:
                while chunk := await reader.read(4096):
                    answer = await session.feed(chunk)
                    if answer:
                        writer.write(answer)
                        await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                self._connections.discard(writer)
                writer.close()
                if task is not None:
                    self._tasks.discard(task)

        self._server = await asyncio.start_server(handle, host, port)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return f"tcp://{bound_host}:{bound_port}"

    def serve_pty(self) -> str:
        """Open a pseudo-terminal, answer on its master side and return the slave's path."""
        master, slave = os.openpty()
        tty.setraw(slave)  # bytes pass untouched: no CR/LF translation, no echo by the tty
        self._pty = (master, slave)
        session = ModemSession(self.state)
        loop = asyncio.get_running_loop()
        lock = asyncio.Lock()

        async def answer(data: bytes) -> None:
            async with lock:  # keep answers in the order their commands arrived
                reply = await session.feed(data)
                if reply:
                    with contextlib.suppress(OSError):
                        os.write(master, reply)

        def readable() -> None:
            try:
                data = os.read(master, 4096)
            except OSError:
                loop.remove_reader(master)
                return
            if data:
                task = loop.create_task(answer(data))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        loop.add_reader(master, readable)
        return os.ttyname(slave)

    async def close(self) -> None:
        """Stop serving and close every connection."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        # Let the connection handlers and pending answers finish before the loop goes away.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pty is not None:
            master, slave = self._pty
            asyncio.get_running_loop().remove_reader(master)
            os.close(master)
            os.close(slave)
            self._pty = None
