"""A GSM modem simulator answering AT commands as a real SMS modem does, errors included.

It serves the tests and the demo over TCP (``serve_tcp``) or a pseudo-terminal
(``serve_pty``, whose slave device is opened exactly like ``/dev/ttyUSB0``). Faults are
switched on its :class:`ModemState`: no SIM (``+CME ERROR: 10`` to ``AT+CPIN?``, ``+CMS ERROR:
310`` to a send), no network (``+CREG: 0,0`` / ``0,2``, ``+CMS ERROR: 331``), and queued
``+CMS ERROR`` codes for the next sends. Every accepted PDU is decoded and kept, so a test can
read back what a handset would show.

It also has a message storage, as a real modem's SIM or memory: ``AT+CMGW`` writes a message
("STO UNSENT"), ``AT+CMSS`` sends it and marks it "STO SENT", ``AT+CMGR`` / ``AT+CMGL`` read it
back (PDU or text mode) and ``AT+CMGD`` deletes it; a full storage answers ``+CMS ERROR:
322``. The storage lives in the :class:`ModemState`, not in a connection: it outlasts a worker
that dies and reconnects, as a real modem's storage outlasts the host's process.
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

from wattbook.adapters.sms._pdu import (
    Coding,
    DecodedSubmit,
    PduError,
    decode_submit,
    encode_submit,
    gsm7_septets,
    pack_septets,
)

_CTRL_Z = 0x1A
_ESC = 0x1B
_OK = b"\r\nOK\r\n"

# TS 27.005 3.1 <stat>: its number in PDU mode, its name in text mode.
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3
_STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")
_ALL = 4
# TS 27.005 3.2.5 codes the storage answers with.
_CMS_NOT_ALLOWED = 302
_CMS_INVALID_INDEX = 321
_CMS_MEMORY_FULL = 322


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedMessage:
    """One message the simulated modem accepted for sending."""

    reference: int
    number: str
    text: str
    pdu: str | None
    decoded: DecodedSubmit | None


@dataclass(slots=True, kw_only=True)
class StoredSms:
    """One message in the simulated modem's storage.

    ``pdu`` is the hex it was written as (PDU mode, or an SMS-DELIVER for a received message);
    a text-mode write keeps None and is encoded on reading in PDU mode.
    """

    index: int
    stat: int
    number: str
    text: str
    pdu: str | None
    decoded: DecodedSubmit | None

    def pdu_hex(self) -> str:
        """Return the message as PDU-mode hex."""
        if self.pdu is not None:
            return self.pdu
        return encode_submit(number=self.number, text=self.text, coding=Coding.GSM7).hex


def _deliver_pdu(number: str, text: str) -> str:
    """Return an SMS-DELIVER PDU (GSM 7-bit) from ``number``, as a received message's."""
    septets = gsm7_septets(text) or []
    digits = number.lstrip("+")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    address = bytes((len(digits), 0x91 if number.startswith("+") else 0x81)) + swapped
    timestamp = bytes.fromhex("52600190000023")  # 2025-06-10 09:00:00 +08:00, semi-octets
    tpdu = (
        bytes((0x04,))
        + address
        + bytes((0x00, 0x00))
        + timestamp
        + bytes((len(septets),))
        + pack_septets(septets)
    )
    return "00" + tpdu.hex().upper()


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
    # The message storage, by index from 1 (a SIM holds a few dozen).
    storage: dict[int, StoredSms] = field(default_factory=dict)
    storage_capacity: int = 30

    def fail_next_sends(self, *codes: int) -> None:
        """Answer the next sends (CMGS and CMSS) with these ``+CMS ERROR`` codes, in order."""
        self.failures.extend(codes)

    def free_index(self) -> int | None:
        """Return the lowest free storage index, or None if the storage is full."""
        for index in range(1, self.storage_capacity + 1):
            if index not in self.storage:
                return index
        return None

    def store(
        self,
        *,
        stat: int,
        number: str,
        text: str,
        pdu: str | None,
        decoded: DecodedSubmit | None,
    ) -> int | None:
        """Store a message at the lowest free index and return it, or None if full."""
        index = self.free_index()
        if index is not None:
            self.storage[index] = StoredSms(
                index=index, stat=stat, number=number, text=text, pdu=pdu, decoded=decoded
            )
        return index

    def receive(self, *, number: str, text: str) -> int | None:
        """Store a received, read message (GSM 7-bit text), as if the network delivered it."""
        return self.store(
            stat=REC_READ, number=number, text=text, pdu=_deliver_pdu(number, text), decoded=None
        )

    def stored_statuses(self) -> dict[int, str]:
        """Return each stored message's status by index, e.g. ``{1: "STO SENT"}``."""
        return {index: _STAT_NAMES[sms.stat] for index, sms in sorted(self.storage.items())}

    def wipe_storage(self) -> None:
        """Lose every stored message, as a modem whose storage was cleared or replaced."""
        self.storage.clear()

    def accept(
        self, *, number: str, text: str, pdu: str | None, decoded: DecodedSubmit | None
    ) -> int:
        """Record a message as sent to the network and return its reference (TP-MR)."""
        reference = self.next_reference
        self.next_reference = (reference + 1) % 256
        message = AcceptedMessage(
            reference=reference, number=number, text=text, pdu=pdu, decoded=decoded
        )
        self.accepted.append(message)
        if self.listener is not None:
            self.listener(message)
        return reference

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
        self._pending_write = False  # the body is for AT+CMGW (storage), not AT+CMGS

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
                    if self._pending_write:
                        out += self._write(body)
                    else:
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
                if command.upper().startswith("AT+CMSS="):
                    out += await self._send_stored(command.split("=", 1)[1])  # waits on the network
                else:
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
            self._pending_write = False
            self._body = bytearray()
            return b"\r\n> "
        if upper.startswith("AT+CMGW"):
            return self._start_write(command)
        if upper.startswith("AT+CMGR="):
            return self._read(command.split("=", 1)[1])
        if upper.startswith("AT+CMGL"):
            return self._list(command.partition("=")[2])
        if upper.startswith("AT+CMGD="):
            return self._delete(command.split("=", 1)[1])
        return b"\r\nERROR\r\n"

    def _parse_body(
        self, body: bytes, length: str, number: str
    ) -> tuple[str, str, str | None, DecodedSubmit | None] | None:
        """Return (number, text, pdu, decoded) of a message body, or None if malformed."""
        if not self.pdu_mode:
            return number, body.decode("ascii", errors="replace"), None, None
        pdu = body.decode("ascii", errors="replace").strip()
        try:
            decoded = decode_submit(pdu)
        except PduError:
            return None
        if not length.isdigit() or decoded.tpdu_length != int(length):
            return None
        return decoded.number, decoded.text, pdu, decoded

    async def _network_ready(self) -> bytes | None:
        """Return the error a send meets now (no SIM, no network, a queued fault), if any."""
        state = self.state
        if not state.sim_inserted:
            return self._error("CMS", 310)
        if state.registration not in (1, 5):
            return self._error("CMS", 331)
        if state.send_delay_s:
            await asyncio.sleep(state.send_delay_s)
        if state.failures:
            return self._error("CMS", state.failures.popleft())
        return None

    async def _send(self, body: bytes) -> bytes:
        refused = await self._network_ready()
        if refused is not None:
            return refused
        argument = self._pending_command
        parsed = self._parse_body(body, argument, argument.strip('"'))
        if parsed is None:
            return self._error("CMS", 304)
        number, text, pdu, decoded = parsed
        reference = self.state.accept(number=number, text=text, pdu=pdu, decoded=decoded)
        return f"\r\n+CMGS: {reference}\r\n\r\nOK\r\n".encode("ascii")

    def _start_write(self, command: str) -> bytes:
        """Answer ``AT+CMGW=<length>[,<stat>]`` (PDU) or ``AT+CMGW="<da>"[,<toda>[,<stat>]]``."""
        arguments = [field.strip() for field in command.partition("=")[2].split(",")]
        stat = STO_UNSENT
        if self.pdu_mode:
            if not arguments[0].isdigit():
                return self._error("CMS", 304)
            if len(arguments) > 1 and arguments[1]:
                stat = int(arguments[1]) if arguments[1].isdigit() else -1
        else:
            if not arguments[0].startswith('"'):
                return self._error("CMS", 305)
            if len(arguments) > 2 and arguments[2]:
                name = arguments[2].strip('"').upper()
                stat = _STAT_NAMES.index(name) if name in _STAT_NAMES else -1
        if stat not in (STO_UNSENT, STO_SENT):
            return self._error("CMS", 304 if self.pdu_mode else 305)
        self._pending_command = ",".join((arguments[0], str(stat)))
        self._pending_write = True
        self._body = bytearray()
        return b"\r\n> "

    def _write(self, body: bytes) -> bytes:
        state = self.state
        if not state.sim_inserted:  # the storage is the SIM's
            return self._error("CMS", 310)
        argument, _, stat = self._pending_command.rpartition(",")
        parsed = self._parse_body(body, argument, argument.strip('"'))
        if parsed is None:
            return self._error("CMS", 304)
        number, text, pdu, decoded = parsed
        index = state.store(stat=int(stat), number=number, text=text, pdu=pdu, decoded=decoded)
        if index is None:
            return self._error("CMS", _CMS_MEMORY_FULL)
        return f"\r\n+CMGW: {index}\r\n\r\nOK\r\n".encode("ascii")

    async def _send_stored(self, argument: str) -> bytes:
        """Answer ``AT+CMSS=<index>[,<da>[,<toda>]]``: send a stored message, mark it sent."""
        index_text = argument.split(",")[0].strip()
        if not index_text.isdigit():
            return self._error("CMS", _CMS_INVALID_INDEX)
        if int(index_text) not in self.state.storage:
            return self._error("CMS", _CMS_INVALID_INDEX)
        refused = await self._network_ready()
        if refused is not None:
            return refused
        stored = self.state.storage.get(int(index_text))
        if stored is None:  # deleted while the network was slow
            return self._error("CMS", _CMS_INVALID_INDEX)
        if stored.stat not in (STO_UNSENT, STO_SENT):
            return self._error("CMS", _CMS_NOT_ALLOWED)
        reference = self.state.accept(
            number=stored.number, text=stored.text, pdu=stored.pdu, decoded=stored.decoded
        )
        stored.stat = STO_SENT
        return f"\r\n+CMSS: {reference}\r\n\r\nOK\r\n".encode("ascii")

    def _entry(self, stored: StoredSms, *, prefix: str, with_index: bool) -> bytes:
        index = f"{stored.index}," if with_index else ""
        if self.pdu_mode:
            pdu = stored.pdu_hex()
            length = len(bytes.fromhex(pdu)) - 1 - int(pdu[:2], 16)  # TPDU, without the SMSC
            header = f"{prefix}: {index}{stored.stat},,{length}"
            return f"\r\n{header}\r\n{pdu}".encode("ascii")
        header = f'{prefix}: {index}"{_STAT_NAMES[stored.stat]}","{stored.number}",,'
        return f"\r\n{header}\r\n{stored.text}".encode()

    def _read(self, argument: str) -> bytes:
        stored = self.state.storage.get(int(argument)) if argument.strip().isdigit() else None
        if stored is None:
            return self._error("CMS", _CMS_INVALID_INDEX)
        answer = self._entry(stored, prefix="+CMGR", with_index=False)
        if stored.stat == REC_UNREAD:
            stored.stat = REC_READ
        return answer + b"\r\n" + _OK

    def _list(self, argument: str) -> bytes:
        wanted = argument.strip().strip('"').upper() or ("4" if self.pdu_mode else "ALL")
        names = {name: code for code, name in enumerate(_STAT_NAMES)} | {"ALL": _ALL}
        numeric = int(wanted) if wanted.isdigit() else -1
        stat = numeric if self.pdu_mode else names.get(wanted, -1)
        if not 0 <= stat <= _ALL:
            return self._error("CMS", 304 if self.pdu_mode else 305)
        out = bytearray()
        for _index, stored in sorted(self.state.storage.items()):
            if stat in (_ALL, stored.stat):
                out += self._entry(stored, prefix="+CMGL", with_index=True) + b"\r\n"
                if stored.stat == REC_UNREAD:
                    stored.stat = REC_READ
        return bytes(out) + _OK

    def _delete(self, argument: str) -> bytes:
        """Answer ``AT+CMGD=<index>[,<delflag>]`` (TS 27.005 3.5.4)."""
        fields = [field.strip() for field in argument.split(",")]
        if not fields[0].isdigit() or (len(fields) > 1 and not fields[1].isdigit()):
            return self._error("CMS", _CMS_INVALID_INDEX)
        flag = int(fields[1]) if len(fields) > 1 else 0
        storage = self.state.storage
        if flag == 0:
            if storage.pop(int(fields[0]), None) is None:
                return self._error("CMS", _CMS_INVALID_INDEX)
            return _OK
        # 1: every read message; 2: and sent ones; 3: and unsent ones; 4: everything.
        doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT}}
        for index, stored in list(storage.items()):
            if flag >= _ALL or stored.stat in doomed.get(flag, set()):
                del storage[index]
        return _OK


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
