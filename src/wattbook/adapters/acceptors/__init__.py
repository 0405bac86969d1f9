"""Note acceptors for the kiosk agent: a simulated one, and ccTalk bill validators on serial."""

from wattbook.adapters.acceptors._cctalk import (
    CcTalkAcceptor,
    CcTalkFrameError,
    CcTalkSpec,
    EventBuffer,
    Frame,
    InvalidCcTalkSpec,
    UnknownBillCode,
    bill_amount,
    checksum,
    decode_frame,
    encode_frame,
    events_since,
    parse_event_buffer,
    parse_spec,
)
from wattbook.adapters.acceptors._simulated import SimulatedAcceptor, SimulatedNote

__all__ = [
    "CcTalkAcceptor",
    "CcTalkFrameError",
    "CcTalkSpec",
    "EventBuffer",
    "Frame",
    "InvalidCcTalkSpec",
    "SimulatedAcceptor",
    "SimulatedNote",
    "UnknownBillCode",
    "bill_amount",
    "checksum",
    "decode_frame",
    "encode_frame",
    "events_since",
    "parse_event_buffer",
    "parse_spec",
]
