"""A small asyncio AT-command driver for a GSM SMS modem (短信猫), send only (N1).

It speaks the 3GPP TS 27.005 / 27.007 subset an SMS modem needs: ``ATE0``, ``AT+CMEE=1``,
``AT+CPIN?``, ``AT+CREG?``, ``AT+CMGF``, ``AT+CSCS`` and ``AT+CMGS`` in PDU mode (any text,
concatenated) and in text mode (GSM 7-bit, one message); and the message storage that makes a
send resumable after a crash: ``AT+CMGW`` (write, "STO UNSENT"), ``AT+CMSS`` (send from
storage), ``AT+CMGR`` / ``AT+CMGL`` (read, in PDU mode) and ``AT+CMGD`` (delete). It reads
final result codes (``OK``, ``ERROR``, ``+CME ERROR: n``, ``+CMS ERROR: n``), skips the
command echo and unsolicited lines, and waits for the ``> `` prompt before writing a message
body. Every read has a timeout: a modem that stops answering is an error, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import serial_asyncio

from wattbook.adapters.sms._pdu import SubmitPdu, gsm7_septets

_CTRL_Z = b"\x1a"
_ESC = b"\x1b"
_PROMPT = b"> "
_FINAL_ERROR = re.compile(r"^\+(CME|CMS) ERROR: *(.+)$")
# TS 27.007 +CREG <stat>: 1 registered home, 5 registered roaming.
_REGISTERED = frozenset({1, 5})

# TS 27.007 9.2 / TS 27.005 3.2.5 codes the driver names; the rest keep their number.
CME_SIM_NOT_INSERTED = 10
CMS_SIM_NOT_INSERTED = 310
CMS_NO_NETWORK_SERVICE = 331
CMS_NETWORK_TIMEOUT = 332
CMS_INVALID_PDU_PARAMETER = 304
CMS_INVALID_MEMORY_INDEX = 321
CMS_MEMORY_FULL = 322

# TS 27.005 3.1 <stat> in PDU mode: 0 received unread, 1 received read, 2 stored unsent,
# 3 stored sent, 4 all (a CMGL filter).
STAT_STO_UNSENT = 2
STAT_STO_SENT = 3
_STAT_ALL = 4


class ModemError(Exception):
    """The modem did not do what was asked."""


class ModemTimeout(ModemError):
    """The modem did not answer in time."""


class ModemClosed(ModemError):
    """The connection to the modem is closed."""


class ModemCommandError(ModemError):
    """The modem answered ``ERROR``, ``+CME ERROR`` or ``+CMS ERROR``.

    ``family`` is ``"CME"``, ``"CMS"`` or ``""`` for a bare ``ERROR``; ``code`` is the number
    (None when the modem gave text or nothing).
    """

    def __init__(self, command: str, *, family: str, code: int | None, text: str) -> None:
        super().__init__(f"{command!r} failed: {text}")
        self.command = command
        self.family = family
        self.code = code
        self.text = text


class SimNotReady(ModemError):
    """The SIM is missing or locked (``+CPIN`` is not READY)."""


class NotRegistered(ModemError):
    """The modem is not registered on a network (``+CREG`` status not 1 or 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemStatus:
    """What the modem said about itself when it was initialised."""

    registration: int
    signal: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """One message in the modem's storage, read in PDU mode: its index, ``<stat>`` and PDU."""

    index: int
    stat: int
    pdu: str


def _stored_header(line: str, prefix: str, index: int | None) -> tuple[int, int]:
    """Return (index, stat) of a ``+CMGL: <index>,<stat>,...`` or ``+CMGR: <stat>,...`` line.

    :raises ValueError: if the fields are not numbers.
    :raises IndexError: if a field is missing.
    """
    fields = line[len(prefix) :].split(",")
    if index is None:
        return int(fields[0]), int(fields[1])
    return index, int(fields[0])


class AtModem:
    """Talk AT commands to one modem over a byte stream (serial port, pty or TCP).

    One command at a time: calls are serialised by a lock, because the modem has one
    command interpreter and replies carry no tag to match them to their command.
    """

    def __init__(
        self,
        *,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout_s: float = 5.0,
        send_timeout_s: float = 60.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout_s = timeout_s
        # Submitting an SMS waits for the network; modems document up to about a minute.
        self._send_timeout_s = send_timeout_s
        self._buffer = b""
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, url: str, *, baud: int = 115200, timeout_s: float = 5.0, send_timeout_s: float = 60.0
    ) -> AtModem:
        """Return a driver on ``url``: ``tcp://host:port`` or a serial device path.

        :raises ModemClosed: if the port cannot be opened.
        """
        try:
            if url.startswith("tcp://"):
                host, _, port = url.removeprefix("tcp://").rpartition(":")
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, int(port)), timeout_s
                )
            else:
                reader, writer = await serial_asyncio.open_serial_connection(
                    url=url, baudrate=baud, bytesize=8, parity="N", stopbits=1
                )
        except (OSError, ValueError, TimeoutError) as error:
            raise ModemClosed(f"cannot open modem at {url}: {error}") from error
        return cls(reader=reader, writer=writer, timeout_s=timeout_s, send_timeout_s=send_timeout_s)

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    async def _fill(self, deadline: float) -> None:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise ModemTimeout("the modem did not answer in time")
        try:
            chunk = await asyncio.wait_for(self._reader.read(4096), remaining)
        except TimeoutError as error:
            raise ModemTimeout("the modem did not answer in time") from error
        except (OSError, ConnectionError) as error:
            raise ModemClosed(f"modem connection failed: {error}") from error
        if not chunk:
            raise ModemClosed("the modem closed the connection")
        self._buffer += chunk

    async def _line(self, deadline: float, *, prompt: bool = False) -> str:
        """Return the next non-empty line (or ``>`` when a prompt is expected and arrives)."""
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            if prompt and stripped.startswith(_PROMPT):
                self._buffer = stripped[len(_PROMPT) :]
                return ">"
            end = min(
                (i for i in (stripped.find(b"\r"), stripped.find(b"\n")) if i >= 0), default=-1
            )
            if end >= 0:
                self._buffer = stripped[end + 1 :]
                return stripped[:end].decode("ascii", errors="replace").strip()
            self._buffer = stripped
            await self._fill(deadline)

    async def _write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, ConnectionError) as error:
            raise ModemClosed(f"modem connection failed: {error}") from error

    async def _final(self, command: str, deadline: float) -> list[str]:
        """Collect information lines up to the final result code."""
        lines: list[str] = []
        while True:
            line = await self._line(deadline)
            if line == command:
                continue  # echo, if the modem still has it on
            if line == "OK":
                return lines
            if line == "ERROR":
                raise ModemCommandError(command, family="", code=None, text="ERROR")
            match = _FINAL_ERROR.match(line)
            if match is not None:
                detail = match[2].strip()
                code = int(detail) if detail.isdigit() else None
                raise ModemCommandError(command, family=match[1], code=code, text=line)
            lines.append(line)

    async def command(self, command: str, *, timeout_s: float | None = None) -> list[str]:
        """Send one AT command and return its information lines (final ``OK`` excluded).

        :raises ModemCommandError: if the modem answers with an error result code.
        :raises ModemTimeout: if no final result code arrives in time.
        :raises ModemClosed: if the connection fails.
        """
        async with self._lock:
            deadline = asyncio.get_running_loop().time() + (timeout_s or self._timeout_s)
            self._buffer = b""  # a late line from an earlier, timed-out command is stale
            await self._write(command.encode("ascii") + b"\r")
            return await self._final(command, deadline)

    @staticmethod
    def _value(lines: Sequence[str], prefix: str) -> str:
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise ModemError(f"no {prefix!r} line in the modem's answer {list(lines)!r}")

    async def initialise(self, *, pdu_mode: bool = True) -> ModemStatus:
        """Prepare the modem to send: echo off, numeric errors, SIM ready, registered.

        :raises SimNotReady: if there is no SIM or it wants a PIN.
        :raises NotRegistered: if the modem is not registered on a network.
        :raises ModemCommandError: if a setup command fails otherwise.
        :raises ModemTimeout: if the modem does not answer.
        :raises ModemClosed: if the connection fails.
        """
        await self.command("AT")
        await self.command("ATE0")
        await self.command("AT+CMEE=1")
        try:
            pin = self._value(await self.command("AT+CPIN?"), "+CPIN:")
        except ModemCommandError as error:
            raise SimNotReady(f"SIM not ready: {error.text}") from error
        if pin != "READY":
            raise SimNotReady(f"SIM not ready: +CPIN: {pin}")
        registration = self._registration(await self.command("AT+CREG?"))
        if registration not in _REGISTERED:
            raise NotRegistered(f"not registered on a network (+CREG status {registration})")
        signal: int | None = None
        with contextlib.suppress(ModemCommandError, ValueError):
            signal = int(self._value(await self.command("AT+CSQ"), "+CSQ:").split(",")[0])
        await self.command(f"AT+CMGF={0 if pdu_mode else 1}")
        if not pdu_mode:
            await self.command('AT+CSCS="GSM"')
        return ModemStatus(registration=registration, signal=signal)

    def _registration(self, lines: Sequence[str]) -> int:
        fields = self._value(lines, "+CREG:").split(",")
        # "+CREG: <n>,<stat>[,...]" to the query; an unsolicited form has only "<stat>".
        try:
            return int(fields[1] if len(fields) > 1 else fields[0])
        except ValueError as error:
            raise ModemError(f"unreadable +CREG answer {lines!r}") from error

    async def registration(self) -> int:
        """Return the network registration status (1 home, 5 roaming: registered).

        :raises ModemError: if the modem fails to answer the query.
        """
        return self._registration(await self.command("AT+CREG?"))

    async def _submit(self, command: str, body: bytes, *, answer: str = "+CMGS:") -> int:
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._buffer = b""
            await self._write(command.encode("ascii") + b"\r")
            deadline = loop.time() + self._timeout_s
            while True:
                line = await self._line(deadline, prompt=True)
                if line == ">":
                    break
                if line == command:
                    continue
                if line == "ERROR" or _FINAL_ERROR.match(line):
                    self._buffer = (line + "\r\n").encode("ascii") + self._buffer
                    await self._final(command, deadline)  # raises the matching error
                # anything else before the prompt is unsolicited: skip it
            try:
                await self._write(body + _CTRL_Z)
                lines = await self._final(command, loop.time() + self._send_timeout_s)
            except ModemTimeout:
                # Abort the body so the modem does not sit in the prompt swallowing the next
                # command as message text.
                with contextlib.suppress(ModemError):
                    await self._write(_ESC)
                raise
        try:
            return int(self._value(lines, answer).split(",")[0])
        except ValueError as error:
            raise ModemError(f"unreadable {answer} answer {lines!r}") from error

    async def send_pdu(self, pdu: SubmitPdu) -> int:
        """Submit one PDU (``AT+CMGS=<length>``) and return the message reference (TP-MR).

        The modem must be in PDU mode (``initialise(pdu_mode=True)``).

        :raises ModemCommandError: if the modem refuses (``+CMS ERROR``).
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        return await self._submit(f"AT+CMGS={pdu.tpdu_length}", pdu.hex.encode("ascii"))

    async def send_text(self, *, number: str, text: str) -> int:
        """Submit one text-mode message and return the message reference.

        The modem must be in text mode with the GSM character set; the text must be printable
        ASCII that the GSM alphabet also holds, and fit one message.

        :raises ValueError: if the text cannot travel in text mode.
        :raises ModemCommandError: if the modem refuses (``+CMS ERROR``).
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        if not text_mode_safe(text):
            raise ValueError("text mode carries printable GSM/ASCII text of one message only")
        if not number.lstrip("+").isdigit():
            raise ValueError(f"not a phone number: {number!r}")
        return await self._submit(f'AT+CMGS="{number}"', text.encode("ascii"))

    async def write_pdu(self, pdu: SubmitPdu) -> int:
        """Write one PDU to storage as "STO UNSENT" (``AT+CMGW=<length>,2``); return its index.

        The modem must be in PDU mode.

        :raises ModemCommandError: if the modem refuses (``+CMS ERROR: 322``: storage full).
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        return await self._submit(
            f"AT+CMGW={pdu.tpdu_length},{STAT_STO_UNSENT}",
            pdu.hex.encode("ascii"),
            answer="+CMGW:",
        )

    async def write_text(self, *, number: str, text: str) -> int:
        """Write one text-mode message to storage (``AT+CMGW="<da>"``); return its index.

        The modem must be in text mode with the GSM character set; the stored status is the
        default, "STO UNSENT".

        :raises ValueError: if the text cannot travel in text mode.
        :raises ModemCommandError: if the modem refuses (``+CMS ERROR: 322``: storage full).
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        if not text_mode_safe(text):
            raise ValueError("text mode carries printable GSM/ASCII text of one message only")
        if not number.lstrip("+").isdigit():
            raise ValueError(f"not a phone number: {number!r}")
        return await self._submit(f'AT+CMGW="{number}"', text.encode("ascii"), answer="+CMGW:")

    async def send_stored(self, index: int) -> int:
        """Send the stored message at ``index`` (``AT+CMSS``) and return its reference (TP-MR).

        The modem marks it "STO SENT".

        :raises ModemCommandError: if the modem refuses (``+CMS ERROR``; 321: no such index).
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        command = f"AT+CMSS={index}"
        lines = await self.command(command, timeout_s=self._send_timeout_s)
        try:
            return int(self._value(lines, "+CMSS:").split(",")[0])
        except ValueError as error:
            raise ModemError(f"unreadable +CMSS answer {lines!r}") from error

    def _stored(self, lines: Sequence[str], prefix: str, index: int | None) -> list[StoredMessage]:
        found: list[StoredMessage] = []
        pending: tuple[int, int] | None = None
        for line in lines:
            if line.startswith(prefix):
                try:
                    pending = _stored_header(line, prefix, index)
                except (ValueError, IndexError) as error:
                    raise ModemError(f"unreadable {prefix} line {line!r}") from error
            elif pending is not None:
                found.append(StoredMessage(index=pending[0], stat=pending[1], pdu=line))
                pending = None
        return found

    async def read_stored(self, index: int) -> StoredMessage | None:
        """Return the stored message at ``index`` (``AT+CMGR``, PDU mode), or None if empty.

        Modems answer an empty index with ``+CMS ERROR: 321`` or with a bare ``OK``; both
        mean None.

        :raises ModemCommandError: if the modem refuses otherwise.
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        try:
            lines = await self.command(f"AT+CMGR={index}")
        except ModemCommandError as error:
            if error.family == "CMS" and error.code == CMS_INVALID_MEMORY_INDEX:
                return None
            raise
        found = self._stored(lines, "+CMGR:", index)
        return found[0] if found else None

    async def list_stored(self) -> tuple[StoredMessage, ...]:
        """Return every message in the storage (``AT+CMGL=4``, PDU mode), received ones too.

        :raises ModemCommandError: if the modem refuses.
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        lines = await self.command(f"AT+CMGL={_STAT_ALL}")
        return tuple(self._stored(lines, "+CMGL:", None))

    async def delete_stored(self, index: int) -> None:
        """Delete the stored message at ``index`` (``AT+CMGD``); an empty index is no error.

        :raises ModemCommandError: if the modem refuses otherwise.
        :raises ModemTimeout: if the modem does not answer in time.
        :raises ModemClosed: if the connection fails.
        """
        try:
            await self.command(f"AT+CMGD={index}")
        except ModemCommandError as error:
            if not (error.family == "CMS" and error.code == CMS_INVALID_MEMORY_INDEX):
                raise


def text_mode_safe(text: str) -> bool:
    """Test whether ``text`` can be sent as one text-mode message with the GSM charset.

    Only characters that are printable ASCII and in the GSM basic alphabet pass: the modem
    translates the rest differently from make to make.
    """
    septets = gsm7_septets(text)
    return (
        septets is not None
        and 0 < len(septets) <= 160
        and all(" " <= char <= "~" and char not in "$@_`^{}[]~\\|" for char in text)
    )
