"""The broker's wire format: JSON of the messages' frozen dataclasses, and their content ids.

One reflective codec for every message: a dataclass is an object of its fields, an enum its
value, an instant its ISO 8601 text with its offset (never naive), a duration its whole
microseconds, an exact number its text, a tuple a list. Decoding follows the dataclasses'
own annotations, so a field added to a message is carried without a line here, and the
dataclasses' own checks run on what arrives: a message that does not decode is rejected with
the reason, never half-read.

A message's id (``Nats-Msg-Id``) is its kind and the SHA-256 of its canonical JSON (keys
sorted, no spaces): the same content always has the same id, so a publish retried or replayed
from the spool is recognised by the broker's dedupe window.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import types
import typing
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from wattbook.application.headend import broker_ports as bp

KINDS: dict[str, type[Any]] = {
    "readings": bp.ReadingsCollected,
    "visit": bp.VisitCollected,
    "communication": bp.CommunicationCollected,
    "relay-done": bp.RelayDone,
    "spool": bp.SpoolReplayed,
    "relay-order": bp.RelayOrder,
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}
# The format's version, first in every message: a consumer refuses a version it does not know.
VERSION = 1


class UndecodableMessage(ValueError):
    """A message that is not one of ours: bad JSON, an unknown kind, or a field that does not
    fit its type."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an instant on the wire carries its offset")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"{type(value).__name__} has no wire form")


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(kind: Any, data: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if data is None and len(options) < len(typing.get_args(kind)):
            return None
        if len(options) != 1:
            raise UndecodableMessage(f"cannot tell which of {kind} this is")
        return _typed(options[0], data)
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(data, list):
            raise UndecodableMessage(f"expected a list for {kind}, not {data!r:.40}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], item) for item in data)
        if len(args) != len(data):
            raise UndecodableMessage(f"expected {len(args)} items for {kind}")
        return tuple(_typed(a, item) for a, item in zip(args, data, strict=True))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise UndecodableMessage(f"expected an object for {kind.__name__}")
        hints = _hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name in data:
                values[f.name] = _typed(hints[f.name], data[f.name])
        try:
            return kind(**values)
        except (TypeError, ValueError) as exc:
            raise UndecodableMessage(f"{kind.__name__}: {exc}") from exc
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError as exc:
            raise UndecodableMessage(str(exc)) from exc
    if kind is datetime:
        instant = datetime.fromisoformat(_text(data))
        if instant.tzinfo is None:
            raise UndecodableMessage(f"instant {data!r} has no offset")
        return instant
    if kind is date:
        return date.fromisoformat(_text(data))
    if kind is timedelta:
        return timedelta(microseconds=_int(data))
    if kind is Decimal:
        return Decimal(_text(data))
    if kind is bool:
        if not isinstance(data, bool):
            raise UndecodableMessage(f"expected true or false, not {data!r:.40}")
        return data
    if kind is int:
        return _int(data)
    if kind is str:
        return _text(data)
    raise UndecodableMessage(f"no wire form for {kind}")


def _int(data: Any) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise UndecodableMessage(f"expected a whole number, not {data!r:.40}")
    return data


def _text(data: Any) -> str:
    if not isinstance(data, str):
        raise UndecodableMessage(f"expected text, not {data!r:.40}")
    return data


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(message: Any) -> tuple[bytes, str]:
    """Return a message's wire bytes and its content id.

    :raises TypeError: if it is not one of the broker's messages.
    """
    kind = _KIND_OF.get(type(message))
    if kind is None:
        raise TypeError(f"{type(message).__name__} is not a broker message")
    body = _plain(message)
    digest = hashlib.sha256(_canonical([kind, body])).hexdigest()[:40]
    return _canonical({"v": VERSION, "kind": kind, "body": body}), f"{kind}-{digest}"


def decode(raw: bytes) -> Any:
    """Return the message in ``raw``.

    :raises UndecodableMessage: if it is not one of the broker's messages.
    """
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableMessage(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or envelope.get("v") != VERSION:
        raise UndecodableMessage("not a version-1 wattbook message")
    cls = KINDS.get(envelope.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise UndecodableMessage(f"unknown kind {envelope.get('kind')!r:.40}")
    try:
        return _typed(cls, envelope.get("body"))
    except (ValueError, TypeError) as exc:
        if isinstance(exc, UndecodableMessage):
            raise
        raise UndecodableMessage(str(exc)) from exc
