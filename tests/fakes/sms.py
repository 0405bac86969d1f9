"""An SMS sender that remembers what it sent, and fails as a test tells it to."""

from __future__ import annotations

import dataclasses
import math

from wattbook.application.notifications import ports as sms_ports

# UCS-2 (any Chinese text): 70 characters in one SMS, 67 per part of a long one.
_SINGLE = 70
_PART = 67


@dataclasses.dataclass(frozen=True, slots=True)
class SentPart:
    """One part that left: to whom, which message, which part, its text."""

    phone: str
    reference: int
    part: int
    text: str


class FakeSmsStorage:
    """A sender's storage (``sms_ports.SmsStorage``) as a dict of index -> (message, part, sent)."""

    def __init__(self, sender: FakeSmsSender) -> None:
        self._sender = sender
        self.slots: dict[int, tuple[sms_ports.OutgoingSms, int, bool]] = {}
        self._next = 0

    async def store_part(self, message: sms_ports.OutgoingSms, *, part: int) -> int:
        self._sender.raise_if_down()
        self._next += 1
        self.slots[self._next] = (message, part, False)
        return self._next

    async def send_stored(self, index: int) -> str:
        message, part, _sent = self.slots[index]
        reference = await self._sender.send_part(message, part=part)
        self.slots[index] = (message, part, True)
        return reference

    async def stored_state(
        self, message: sms_ports.OutgoingSms, *, part: int, index: int
    ) -> sms_ports.StoredPartState:
        self._sender.raise_if_down()
        held = self.slots.get(index)
        if held is None or held[:2] != (message, part):
            return sms_ports.StoredPartState.MISSING
        return sms_ports.StoredPartState.SENT if held[2] else sms_ports.StoredPartState.UNSENT

    async def discard(self, index: int) -> None:
        self._sender.raise_if_down()
        self.slots.pop(index, None)

    async def stored(self) -> tuple[int, ...]:
        self._sender.raise_if_down()
        return tuple(sorted(self.slots))


class FakeSmsSender:
    """``sms_ports.SmsSender``: ``sent`` lists the parts that left, in order.

    ``unavailable`` makes every call fail as a missing modem would; numbers in ``reject`` are
    refused (``retryable`` as set in ``reject_retryable``); ``in_doubt_after`` parts make the
    next send stop answering mid-way (``SmsInDoubt``) once.
    """

    def __init__(self, *, with_storage: bool = False) -> None:
        self.sent: list[SentPart] = []
        self.unavailable = False
        self.reject: set[str] = set()
        self.reject_retryable = True
        self.in_doubt_after: int | None = None
        self._storage = FakeSmsStorage(self) if with_storage else None

    @property
    def name(self) -> str:
        return "FAKE"

    @property
    def storage(self) -> sms_ports.SmsStorage | None:
        return self._storage

    def part_count(self, text: str) -> int:
        return 1 if len(text) <= _SINGLE else math.ceil(len(text) / _PART)

    def raise_if_down(self) -> None:
        if self.unavailable:
            raise sms_ports.SmsSenderUnavailable("no modem (fake)")

    async def check(self) -> None:
        self.raise_if_down()

    async def send_part(self, message: sms_ports.OutgoingSms, *, part: int) -> str:
        self.raise_if_down()
        if str(message.phone) in self.reject:
            raise sms_ports.SmsRejected(
                "refused (fake)", code="CMS_38", retryable=self.reject_retryable
            )
        if self.in_doubt_after is not None and len(self.sent) >= self.in_doubt_after:
            self.in_doubt_after = None
            raise sms_ports.SmsInDoubt("stopped answering (fake)")
        count = self.part_count(message.text)
        text = message.text if count == 1 else message.text[part * _PART : (part + 1) * _PART]
        self.sent.append(
            SentPart(phone=str(message.phone), reference=message.reference, part=part, text=text)
        )
        return f"fake-{len(self.sent)}"
