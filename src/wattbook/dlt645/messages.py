"""Typed DL/T 645-2007 requests and replies, and the security seam of relay control (1CH).

Request builders return :class:`~wattbook.dlt645.frame.Frame` objects for the master; reply
builders and ``parse_*`` functions serve the meter side (server and simulator). Data layouts are
those of the digest (docs: shared/reference/dlt645-2007.md §3 and §4), all before 33H is added.

Relay control goes through a :class:`RelayAuthoriser`, because fee-control meters differ in what
they accept: :class:`PlainPasswordAuthoriser` sends the standard's plaintext form (PA P0..P2 +
operator code + N1..N8, L=16); :class:`SimulatedSecureAuthoriser` runs an identity
authentication (03H) and then sends the PA=98H ciphertext form (L=28), and
:class:`SimulatedSecurityModule` is its meter-side counterpart (the ESAM of a virtual meter).

The "secure" pair is a **simulation, not real cryptography**: it is built from HMAC-SHA256 to
exercise the same message flow as a State Grid ESAM (authenticate first, then send a 20-byte
ciphertext with a MAC, keyed per meter and per session) so the rest of the system can be built
and tested against that shape. It is not the State Grid algorithm (SM1/SM4 in a real ESAM or an
encryption machine) and must not be mistaken for protection of a real meter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Protocol

from wattbook.dlt645.bcd import (
    address_to_wire,
    bcd_to_int,
    decode_datetime,
    encode_datetime,
    int_to_bcd,
)
from wattbook.dlt645.errors import ERR_OTHER, ERR_PASSWORD, DataError, DLT645Error, FrameError
from wattbook.dlt645.frame import (
    ABNORMAL,
    BROADCAST_ADDRESS,
    DIR_REPLY,
    FN_BROADCAST_TIME,
    FN_CONTROL,
    FN_READ,
    FN_READ_ADDRESS,
    FN_READ_FOLLOW_UP,
    FN_SECURITY,
    FN_WRITE,
    FOLLOW_UP,
    WILDCARD_ADDRESS,
    Frame,
)

# The standard limits a write's data field (DI + password + operator code + data) to 50 bytes.
MAX_WRITE_LENGTH = 50
# Identity authentication (03H) data identifier in the State Grid security extension.
SECURITY_AUTH_DI = 0x070000FF
# Password level of the ciphertext + MAC form of 1CH on fee-control meters.
SECURE_LEVEL = 0x98
PLAIN_CONTROL_LENGTH = 16
SECURE_CONTROL_LENGTH = 28

_TIME_FORMAT = "YYMMDDhhmmss"  # sent ss mm hh DD MM YY


def _di_bytes(di: int) -> bytes:
    if isinstance(di, bool) or not isinstance(di, int) or not 0 <= di <= 0xFFFFFFFF:
        raise DataError(f"a data identifier is 4 bytes, not {di!r}")
    return di.to_bytes(4, "little")


def _operator_bytes(operator_code: int) -> bytes:
    if (
        isinstance(operator_code, bool)
        or not isinstance(operator_code, int)
        or not 0 <= operator_code <= 0xFFFFFFFF
    ):
        raise DataError(f"an operator code is 4 bytes (0..FFFFFFFFH), not {operator_code!r}")
    return operator_code.to_bytes(4, "little")


def _meter_time_bytes(value: dt.datetime) -> bytes:
    if value.microsecond:
        raise DataError("meter times are whole seconds")
    return encode_datetime(value, _TIME_FORMAT)


# ---------------------------------------------------------------- values


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Password:
    """Hold a meter password: level PA (00 highest .. 09, 98H/99H on fee-control meters).

    ``digits`` are the six decimal digits as written ("123456"); on the wire they are BCD,
    low byte first, after PA: level 02, 123456 travels as ``02 56 34 12``.
    """

    level: int
    digits: str = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise DataError(f"password level must be an int, not {self.level!r}")
        if not 0 <= self.level <= 0xFF:
            raise DataError(f"password level {self.level} is not a byte")
        digits = self.digits
        if not isinstance(digits, str) or len(digits) != 6 or not digits.isascii():
            raise DataError("a password is six decimal digits")
        if not digits.isdigit():
            raise DataError("a password is six decimal digits")

    def encode(self) -> bytes:
        """Return PA P0 P1 P2 as sent (P0..P2 BCD, low byte first)."""
        return bytes((self.level,)) + int_to_bcd(int(self.digits), 3)

    @classmethod
    def decode(cls, raw: bytes) -> Password:
        """Return the password of the 4 bytes PA P0 P1 P2.

        :raises DataError: if ``raw`` is not 4 bytes or the digits are not BCD.
        """
        if len(raw) != 4:
            raise DataError(f"a password field is 4 bytes, got {len(raw)}")
        return cls(level=raw[0], digits=f"{bcd_to_int(raw[1:4]):06d}")


class RelayAction(IntEnum):
    """Name the N1 command types of 1CH remote control."""

    TRIP = 0x1A
    CLOSE_ALLOWED = 0x1B
    DIRECT_CLOSE = 0x1C
    ALARM = 0x2A
    ALARM_RELEASE = 0x2B
    KEEP_POWER = 0x3A
    KEEP_POWER_RELEASE = 0x3B


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RelayOrder:
    """Hold one remote-control order: what, who, and until when the meter may act on it.

    ``valid_until`` is a naive meter-local datetime (N3..N8); a meter whose clock is past it
    ignores the order.
    """

    action: RelayAction
    operator_code: int
    valid_until: dt.datetime

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "action", RelayAction(self.action))
        except ValueError as exc:
            raise DataError(f"unknown relay action {self.action!r}") from exc
        _operator_bytes(self.operator_code)
        if not isinstance(self.valid_until, dt.datetime):
            raise DataError("valid_until must be a naive meter-local datetime")
        _meter_time_bytes(self.valid_until)

    def command_bytes(self) -> bytes:
        """Return N1..N8: the action, the reserved 00, and valid-until sent ss first."""
        return bytes((self.action, 0)) + _meter_time_bytes(self.valid_until)

    def is_valid_at(self, meter_time: dt.datetime) -> bool:
        """Test whether a meter whose clock reads ``meter_time`` may still act on the order."""
        return meter_time <= self.valid_until


def _order_from(operator: bytes, command: bytes) -> RelayOrder:
    if len(command) != 8:
        raise DataError(f"N1..N8 is 8 bytes, got {len(command)}")
    if command[1] != 0:
        raise DataError(f"N2 is reserved and must be 00H, not {command[1]:02X}H")
    try:
        action = RelayAction(command[0])
    except ValueError as exc:
        raise DataError(f"unknown relay command type N1={command[0]:02X}H") from exc
    return RelayOrder(
        action=action,
        operator_code=int.from_bytes(operator, "little"),
        valid_until=decode_datetime(command[2:8], _TIME_FORMAT),
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WriteCommand:
    """Hold the parts of a 14H write request's data field."""

    di: int
    password: Password
    operator_code: int
    data: bytes


# ---------------------------------------------------------------- requests


def read_request(*, address: str, di: int) -> Frame:
    """Return a read-data request (11H) for one data identifier.

    :raises DataError: if ``di`` is not 4 bytes.
    :raises FrameError: if ``address`` is not a valid address.
    """
    return Frame(address=address, control=FN_READ, data=_di_bytes(di))


def read_follow_up_request(*, address: str, di: int, seq: int) -> Frame:
    """Return a read-follow-up request (12H): DI + SEQ, the number of the frame wanted.

    :raises DataError: if ``di`` is not 4 bytes or ``seq`` not a byte.
    :raises FrameError: if ``address`` is not a valid address.
    """
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= 0xFF:
        raise DataError(f"SEQ is one byte, not {seq!r}")
    return Frame(address=address, control=FN_READ_FOLLOW_UP, data=_di_bytes(di) + bytes((seq,)))


def read_address_request(*, address: str = WILDCARD_ADDRESS) -> Frame:
    """Return a read-communication-address request (13H), by default to the all-AA address.

    :raises FrameError: if ``address`` is not a valid address.
    """
    return Frame(address=address, control=FN_READ_ADDRESS)


def write_request(
    *, address: str, di: int, data: bytes, password: Password, operator_code: int
) -> Frame:
    """Return a write-data request (14H): DI + PA P0 P1 P2 + C0..C3 + data.

    :raises DataError: if a field is out of range or the data field exceeds 50 bytes.
    :raises FrameError: if ``address`` is not a valid address.
    """
    field = _di_bytes(di) + password.encode() + _operator_bytes(operator_code) + bytes(data)
    if len(field) > MAX_WRITE_LENGTH:
        raise DataError(f"a write carries at most {MAX_WRITE_LENGTH} bytes, not {len(field)}")
    return Frame(address=address, control=FN_WRITE, data=field)


def broadcast_time_request(*, meter_time: dt.datetime, address: str = BROADCAST_ADDRESS) -> Frame:
    """Return a broadcast time synchronisation (08H): ss mm hh DD MM YY, meter-local.

    :raises DataError: if ``meter_time`` is aware, has microseconds or is outside 2000-2099.
    :raises FrameError: if ``address`` is not a valid address.
    """
    return Frame(address=address, control=FN_BROADCAST_TIME, data=_meter_time_bytes(meter_time))


def control_request(*, address: str, data: bytes) -> Frame:
    """Return a remote-control request (1CH) carrying data an authoriser prepared.

    :raises DataError: if ``data`` is empty.
    :raises FrameError: if ``address`` is not a valid address.
    """
    if not data:
        raise DataError("a control request needs its data field")
    return Frame(address=address, control=FN_CONTROL, data=bytes(data))


def security_request(*, address: str, data: bytes) -> Frame:
    """Return a security-authentication request (03H) whose data starts with its DI.

    :raises DataError: if ``data`` is shorter than a DI.
    :raises FrameError: if ``address`` is not a valid address.
    """
    if len(data) < 4:
        raise DataError("a security request starts with a 4-byte DI")
    return Frame(address=address, control=FN_SECURITY, data=bytes(data))


# ---------------------------------------------------------------- replies (meter side)


def _reply(request: Frame, control: int, data: bytes, address: str | None) -> Frame:
    if request.is_reply:
        raise FrameError(f"cannot answer a reply ({request.describe()})")
    return Frame(address=address or request.address, control=control, data=bytes(data))


def normal_reply(
    request: Frame, data: bytes = b"", follow_up: bool = False, *, address: str | None = None
) -> Frame:
    """Return a normal reply: the request's function | 80H, and | 20H when frames follow.

    ``data`` is the whole data field (for a read reply, DI first; see :func:`read_reply`).
    ``address`` is the answering meter's own address; pass it when the request was sent to a
    wildcard or abbreviated address, because a reply always carries the real one.

    :raises FrameError: if ``request`` is itself a reply, or the data is too long.
    """
    control = request.function | DIR_REPLY | (FOLLOW_UP if follow_up else 0)
    return _reply(request, control, data, address)


def abnormal_reply(request: Frame, error_word: int, *, address: str | None = None) -> Frame:
    """Return an abnormal reply: the request's function | C0H, L=1, the error word as data.

    :raises FrameError: if ``request`` is itself a reply.
    :raises DataError: if ``error_word`` is not a byte.
    """
    if (
        isinstance(error_word, bool)
        or not isinstance(error_word, int)
        or not 0 <= error_word <= 0xFF
    ):
        raise DataError(f"an error word is one byte, not {error_word!r}")
    control = request.function | DIR_REPLY | ABNORMAL
    return _reply(request, control, bytes((error_word,)), address)


def read_reply(
    request: Frame, payload: bytes, *, follow_up: bool = False, address: str | None = None
) -> Frame:
    """Return the normal reply to a read (91H/B1H) or follow-up read (92H/B2H).

    The data field is the request's DI, then ``payload``; a follow-up reply also ends with the
    request's SEQ byte (the position of that SEQ is unconfirmed against the standard text).

    :raises FrameError: if ``request`` is not a read or follow-up read request.
    """
    if request.is_reply or request.function not in (FN_READ, FN_READ_FOLLOW_UP):
        raise FrameError(f"not a read request: {request.describe()}")
    if request.di is None:
        raise FrameError(f"read request without a DI: {request.describe()}")
    data = request.data[:4] + bytes(payload)
    if request.function == FN_READ_FOLLOW_UP:
        if len(request.data) != 5:
            raise FrameError(f"follow-up read without SEQ: {request.describe()}")
        data += request.data[4:5]
    return normal_reply(request, data, follow_up, address=address)


def address_reply(request: Frame, *, address: str) -> Frame:
    """Return the reply to a read-address request (93H): the meter's address, low byte first.

    :raises FrameError: if ``request`` is not a read-address request.
    :raises DataError: if ``address`` is not 12 digits.
    """
    if request.is_reply or request.function != FN_READ_ADDRESS:
        raise FrameError(f"not a read-address request: {request.describe()}")
    if not (len(address) == 12 and address.isascii() and address.isdigit()):
        raise DataError(f"a meter's own address is 12 digits, not {address!r}")
    return normal_reply(request, address_to_wire(address), address=address)


# ---------------------------------------------------------------- parsing (meter side)


def parse_write_data(data: bytes) -> WriteCommand:
    """Return the DI, password, operator code and data of a 14H request's data field.

    :raises DataError: if the field is shorter than DI + password + operator code.
    """
    if len(data) < 12:
        raise DataError(f"a write request carries at least 12 bytes, got {len(data)}")
    return WriteCommand(
        di=int.from_bytes(data[0:4], "little"),
        password=Password.decode(data[4:8]),
        operator_code=int.from_bytes(data[8:12], "little"),
        data=bytes(data[12:]),
    )


def parse_broadcast_time(data: bytes) -> dt.datetime:
    """Return the meter-local time a broadcast time synchronisation (08H) carries.

    :raises DataError: if the field is not 6 bytes of a valid date and time.
    """
    if len(data) != 6:
        raise DataError(f"a broadcast time is 6 bytes, got {len(data)}")
    return decode_datetime(bytes(data), _TIME_FORMAT)


def is_secure_control_data(data: bytes) -> bool:
    """Test whether a 1CH data field is the ciphertext form (PA=98H) rather than plaintext."""
    return bool(data) and data[0] == SECURE_LEVEL


def plain_control_data(*, password: Password, order: RelayOrder) -> bytes:
    """Return the plaintext 1CH data field: PA P0..P2 | C0..C3 | N1 N2 N3..N8 (16 bytes)."""
    return password.encode() + _operator_bytes(order.operator_code) + order.command_bytes()


def parse_control_data(data: bytes) -> tuple[Password, RelayOrder]:
    """Return the password and order of a plaintext 1CH data field.

    The meter itself decides whether the password is right and the order still valid.

    :raises DataError: if the field is not 16 bytes, is the ciphertext form, or holds an
        unknown command type or an impossible valid-until time.
    """
    if is_secure_control_data(data):
        raise DataError("ciphertext (PA=98H) control data; open it with the security module")
    if len(data) != PLAIN_CONTROL_LENGTH:
        raise DataError(f"plaintext control data is {PLAIN_CONTROL_LENGTH} bytes, got {len(data)}")
    return Password.decode(data[0:4]), _order_from(data[4:8], data[8:16])


# ---------------------------------------------------------------- the security seam

Exchange = Callable[[Frame], Awaitable[Frame]]
"""Send one request and return the meter's normal reply (an abnormal one raises)."""


class RelayAuthoriser(Protocol):
    """Produce the 1CH data field for an order, after any handshake the meter requires."""

    async def prepare(self, *, address: str, exchange: Exchange) -> None:
        """Do what the meter needs before a control command (e.g. authenticate)."""
        ...

    async def control_data(self, *, address: str, order: RelayOrder) -> bytes:
        """Return the 1CH data field that carries ``order`` to the meter at ``address``."""
        ...


class PlainPasswordAuthoriser:
    """Authorise relay orders with the standard's plaintext password form (L=16).

    Works only where the meter firmware still accepts it (often PA=02 or 03 only).
    """

    __slots__ = ("_password",)

    def __init__(self, password: Password) -> None:
        self._password = password

    async def prepare(self, *, address: str, exchange: Exchange) -> None:
        """Do nothing: the plaintext form needs no handshake."""

    async def control_data(self, *, address: str, order: RelayOrder) -> bytes:
        """Return PA P0..P2 + operator code + N1..N8."""
        return plain_control_data(password=self._password, order=order)


class SecurityError(DLT645Error):
    """Raise when the simulated security exchange fails; ``error_word`` is the meter's answer."""

    error_word = ERR_PASSWORD


class AuthenticationFailed(SecurityError):
    """Raise when identity authentication fails (wrong key, wrong meter, bad proof)."""


class NoSecureSession(SecurityError):
    """Raise when a ciphertext command arrives without a live authenticated session."""


class TamperedCommand(SecurityError):
    """Raise when a ciphertext command's MAC does not verify (altered, or another key)."""


class OrderExpired(SecurityError):
    """Raise when a command's valid-until time is already past on the meter clock."""

    error_word = ERR_OTHER


# Layout of the simulated 03H identity authentication (before 33H), modelled on the State Grid
# one: request DI 070000FF + operator code 4 + proof 8 + master random 8 + diversification
# factor 8 (00 00 + the meter address as on the wire); reply DI + meter random 8 + meter proof 8.
_AUTH_REQUEST_LENGTH = 32
_AUTH_REPLY_LENGTH = 20
_RANDOM_LENGTH = 8
_PROOF_LENGTH = 8
_MAC_LENGTH = 4
_MIN_MASTER_KEY = 16
_SECURE_HEADER = bytes((SECURE_LEVEL, 0, 0, 0))


def _check_master_key(master_key: bytes) -> bytes:
    if not isinstance(master_key, bytes) or len(master_key) < _MIN_MASTER_KEY:
        raise DataError(f"a master key is at least {_MIN_MASTER_KEY} bytes")
    return master_key


def _hmac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _factor(address: str) -> bytes:
    return b"\x00\x00" + address_to_wire(address)


def _meter_key(master_key: bytes, address: str) -> bytes:
    # Diversify the master key per meter, as an ESAM key is diversified by the meter address.
    return _hmac(master_key, b"wattbook-sim/meter-key", _factor(address))


def _client_proof(meter_key: bytes, operator: bytes, random1: bytes) -> bytes:
    return _hmac(meter_key, b"auth", operator, random1)[:_PROOF_LENGTH]


def _meter_proof(meter_key: bytes, random1: bytes, random2: bytes) -> bytes:
    return _hmac(meter_key, b"meter", random1, random2)[:_PROOF_LENGTH]


def _session_key(meter_key: bytes, random1: bytes, random2: bytes) -> bytes:
    return _hmac(meter_key, b"session", random1, random2)


def _keystream(session_key: bytes, nonce: bytes) -> bytes:
    return _hmac(session_key, b"enc", nonce)[:8]


def _command_mac(session_key: bytes, address: str, head: bytes, body: bytes) -> bytes:
    return _hmac(session_key, b"mac", _factor(address), head, body)[:_MAC_LENGTH]


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


class SimulatedSecureAuthoriser:
    """Authorise relay orders with a simulated ESAM flow: 03H authentication, then PA=98H.

    The 28-byte 1CH data field is ``98 00 00 00`` + operator code (4) + a 20-byte ciphertext:
    nonce (8) + N1..N8 encrypted under the session key (8) + MAC (4) over the address, the
    header, the nonce and the encrypted command. Keys: the master key diversified with the
    meter address, then with both session randoms. HMAC-SHA256 throughout: a simulation of the
    message flow, **not** real cryptography.
    """

    __slots__ = ("_master_key", "_operator_code", "_random", "_sessions")

    def __init__(
        self,
        master_key: bytes,
        *,
        operator_code: int = 0,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        """Keep the master key; ``random_bytes`` exists so tests can be deterministic.

        :raises DataError: if the master key is shorter than 16 bytes or the operator code
            is not 4 bytes.
        """
        self._master_key = _check_master_key(master_key)
        self._operator_code = _operator_bytes(operator_code)
        self._random = random_bytes
        self._sessions: dict[str, bytes] = {}

    async def prepare(self, *, address: str, exchange: Exchange) -> None:
        """Authenticate to the meter (03H) and keep the session key for the next command.

        :raises AuthenticationFailed: if the meter's reply does not prove it holds the key.
        :raises DLT645Error: whatever ``exchange`` raises (e.g. Unauthorised, NoResponse).
        """
        self._sessions.pop(address, None)
        meter_key = _meter_key(self._master_key, address)
        random1 = self._random(_RANDOM_LENGTH)
        data = (
            _di_bytes(SECURITY_AUTH_DI)
            + self._operator_code
            + _client_proof(meter_key, self._operator_code, random1)
            + random1
            + _factor(address)
        )
        reply = await exchange(security_request(address=address, data=data))
        if len(reply.data) != _AUTH_REPLY_LENGTH or reply.di != SECURITY_AUTH_DI:
            raise AuthenticationFailed(
                f"meter {address} sent an authentication reply of the wrong shape"
            )
        random2 = reply.data[4 : 4 + _RANDOM_LENGTH]
        proof = reply.data[4 + _RANDOM_LENGTH :]
        if not hmac.compare_digest(proof, _meter_proof(meter_key, random1, random2)):
            raise AuthenticationFailed(f"meter {address} could not prove it holds the key")
        self._sessions[address] = _session_key(meter_key, random1, random2)

    async def control_data(self, *, address: str, order: RelayOrder) -> bytes:
        """Return ``98 00 00 00`` + operator code + the 20-byte ciphertext of the order.

        :raises NoSecureSession: if :meth:`prepare` has not authenticated to this meter.
        """
        session_key = self._sessions.get(address)
        if session_key is None:
            raise NoSecureSession(f"no authenticated session with meter {address}")
        head = _SECURE_HEADER + _operator_bytes(order.operator_code)
        nonce = self._random(_RANDOM_LENGTH)
        body = nonce + _xor(order.command_bytes(), _keystream(session_key, nonce))
        return head + body + _command_mac(session_key, address, head, body)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Session:
    key: bytes
    started_at: dt.datetime


class SimulatedSecurityModule:
    """Play the ESAM of virtual meters: answer 03H authentication and open PA=98H commands.

    One module may serve several meters; sessions are kept per meter address. A session lasts
    ``session_duration`` of meter time, and a failed authentication ends it, as on a real meter.
    A simulation built from HMAC-SHA256, **not** real cryptography.
    """

    __slots__ = ("_master_key", "_random", "_session_duration", "_sessions")

    def __init__(
        self,
        master_key: bytes,
        *,
        session_duration: dt.timedelta = dt.timedelta(minutes=5),
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        """Keep the master key shared with the head-end's authoriser.

        :raises DataError: if the master key is shorter than 16 bytes.
        """
        self._master_key = _check_master_key(master_key)
        self._session_duration = session_duration
        self._random = random_bytes
        self._sessions: dict[str, _Session] = {}

    def is_authenticated(self, *, address: str, meter_time: dt.datetime) -> bool:
        """Test whether the meter at ``address`` has a live session (status word 3, bit 13)."""
        session = self._sessions.get(address)
        return session is not None and self._live(session, meter_time)

    def end_session(self, *, address: str) -> None:
        """Forget the session with the meter at ``address`` (e.g. after a power cycle)."""
        self._sessions.pop(address, None)

    def _live(self, session: _Session, meter_time: dt.datetime) -> bool:
        return session.started_at <= meter_time < session.started_at + self._session_duration

    def authenticate(self, *, address: str, data: bytes, meter_time: dt.datetime) -> bytes:
        """Return the reply data (DI + meter random + meter proof) for a 03H request's data.

        :raises AuthenticationFailed: if the request is malformed, for another meter, or its
            proof was not made with this meter's key; any session with the meter ends.
        """
        self._sessions.pop(address, None)
        if len(data) != _AUTH_REQUEST_LENGTH or data[0:4] != _di_bytes(SECURITY_AUTH_DI):
            raise AuthenticationFailed("not an identity authentication request")
        operator = data[4:8]
        proof = data[8:16]
        random1 = data[16:24]
        if data[24:32] != _factor(address):
            raise AuthenticationFailed(
                f"authentication was diversified for another meter than {address}"
            )
        meter_key = _meter_key(self._master_key, address)
        if not hmac.compare_digest(proof, _client_proof(meter_key, operator, random1)):
            raise AuthenticationFailed(f"identity authentication with meter {address} failed")
        random2 = self._random(_RANDOM_LENGTH)
        self._sessions[address] = _Session(
            key=_session_key(meter_key, random1, random2), started_at=meter_time
        )
        return _di_bytes(SECURITY_AUTH_DI) + random2 + _meter_proof(meter_key, random1, random2)

    def open_control(self, *, address: str, data: bytes, meter_time: dt.datetime) -> RelayOrder:
        """Return the order inside a PA=98H 1CH data field, once its MAC and time check out.

        :raises NoSecureSession: if the meter has no live authenticated session.
        :raises TamperedCommand: if the field is malformed or its MAC does not verify.
        :raises OrderExpired: if the meter clock is past the order's valid-until time.
        """
        session = self._sessions.get(address)
        if session is None or not self._live(session, meter_time):
            self._sessions.pop(address, None)
            raise NoSecureSession(f"meter {address} has no authenticated session")
        if len(data) != SECURE_CONTROL_LENGTH or data[0:4] != _SECURE_HEADER:
            raise TamperedCommand("not a PA=98H control data field")
        head, body, mac = data[0:8], data[8:24], data[24:28]
        if not hmac.compare_digest(mac, _command_mac(session.key, address, head, body)):
            raise TamperedCommand(f"control command MAC does not verify on meter {address}")
        nonce, sealed = body[0:8], body[8:16]
        try:
            order = _order_from(head[4:8], _xor(sealed, _keystream(session.key, nonce)))
        except DataError as exc:
            raise TamperedCommand(f"control command does not decrypt to an order: {exc}") from exc
        if not order.is_valid_at(meter_time):
            raise OrderExpired(
                f"order valid until {order.valid_until.isoformat()} arrived at meter time "
                f"{meter_time.isoformat()}"
            )
        return order
