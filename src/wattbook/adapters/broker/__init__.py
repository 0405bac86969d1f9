"""The broker between head-ends and the core: NATS JetStream through ``nats-py`` (ADR 20)."""

from wattbook.adapters.broker._codec import UndecodableMessage, decode, encode
from wattbook.adapters.broker._nats import (
    COLLECTED_STREAM,
    DUPLICATE_WINDOW,
    INGEST_CONSUMER,
    RELAY_STREAM,
    CoreLink,
    HeadendLink,
    collected_subject,
    open_core_link,
    open_headend_link,
    relay_subject,
    token,
)
from wattbook.adapters.broker._spool import Spool, SpoolFull

__all__ = [
    "COLLECTED_STREAM",
    "DUPLICATE_WINDOW",
    "INGEST_CONSUMER",
    "RELAY_STREAM",
    "CoreLink",
    "HeadendLink",
    "Spool",
    "SpoolFull",
    "UndecodableMessage",
    "collected_subject",
    "decode",
    "encode",
    "open_core_link",
    "open_headend_link",
    "relay_subject",
    "token",
]
