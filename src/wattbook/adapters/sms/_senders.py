"""SMS senders behind ``ports.SmsSender``: the GSM modem and the log (for the demo)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from wattbook.adapters.sms._at import (
    AtModem,
    ModemClosed,
    ModemCommandError,
    ModemError,
    ModemTimeout,
    NotRegistered,
    SimNotReady,
    text_mode_safe,
)
from wattbook.adapters.sms._pdu import encode_message, split_text
from wattbook.application.sms_ports import (
    OutgoingSms,
    SmsInDoubt,
    SmsRejected,
    SmsSenderUnavailable,
)

logger = logging.getLogger(__name__)

# TS 27.005 3.2.5: the modem cannot send anything (SIM, SMSC, network); every message would
# fail the same way, so these stop the worker instead of burning the messages' attempts.
_UNAVAILABLE_CMS = frozenset({310, 311, 312, 313, 314, 315, 330, 331})
# Sending the same message again cannot help: an unassigned or unknown number, or a PDU the
# network or modem calls malformed.
_PERMANENT_CMS = frozenset({1, 28, 96, 304})
_REGISTERED = frozenset({1, 5})

ModemOpener = Callable[[], Awaitable[AtModem]]


def international(digits: str) -> str:
    """Return a mainland mobile number in international form (+86...)."""
    return digits if digits.startswith("+") else f"+86{digits}"


class ModemSender:
    """Send SMS through a GSM modem: PDU mode (UCS-2, concatenated), or text mode when asked.

    The connection is opened and initialised on the first ``check``, and dropped after any
    failure that leaves its state unknown, so the next ``check`` starts afresh.
    """

    name = "MODEM"

    def __init__(
        self,
        *,
        opener: ModemOpener,
        pdu_mode: bool = True,
        validity: timedelta = timedelta(days=1),
    ) -> None:
        self._opener = opener
        self._pdu_mode = pdu_mode
        self._validity = validity
        self._modem: AtModem | None = None

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        baud: int = 115200,
        pdu_mode: bool = True,
        timeout_s: float = 5.0,
        send_timeout_s: float = 60.0,
    ) -> ModemSender:
        """Return a sender for the modem at ``url`` (a serial device or ``tcp://host:port``)."""

        async def opener() -> AtModem:
            return await AtModem.open(
                url, baud=baud, timeout_s=timeout_s, send_timeout_s=send_timeout_s
            )

        return cls(opener=opener, pdu_mode=pdu_mode)

    def _text_mode(self, text: str) -> bool:
        return not self._pdu_mode and text_mode_safe(text)

    def part_count(self, text: str) -> int:
        """Return how many parts ``text`` is sent in."""
        if self._text_mode(text):
            return 1
        return len(split_text(text)[1])

    async def _drop(self) -> None:
        modem, self._modem = self._modem, None
        if modem is not None:
            try:
                await modem.close()
            except ModemError:
                logger.warning("Closing the modem connection failed", exc_info=True)

    async def check(self) -> None:
        """Open and initialise the modem if needed and make sure it is registered.

        :raises SmsSenderUnavailable: if the modem cannot be reached, has no SIM or no network.
        """
        try:
            if self._modem is None:
                modem = await self._opener()
                self._modem = modem
                # Text mode is entered per message: PDU mode stays the default.
                await modem.initialise(pdu_mode=True)
                return
            registration = await self._modem.registration()
        except SimNotReady as error:
            await self._drop()
            raise SmsSenderUnavailable(f"no SIM: {error}") from error
        except NotRegistered as error:
            await self._drop()
            raise SmsSenderUnavailable(f"no network: {error}") from error
        except ModemError as error:
            await self._drop()
            raise SmsSenderUnavailable(f"modem unavailable: {error}") from error
        if registration not in _REGISTERED:
            raise SmsSenderUnavailable(f"no network: +CREG status {registration}")

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        """Send one part and return the modem's message reference (TP-MR) as text.

        :raises SmsRejected: if the modem refuses the message (``+CMS ERROR``).
        :raises SmsSenderUnavailable: if the modem is gone, has no SIM or no network.
        """
        if self._modem is None:
            await self.check()
        modem = self._modem
        if modem is None:  # check() raises rather than leave it unset
            raise SmsSenderUnavailable("modem not open")
        number = international(message.phone.digits)
        try:
            if self._text_mode(message.text):
                await modem.command("AT+CMGF=1")
                await modem.command('AT+CSCS="GSM"')
                try:
                    reference = await modem.send_text(number=number, text=message.text)
                finally:
                    await modem.command("AT+CMGF=0")
            else:
                pdus = encode_message(
                    number=number,
                    text=message.text,
                    reference=message.reference,
                    validity=self._validity,
                )
                reference = await modem.send_pdu(pdus[part])
        except ModemCommandError as error:
            code = error.code
            if error.family == "CMS" and code in _UNAVAILABLE_CMS:
                raise SmsSenderUnavailable(error.text) from error
            label = f"{error.family or 'AT'}_{code if code is not None else 'ERROR'}"
            raise SmsRejected(
                error.text, code=label, retryable=code not in _PERMANENT_CMS
            ) from error
        except (ModemTimeout, ModemClosed) as error:
            # The part may or may not have left: the caller settles it by its in-doubt rule.
            await self._drop()
            raise SmsInDoubt(f"modem stopped answering: {error}") from error
        return str(reference)

    async def close(self) -> None:
        """Close the modem connection."""
        await self._drop()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedSms:
    """A message the log sender 'sent'."""

    reference: str
    phone: str
    text: str


class LogSender:
    """Write messages to the log instead of sending them (demo and development)."""

    name = "LOG"

    def __init__(self, *, keep: int = 1000) -> None:
        # The latest messages, for a demo to show; older ones are only in the log.
        self.sent: deque[LoggedSms] = deque(maxlen=keep)

    def part_count(self, text: str) -> int:
        """Return 1: the log takes any length."""
        return 1

    async def check(self) -> None:
        """Do nothing: the log is always available."""

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        """Log the message and return a reference ``LOG-<outbox id>``."""
        reference = f"LOG-{message.reference}"
        self.sent.append(
            LoggedSms(reference=reference, phone=message.phone.digits, text=message.text)
        )
        logger.info("SMS to %s (%s): %s", message.phone.digits, reference, message.text)
        return reference

    async def close(self) -> None:
        """Do nothing."""
