"""DL/T 645-2007 frames: preamble, address, control code, +33H data, checksum, and a stream parser.

A frame on the wire::

    [FE]*0..4  68  A0..A5  68  C  L  DATA(L bytes, each +33H)  CS  16

Frames are delimited by the length byte, never by searching for 16H: addresses, data and
checksums contain 16H all the time (051600001234 travels as ``34 12 00 00 16 05``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator

from wattbook.dlt645.bcd import address_from_wire, address_to_wire
from wattbook.dlt645.errors import ChecksumError, DataError, FrameError

START = 0x68
END = 0x16
PREAMBLE_BYTE = 0xFE
MAX_PREAMBLE = 4
DEFAULT_PREAMBLE = 4
OFFSET = 0x33
HEADER_LEN = 10  # 68 + 6 address + 68 + C + L
MIN_FRAME_LEN = 12  # header + CS + 16, with no data

WILDCARD_ADDRESS = "AAAAAAAAAAAA"
BROADCAST_ADDRESS = "999999999999"

# Control code bits.
DIR_REPLY = 0x80
ABNORMAL = 0x40
FOLLOW_UP = 0x20
FUNCTION_MASK = 0x1F

# Function codes.
FN_SECURITY = 0x03
FN_BROADCAST_TIME = 0x08
FN_READ = 0x11
FN_READ_FOLLOW_UP = 0x12
FN_READ_ADDRESS = 0x13
FN_WRITE = 0x14
FN_WRITE_ADDRESS = 0x15
FN_FREEZE = 0x16
FN_CHANGE_BAUD = 0x17
FN_CHANGE_PASSWORD = 0x18
FN_CLEAR_DEMAND = 0x19
FN_CLEAR_METER = 0x1A
FN_CLEAR_EVENTS = 0x1B
FN_CONTROL = 0x1C

# Functions whose normal data field starts with a data identifier (DI0..DI3).
_DI_FUNCTIONS = frozenset({FN_SECURITY, FN_READ, FN_READ_FOLLOW_UP, FN_WRITE})


# +33H / -33H modulo 256 as translation tables: bytes.translate is the fast path in CPython.
_ADD_33 = bytes((i + OFFSET) & 0xFF for i in range(256))
_SUB_33 = bytes((i - OFFSET) & 0xFF for i in range(256))
_PREAMBLE = bytes((PREAMBLE_BYTE,))


@functools.lru_cache(maxsize=65536)
def _label_to_wire(address: str) -> tuple[str, bytes]:
    """Return (normalised label, wire bytes); cached because a bus talks to few addresses."""
    return address.upper(), address_to_wire(address)


@functools.lru_cache(maxsize=65536)
def _wire_to_label(raw: bytes) -> str:
    return address_from_wire(raw)


def checksum(data: bytes) -> int:
    """Return the DL/T 645 checksum: the byte sum modulo 256."""
    return sum(data) & 0xFF


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One DL/T 645-2007 frame, with ``data`` held as plain bytes (the 33H already removed).

    ``address`` is the 12 characters printed on the meter label, ``A`` for a wildcard nibble.
    """

    address: str
    control: int
    data: bytes = b""

    def __post_init__(self) -> None:
        try:
            label, _ = _label_to_wire(self.address)
        except (DataError, TypeError) as exc:
            raise FrameError(f"bad address {self.address!r}: {exc}") from exc
        if not 0 <= self.control <= 0xFF:
            raise FrameError(f"control code {self.control} is not a byte")
        if len(self.data) > 0xFF:
            raise FrameError(f"data field of {len(self.data)} bytes exceeds 255")
        if label is not self.address:
            object.__setattr__(self, "address", label)
        if type(self.data) is not bytes:
            object.__setattr__(self, "data", bytes(self.data))

    @classmethod
    def _trusted(cls, address: str, control: int, data: bytes) -> Frame:
        """Return a frame from fields the decoder has already validated (skips the checks)."""
        frame = object.__new__(cls)
        object.__setattr__(frame, "address", address)
        object.__setattr__(frame, "control", control)
        object.__setattr__(frame, "data", data)
        return frame

    @property
    def function(self) -> int:
        """Return the function code (control bits D4..D0)."""
        return self.control & FUNCTION_MASK

    @property
    def is_reply(self) -> bool:
        """Test whether the meter sent this frame (control bit D7)."""
        return bool(self.control & DIR_REPLY)

    @property
    def is_abnormal(self) -> bool:
        """Test whether this is an abnormal (error) reply (control bit D6)."""
        return (self.control & (DIR_REPLY | ABNORMAL)) == DIR_REPLY | ABNORMAL

    @property
    def has_follow_up(self) -> bool:
        """Test whether more frames follow this reply (control bit D5)."""
        return (self.control & (DIR_REPLY | FOLLOW_UP)) == DIR_REPLY | FOLLOW_UP

    @property
    def di(self) -> int | None:
        """Return the data identifier heading the data field, or None if it has none."""
        # The bit tests are spelled out: a client asks for the DI several times a read.
        control = self.control
        if (
            (control & FUNCTION_MASK) in _DI_FUNCTIONS
            and (control & (DIR_REPLY | ABNORMAL)) != DIR_REPLY | ABNORMAL
            and len(self.data) >= 4
        ):
            return int.from_bytes(self.data[:4], "little")
        return None

    @property
    def payload(self) -> bytes:
        """Return the data after the data identifier (all of it when there is no DI)."""
        return self.data[4:] if self.di is not None else self.data

    @property
    def error_word(self) -> int | None:
        """Return an abnormal reply's error byte, or None for a normal frame."""
        if not self.is_abnormal:
            return None
        return self.data[0] if self.data else 0

    def encode(self, *, preamble: int = DEFAULT_PREAMBLE) -> bytes:
        """Return the frame as wire bytes, preceded by ``preamble`` FEH wake-up bytes.

        :raises FrameError: if ``preamble`` is negative.
        """
        if preamble < 0:
            raise FrameError("preamble length cannot be negative")
        body = b"".join(
            (
                b"\x68",
                _label_to_wire(self.address)[1],
                bytes((START, self.control, len(self.data))),
                self.data.translate(_ADD_33),
            )
        )
        return b"".join((_PREAMBLE * preamble, body, bytes((sum(body) & 0xFF, END))))

    def encoded_length(self, *, preamble: int = DEFAULT_PREAMBLE) -> int:
        """Return ``len(self.encode(preamble=preamble))`` without building the bytes.

        A simulated line paces every frame by its length; encoding it only to count it cost
        the simulator's every answer.

        :raises FrameError: if ``preamble`` is negative.
        """
        if preamble < 0:
            raise FrameError("preamble length cannot be negative")
        return preamble + MIN_FRAME_LEN + len(self.data)

    def describe(self) -> str:
        """Return a one-line human description for logs and field tools."""
        kind = "reply" if self.is_reply else "request"
        di = f" DI {self.di:08X}" if self.di is not None else ""
        flags = (" abnormal" if self.is_abnormal else "") + (
            " +follow-up" if self.has_follow_up else ""
        )
        return f"{kind} {self.address} C={self.control:02X}H{flags}{di} L={len(self.data)}"


def _decode_body(raw: bytes) -> Frame:
    """Decode a frame starting at its first 68H and ending exactly at its 16H."""
    if len(raw) < MIN_FRAME_LEN:
        raise FrameError(f"frame too short ({len(raw)} bytes)")
    if raw[0] != START or raw[7] != START:
        raise FrameError("start bytes 68H not found at offsets 0 and 7")
    length = raw[9]
    expected = MIN_FRAME_LEN + length
    if len(raw) != expected:
        raise FrameError(f"length byte says {expected} bytes, got {len(raw)}")
    if raw[-1] != END:
        raise FrameError(f"end byte is {raw[-1]:02X}H, not 16H")
    if checksum(raw[:-2]) != raw[-2]:
        raise ChecksumError(f"checksum {raw[-2]:02X}H, computed {checksum(raw[:-2]):02X}H")
    try:
        address = _wire_to_label(raw[1:7])
    except DataError as exc:
        raise FrameError(str(exc)) from exc
    return Frame._trusted(address, raw[8], raw[10:-2].translate(_SUB_33))


def decode(raw: bytes) -> Frame:
    """Return the one frame in ``raw`` (0 to 4 leading FEH allowed, nothing after 16H).

    :raises FrameError: for anything malformed (:class:`ChecksumError` for a bad checksum).
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise FrameError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    body = raw.lstrip(_PREAMBLE)
    skip = len(raw) - len(body)
    if skip > MAX_PREAMBLE:
        raise FrameError(f"{skip} preamble bytes; at most {MAX_PREAMBLE} allowed")
    return _decode_body(body)


class FrameParser:
    """Find frames in a byte stream that may carry line noise, partial and back-to-back frames.

    Feed it whatever arrives; it returns each complete, valid frame once, in order. Bytes that
    cannot belong to a valid frame are dropped and counted in ``discarded``. Echoes of our own
    requests are valid frames too: the caller filters them by direction and address.
    """

    def __init__(self, *, max_buffer: int = 4096) -> None:
        self._buffer = bytearray()
        self._max_buffer = max_buffer
        self.discarded = 0

    @property
    def pending(self) -> int:
        """Return how many bytes wait for the rest of a frame."""
        return len(self._buffer)

    def clear(self) -> None:
        """Drop everything buffered (e.g. before a new request on a half-duplex bus)."""
        self.discarded += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Return the complete frames that ``data`` finishes, in the order they arrived."""
        self._buffer += data
        frames = list(self._drain())
        if len(self._buffer) > self._max_buffer:
            # A runaway partial "frame" must not grow without bound; keep the newest bytes.
            excess = len(self._buffer) - self._max_buffer
            del self._buffer[:excess]
            self.discarded += excess
        return frames

    def _drain(self) -> Iterator[Frame]:
        while True:
            found = self._find_first()
            if found is None:
                return
            start, end, frame = found
            self.discarded += start - self._leading_preamble(start)
            del self._buffer[:end]
            yield frame

    def _leading_preamble(self, start: int) -> int:
        count = 0
        while count < start and self._buffer[start - 1 - count] == PREAMBLE_BYTE:
            count += 1
        return count

    def _find_first(self) -> tuple[int, int, Frame] | None:
        """Return (start, end, frame) of the earliest complete valid frame, or None.

        An incomplete candidate earlier in the buffer does not hide a complete frame behind it:
        noise that merely looks like a frame header must not stall the stream until a timeout.
        If nothing complete is found, the buffer is trimmed to the earliest plausible start.
        """
        buf = self._buffer
        earliest_open: int | None = None
        pos = buf.find(START)
        while pos != -1:
            if len(buf) - pos < HEADER_LEN:
                earliest_open = pos if earliest_open is None else earliest_open
                break
            if buf[pos + 7] == START:
                end = pos + MIN_FRAME_LEN + buf[pos + 9]
                if end > len(buf):
                    if earliest_open is None:
                        earliest_open = pos
                else:
                    try:
                        frame = _decode_body(bytes(buf[pos:end]))
                    except FrameError:
                        pass
                    else:
                        return pos, end, frame
            pos = buf.find(START, pos + 1)
        keep_from = len(buf) if earliest_open is None else earliest_open
        if keep_from:
            self.discarded += keep_from
            del buf[:keep_from]
        return None
