"""The one error hierarchy of the DL/T 645-2007 library.

Everything the library raises on purpose derives from :class:`DLT645Error`, so callers can catch
the family, and each anticipated condition has its own class so they never have to guess.
"""

from __future__ import annotations


class DLT645Error(Exception):
    """Base of every error the DL/T 645 library raises on purpose."""


class FrameError(DLT645Error):
    """Raise when bytes are not a well-formed DL/T 645-2007 frame."""


class ChecksumError(FrameError):
    """Raise when a frame's checksum byte does not match its contents."""


class DataError(DLT645Error):
    """Raise when a data field cannot be decoded or encoded in its declared format."""


class UnknownDataIdentifier(DataError):
    """Raise when a data identifier is not in the table of known items."""

    def __init__(self, di: int) -> None:
        super().__init__(f"unknown data identifier {di:08X}")
        self.di = di


class TransportError(DLT645Error):
    """Raise when the bus itself fails: the port cannot be opened, the connection drops."""


class NoResponse(DLT645Error):
    """Raise when a meter does not answer within the timeout, after every retry."""

    def __init__(self, address: str, attempts: int, timeout_s: float) -> None:
        super().__init__(
            f"meter {address} did not answer ({attempts} attempt(s), {timeout_s:g} s each)"
        )
        self.address = address
        self.attempts = attempts
        self.timeout_s = timeout_s


class GarbledResponse(DLT645Error):
    """Raise when only garbled or unrelated bytes came back for a request, after every retry."""

    def __init__(self, address: str, detail: str) -> None:
        super().__init__(f"meter {address} answered with garbled data: {detail}")
        self.address = address
        self.detail = detail


class UnexpectedResponse(DLT645Error):
    """Raise when a meter's well-formed reply does not fit the request (wrong DI, wrong code)."""


# Error word bits of an abnormal reply (DL/T 645-2007 table "error information word").
ERR_OTHER = 0x01
ERR_NO_DATA = 0x02
ERR_PASSWORD = 0x04
ERR_BAUD = 0x08
ERR_YEAR_ZONES = 0x10
ERR_DAY_PERIODS = 0x20
ERR_TARIFFS = 0x40

ERROR_BIT_NAMES: dict[int, str] = {
    ERR_OTHER: "other error",
    ERR_NO_DATA: "no such data",
    ERR_PASSWORD: "password wrong or unauthorised",
    ERR_BAUD: "baud rate cannot be changed",
    ERR_YEAR_ZONES: "too many year time zones",
    ERR_DAY_PERIODS: "too many day periods",
    ERR_TARIFFS: "too many tariffs",
}


class AbnormalResponse(DLT645Error):
    """Raise when a meter answers with an abnormal reply (control bit D6 set).

    ``error_word`` is the meter's error byte; ``reasons`` names each bit set in it.
    """

    def __init__(self, address: str, control: int, error_word: int) -> None:
        self.address = address
        self.control = control
        self.error_word = error_word
        self.reasons = describe_error_word(error_word)
        super().__init__(
            f"meter {address} refused (control {control:02X}H, error {error_word:02X}H: "
            f"{', '.join(self.reasons)})"
        )


class NoSuchData(AbnormalResponse):
    """Raise when the meter says it has no such data item (error bit 1)."""


class Unauthorised(AbnormalResponse):
    """Raise when the meter rejects the password or authentication (error bit 2)."""


class RateChangeRefused(AbnormalResponse):
    """Raise when the meter refuses to change its baud rate (error bit 3)."""


class OtherMeterError(AbnormalResponse):
    """Raise for any other abnormal reply (error bit 0, the table-limit bits, or none)."""


def describe_error_word(error_word: int) -> tuple[str, ...]:
    """Return the names of the bits set in an abnormal reply's error word."""
    names = tuple(name for bit, name in ERROR_BIT_NAMES.items() if error_word & bit)
    if error_word & 0x80:
        names += ("reserved bit 7",)
    return names or ("no reason given",)


def abnormal_response(address: str, control: int, error_word: int) -> AbnormalResponse:
    """Return the most specific exception for an abnormal reply's error word.

    Authorisation outranks "no data" because a meter that refuses a password may also
    set other bits, and the operator must learn about the password first.
    """
    cls: type[AbnormalResponse]
    if error_word & ERR_PASSWORD:
        cls = Unauthorised
    elif error_word & ERR_NO_DATA:
        cls = NoSuchData
    elif error_word & ERR_BAUD:
        cls = RateChangeRefused
    else:
        cls = OtherMeterError
    return cls(address, control, error_word)
