"""A ccTalk bill validator on a serial port: the host side, over pyserial.

ccTalk (the public "ccTalk Generic Specification") is a half-duplex, single-wire serial bus,
9600 baud 8N1 by default. Every message is one frame::

    [destination] [data length] [source] [header] [data ...] [checksum]

with the simple 8-bit checksum: all bytes of the frame add up to 0 modulo 256. The host
(wattbook) is address 1; a bill validator is usually 40. The single wire echoes every byte the
host sends, so the host reads its own request back first and discards it; the device's reply
has header 0 (ACK, with the answer as data) or 5 (NAK). A reply that does not come in time or
does not add up is asked for again a bounded number of times; then the device is
:class:`AcceptorUnavailable`.

Commands used (headers): 254 simple poll, 245 request equipment category id ("Bill
Validator"), 157 request bill id (per channel: which note it is, e.g. ``CN0010A``), 231 modify
inhibit status (which channels take notes), 228 modify master inhibit status (all notes),
159 read buffered bill events, 154 route bill (1 stack, 0 return).

Events come from 159: an event counter (1-255, wrapping to 1; 0 only after power-up or reset)
and the five newest results, newest first. A result (bill type, route) with bill type 1-16 is
a credit: route 1 "validated and held in escrow", route 0 "validated and stacked". Bill type 0
is a status: route is then the status code (1 "returned from escrow", 2-5 rejections, the
others faults). The host keeps the last counter it saw; a counter more than 5 ahead means
events were lost while nobody read them (notes may have been taken): that is a FAULT the
agent raises loudly, never a guess.

Bill ids map to money in one place, :func:`bill_amount`: two letters of country (``CN``), four
digits of value in whole yuan, one letter of issue. Anything else (another country, a scaled
or lettered value, a note the kiosk does not take) is refused: its channel stays inhibited,
and a credit on it is returned. Nothing here has met real hardware: see the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import serial

from wattbook.application.payments.acceptor_ports import (
    AcceptorEvent,
    AcceptorEventKind,
    AcceptorUnavailable,
    NoteNotInEscrow,
)
from wattbook.domain import payments
from wattbook.domain.values import Money

logger = logging.getLogger(__name__)

HOST_ADDRESS = 1
DEFAULT_ADDRESS = 40
DEFAULT_BAUD = 9600
BAUDS = (4800, 9600, 19200, 38400, 57600, 115200)

HEADER_ACK = 0
HEADER_NAK = 5
SIMPLE_POLL = 254
REQUEST_EQUIPMENT_CATEGORY = 245
REQUEST_BILL_ID = 157
READ_BUFFERED_BILL_EVENTS = 159
ROUTE_BILL = 154
MODIFY_INHIBIT_STATUS = 231
MODIFY_MASTER_INHIBIT = 228

ROUTE_RETURN = 0
ROUTE_STACK = 1
# Route bill's error answers.
ROUTE_ESCROW_EMPTY = 254
ROUTE_FAILED = 255

CHANNELS = 16
EVENTS_IN_BUFFER = 5
BILL_VALIDATOR = "Bill Validator"
COUNTRY = "CN"

# Bill event status codes (bill type 0). 1: the note in escrow went back out.
STATUS_RETURNED_FROM_ESCROW = 1
# Rejections: the device gave the note back itself (like a counterfeit).
STATUS_REJECTIONS = {
    2: "invalid bill (validation fail)",
    3: "invalid bill (transport problem)",
    4: "inhibited bill (serial)",
    5: "inhibited bill (DIP switches)",
    8: "bill pulled backwards",
}
# Statuses that need no action.
STATUS_INFORMATION = {0: "master inhibit active", 10: "stacker OK", 12: "stacker inserted"}
# Everything else is a fault staff must see.
STATUS_FAULTS = {
    6: "bill jammed in transport (unsafe mode)",
    7: "bill jammed in stacker",
    9: "bill tamper",
    11: "stacker removed",
    13: "stacker faulty",
    14: "stacker full",
    15: "stacker jammed",
    16: "bill jammed in transport (safe mode)",
    17: "opto fraud detected",
    18: "string fraud detected",
    19: "anti-string mechanism faulty",
}

_BILL_ID = re.compile(r"([A-Z]{2})(\d{4})([A-Z])")
_DEVICE = re.compile(r"[^\s?]+")


class CcTalkFrameError(ValueError):
    """Bytes that are not a whole, well-formed ccTalk frame (short, wrong length, checksum)."""


class UnknownBillCode(ValueError):
    """A bill id wattbook does not map to a note it takes; the channel stays inhibited."""


class InvalidCcTalkSpec(ValueError):
    """An acceptor spec ``cctalk:DEVICE[?address=N&baud=N]`` that does not parse."""


# ------------------------------------------------------------------ frames


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One ccTalk message."""

    destination: int
    source: int
    header: int
    data: bytes = b""


def checksum(body: bytes) -> int:
    """Return the simple checksum byte that makes ``body`` and it add up to 0 modulo 256."""
    return -sum(body) & 0xFF


def encode_frame(frame: Frame) -> bytes:
    """Return the bytes of ``frame`` with its length and checksum.

    :raises CcTalkFrameError: if an address or header is not a byte, or the data is over 255.
    """
    if len(frame.data) > 255:
        raise CcTalkFrameError("ccTalk data is at most 255 bytes")
    for value in (frame.destination, frame.source, frame.header):
        if not 0 <= value <= 255:
            raise CcTalkFrameError(f"{value} is not a byte")
    body = bytes((frame.destination, len(frame.data), frame.source, frame.header)) + frame.data
    return body + bytes((checksum(body),))


def frame_length(head: bytes) -> int:
    """Return the whole frame's length from its first two bytes (destination, data length)."""
    return head[1] + 5


def decode_frame(raw: bytes) -> Frame:
    """Return the frame in ``raw`` (exactly one frame).

    :raises CcTalkFrameError: if it is short, its length byte disagrees, or it does not add up.
    """
    if len(raw) < 5:
        raise CcTalkFrameError(f"a ccTalk frame has at least 5 bytes, not {len(raw)}")
    if len(raw) != frame_length(raw):
        raise CcTalkFrameError(f"length byte says {raw[1]} data bytes, frame has {len(raw) - 5}")
    if sum(raw) & 0xFF:
        raise CcTalkFrameError("bad checksum")
    return Frame(destination=raw[0], source=raw[2], header=raw[3], data=bytes(raw[4:-1]))


# ------------------------------------------------------------------ bill ids and events


def bill_amount(code: str) -> Money | None:
    """Return the note a channel's bill id names, or None for an unprogrammed channel.

    ``CN0010A`` is a 10 yuan note (country ``CN``, value 0010 in whole yuan, issue ``A``). An
    empty channel answers blanks, dots or zeros.

    :raises UnknownBillCode: for any other code: another country, a value that is not four
        digits, or a note the kiosk does not take (``payments.check_note``).
    """
    text = code.strip(" .\x00")
    if not text:
        return None
    found = _BILL_ID.fullmatch(text)
    if found is None:
        raise UnknownBillCode(f"bill id {code!r} is not CCvvvvI (country, value, issue)")
    country, value, _issue = found.groups()
    if country != COUNTRY:
        raise UnknownBillCode(f"bill id {code!r} is not a {COUNTRY} note")
    try:
        return payments.check_note(Money(fen=int(value) * 100))
    except payments.InvalidNote as error:
        raise UnknownBillCode(f"bill id {code!r}: {error}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBuffer:
    """Header 159's answer: the event counter and the five newest results, newest first."""

    counter: int
    results: tuple[tuple[int, int], ...]


def parse_event_buffer(data: bytes) -> EventBuffer:
    """Return the event buffer in a reply's data.

    :raises CcTalkFrameError: unless it is 11 bytes (counter and five result pairs).
    """
    if len(data) != 1 + 2 * EVENTS_IN_BUFFER:
        raise CcTalkFrameError(f"a bill event buffer has 11 bytes, not {len(data)}")
    pairs = tuple((data[i], data[i + 1]) for i in range(1, len(data), 2))
    return EventBuffer(counter=data[0], results=pairs)


def events_since(last: int, counter: int) -> int:
    """Return how many events happened from counter ``last`` to ``counter``.

    The counter runs 1-255 and wraps to 1; 0 only after power-up. ``counter`` 0 (a reset) is
    the caller's to notice first; from ``last`` 0 every event up to ``counter`` is new.
    """
    if counter == last or counter == 0:
        return 0
    if last == 0:
        return counter
    return (counter - last) % 255


# ------------------------------------------------------------------ the spec


@dataclass(frozen=True, slots=True, kw_only=True)
class CcTalkSpec:
    """Where the validator is: its serial device, ccTalk address and baud rate."""

    device: str
    address: int = DEFAULT_ADDRESS
    baud: int = DEFAULT_BAUD


def parse_spec(spec: str) -> CcTalkSpec:
    """Return the validator ``cctalk:DEVICE[?address=N&baud=N]`` names.

    :raises InvalidCcTalkSpec: with a one-line reason, if it does not parse.
    """
    if not spec.startswith("cctalk:"):
        raise InvalidCcTalkSpec(f"{spec!r} does not start with 'cctalk:'")
    device, _, query = spec.removeprefix("cctalk:").partition("?")
    if not _DEVICE.fullmatch(device):
        raise InvalidCcTalkSpec(f"{spec!r} names no serial device, e.g. cctalk:/dev/ttyUSB0")
    options: dict[str, int] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise InvalidCcTalkSpec(f"{query!r} is not name=value&name=value") from None
    for name, value in pairs:
        if name not in ("address", "baud") or name in options:
            raise InvalidCcTalkSpec(f"unknown or repeated option {name!r}: use address, baud")
        if not value.isascii() or not value.isdigit():
            raise InvalidCcTalkSpec(f"{name}={value!r} is not a whole number")
        options[name] = int(value)
    address = options.get("address", DEFAULT_ADDRESS)
    baud = options.get("baud", DEFAULT_BAUD)
    if not 2 <= address <= 255:
        raise InvalidCcTalkSpec(f"address={address}: give 2-255 (1 is the host, 0 broadcast)")
    if baud not in BAUDS:
        raise InvalidCcTalkSpec(f"baud={baud}: give one of {', '.join(map(str, BAUDS))}")
    return CcTalkSpec(device=device, address=address, baud=baud)


# ------------------------------------------------------------------ the driver


@dataclass(slots=True)
class _Escrow:
    bill_type: int
    amount: Money


class CcTalkAcceptor:
    """A ccTalk bill validator as a :class:`NoteAcceptor`.

    The serial port opens at construction (a missing device is an ``OSError`` at once); the
    device is checked and set up at the first call that needs it. Each exchange runs in a
    worker thread, one at a time (a lock), so polling and routing never interleave on the bus.
    """

    def __init__(
        self,
        spec: CcTalkSpec,
        *,
        reply_timeout_s: float = 0.3,
        attempts: int = 3,
        poll_interval_s: float = 0.2,
        confirm_s: float = 5.0,
        port: Any = None,
    ) -> None:
        """Open the serial port ``spec`` names (or use ``port``, a pyserial-like object).

        :raises OSError: if the port cannot be opened.
        """
        self.spec = spec
        self._reply_timeout_s = reply_timeout_s
        self._attempts = attempts
        self._poll_interval_s = poll_interval_s
        self._confirm_s = confirm_s
        self._port: Any = port
        if port is None:
            self._port = serial.Serial(
                spec.device,
                baudrate=spec.baud,
                bytesize=8,
                parity="N",
                stopbits=1,
                timeout=reply_timeout_s,
            )
        self._io = threading.Lock()
        self._ready = False
        self._enabled = True
        self._counter = 0
        self.channels: dict[int, Money] = {}
        self.refused_channels: dict[int, str] = {}
        self._queue: deque[AcceptorEvent] = deque()
        self._escrow: _Escrow | None = None
        self._stacking: int | None = None
        self._returns_asked = 0
        self._return_unknown = False

    # -------------------------------------------------------------- the bus

    def _read_exactly(self, count: int, deadline: float) -> bytes:
        got = b""
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._port.timeout = remaining
            chunk = self._port.read(count - len(got))
            if not chunk:
                break
            got += bytes(chunk)
        if len(got) < count:
            raise CcTalkFrameError("no reply in time" if not got else "a cut-off reply")
        return got

    def _read_frame(self, deadline: float) -> bytes:
        head = self._read_exactly(2, deadline)
        return head + self._read_exactly(frame_length(head) - 2, deadline)

    def _exchange_sync(self, header: int, data: bytes) -> tuple[bytes, int]:
        request = encode_frame(
            Frame(destination=self.spec.address, source=HOST_ADDRESS, header=header, data=data)
        )
        problem = ""
        with self._io:
            for attempt in range(1, self._attempts + 1):
                try:
                    self._port.reset_input_buffer()
                    self._port.write(request)
                    self._port.flush()
                    deadline = time.monotonic() + self._reply_timeout_s
                    raw = self._read_frame(deadline)
                    if raw == request:  # the single wire's echo of our own request
                        raw = self._read_frame(deadline)
                    reply = decode_frame(raw)
                except CcTalkFrameError as error:
                    problem = str(error)
                    logger.warning("ccTalk header %d: %s; asking again", header, problem)
                    continue
                except (OSError, serial.SerialException) as error:
                    raise AcceptorUnavailable(f"ccTalk port {self.spec.device}: {error}") from error
                if reply.destination != HOST_ADDRESS or reply.source != self.spec.address:
                    problem = f"a frame from {reply.source} to {reply.destination}"
                    continue
                if reply.header == HEADER_NAK:
                    problem = "NAK"
                    continue
                if reply.header != HEADER_ACK:
                    problem = f"reply header {reply.header}"
                    continue
                return reply.data, attempt
        raise AcceptorUnavailable(
            f"ccTalk device {self.spec.address} on {self.spec.device}: header {header} "
            f"failed {self._attempts} times ({problem})"
        )

    async def _exchange(self, header: int, data: bytes = b"") -> bytes:
        answer, _attempts = await asyncio.to_thread(self._exchange_sync, header, data)
        return answer

    # -------------------------------------------------------------- set-up

    def _fault(self, code: str, detail: str, amount: Money | None = None) -> None:
        logger.error("ccTalk bill validator: %s: %s", code, detail)
        self._queue.append(
            AcceptorEvent(kind=AcceptorEventKind.FAULT, code=code, detail=detail, amount=amount)
        )

    async def _setup(self) -> None:
        await self._exchange(SIMPLE_POLL)
        category = (await self._exchange(REQUEST_EQUIPMENT_CATEGORY)).decode("ascii", "replace")
        if category.strip("\x00 ") != BILL_VALIDATOR:
            raise AcceptorUnavailable(
                f"ccTalk device {self.spec.address} is a {category.strip()!r}, not a bill validator"
            )
        channels: dict[int, Money] = {}
        refused: dict[int, str] = {}
        for channel in range(1, CHANNELS + 1):
            code = (await self._exchange(REQUEST_BILL_ID, bytes((channel,)))).decode(
                "ascii", "replace"
            )
            try:
                amount = bill_amount(code)
            except UnknownBillCode as error:
                refused[channel] = code
                self._fault("UNKNOWN_BILL_CODE", f"channel {channel} stays inhibited: {error}")
                continue
            if amount is not None:
                channels[channel] = amount
        self.channels, self.refused_channels = channels, refused
        mask = sum(1 << (channel - 1) for channel in channels)
        await self._route_reply_empty(MODIFY_INHIBIT_STATUS, bytes((mask & 0xFF, mask >> 8)))
        self._counter = parse_event_buffer(await self._exchange(READ_BUFFERED_BILL_EVENTS)).counter
        # A note left in escrow by a previous run is not ours to stack: nobody journalled it
        # under this run. Give it back and say so.
        self._escrow = None
        self._stacking = None
        self._return_unknown = False
        if (await self._route(ROUTE_RETURN))[0]:
            self._fault("ESCROW_AT_START", "a note was in escrow at start-up: returned")
        await self._route_reply_empty(MODIFY_MASTER_INHIBIT, bytes((int(self._enabled),)))
        self._ready = True
        logger.info(
            "ccTalk bill validator %d on %s: channels %s",
            self.spec.address,
            self.spec.device,
            {channel: amount.yuan() for channel, amount in channels.items()},
        )

    async def _route_reply_empty(self, header: int, data: bytes) -> None:
        answer = await self._exchange(header, data)
        if answer:
            raise AcceptorUnavailable(f"ccTalk header {header} answered {answer.hex()}")

    # -------------------------------------------------------------- events

    def _credit(self, bill_type: int, route: int) -> None:
        amount = self.channels.get(bill_type)
        if route == ROUTE_STACK:  # "held in escrow"
            if amount is None:
                self._queue.append(
                    AcceptorEvent(
                        kind=AcceptorEventKind.REJECTED,
                        code="UNKNOWN_BILL_TYPE",
                        detail=f"bill type {bill_type} in escrow is no note wattbook takes",
                    )
                )
                self._return_unknown = True
                return
            self._escrow = _Escrow(bill_type=bill_type, amount=amount)
            self._queue.append(AcceptorEvent(kind=AcceptorEventKind.ESCROW, amount=amount))
            return
        # Stacked (route 0, or another sorter path).
        if self._stacking == bill_type:
            self._stacking = None  # the stack we asked for, confirmed
            return
        what = f"{amount.yuan()} yuan" if amount is not None else f"bill type {bill_type}"
        self._fault("UNASKED_STACK", f"a note ({what}) was stacked without approval", amount)

    def _status(self, code: int) -> None:
        if code == STATUS_RETURNED_FROM_ESCROW:
            if self._returns_asked:
                self._returns_asked -= 1
            elif self._escrow is not None:
                escrow, self._escrow = self._escrow, None
                self._queue.append(
                    AcceptorEvent(
                        kind=AcceptorEventKind.RETURNED,
                        amount=escrow.amount,
                        code="ESCROW_TIMEOUT",
                        detail="the device returned the note in escrow by itself",
                    )
                )
        elif code in STATUS_REJECTIONS:
            self._queue.append(
                AcceptorEvent(
                    kind=AcceptorEventKind.REJECTED,
                    code=f"STATUS_{code}",
                    detail=STATUS_REJECTIONS[code],
                )
            )
        elif code not in STATUS_INFORMATION:
            self._fault(f"STATUS_{code}", STATUS_FAULTS.get(code, f"status {code}"))

    async def _poll(self) -> None:
        try:
            buffer = parse_event_buffer(await self._exchange(READ_BUFFERED_BILL_EVENTS))
        except CcTalkFrameError as error:
            raise AcceptorUnavailable(f"ccTalk event buffer: {error}") from error
        if buffer.counter == 0 and self._counter != 0:
            # Power cycle or reset: its inhibits are back to default and its escrow is gone.
            self._counter = 0
            self._ready = False
            self._fault("DEVICE_RESET", "the bill validator reset (event counter 0)")
            if self._escrow is not None:
                self._queue.append(
                    AcceptorEvent(
                        kind=AcceptorEventKind.RETURNED,
                        amount=self._escrow.amount,
                        code="DEVICE_RESET",
                        detail="the device reset with a note in escrow",
                    )
                )
            self._escrow = None
            return
        new = events_since(self._counter, buffer.counter)
        self._counter = buffer.counter
        if new > EVENTS_IN_BUFFER:
            self._fault(
                "EVENTS_MISSED",
                f"{new - EVENTS_IN_BUFFER} bill events were lost unread: notes may have been "
                "taken or returned while nobody listened",
            )
        for bill_type, route in reversed(buffer.results[: min(new, EVENTS_IN_BUFFER)]):
            if bill_type == 0:
                self._status(route)
            else:
                self._credit(bill_type, route)
        if self._return_unknown:
            self._return_unknown = False
            await self._route(ROUTE_RETURN)

    async def next_event(self) -> AcceptorEvent:
        """Poll the validator until it reports an event; return it.

        :raises AcceptorUnavailable: if it does not answer, is no bill validator, or answers
            what cannot be read.
        """
        while not self._queue:
            if not self._ready:
                await self._setup()
            else:
                await self._poll()
            if not self._queue:
                await asyncio.sleep(self._poll_interval_s)
        return self._queue.popleft()

    # -------------------------------------------------------------- commands

    async def _route(self, route: int) -> tuple[bool, bool]:
        """Route the note in escrow; return whether it was there, and whether it took retries.

        Route bill is not idempotent: if a first attempt's answer was lost, the retry finds
        the escrow empty although the first one routed the note. The caller must then look
        at the event buffer.
        """
        answer, attempts = await asyncio.to_thread(self._exchange_sync, ROUTE_BILL, bytes((route,)))
        if answer == bytes((ROUTE_ESCROW_EMPTY,)):
            return False, attempts > 1
        if answer:
            raise AcceptorUnavailable(f"ccTalk route bill {route} failed ({answer.hex()})")
        if route == ROUTE_RETURN:
            self._returns_asked += 1
        return True, attempts > 1

    async def stack(self) -> None:
        """Stack the note in escrow.

        :raises NoteNotInEscrow: if it is no longer there (the device returned it).
        :raises AcceptorUnavailable: if the device does not answer, cannot route it, or does
            not confirm within a bounded time whether a retried route stacked it. The note
            then still counts as in escrow: if the device gives it back, RETURNED follows.
        """
        escrow = self._escrow
        if escrow is None:
            raise NoteNotInEscrow("no note is in escrow")
        self._escrow, self._stacking = None, escrow.bill_type
        try:
            routed, retried = await self._route(ROUTE_STACK)
            if routed:
                return
            if retried:
                # An earlier attempt may have stacked it: the stacked credit will say so.
                self._escrow = escrow
                deadline = time.monotonic() + self._confirm_s
                while self._stacking is not None and self._escrow is not None:
                    if time.monotonic() > deadline:
                        raise AcceptorUnavailable("the validator did not confirm the stack")
                    await self._poll()
                    await asyncio.sleep(self._poll_interval_s)
                if self._stacking is None:
                    self._escrow = None
                    return
        except AcceptorUnavailable:
            self._escrow, self._stacking = escrow, None
            raise
        self._escrow = self._stacking = None
        raise NoteNotInEscrow("the validator's escrow is empty: it returned the note")

    async def return_note(self) -> None:
        """Return the note in escrow, if one is there.

        :raises AcceptorUnavailable: if the device does not answer or cannot route it.
        """
        escrow, self._escrow = self._escrow, None
        if escrow is not None:
            await self._route(ROUTE_RETURN)  # an empty escrow: the note is back already

    async def set_enabled(self, enabled: bool) -> None:
        """Take notes or refuse them all (master inhibit).

        :raises AcceptorUnavailable: if the device does not answer.
        """
        self._enabled = enabled
        if self._ready:
            await self._route_reply_empty(MODIFY_MASTER_INHIBIT, bytes((int(enabled),)))

    async def close(self) -> None:
        """Refuse notes (best effort) and close the port."""
        if self._ready:
            with contextlib.suppress(AcceptorUnavailable):
                await self._route_reply_empty(MODIFY_MASTER_INHIBIT, b"\x00")
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._io, contextlib.suppress(OSError):
            self._port.close()
