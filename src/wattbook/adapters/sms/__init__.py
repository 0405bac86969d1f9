"""SMS: the GSM modem (AT commands, PDU codec), its simulator, and the log sender (N1)."""

from wattbook.adapters.sms._at import (
    AtModem,
    ModemClosed,
    ModemCommandError,
    ModemError,
    ModemStatus,
    ModemTimeout,
    NotRegistered,
    SimNotReady,
    text_mode_safe,
)
from wattbook.adapters.sms._pdu import (
    Coding,
    Concatenation,
    DecodedSubmit,
    PduError,
    SubmitPdu,
    decode_submit,
    encode_message,
    encode_submit,
    split_text,
    validity_octet,
    validity_period,
)
from wattbook.adapters.sms._senders import LoggedSms, LogSender, ModemSender, international
from wattbook.adapters.sms._simulator import (
    AcceptedMessage,
    ModemSession,
    ModemSimulator,
    ModemState,
)

__all__ = [
    "AcceptedMessage",
    "AtModem",
    "Coding",
    "Concatenation",
    "DecodedSubmit",
    "LogSender",
    "LoggedSms",
    "ModemClosed",
    "ModemCommandError",
    "ModemError",
    "ModemSender",
    "ModemSession",
    "ModemSimulator",
    "ModemState",
    "ModemStatus",
    "ModemTimeout",
    "NotRegistered",
    "PduError",
    "SimNotReady",
    "SubmitPdu",
    "decode_submit",
    "encode_message",
    "encode_submit",
    "international",
    "split_text",
    "text_mode_safe",
    "validity_octet",
    "validity_period",
]
