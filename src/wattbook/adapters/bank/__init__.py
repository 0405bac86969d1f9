"""The bank (P3): the HTTP gateway, the signed wire format, and a simulated bank."""

from wattbook.adapters.bank._codec import (
    SIGNATURE_HEADER,
    InvalidSignature,
    MalformedMessage,
    decode_agreement,
    decode_callback,
    decode_cancellation,
    decode_debit,
    decode_statement,
    encode_agreement,
    encode_callback,
    encode_cancellation,
    encode_debit,
    encode_statement,
    sign,
    verify,
)
from wattbook.adapters.bank._http import HttpBankGateway, NoBankGateway
from wattbook.adapters.bank._simulator import SimulatedBank, SimulatedCard, push_agreement

__all__ = [
    "SIGNATURE_HEADER",
    "HttpBankGateway",
    "InvalidSignature",
    "MalformedMessage",
    "NoBankGateway",
    "SimulatedBank",
    "SimulatedCard",
    "decode_agreement",
    "decode_callback",
    "decode_cancellation",
    "decode_debit",
    "decode_statement",
    "encode_agreement",
    "encode_callback",
    "encode_cancellation",
    "encode_debit",
    "encode_statement",
    "push_agreement",
    "sign",
    "verify",
]
