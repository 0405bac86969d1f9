"""wattbook.dlt645: a DL/T 645-2007 library (codec, async master, meter simulator).

It imports nothing else from wattbook, so it can be used on its own. The public API is what
this module exports; the submodules are implementation detail.
"""

from wattbook.dlt645.bcd import address_from_wire, address_to_wire
from wattbook.dlt645.errors import (
    AbnormalResponse,
    ChecksumError,
    DataError,
    DLT645Error,
    FrameError,
    GarbledResponse,
    NoResponse,
    NoSuchData,
    OtherMeterError,
    RateChangeRefused,
    TransportError,
    Unauthorised,
    UnexpectedResponse,
    UnknownDataIdentifier,
)
from wattbook.dlt645.frame import (
    BROADCAST_ADDRESS,
    WILDCARD_ADDRESS,
    Frame,
    FrameParser,
    decode,
)

# -- dataids exports (added by the dataids work) --
# -- messages exports (added by the messages work) --
# -- transport and client exports (added by the client work) --

__all__ = [
    "BROADCAST_ADDRESS",
    "WILDCARD_ADDRESS",
    "AbnormalResponse",
    "ChecksumError",
    "DLT645Error",
    "DataError",
    "Frame",
    "FrameError",
    "FrameParser",
    "GarbledResponse",
    "NoResponse",
    "NoSuchData",
    "OtherMeterError",
    "RateChangeRefused",
    "TransportError",
    "Unauthorised",
    "UnexpectedResponse",
    "UnknownDataIdentifier",
    "address_from_wire",
    "address_to_wire",
    "decode",
]
