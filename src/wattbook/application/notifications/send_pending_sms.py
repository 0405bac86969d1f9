"""Send what the SMS outbox holds: retries with back-off, a daily cap, delivery records (N1).

The protocol that keeps a message from being lost or sent twice across a restart:

1. **Claim** (one transaction): pick the oldest due row, render and store its text, count the
   attempt, open a delivery record, mark the row claimed (and whether it goes through the
   sender's storage). Commit.
2. **Send** part by part, outside any transaction (a modem takes seconds per part; a
   database transaction must not wait on it). Through a storage (the modem's, ADR 8), each
   part is first **written** to it (``AT+CMGW``) and its index **recorded** in its own
   transaction, then **sent from** it (``AT+CMSS``).
3. **Record** each accepted part's reference in its own transaction (forgetting its index);
   the last part's transaction also marks the row SENT and closes the delivery record. The
   stored copy is then deleted (``AT+CMGD``).

A crash before 1 commits leaves the row untouched. Through a storage, no crash leaves a doubt
the storage cannot settle: a part without a recorded index was never handed over for sending
(an unrecorded stored copy is deleted by :func:`sweep_sms_storage`), and a part with one is
looked up before the message goes on: "STO SENT" is recorded as sent, "STO UNSENT" is sent,
and only a copy the storage lost (wiped, replaced) falls back to the in-doubt rule below.

Sending directly (a modem without storage, the log), a crash between an accepted part and
its record is the one moment nobody can know the truth. :func:`recover_sms_claims`, run at
every worker start, settles each such row by the policy's
:class:`~wattbook.application.notifications.ports.InDoubtRule`: ``RESEND`` (the default)
sends that part again, so nothing is lost and at most that one part arrives twice; ``FAIL``
marks the message failed for a person to look at, so nothing arrives twice. Parts recorded
before the crash are never sent again, and a resumed long message keeps its concatenation
reference, so the handset still joins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.application.notifications.ports import (
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
    SmsStorage,
    StoredPartState,
)
from wattbook.application.notifications.templates import render_notification
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
            # A part in the sender's storage may have gone out: such a message is finished.
            fresh = message.parts_sent == 0 and message.stored_index is None
            if phone is None:
                await uow.sms.close(message.id, status=SmsStatus.FAILED, at=now, reason="NO_PHONE")
                await uow.commit()
                tally.failed.append(message.id)
                continue
            if fresh and message.kind in _SUPERSEDED_KINDS:
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
            if fresh:
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
            await uow.sms.claim(
                message.id,
                at=now,
                sender=sender.name,
                body=body,
                stores_parts=sender.storage is not None,
            )
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
    keep_stored: bool = False,
) -> bool:
    """End the attempt unsent; return True if it will be retried.

    With ``keep_stored`` a retried message keeps its part's storage index, for the next
    attempt to ask the storage what became of it.
    """
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
            keep_stored=keep_stored and retry,
        )
        await uow.commit()
    return retry


async def _discard(storage: SmsStorage, index: int) -> None:
    """Delete a stored copy nobody needs any more; a failure only leaves it to the sweep."""
    try:
        await storage.discard(index)
    except (SmsSenderUnavailable, SmsRejected) as error:
        logger.warning("Unable to delete stored SMS at index %s (swept later): %s", index, error)


@dataclass(slots=True)
class _Progress:
    """Where one message's sending stands, for the failure handler."""

    index: int | None  # the current part's recorded storage index
    asking: bool = False  # asking the storage what became of that part
    sending: bool = False  # the storage is sending that part

    def keeps_index(self, error: SmsSenderUnavailable) -> bool:
        """Return whether the stored part's fate is unknown after ``error``.

        The next attempt then asks the storage, rather than the policy guessing. A send the
        modem answered with an error (no network) did not go out: its copy is discarded.
        """
        return self.index is not None and (
            self.asking or (self.sending and isinstance(error, SmsInDoubt))
        )


class _InDoubtFailed(Exception):
    """The stored part is gone and the policy says fail rather than risk sending it twice."""


async def _record_part(
    uow_factory: UnitOfWorkFactory, clock: ports.Clock, message_id: int, reference: str, last: bool
) -> None:
    async with uow_factory() as uow:
        await uow.sms.record_part(message_id, reference=reference, at=clock.now(), last=last)
        await uow.commit()


async def _record_stored(
    uow_factory: UnitOfWorkFactory, message_id: int, index: int | None
) -> None:
    async with uow_factory() as uow:
        await uow.sms.record_stored(message_id, index=index)
        await uow.commit()


async def _send_stored_part(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: ports.Clock,
    storage: SmsStorage,
    message: QueuedSms,
    outgoing: OutgoingSms,
    part: int,
    last: bool,
    policy: SmsPolicy,
    progress: _Progress,
) -> None:
    """Send one part through the storage, settling first a copy an earlier attempt left."""
    index = progress.index
    if index is not None:
        progress.asking = True
        state = await storage.stored_state(outgoing, part=part, index=index)
        progress.asking = False
        if state is StoredPartState.SENT:
            # It went out before the worker could record it: record it, do not send it again.
            await _record_part(uow_factory, clock, message.id, f"STORED-{index}", last)
            progress.index = None
            await _discard(storage, index)
            return
        if state is StoredPartState.MISSING:
            if policy.in_doubt is InDoubtRule.FAIL:
                raise _InDoubtFailed(
                    f"IN_DOUBT: part {part + 1} is gone from the modem's storage (index {index})"
                )
            logger.warning(
                "SMS %s part %s is gone from the modem's storage; sending it again",
                message.id,
                part + 1,
            )
            await _record_stored(uow_factory, message.id, None)
            progress.index = index = None
    if index is None:
        index = await storage.store_part(outgoing, part=part)
        # A crash here leaves an unrecorded "STO UNSENT" copy: never sent, swept at start.
        await _record_stored(uow_factory, message.id, index)
        progress.index = index
    progress.sending = True  # from here until recorded, only the storage knows
    reference = await storage.send_stored(index)
    await _record_part(uow_factory, clock, message.id, reference, last)
    progress.index, progress.sending = None, False
    await _discard(storage, index)


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
        storage = sender.storage
        progress = _Progress(index=message.stored_index)
        try:
            for part in range(message.parts_sent, parts):
                last = part == parts - 1
                if storage is not None:
                    await _send_stored_part(
                        uow_factory=uow_factory,
                        clock=clock,
                        storage=storage,
                        message=message,
                        outgoing=outgoing,
                        part=part,
                        last=last,
                        policy=policy,
                        progress=progress,
                    )
                    continue
                if progress.index is not None:
                    # Stored by an earlier attempt through a storage this sender cannot read.
                    if policy.in_doubt is InDoubtRule.FAIL:
                        raise _InDoubtFailed(
                            f"IN_DOUBT: part {part + 1} was stored (index {progress.index}) "
                            "by a sender that cannot be asked now"
                        )
                    await _record_stored(uow_factory, message.id, None)
                    progress.index = None
                reference = await sender.send_part(outgoing, part=part)
                await _record_part(uow_factory, clock, message.id, reference, last)
        except _InDoubtFailed as error:
            await _release(uow_factory, clock, message, policy, error=str(error), retryable=False)
            tally.failed.append(message.id)
            continue
        except SmsRejected as error:
            retry = await _release(
                uow_factory,
                clock,
                message,
                policy,
                error=f"{error.code}: {error}",
                retryable=error.retryable,
            )
            if storage is not None and progress.index is not None:
                await _discard(storage, progress.index)  # refused: that copy never went out
            (tally.retrying if retry else tally.failed).append(message.id)
            continue
        except SmsSenderUnavailable as error:
            in_doubt = isinstance(error, SmsInDoubt)
            # A stored part whose fate is unknown keeps its index: the next attempt asks the
            # storage, so the doubt is settled there rather than by the policy.
            keep = progress.keeps_index(error)
            retry = await _release(
                uow_factory,
                clock,
                message,
                policy,
                error=f"{'IN_DOUBT' if in_doubt else 'UNAVAILABLE'}: {error}",
                retryable=not in_doubt or keep or policy.in_doubt is InDoubtRule.RESEND,
                keep_stored=keep,
            )
            if storage is not None and progress.index is not None and not (keep and retry):
                await _discard(storage, progress.index)
            (tally.retrying if retry else tally.failed).append(message.id)
            return tally.report(str(error))
        tally.sent.append(message.id)
    return tally.report()


async def recover_sms_claims(
    *, uow_factory: UnitOfWorkFactory, clock: ports.Clock
) -> RecoveryReport:
    """Settle messages a stopped worker had claimed but not finished (run at worker start).

    A message claimed to go through the sender's storage is never in doubt here: it is due
    again at once, keeping its part's storage index, and the storage settles that part before
    anything more is sent (a stored part resumes even out of attempts: it may have gone out).
    Sent directly, the part being sent when the worker stopped may or may not have left the
    modem: under ``InDoubtRule.RESEND`` the message is due again at once and resumes with that
    part (at least once); under ``FAIL`` it is marked FAILED for a person to check (at most
    once). A message out of attempts fails either way. Run it only while no other worker is
    sending.
    """
    now = clock.now()
    resumed: list[int] = []
    failed: list[int] = []
    async with uow_factory() as uow:
        policy = await uow.sms.policy(on=local_date(now))
        for message in await uow.sms.claimed():
            part = message.parts_sent + 1
            if message.stores_parts:
                retry = message.stored_index is not None or message.attempts < policy.max_attempts
                error = f"INTERRUPTED: worker stopped while sending part {part}; storage settles it"
            else:
                retry = (
                    policy.in_doubt is InDoubtRule.RESEND and message.attempts < policy.max_attempts
                )
                error = f"IN_DOUBT: worker stopped while sending part {part}"
            await uow.sms.release(
                message.id,
                at=now,
                outcome=DeliveryOutcome.INTERRUPTED,
                error=error,
                retry_at=now if retry else None,
                keep_stored=retry,
            )
            (resumed if retry else failed).append(message.id)
            logger.warning(
                "SMS %s was interrupted while sending; %s",
                message.id,
                "sending it again" if retry else "marked failed",
            )
        await uow.commit()
    return RecoveryReport(resumed=tuple(resumed), failed=tuple(failed))


async def sweep_sms_storage(
    *, uow_factory: UnitOfWorkFactory, sender: SmsSender
) -> tuple[int, ...]:
    """Delete the stored outgoing messages the outbox does not refer to; return their indexes.

    They are copies written by a worker that stopped before recording them (never sent) or
    after recording their send (sent, already recorded). Received messages are not touched.
    Safe only while no worker is between writing a part and recording its index: run it at
    worker start, after :func:`recover_sms_claims`, with one worker per modem (ADR 8).

    :raises SmsSenderUnavailable: if the sender's storage cannot be read.
    """
    storage = sender.storage
    if storage is None:
        return ()
    stored = await storage.stored()
    async with uow_factory() as uow:
        known = await uow.sms.stored_indexes()
    orphans = tuple(index for index in stored if index not in known)
    for index in orphans:
        await storage.discard(index)
    if orphans:
        logger.info("Deleted %d stored SMS the outbox does not know: %s", len(orphans), orphans)
    return orphans


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
    """Recover interrupted messages, sweep the sender's storage, send until ``stop`` is set.

    The sweep is retried before each run until the storage could be read once.

    Waits ``idle_s`` when the outbox is empty and ``unavailable_s`` while the sender is
    unavailable (logged as an error each time, so a dead modem is never silent).
    """
    await recover_sms_claims(uow_factory=uow_factory, clock=clock)
    swept = sender.storage is None
    while not stop.is_set():
        wait_s = idle_s
        if not swept:
            try:
                await sweep_sms_storage(uow_factory=uow_factory, sender=sender)
                swept = True
            except SmsSenderUnavailable as error:
                logger.warning("Unable to sweep the modem's storage yet: %s", error)
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
