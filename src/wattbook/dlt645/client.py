"""The bus master: one request in flight per bus, timeouts, retries, follow-up frames.

A :class:`Client` owns one :class:`~wattbook.dlt645.transport.Transport`, i.e. one RS-485 line.
RS-485 is half-duplex with a single master, so every exchange holds the client's lock from the
request until the last reply frame; run several buses in parallel with several clients.

What counts as the reply: only a frame with D7 = 1 whose address matches the request (nibble by
nibble, ``A`` matching anything, so wildcard and abbreviated requests accept any meter that fits).
Our own request echoed by a half-duplex adapter is therefore ignored, and so are stray frames.
A reply from the right meter to an earlier request (another DI or function: a meter that
answered past the timeout) is set aside while the answer to this request is awaited.
Every failure raises: :class:`NoResponse` for silence, :class:`GarbledResponse` when only bytes
that form no matching reply came back, :class:`UnexpectedResponse` for a well-formed reply that
does not fit, and the specific :class:`AbnormalResponse` subclass for a meter's refusal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence

from wattbook.dlt645 import dataids, messages
from wattbook.dlt645.bcd import address_from_wire
from wattbook.dlt645.errors import (
    AbnormalResponse,
    DataError,
    GarbledResponse,
    NoResponse,
    UnexpectedResponse,
    abnormal_response,
)
from wattbook.dlt645.frame import (
    BROADCAST_ADDRESS,
    DEFAULT_PREAMBLE,
    FN_READ,
    FN_READ_FOLLOW_UP,
    WILDCARD_ADDRESS,
    Frame,
    FrameParser,
)
from wattbook.dlt645.transport import Transport, wire_time_s

logger = logging.getLogger(__name__)

# Communication address (04000401): every meter answers it, so probes read it.
DI_COMMUNICATION_ADDRESS = 0x04000401
# SEQ is one byte, so a read can never need more follow-up frames than this.
MAX_FOLLOW_UPS = 255
# The longest possible frame: 4 FEH + 68H, address, 68H, C, L + 255 data bytes + CS, 16H.
MAX_FRAME_BYTES = 4 + 12 + 255
DEFAULT_TIMEOUT_S = 1.0
# The standard allows up to 500 ms between two bytes of one frame.
DEFAULT_BYTE_TIMEOUT_S = 0.5


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientCounters:
    """Traffic counts of one client since it was made, for the head-end's statistics.

    ``requests`` counts frames sent (each retry and follow-up request included), ``retries``
    the repeats after a silent or garbled attempt, ``timeouts`` the attempts that heard
    nothing, and ``garbled`` the attempts that heard only bytes forming no matching reply.
    """

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    garbled: int = 0


def concatenate_payloads(frames: Sequence[Frame]) -> bytes:
    """Return the data of a read reply and its follow-ups, without their DIs and SEQ bytes."""
    if not frames:
        return b""
    # Follow-up replies (92H/B2H) end with their SEQ byte, which is framing, not data.
    return frames[0].payload + b"".join(frame.payload[:-1] for frame in frames[1:])


def address_matches(pattern: str, address: str) -> bool:
    """Test whether ``address`` fits ``pattern``, where each ``A`` in the pattern fits anything."""
    if pattern == address:
        return True
    return len(pattern) == len(address) and all(
        p in ("A", a) for p, a in zip(pattern.upper(), address.upper(), strict=True)
    )


def _require_reply(address: str) -> None:
    # A caller's mistake, not a bus condition: nobody ever answers the broadcast address.
    if address == BROADCAST_ADDRESS:
        raise ValueError(f"{address} is the broadcast address, which gets no reply")


class Client:
    """A DL/T 645-2007 master on one bus.

    ``timeout`` is how long to wait for the first byte of a reply after the request has left
    (when the transport knows its baud rate, the request's own wire time is added);
    ``retries`` is how many times a silent or garbled attempt is repeated; ``preamble`` is the
    number of FEH wake-up bytes sent before each frame; ``byte_timeout`` is the longest gap
    allowed between two bytes of a reply once it has started. Abnormal replies are never
    retried: the meter answered, and repeating the request would get the same refusal.

    The client neither opens nor closes the transport: its owner does.

    :raises ValueError: if a timeout is not positive or ``retries`` is negative.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = 1,
        preamble: int = DEFAULT_PREAMBLE,
        byte_timeout: float = DEFAULT_BYTE_TIMEOUT_S,
    ) -> None:
        if timeout <= 0 or byte_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if retries < 0:
            raise ValueError("retries cannot be negative")
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.preamble = preamble
        self.byte_timeout = byte_timeout
        self._lock = asyncio.Lock()
        self._parser = FrameParser()
        self._requests = 0
        self._retries = 0
        self._timeouts = 0
        # Set only while ``scan`` runs: hears each probe.
        self._on_probe: Callable[[str, str | None], None] | None = None
        self._garbled = 0

    @property
    def counters(self) -> ClientCounters:
        """Return a snapshot of the traffic counters."""
        return ClientCounters(
            requests=self._requests,
            retries=self._retries,
            timeouts=self._timeouts,
            garbled=self._garbled,
        )

    # ------------------------------------------------------------------ exchanges

    async def exchange(self, request: Frame) -> list[Frame]:
        """Send ``request`` and return its reply frames, follow-ups included, in order.

        A read answered with the follow-up bit set (B1H) is continued with 12H requests
        (SEQ 1, 2, ...) until a reply without the bit arrives; every frame is returned. A
        request to the broadcast address gets no reply: it is sent and ``[]`` is returned.

        :raises NoResponse: if no attempt heard anything.
        :raises GarbledResponse: if only bytes forming no matching reply came back.
        :raises UnexpectedResponse: if a reply does not fit the request (function, DI, SEQ).
        :raises AbnormalResponse: (its specific subclass) if the meter refused the request.
        :raises TransportError: if the bus itself fails.
        """
        async with self._lock:
            return await self._exchange_locked(request)

    async def _exchange_locked(self, request: Frame) -> list[Frame]:
        if request.address == BROADCAST_ADDRESS:
            await self._broadcast(request)
            return []
        first = await self._transact(request)
        frames = [first]
        if request.function != FN_READ or request.di is None:
            return frames
        seq = 0
        while frames[-1].has_follow_up:
            seq += 1
            if seq > MAX_FOLLOW_UPS:
                raise UnexpectedResponse(
                    f"meter {first.address} announced more than {MAX_FOLLOW_UPS} follow-up frames"
                )
            # Address the follow-ups to the meter that answered, not to a wildcard.
            follow_up = messages.read_follow_up_request(
                address=first.address, di=request.di, seq=seq
            )
            reply = await self._transact(follow_up)
            if not reply.payload or reply.payload[-1] != seq:
                raise UnexpectedResponse(
                    f"meter {reply.address} answered follow-up {seq} of DI {request.di:08X} "
                    f"with a frame not ending in SEQ {seq:02X}H"
                )
            frames.append(reply)
        return frames

    async def _exchange_one_locked(self, request: Frame) -> Frame:
        """Exchange with the lock already held and return the first reply frame.

        Authorisers get this while :meth:`control_relay` holds the bus.
        """
        _require_reply(request.address)
        return (await self._exchange_locked(request))[0]

    async def _transact(self, request: Frame) -> Frame:
        """Send one frame and return the one reply that fits it, retrying silence and garbage."""
        raw = request.encode(preamble=self.preamble)
        attempts = 1 + self.retries
        garbled_detail: str | None = None
        unexpected: UnexpectedResponse | None = None
        for attempt in range(attempts):
            if attempt:
                self._retries += 1
                logger.debug("retry %d of %s", attempt, request.describe())
            outcome = await self._attempt(request, raw)
            if isinstance(outcome, Frame):
                return self._check_reply(request, outcome)
            if isinstance(outcome, UnexpectedResponse):
                self._garbled += 1
                unexpected = outcome
            elif outcome:
                self._garbled += 1
                garbled_detail = outcome
            else:
                self._timeouts += 1
        if unexpected is not None:
            raise unexpected
        if garbled_detail is not None:
            raise GarbledResponse(request.address, garbled_detail)
        raise NoResponse(request.address, attempts, self.timeout)

    async def _attempt(self, request: Frame, raw: bytes) -> Frame | UnexpectedResponse | str:
        """Return the matching reply, a description of the garbage heard, or "" for silence.

        A reply from the right meter that does not fit the request (another DI or function)
        is a late answer to an earlier request: DL/T 645 frames carry no sequence number, and a
        meter that answers past the timeout puts its answer on the line during the next
        exchange. It is set aside and the answer to this request awaited; if no fitting reply
        comes, the unfitting one is returned as the :class:`UnexpectedResponse` it would raise.
        """
        dropped = self.transport.discard_input()
        self._parser.clear()
        # Debug lines are built only when someone listens: describing every frame cost the
        # head-end a tenth of its CPU at a thousand buses.
        debug = logger.isEnabledFor(logging.DEBUG)
        if dropped and debug:
            logger.debug("dropped %d stale byte(s) before %s", dropped, request.describe())
        discarded_before = self._parser.discarded
        self._requests += 1
        if debug:
            logger.debug("tx %s: %s", request.describe(), raw.hex(" "))
        await self.transport.write(raw)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout + self._wire_time(len(raw))
        # Endless noise must not hold the bus: stop once the longest frame could have passed.
        limit = deadline + self.byte_timeout + self._wire_time(MAX_FRAME_BYTES)
        unrelated: list[str] = []
        unfitting: UnexpectedResponse | None = None
        while True:
            # A last zero-timeout read still collects bytes that arrived while this task was
            # not scheduled, so a busy machine does not turn a reply into a timeout.
            remaining = max(deadline - loop.time(), 0.0)
            chunk = await self.transport.read(timeout=remaining)
            if not chunk:
                break
            if debug:
                logger.debug("rx %s", chunk.hex(" "))
            # Bytes keep coming: allow the standard's inter-byte gap past the first-byte timeout.
            deadline = min(max(deadline, loop.time() + self.byte_timeout), limit)
            for frame in self._parser.feed(chunk):
                if not frame.is_reply:
                    if debug:
                        logger.debug("ignored request frame (echo?) %s", frame.describe())
                elif address_matches(request.address, frame.address):
                    unfitting = _unfitting(request, frame)
                    if unfitting is None:
                        if debug:
                            logger.debug("reply %s", frame.describe())
                        return frame
                    logger.debug("ignored a late reply to an earlier request: %s", unfitting)
                else:
                    unrelated.append(frame.describe())
                    if debug:
                        logger.debug("ignored reply for another meter: %s", frame.describe())
            if loop.time() >= limit:
                break
        noise = self._parser.discarded - discarded_before + self._parser.pending
        if unfitting is not None:
            return unfitting
        if unrelated:
            return f"only replies from other meters ({'; '.join(unrelated)})"
        if noise > 0:
            return f"{noise} byte(s) that form no valid frame"
        return ""

    def _wire_time(self, byte_count: int) -> float:
        baud = self.transport.baud
        return wire_time_s(byte_count=byte_count, baud=baud) if baud else 0.0

    @staticmethod
    def _check_reply(request: Frame, reply: Frame) -> Frame:
        unfitting = _unfitting(request, reply)
        if unfitting is not None:
            raise unfitting
        if reply.is_abnormal:
            raise abnormal_response(reply.address, reply.control, reply.error_word or 0)
        return reply

    # ------------------------------------------------------------------ reads

    async def read_payload(self, *, address: str, di: int) -> bytes:
        """Return the data a meter holds for ``di``, follow-up frames concatenated.

        :raises ValueError: if the address is the broadcast address (nobody answers it).
        :raises NoResponse: if the meter is silent.
        :raises GarbledResponse: if only garbage came back.
        :raises UnexpectedResponse: if the reply does not fit the request.
        :raises AbnormalResponse: (e.g. NoSuchData) if the meter refused.
        :raises TransportError: if the bus itself fails.
        """
        request = messages.read_request(address=address, di=di)
        _require_reply(request.address)
        return concatenate_payloads(await self.exchange(request))

    async def read(self, *, address: str, di: int) -> object:
        """Return the decoded value of ``di`` (see ``dataids.decode_value`` for the types).

        :raises ValueError: if the address is the broadcast address (nobody answers it).
        :raises UnknownDataIdentifier: if ``di`` is not in the table (before anything is sent).
        :raises DataError: if the meter's data does not decode in the item's format.
        :raises NoResponse: if the meter is silent.
        :raises GarbledResponse: if only garbage came back.
        :raises UnexpectedResponse: if the reply does not fit the request.
        :raises AbnormalResponse: (e.g. NoSuchData) if the meter refused.
        :raises TransportError: if the bus itself fails.
        """
        dataids.lookup(di)
        payload = await self.read_payload(address=address, di=di)
        return dataids.decode_value(di, payload)

    async def read_address(self, *, address: str = WILDCARD_ADDRESS) -> str:
        """Return the communication address of the one meter that answers 13H.

        Send it to the all-AA address only on a point-to-point link: several meters would
        answer at once.

        :raises ValueError: if the address is the broadcast address (nobody answers it).
        :raises NoResponse: if nothing answers.
        :raises GarbledResponse: if several meters answer at once, or only garbage comes back.
        :raises UnexpectedResponse: if the reply holds no 6-byte address.
        :raises AbnormalResponse: if the meter refused.
        :raises TransportError: if the bus itself fails.
        """
        request = messages.read_address_request(address=address)
        _require_reply(request.address)
        reply = (await self.exchange(request))[0]
        try:
            found = address_from_wire(reply.data)
        except DataError as exc:
            raise UnexpectedResponse(
                f"meter {reply.address} answered 13H with {reply.data.hex()}: {exc}"
            ) from exc
        return found

    # ------------------------------------------------------------------ commands

    async def write(
        self,
        *,
        address: str,
        di: int,
        value: object,
        password: messages.Password,
        operator_code: int,
    ) -> None:
        """Write ``value`` to ``di`` on a meter, encoded per the data item's format.

        :raises ValueError: if the address is the broadcast address (nobody answers it).
        :raises UnknownDataIdentifier: if ``di`` is not in the table.
        :raises DataError: if ``value`` cannot be encoded for the item.
        :raises Unauthorised: if the meter rejects the password.
        :raises AbnormalResponse: (another subclass) if the meter refused for another reason.
        :raises NoResponse: if the meter is silent.
        :raises GarbledResponse: if only garbage came back.
        :raises UnexpectedResponse: if the acknowledgement does not fit.
        :raises TransportError: if the bus itself fails.
        """
        data = dataids.encode_value(di, value)
        request = messages.write_request(
            address=address, di=di, data=data, password=password, operator_code=operator_code
        )
        _require_reply(request.address)
        await self.exchange(request)

    async def broadcast_time(
        self, *, meter_time: dt.datetime, address: str = BROADCAST_ADDRESS
    ) -> None:
        """Send a time synchronisation (08H), to every meter by default; nobody answers it.

        ``meter_time`` is meter-local wall-clock time (naive). Some concentrators send it to a
        single meter's address instead; a meter does not answer it either way, so nothing is
        awaited. The bus is held for the frame's wire time so the next request does not run
        over it.

        :raises DataError: if the time cannot be encoded.
        :raises TransportError: if the bus itself fails.
        """
        request = messages.broadcast_time_request(meter_time=meter_time, address=address)
        async with self._lock:
            await self._broadcast(request)

    async def _broadcast(self, request: Frame) -> None:
        """Send a frame nobody answers, holding the bus while it is on the wire."""
        raw = request.encode(preamble=self.preamble)
        self.transport.discard_input()
        self._requests += 1
        logger.debug("tx %s: %s", request.describe(), raw.hex(" "))
        await self.transport.write(raw)
        # The write returns once the bytes are queued; the next request must not run over them.
        await asyncio.sleep(self._wire_time(len(raw)))

    async def control_relay(
        self, *, address: str, order: messages.RelayOrder, authoriser: messages.RelayAuthoriser
    ) -> None:
        """Send a 1CH control order (trip, close, alarm, keep power) and await its 9CH ack.

        The authoriser first prepares (e.g. runs identity authentication over the bus), then
        supplies the control data. The bus stays held for the whole sequence so no other
        request can slip between the authentication and the order.

        :raises ValueError: if the address is the broadcast address (nobody answers it).
        :raises Unauthorised: if the meter rejects the password or authentication.
        :raises AbnormalResponse: (another subclass) if the meter refused for another reason.
        :raises NoResponse: if the meter is silent.
        :raises GarbledResponse: if only garbage came back.
        :raises UnexpectedResponse: if the acknowledgement does not fit.
        :raises TransportError: if the bus itself fails.
        """
        _require_reply(address)
        async with self._lock:
            await authoriser.prepare(address=address, exchange=self._exchange_one_locked)
            data = await authoriser.control_data(address=address, order=order)
            request = messages.control_request(address=address, data=data)
            # _check_reply has made sure the answer is a 9CH acknowledgement.
            await self._exchange_locked(request)

    # ------------------------------------------------------------------ discovery

    async def scan(
        self,
        *,
        candidates: Iterable[str] | None = None,
        on_probe: Callable[[str, str | None], None] | None = None,
    ) -> list[str]:
        """Return the addresses of the meters that answer on this bus.

        With ``candidates``, probe each (a read of 04000401) and keep those that answer, even
        with a refusal. Without, search the bus: first probe the full wildcard
        ``AAAAAAAAAAAA`` once; silence means an empty bus and a clean reply a bus of one meter
        (its reply carries its full address), so both end the search at once. Only a garbled
        reply (a collision of several meters) starts the tree search: probe the abbreviated
        addresses ``AAAAAAAAAA00`` .. ``AAAAAAAAAA99``; a clean reply is one meter, a garbled
        one is split on the next byte (``AAAAAAAA00xx`` ..) down to full addresses. Silence
        costs a full timeout per probe, so a tree search takes minutes on a real bus.

        ``on_probe`` hears each probe as it ends: the address probed and the meter address
        that answered (None for silence or a collision), so a caller can show progress and
        each meter as it is found.

        :raises TransportError: if the bus itself fails.
        """
        self._on_probe = on_probe
        try:
            if candidates is not None:
                found: list[str] = []
                for candidate in candidates:
                    address = await self._probe(candidate)
                    if address is not None:
                        found.append(address)
                return found
            try:
                address = await self._probe(WILDCARD_ADDRESS)
            except GarbledResponse:
                logger.debug("collision on %s, searching the bus", WILDCARD_ADDRESS)
                return await self._search(known_digits="")
            return [] if address is None else [address]
        finally:
            self._on_probe = None

    async def _probe(self, address: str) -> str | None:
        """Return the address that answered a probe, or None for silence; raise on collision."""
        answered: str | None = None
        try:
            answered = await self._probe_once(address)
        finally:
            if self._on_probe is not None:
                self._on_probe(address, answered)
        return answered

    async def _probe_once(self, address: str) -> str | None:
        try:
            frames = await self.exchange(
                messages.read_request(address=address, di=DI_COMMUNICATION_ADDRESS)
            )
        except NoResponse:
            return None
        except AbnormalResponse as exc:
            # A refusal still proves a meter is there, and names it.
            return exc.address
        except UnexpectedResponse as exc:
            # Something answered, but not as a meter should; only a full address names it.
            logger.warning("probe of %s got an unfitting reply: %s", address, exc)
            return address if "A" not in address else None
        return frames[0].address

    async def _search(self, *, known_digits: str) -> list[str]:
        found: list[str] = []
        for byte in range(100):
            digits = f"{byte:02d}{known_digits}"
            pattern = "A" * (12 - len(digits)) + digits
            try:
                address = await self._probe(pattern)
            except GarbledResponse:
                if len(digits) == 12:
                    logger.warning("several meters answer to address %s; cannot split", digits)
                    continue
                logger.debug("collision on %s, narrowing", pattern)
                found.extend(await self._search(known_digits=digits))
                continue
            if address is not None:
                logger.debug("found meter %s on %s", address, pattern)
                found.append(address)
        return found


def _unfitting(request: Frame, reply: Frame) -> UnexpectedResponse | None:
    """Return why ``reply``, from the right meter, does not answer ``request``, or None."""
    if reply.function != request.function:
        return UnexpectedResponse(
            f"meter {reply.address} answered {request.describe()} "
            f"with function {reply.function:02X}H"
        )
    if reply.is_abnormal:  # a refusal carries the error word, not the DI
        return None
    # Reads must echo the DI; a write or control acknowledgement may carry no data at all.
    wanted, echoed = request.di, reply.di
    must_echo_di = request.function in (FN_READ, FN_READ_FOLLOW_UP) or echoed is not None
    if wanted is not None and must_echo_di and echoed != wanted:
        got = "no DI" if echoed is None else f"DI {echoed:08X}"
        return UnexpectedResponse(f"meter {reply.address} answered DI {wanted:08X} with {got}")
    return None
