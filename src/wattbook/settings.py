"""Deployment settings: where the database lives (and, later, serial ports and the modem).

Business policy (prices, thresholds, holidays) is not here: it is effective-dated data in the
database (CONVENTIONS §1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DATABASE_URL_VARIABLE = "WATTBOOK_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/wattbook.sqlite3"

# The SMS modem (issue 6): which sender, and where the modem is plugged in.
SMS_SENDER_VARIABLE = "WATTBOOK_SMS_SENDER"  # "modem" or "log"
MODEM_VARIABLE = "WATTBOOK_MODEM"  # serial device, or tcp://host:port for a serial server
MODEM_BAUD_VARIABLE = "WATTBOOK_MODEM_BAUD"
MODEM_MODE_VARIABLE = "WATTBOOK_MODEM_MODE"  # "pdu" (any text) or "text" (plain GSM text)
SMS_SENDERS = ("log", "modem")


class InvalidSetting(ValueError):
    """An environment variable holds a value wattbook cannot use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Hold what differs between one deployment and another."""

    database_url: str = DEFAULT_DATABASE_URL
    sms_sender: str = "log"
    modem_device: str = "/dev/ttyUSB0"
    modem_baud: int = 115200
    modem_pdu_mode: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Return the settings read from the environment (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        url = env.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
        sender, device, baud, pdu_mode = _modem_settings(env, defaults=cls())
        return cls(
            database_url=url,
            sms_sender=sender,
            modem_device=device,
            modem_baud=baud,
            modem_pdu_mode=pdu_mode,
        )


def _modem_settings(env: Mapping[str, str], *, defaults: Settings) -> tuple[str, str, int, bool]:
    """Return the SMS sender, modem device, baud rate and PDU mode found in ``env``.

    :raises InvalidSetting: if the sender, baud rate or mode is not one wattbook knows.
    """
    sender = env.get(SMS_SENDER_VARIABLE, "").strip().lower() or defaults.sms_sender
    if sender not in SMS_SENDERS:
        raise InvalidSetting(f"{SMS_SENDER_VARIABLE} must be one of {SMS_SENDERS}: {sender!r}")
    device = env.get(MODEM_VARIABLE, "").strip() or defaults.modem_device
    baud_text = env.get(MODEM_BAUD_VARIABLE, "").strip() or str(defaults.modem_baud)
    if not baud_text.isdigit() or int(baud_text) <= 0:
        raise InvalidSetting(f"{MODEM_BAUD_VARIABLE} must be a positive integer: {baud_text!r}")
    mode = env.get(MODEM_MODE_VARIABLE, "").strip().lower()
    if mode not in ("", "pdu", "text"):
        raise InvalidSetting(f"{MODEM_MODE_VARIABLE} must be 'pdu' or 'text': {mode!r}")
    pdu_mode = defaults.modem_pdu_mode if not mode else mode == "pdu"
    return sender, device, int(baud_text), pdu_mode
