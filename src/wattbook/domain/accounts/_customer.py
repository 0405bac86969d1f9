"""Who holds an account and how to reach them."""

from __future__ import annotations

import hmac
import re
import unicodedata
from dataclasses import dataclass

from wattbook.domain.accounts._errors import InvalidAddress, InvalidHolder, InvalidPhoneNumber

# As wide as the columns that store them (accounts.holder, accounts.address): a longer value is
# refused here, on both database engines alike, not by PostgreSQL alone.
HOLDER_MAX_LENGTH = 100
ADDRESS_MAX_LENGTH = 200


def _text_problem(text: str, *, max_length: int) -> str | None:
    """Return what is wrong with ``text`` as a stored name or address, or None."""
    if len(text) > max_length:
        return f"is longer than {max_length} characters"
    # NUL and other control characters: PostgreSQL refuses NUL, and none belongs in a name.
    if not text.isprintable():
        return "has control characters"
    return None


# Mainland mobile numbers: 11 digits starting with 1 (the SMS modem only reaches these, N2).
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """The registered householder (户名); the portal login compares this name (Q1)."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidHolder("the holder's name must not be blank")
        if self.name != self.name.strip():
            raise InvalidHolder(f"the holder's name has surrounding blanks: {self.name!r}")
        problem = _text_problem(self.name, max_length=HOLDER_MAX_LENGTH)
        if problem is not None:
            raise InvalidHolder(f"the holder's name {problem}")

    def matches(self, typed: str) -> bool:
        """Test whether ``typed`` is this name, as a resident logging in would type it (Q1).

        Width (full-width letters), case and blanks do not matter ("张 三" is "张三");
        every other character does. The comparison takes the same time wherever the names differ.
        """
        return hmac.compare_digest(_login_form(typed).encode(), _login_form(self.name).encode())

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumber:
    """A mainland mobile number, 11 digits, for the low-balance and top-up SMS."""

    digits: str

    def __post_init__(self) -> None:
        if not isinstance(self.digits, str) or not _MOBILE.match(self.digits):
            raise InvalidPhoneNumber(f"not an 11-digit mobile number: {self.digits!r}")

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """The installation address as the centre writes it, e.g. ``丙6-1-801``."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidAddress("the address must not be blank")
        if self.text != self.text.strip():
            raise InvalidAddress(f"the address has surrounding blanks: {self.text!r}")
        problem = _text_problem(self.text, max_length=ADDRESS_MAX_LENGTH)
        if problem is not None:
            raise InvalidAddress(f"the address {problem}")

    def __str__(self) -> str:
        return self.text


def _login_form(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())
