"""SMS senders behind the notifications port ``SmsSender``: the GSM modem and the log (demo)."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from wattbook.adapters.sms._at import (
    STAT_STO_SENT,
    STAT_STO_UNSENT,
    AtModem,
    ModemClosed,
    ModemCommandError,
    ModemError,
    ModemTimeout,
    NotRegistered,
    SimNotReady,
    text_mode_safe,
)
from wattbook.adapters.sms._pdu import (
    Concatenation,
    PduError,
    SubmitPdu,
    decode_submit,
    encode_message,
    split_text,
)
from wattbook.application.notifications.ports import (
    OutgoingSms,
    SmsInDoubt,
    SmsRejected,
    SmsSenderUnavailable,
    SmsStorage,
    StoredPartState,
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

    With ``storage`` (the default) it is also the :class:`SmsStorage` the worker sends through:
    each part is written to the modem's storage (``AT+CMGW``), then sent from it
    (``AT+CMSS``), so that after a crash the stored status says whether it went out. Without
    it, parts go straight out with ``AT+CMGS`` (for modems without usable storage).

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
        storage: bool = True,
    ) -> None:
        self._opener = opener
        self._pdu_mode = pdu_mode
        self._validity = validity
        self._use_storage = storage
        self._modem: AtModem | None = None

    @property
    def storage(self) -> SmsStorage | None:
        """Return this sender as the storage parts go through, or None if it sends directly."""
        return self if self._use_storage else None

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        baud: int = 115200,
        pdu_mode: bool = True,
        timeout_s: float = 5.0,
        send_timeout_s: float = 60.0,
        storage: bool = True,
    ) -> ModemSender:
        """Return a sender for the modem at ``url`` (a serial device or ``tcp://host:port``)."""

        async def opener() -> AtModem:
            return await AtModem.open(
                url, baud=baud, timeout_s=timeout_s, send_timeout_s=send_timeout_s
            )

        return cls(opener=opener, pdu_mode=pdu_mode, storage=storage)

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

    async def _open_modem(self) -> AtModem:
        if self._modem is None:
            await self.check()
        modem = self._modem
        if modem is None:  # check() raises rather than leave it unset
            raise SmsSenderUnavailable("modem not open")
        return modem

    @contextlib.asynccontextmanager
    async def _sending(self, *, may_have_sent: bool) -> AsyncIterator[None]:
        """Translate the driver's errors for a command that sends or stores a message.

        A modem that stops answering while ``may_have_sent`` leaves the message in doubt;
        otherwise (writing to storage) nothing can have left and it is merely unavailable.
        """
        try:
            yield
        except ModemCommandError as error:
            code = error.code
            if error.family == "CMS" and code in _UNAVAILABLE_CMS:
                raise SmsSenderUnavailable(error.text) from error
            label = f"{error.family or 'AT'}_{code if code is not None else 'ERROR'}"
            raise SmsRejected(
                error.text, code=label, retryable=code not in _PERMANENT_CMS
            ) from error
        except (ModemTimeout, ModemClosed) as error:
            await self._drop()
            if may_have_sent:
                # The part may or may not have left: the caller settles it.
                raise SmsInDoubt(f"modem stopped answering: {error}") from error
            raise SmsSenderUnavailable(f"modem stopped answering: {error}") from error
        except ModemError as error:
            await self._drop()
            if may_have_sent:
                raise SmsInDoubt(f"unreadable modem answer: {error}") from error
            raise SmsSenderUnavailable(f"unreadable modem answer: {error}") from error

    @contextlib.asynccontextmanager
    async def _asking(self) -> AsyncIterator[None]:
        """Translate the driver's errors for a command that only reads or deletes storage."""
        try:
            yield
        except ModemCommandError as error:
            raise SmsSenderUnavailable(f"modem storage unusable: {error.text}") from error
        except ModemError as error:
            await self._drop()
            raise SmsSenderUnavailable(f"modem stopped answering: {error}") from error

    def _pdus(self, message: OutgoingSms, number: str) -> tuple[SubmitPdu, ...]:
        return encode_message(
            number=number, text=message.text, reference=message.reference, validity=self._validity
        )

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        """Send one part with ``AT+CMGS`` and return the modem's message reference as text.

        :raises SmsRejected: if the modem refuses the message (``+CMS ERROR``).
        :raises SmsInDoubt: if the modem stopped answering while it had the part.
        :raises SmsSenderUnavailable: if the modem is gone, has no SIM or no network.
        """
        modem = await self._open_modem()
        number = international(message.phone.digits)
        async with self._sending(may_have_sent=True):
            if self._text_mode(message.text):
                await modem.command("AT+CMGF=1")
                await modem.command('AT+CSCS="GSM"')
                try:
                    reference = await modem.send_text(number=number, text=message.text)
                finally:
                    await modem.command("AT+CMGF=0")
            else:
                reference = await modem.send_pdu(self._pdus(message, number)[part])
        return str(reference)

    async def store_part(self, message: OutgoingSms, *, part: int) -> int:
        """Write one part to the modem's storage as "STO UNSENT" and return its index.

        :raises SmsRejected: if the modem refuses (``+CMS ERROR: 322``: storage full).
        :raises SmsSenderUnavailable: if the modem is gone, has no SIM or no network.
        """
        modem = await self._open_modem()
        number = international(message.phone.digits)
        async with self._sending(may_have_sent=False):
            if self._text_mode(message.text):
                await modem.command("AT+CMGF=1")
                await modem.command('AT+CSCS="GSM"')
                try:
                    return await modem.write_text(number=number, text=message.text)
                finally:
                    await modem.command("AT+CMGF=0")
            return await modem.write_pdu(self._pdus(message, number)[part])

    async def send_stored(self, index: int) -> str:
        """Send the stored message at ``index`` (``AT+CMSS``); return its reference as text.

        :raises SmsRejected: if the modem refuses it (``+CMS ERROR``).
        :raises SmsInDoubt: if the modem stopped answering while it had the part.
        :raises SmsSenderUnavailable: if the modem is gone, has no SIM or no network.
        """
        modem = await self._open_modem()
        async with self._sending(may_have_sent=True):
            return str(await modem.send_stored(index))

    async def stored_state(self, message: OutgoingSms, *, part: int, index: int) -> StoredPartState:
        """Return whether the storage holds this part at ``index``, and if it went out.

        The stored PDU is decoded and compared (number, text, concatenation header) with the
        part: another message at that index counts as the part being gone.

        :raises SmsSenderUnavailable: if the modem cannot be asked.
        """
        modem = await self._open_modem()
        number = international(message.phone.digits)
        async with self._asking():
            stored = await modem.read_stored(index)
        if stored is None or stored.stat not in (STAT_STO_UNSENT, STAT_STO_SENT):
            return StoredPartState.MISSING
        try:
            found = decode_submit(stored.pdu)
        except PduError:
            return StoredPartState.MISSING
        expected: tuple[str, str, Concatenation | None]
        if self._text_mode(message.text):
            expected = (number, message.text, None)
        else:
            part_pdu = decode_submit(self._pdus(message, number)[part].hex)
            expected = (part_pdu.number, part_pdu.text, part_pdu.concatenation)
        if (found.number, found.text, found.concatenation) != expected:
            logger.warning("Modem storage index %s holds another message than expected", index)
            return StoredPartState.MISSING
        if stored.stat == STAT_STO_SENT:
            return StoredPartState.SENT
        return StoredPartState.UNSENT

    async def discard(self, index: int) -> None:
        """Delete the stored message at ``index`` (``AT+CMGD``); a gone one is no error.

        :raises SmsSenderUnavailable: if the modem cannot be asked.
        """
        modem = await self._open_modem()
        async with self._asking():
            await modem.delete_stored(index)

    async def stored(self) -> tuple[int, ...]:
        """Return the indexes of the stored outgoing messages ("STO UNSENT" or "STO SENT").

        Received messages in the same storage are not listed: they are not wattbook's.

        :raises SmsSenderUnavailable: if the modem cannot be asked.
        """
        modem = await self._open_modem()
        async with self._asking():
            found = await modem.list_stored()
        return tuple(m.index for m in found if m.stat in (STAT_STO_UNSENT, STAT_STO_SENT))

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
    storage: SmsStorage | None = None  # the log has nothing to resume from: parts go direct

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
