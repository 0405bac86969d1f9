"""The bank's wire format: signed JSON messages and the daily statement file (CSV).

Every message either way carries ``X-Bank-Signature: sha256=<hex>``, the HMAC-SHA256 of the
raw body under the secret agreed with the bank. Amounts travel as yuan strings ("50.00").
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, InvalidAccountNumber, InvalidAmount, Money

SIGNATURE_HEADER = "X-Bank-Signature"
STATEMENT_COLUMNS = ("serial", "debit_id", "account_number", "amount", "status")


class InvalidSignature(Exception):
    """The message's signature does not match its body."""


class MalformedMessage(Exception):
    """The message is not what the bank protocol says it is; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


_T = TypeVar("_T")
# Longer than any column that stores it: a longer value is refused here, not by the database.
_MAX_LENGTH = 200


def sign(secret: bytes, body: bytes) -> str:
    """Return the signature header value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None) -> None:
    """Check the signature of ``body``.

    :raises InvalidSignature: if it is missing or wrong.
    """
    # compare_digest takes ASCII text only; a header of other bytes is simply a wrong one.
    given = (signature or "").strip().encode("ascii", errors="replace")
    if not given or not hmac.compare_digest(sign(secret, body).encode("ascii"), given):
        raise InvalidSignature("bad or missing bank signature")


# The bank's messages nest a list in an object at most; deeper JSON is refused before parsing,
# since the parser recurses once per level and would run out of stack.
MAX_JSON_DEPTH = 8
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


def json_depth(body: bytes) -> int:
    """Return how deeply the arrays and objects in ``body`` nest (brackets in strings aside).

    It only counts brackets: on text that is not JSON the answer means nothing, and the
    parser is left to refuse it.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest


def _load(body: bytes) -> dict[str, Any]:
    if json_depth(body) > MAX_JSON_DEPTH:
        raise MalformedMessage(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise MalformedMessage("not JSON") from error
    if not isinstance(data, dict):
        raise MalformedMessage("not a JSON object")
    return data


def _field(data: dict[str, Any], name: str, *, max_length: int = _MAX_LENGTH) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedMessage(f"missing or empty field {name!r}", field=name)
    if len(value) > max_length or not value.isprintable():
        raise MalformedMessage(
            f"field {name!r} is longer than {max_length} or has control characters", field=name
        )
    return value


def _parsed(
    data: dict[str, Any], name: str, parse: Callable[[str], _T], *, max_length: int = 40
) -> _T:
    text = _field(data, name, max_length=max_length)
    try:
        return parse(text)
    except (ValueError, InvalidAmount, InvalidAccountNumber) as error:
        raise MalformedMessage(f"field {name!r} is not valid", field=name) from error


def _account_number(value: str) -> AccountNumber:
    return AccountNumber(value=value)


def encode_debit(debit: payments.DebitRequest, *, callback_url: str) -> bytes:
    """Return the body of a debit request."""
    return json.dumps(
        {
            "debit_id": debit.debit_id,
            "agreement_number": debit.agreement_number,
            "account_number": str(debit.account_number),
            "amount": debit.amount.yuan(),
            "day": debit.day.isoformat(),
            "callback_url": callback_url,
        },
        separators=(",", ":"),
    ).encode()


def decode_debit(body: bytes) -> tuple[payments.DebitRequest, str]:
    """Return a debit request and its callback URL (the simulated bank's side).

    :raises MalformedMessage: if the body is not a debit request.
    """
    data = _load(body)
    try:
        return (
            payments.DebitRequest(
                debit_id=_field(data, "debit_id"),
                agreement_number=_field(data, "agreement_number"),
                account_number=_parsed(data, "account_number", _account_number),
                amount=_parsed(data, "amount", Money.parse),
                day=_parsed(data, "day", date.fromisoformat),
            ),
            _field(data, "callback_url"),
        )
    except (ValueError, InvalidAmount, InvalidAccountNumber) as error:
        raise MalformedMessage(str(error)) from error


def encode_callback(callback: payments.BankCallback) -> bytes:
    """Return the body of a callback (the simulated bank's side)."""
    return json.dumps(
        {
            "serial": callback.serial,
            "debit_id": callback.debit_id,
            "status": callback.status.value,
            "amount": callback.amount.yuan(),
            "at": callback.at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def decode_callback(secret: bytes, body: bytes, signature: str | None) -> payments.BankCallback:
    """Return the callback in a signed body.

    :raises InvalidSignature: if the signature is wrong.
    :raises MalformedMessage: if the body is not a callback.
    """
    verify(secret, body, signature)
    data = _load(body)
    at = _parsed(data, "at", datetime.fromisoformat)
    if at.tzinfo is None:
        raise MalformedMessage("the callback time has no zone", field="at")
    status = _parsed(data, "status", payments.DebitStatus)
    if not status.final:
        raise MalformedMessage("a callback settles a debit", field="status")
    return payments.BankCallback(
        serial=_field(data, "serial", max_length=64),
        debit_id=_field(data, "debit_id", max_length=32),
        status=status,
        amount=_parsed(data, "amount", Money.parse),
        at=at,
    )


def encode_agreement(agreement: payments.Agreement) -> bytes:
    """Return the body of an agreement notice (the simulated bank's side)."""
    return json.dumps(
        {
            "agreement_number": agreement.agreement_number,
            "holder": agreement.holder,
            "id_number_masked": agreement.id_number_masked,
            "card_token": agreement.card_token,
            "card_masked": agreement.card_masked,
            "phone": agreement.phone,
            "account_numbers": [str(n) for n in agreement.account_numbers],
            "threshold": agreement.threshold.yuan(),
            "amount": agreement.amount.yuan(),
            "signed_on": agreement.signed_on.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def decode_agreement(secret: bytes, body: bytes, signature: str | None) -> payments.Agreement:
    """Return the agreement in a signed notice from the bank.

    :raises InvalidSignature: if the signature is wrong.
    :raises MalformedMessage: if the body is not an agreement.
    :raises payments.InvalidAgreement: if it breaks the agreement rules.
    """
    verify(secret, body, signature)
    data = _load(body)
    numbers = data.get("account_numbers")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise MalformedMessage("account_numbers must be a list of strings", field="account_numbers")
    try:
        accounts = tuple(AccountNumber(value=n) for n in numbers)
    except InvalidAccountNumber as error:
        raise MalformedMessage("an account number is not valid", field="account_numbers") from error
    return payments.Agreement(
        agreement_number=_field(data, "agreement_number", max_length=40),
        holder=_field(data, "holder", max_length=100),
        id_number_masked=_parsed(data, "id_number_masked", payments.mask_id_number),
        card_token=_field(data, "card_token", max_length=128),
        card_masked=_field(data, "card_masked", max_length=32),
        phone=_field(data, "phone", max_length=20),
        account_numbers=accounts,
        threshold=_parsed(data, "threshold", Money.parse),
        amount=_parsed(data, "amount", Money.parse),
        signed_on=_parsed(data, "signed_on", date.fromisoformat),
    )


def encode_statement(lines: list[payments.StatementLine]) -> str:
    """Return the bank's daily statement file (CSV with a header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for line in lines:
        writer.writerow(
            (line.serial, line.debit_id, line.account_number, line.amount.yuan(), line.status)
        )
    return out.getvalue()


def decode_statement(text: str) -> tuple[payments.StatementLine, ...]:
    """Return the lines of a daily statement file.

    :raises MalformedMessage: if the header or a line is wrong (with its line number).
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != STATEMENT_COLUMNS:
        raise MalformedMessage(f"the statement header must be {','.join(STATEMENT_COLUMNS)}")
    lines: list[payments.StatementLine] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            serial, debit, account, amount, status = (cell.strip() for cell in row)
            lines.append(
                payments.StatementLine(
                    serial=serial,
                    debit_id=debit,
                    account_number=AccountNumber(value=account),
                    amount=Money.parse(amount),
                    status=payments.DebitStatus(status),
                )
            )
        except (ValueError, InvalidAmount, InvalidAccountNumber) as error:
            raise MalformedMessage(f"statement line {number}: {error}") from error
    return tuple(lines)


def encode_cancellation(agreement_number: str, on: date) -> bytes:
    """Return the body of an agreement cancellation (the simulated bank's side)."""
    return json.dumps(
        {"agreement_number": agreement_number, "on": on.isoformat()}, separators=(",", ":")
    ).encode()


def decode_cancellation(secret: bytes, body: bytes, signature: str | None) -> tuple[str, date]:
    """Return the agreement number and the date of a signed cancellation.

    :raises InvalidSignature: if the signature is wrong.
    :raises MalformedMessage: if the body is not a cancellation.
    """
    verify(secret, body, signature)
    data = _load(body)
    return (
        _field(data, "agreement_number", max_length=40),
        _parsed(data, "on", date.fromisoformat),
    )
