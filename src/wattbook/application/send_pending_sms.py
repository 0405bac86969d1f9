"""Send what the SMS outbox holds: retries with back-off, a daily cap, delivery records (N1).

The protocol that keeps a message from being lost or sent twice across a restart:

1. **Claim** (one transaction): pick the oldest due row, render and store its text, count the
   attempt, open a delivery record, mark the row claimed. Commit.
2. **Send** part by part, outside any transaction (a modem takes seconds per part; a
   database transaction must not wait on it).
3. **Record** each accepted part's reference in its own transaction; the last part's
   transaction also marks the row SENT and closes the delivery record.

A crash before 1 commits leaves the row untouched. A crash between an accepted part and its
record is the one moment nobody can know the truth: the modem took the part, the database
does not say so. :func:`recover_sms_claims`, run at every worker start, settles each such
row by the policy's :class:`~wattbook.application.sms_ports.InDoubtRule`: ``RESEND`` (the
default) sends that part again, so nothing is lost and at most that one part arrives twice;
``FAIL`` marks the message failed for a person to look at, so nothing arrives twice. Parts
recorded before the crash are never sent again, and a resumed long message keeps its
concatenation reference, so the handset still joins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.application.sms_ports import (
    DeliveryOutcome,
    InDoubtRule,
    NotificationKind,
    OutgoingSms,
    QueuedSms,
    SmsInDoubt,
    SmsPolicy,
    SmsRejected,
    SmsSender,
    SmsSenderUnavailable,
    SmsStatus,
)
from wattbook.application.sms_templates import render_notification
from wattbook.domain import accounts
from wattbook.domain.values import local_date, start_of_local_day

logger = logging.getLogger(__name__)

# Kinds where only the newest pending message matters: an older low-balance figure is stale.
_SUPERSEDED_KINDS = frozenset({NotificationKind.LOW_BALANCE})

UnitOfWorkFactory = Callable[[], ports.UnitOfWork]


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsRunReport:
    """What one run did, by outbox id."""

    sent: tuple[int, ...] = ()
    retrying: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    deferred: tuple[int, ...] = ()
    cancelled: tuple[int, ...] = ()
    sender_unavailable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryReport:
    """What :func:`recover_sms_claims` did with interrupted messages, by outbox id."""

    resumed: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


@dataclass(slots=True)
class _Tally:
    sent: list[int]
    retrying: list[int]
    failed: list[int]
    deferred: list[int]
    cancelled: list[int]

    def report(self, unavailable: str | None = None) -> SmsRunReport:
        return SmsRunReport(
            sent=tuple(self.sent),
            retrying=tuple(self.retrying),
            failed=tuple(self.failed),
            deferred=tuple(self.deferred),
            cancelled=tuple(self.cancelled),
            sender_unavailable=unavailable,
        )


def _next_local_midnight(now: datetime) -> datetime:
    return start_of_local_day(local_date(now) + timedelta(days=1))


async def _claim_next(
    uow_factory: UnitOfWorkFactory, clock: ports.Clock, sender: SmsSender, tally: _Tally
) -> tuple[QueuedSms, accounts.PhoneNumber, str, SmsPolicy] | None:
    """Claim the next due message, settling the ones that must not be sent on the way."""
    while True:
        now = clock.now()
        async with uow_factory() as uow:
            message = await uow.sms.next_due(at=now)
            if message is None:
                return None
            policy = await uow.sms.policy(on=local_date(now))
            phone = message.phone
            if phone is None:
                await uow.sms.close(message.id, status=SmsStatus.FAILED, at=now, reason="NO_PHONE")
                await uow.commit()
                tally.failed.append(message.id)
                continue
            if message.parts_sent == 0 and message.kind in _SUPERSEDED_KINDS:
                newer = await uow.sms.newer_pending(message)
                if newer is not None:
                    await uow.sms.close(
                        message.id,
                        status=SmsStatus.CANCELLED,
                        at=now,
                        reason=f"SUPERSEDED_BY:{newer}",
                    )
                    await uow.commit()
                    tally.cancelled.append(message.id)
                    continue
            # A message half sent already counts towards the cap: finish it.
            if message.parts_sent == 0:
                sent_today = await uow.sms.sent_count(
                    phone, since=start_of_local_day(local_date(now))
                )
                if sent_today >= policy.daily_cap_per_phone:
                    await uow.sms.defer(
                        message.id, until=_next_local_midnight(now), reason="DAILY_CAP"
                    )
                    await uow.commit()
                    tally.deferred.append(message.id)
                    continue
            body = message.body or render_notification(
                kind=message.kind,
                locale=policy.locale,
                account_number=message.account_number,
                balance=message.balance,
                price=message.price,
                amount=message.amount,
            )
            await uow.sms.claim(message.id, at=now, sender=sender.name, body=body)
            await uow.commit()
            return message, phone, body, policy


async def _release(
    uow_factory: UnitOfWorkFactory,
    clock: ports.Clock,
    message: QueuedSms,
    policy: SmsPolicy,
    *,
    error: str,
    retryable: bool,
) -> bool:
    """End the attempt unsent; return True if it will be retried."""
    now = clock.now()
    attempt = message.attempts + 1
    retry = retryable and attempt < policy.max_attempts
    async with uow_factory() as uow:
        await uow.sms.release(
            message.id,
            at=now,
            outcome=DeliveryOutcome.RETRY if retry else DeliveryOutcome.FAILED,
            error=error[:200],
            retry_at=now + policy.retry_delay(attempt) if retry else None,
        )
        await uow.commit()
    return retry


async def send_pending_sms(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: ports.Clock,
    sender: SmsSender,
    limit: int = 20,
) -> SmsRunReport:
    """Send up to ``limit`` due messages from the outbox, one at a time, and record each.

    A message with no phone number fails at once (the counter lists those accounts, N2); an
    older pending low-balance message is cancelled in favour of the newer one; a phone that
    had its daily cap waits until the next local day. A refused message is retried after the
    policy's back-off and is FAILED after its last attempt. If the sender is unavailable no
    message is touched (or, when it fails mid-send, the message is retried later) and the run
    stops, saying why.
    """
    tally = _Tally([], [], [], [], [])
    try:
        await sender.check()
    except SmsSenderUnavailable as error:
        return tally.report(str(error))
    for _ in range(limit):
        claimed = await _claim_next(uow_factory, clock, sender, tally)
        if claimed is None:
            break
        message, phone, body, policy = claimed
        outgoing = OutgoingSms(phone=phone, text=body, reference=message.id)
        parts = sender.part_count(body)
        try:
            for part in range(message.parts_sent, parts):
                reference = await sender.send_part(outgoing, part=part)
                async with uow_factory() as uow:
                    await uow.sms.record_part(
                        message.id, reference=reference, at=clock.now(), last=part == parts - 1
                    )
                    await uow.commit()
        except SmsRejected as error:
            retry = await _release(
                uow_factory,
                clock,
                message,
                policy,
                error=f"{error.code}: {error}",
                retryable=error.retryable,
            )
            (tally.retrying if retry else tally.failed).append(message.id)
            continue
        except SmsSenderUnavailable as error:
            in_doubt = isinstance(error, SmsInDoubt)
            retry = await _release(
                uow_factory,
                clock,
                message,
                policy,
                error=f"{'IN_DOUBT' if in_doubt else 'UNAVAILABLE'}: {error}",
                retryable=not in_doubt or policy.in_doubt is InDoubtRule.RESEND,
            )
            (tally.retrying if retry else tally.failed).append(message.id)
            return tally.report(str(error))
        tally.sent.append(message.id)
    return tally.report()


async def recover_sms_claims(
    *, uow_factory: UnitOfWorkFactory, clock: ports.Clock
) -> RecoveryReport:
    """Settle messages a stopped worker had claimed but not finished (run at worker start).

    The part being sent when the worker stopped may or may not have left the modem. Under
    ``InDoubtRule.RESEND`` the message is due again at once and resumes with that part (at
    least once); under ``FAIL`` it is marked FAILED for a person to check (at most once). A
    message out of attempts fails either way. Run it only while no other worker is sending.
    """
    now = clock.now()
    resumed: list[int] = []
    failed: list[int] = []
    async with uow_factory() as uow:
        policy = await uow.sms.policy(on=local_date(now))
        for message in await uow.sms.claimed():
            retry = policy.in_doubt is InDoubtRule.RESEND and message.attempts < policy.max_attempts
            await uow.sms.release(
                message.id,
                at=now,
                outcome=DeliveryOutcome.INTERRUPTED,
                error=f"IN_DOUBT: worker stopped while sending part {message.parts_sent + 1}",
                retry_at=now if retry else None,
            )
            (resumed if retry else failed).append(message.id)
            logger.warning(
                "SMS %s was interrupted while sending; %s",
                message.id,
                "sending it again" if retry else "marked failed",
            )
        await uow.commit()
    return RecoveryReport(resumed=tuple(resumed), failed=tuple(failed))


async def run_sms_worker(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: ports.Clock,
    sender: SmsSender,
    stop: asyncio.Event,
    idle_s: float = 5.0,
    unavailable_s: float = 30.0,
    on_run: Callable[[SmsRunReport], None] | None = None,
) -> None:
    """Recover interrupted messages, then send due messages until ``stop`` is set.

    Waits ``idle_s`` when the outbox is empty and ``unavailable_s`` while the sender is
    unavailable (logged as an error each time, so a dead modem is never silent).
    """
    await recover_sms_claims(uow_factory=uow_factory, clock=clock)
    while not stop.is_set():
        wait_s = idle_s
        try:
            report = await send_pending_sms(uow_factory=uow_factory, clock=clock, sender=sender)
        except Exception:
            logger.exception("Unable to send pending SMS")
            wait_s = unavailable_s
        else:
            if on_run is not None:
                on_run(report)
            if report.sender_unavailable is not None:
                logger.error("SMS sender unavailable: %s", report.sender_unavailable)
                wait_s = unavailable_s
            elif report.sent or report.retrying or report.failed or report.cancelled:
                wait_s = 0.0  # more may be due right away
        if wait_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
        else:
            await asyncio.sleep(0)
