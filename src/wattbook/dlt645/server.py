"""The slave side: devices on a simulated RS-485 bus, served over any transport.

A :class:`Device` answers the requests addressed to it with a sequence of reply parts:

- an empty sequence: the device stays silent (a dead meter, a dropped frame);
- :class:`~wattbook.dlt645.frame.Frame`: a frame, sent with the serving loop's preamble;
- :class:`RawReply`: bytes put on the bus exactly as given (garbled or truncated frames);
- :class:`Delay`: extra time before the answer goes out (a slow meter, or one so slow that
  the master has given up).

So a fault-injecting simulator needs nothing more than what it returns from ``handle``.

A :class:`Bus` routes each request as a real RS-485 line would: a device hears a request whose
address matches its own, an ``A`` nibble matching anything (wildcard and abbreviated
addresses); a broadcast to 999999999999 reaches every device and nobody answers; when several
devices answer at once their bytes collide, and the master hears garbage.

:func:`serve_transport` paces the answers like the real line: the request's wire time, the
meter's answer delay and the reply's wire time all pass before the reply is written (at once),
so a simulated bus is never faster than a real one. ``baud=None`` turns pacing off for tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from wattbook.dlt645.errors import TransportError
from wattbook.dlt645.frame import BROADCAST_ADDRESS, DEFAULT_PREAMBLE, Frame, FrameParser
from wattbook.dlt645.transport import Transport, start_tcp_server, wire_time_s

logger = logging.getLogger(__name__)

DEFAULT_SERVER_BAUD = 2400
# The standard's shortest slave answer delay (20 ms <= Td <= 500 ms).
DEFAULT_ANSWER_DELAY_S = 0.02
# How long one idle read waits before looping; the loop ends when the transport closes.
_IDLE_READ_S = 60.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RawReply:
    """Bytes a device puts on the bus verbatim: garbage, a bad checksum, half a frame."""

    data: bytes


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """Extra time a device takes before its answer goes out, on top of the bus timing."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"a delay cannot be negative ({self.seconds})")


ReplyPart = Frame | RawReply | Delay


class Device(Protocol):
    """Anything that sits on the bus with an address and answers requests."""

    @property
    def address(self) -> str:
        """Return the 12-digit communication address."""
        ...

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        """Return the reply parts for a request addressed to this device (empty = silent)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What the bus puts on the line in answer to one request."""

    data: bytes
    extra_delay_s: float = 0.0


def _fits(pattern: str, address: str) -> bool:
    if pattern == address:
        return True
    if len(pattern) != len(address):
        return False
    pattern, address = pattern.upper(), address.upper()
    if "A" not in pattern:  # no wildcard: every device on the bus is asked, most do not fit
        return pattern == address
    return all(p in ("A", a) for p, a in zip(pattern, address, strict=True))


def collide(replies: Sequence[bytes]) -> bytes:
    """Return what the master hears when several devices transmit at once.

    The bytes are XORed position by position (the longest reply sets the length), which
    wipes out the 68H start bytes of aligned frames, so no valid frame survives, as on a real
    RS-485 line where two drivers fight.
    """
    size = max((len(reply) for reply in replies), default=0)
    mixed = bytearray(size)
    for reply in replies:
        for index, byte in enumerate(reply):
            mixed[index] ^= byte
    return bytes(mixed)


class Bus:
    """The devices on one simulated RS-485 line, and the lock that keeps it half-duplex.

    Duplicate addresses are allowed on purpose: a misconfigured bus has them, and both
    meters then answer at once.
    """

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._devices: list[Device] = list(devices)
        # One transaction at a time, however many connections share the bus.
        self.lock = asyncio.Lock()

    @property
    def devices(self) -> tuple[Device, ...]:
        """Return the devices, in the order they were added."""
        return tuple(self._devices)

    def add(self, device: Device) -> None:
        """Put a device on the bus."""
        self._devices.append(device)

    def remove(self, address: str) -> None:
        """Take every device with ``address`` off the bus.

        :raises KeyError: if no device has that address.
        """
        kept = [device for device in self._devices if device.address != address]
        if len(kept) == len(self._devices):
            raise KeyError(address)
        self._devices = kept

    def respond(self, request: Frame, *, preamble: int = DEFAULT_PREAMBLE) -> Answer | None:
        """Deliver a request to the devices it addresses and return what goes back on the line.

        Return None when nothing answers: no device matched, every match stayed silent, the
        request was a broadcast, or the frame was a reply (another slave, or an echo).
        """
        if request.is_reply:
            return None
        if request.address == BROADCAST_ADDRESS:
            for device in self._devices:
                device.handle(request)
            return None
        answers = [
            answer
            for device in self._devices
            if _fits(request.address, device.address)
            and (answer := _render(device.handle(request), preamble=preamble)) is not None
        ]
        if not answers:
            return None
        if len(answers) == 1:
            return answers[0]
        logger.debug("%d devices answer %s at once: collision", len(answers), request.describe())
        return Answer(
            data=collide([answer.data for answer in answers]),
            extra_delay_s=max(answer.extra_delay_s for answer in answers),
        )


def _render(parts: Sequence[ReplyPart], *, preamble: int) -> Answer | None:
    data = bytearray()
    delay = 0.0
    for part in parts:
        if isinstance(part, Frame):
            data += part.encode(preamble=preamble)
        elif isinstance(part, RawReply):
            data += part.data
        else:
            delay += part.seconds
    if not data:
        return None
    return Answer(data=bytes(data), extra_delay_s=delay)


async def serve_transport(
    transport: Transport,
    bus: Bus,
    *,
    baud: int | None = DEFAULT_SERVER_BAUD,
    answer_delay_s: float = DEFAULT_ANSWER_DELAY_S,
    preamble: int = DEFAULT_PREAMBLE,
) -> None:
    """Answer the requests that arrive on ``transport`` from the devices on ``bus``.

    Before each reply the loop waits the request's wire time (counted with the 4 FEH the
    standard tells masters to send), ``answer_delay_s`` and the reply's wire time at ``baud``,
    plus any :class:`Delay` the device asked for, then writes the reply at once. With
    ``baud=None`` only device delays are applied. Replies carry ``preamble`` FEH bytes.
    Returns when the transport closes or drops (also while an answer is pending); the
    transport must be open.
    """
    parser = FrameParser()
    while True:
        try:
            chunk = await transport.read(timeout=_IDLE_READ_S)
        except TransportError as exc:
            logger.debug("stopped serving %s: %s", transport.description, exc)
            return
        for request in parser.feed(chunk):
            if request.is_reply:
                continue  # our own echo, or another slave on the line
            try:
                async with bus.lock:
                    await _answer(transport, bus, request, baud, answer_delay_s, preamble)
            except TransportError as exc:
                # The master left while its answer was on the way: normal for a client.
                logger.debug("stopped serving %s: %s", transport.description, exc)
                return


async def _answer(
    transport: Transport,
    bus: Bus,
    request: Frame,
    baud: int | None,
    answer_delay_s: float,
    preamble: int,
) -> None:
    answer = bus.respond(request, preamble=preamble)
    wait = 0.0
    if baud is not None:
        request_bytes = request.encoded_length(preamble=DEFAULT_PREAMBLE)
        wait = wire_time_s(byte_count=request_bytes, baud=baud)
        if answer is not None:
            wait += answer_delay_s + wire_time_s(byte_count=len(answer.data), baud=baud)
    if answer is not None:
        wait += answer.extra_delay_s
    if wait > 0:
        await asyncio.sleep(wait)
    # Debug lines are built only when someone listens (the simulator answers thousands a second).
    if answer is None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("no answer to %s", request.describe())
        return
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("answer to %s: %s", request.describe(), answer.data.hex(" "))
    await transport.write(answer.data)


async def serve_tcp(
    *,
    host: str,
    port: int,
    bus: Bus,
    baud: int | None = DEFAULT_SERVER_BAUD,
    answer_delay_s: float = DEFAULT_ANSWER_DELAY_S,
    preamble: int = DEFAULT_PREAMBLE,
) -> asyncio.Server:
    """Start serving ``bus`` on a TCP port, like a serial-to-Ethernet server on one RS-485 line.

    Every connection is served with the bus's lock, so transactions never overlap. Port 0
    picks a free port: read it from ``server.sockets[0].getsockname()``. Close the returned
    server to stop listening; connections already open are served until their client leaves
    or the event loop ends (Python 3.11's server does not close them).

    :raises TransportError: if the address cannot be bound.
    """

    async def on_connection(transport: Transport) -> None:
        logger.debug("serving %s", transport.description)
        await serve_transport(
            transport, bus, baud=baud, answer_delay_s=answer_delay_s, preamble=preamble
        )

    return await start_tcp_server(host=host, port=port, on_connection=on_connection, baud=baud)
