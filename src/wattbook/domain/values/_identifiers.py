"""Account and meter numbers: validated 12-digit strings (leading zeros matter)."""

from __future__ import annotations

from dataclasses import dataclass


class InvalidAccountNumber(ValueError):
    """Raise when an account number is not exactly 12 decimal digits."""


class InvalidMeterNumber(ValueError):
    """Raise when a meter number is not exactly 12 decimal digits."""


def _is_twelve_digits(value: object) -> bool:
    # str.isdigit accepts superscripts and other Unicode digits; the meter only knows 0-9.
    return isinstance(value, str) and len(value) == 12 and all("0" <= c <= "9" for c in value)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AccountNumber:
    """An account number (户号): 12 digits, the number of the meter first installed for it."""

    value: str

    def __post_init__(self) -> None:
        if not _is_twelve_digits(self.value):
            raise InvalidAccountNumber(f"account number must be 12 digits: {self.value!r}")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class MeterNumber:
    """A meter number (表号, the DL/T 645 address in its printed, not byte-reversed, form)."""

    value: str

    def __post_init__(self) -> None:
        if not _is_twelve_digits(self.value):
            raise InvalidMeterNumber(f"meter number must be 12 digits: {self.value!r}")

    def __str__(self) -> str:
        return self.value


# The longest operator name the records keep (who changed an account, ordered a relay, set a
# calendar day): the width of their columns. Longer names are refused, never cut.
OPERATOR_NAME_MAX = 100
