"""The SMS outbox repository: queue, claim, record, recover, and the N2 listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db._sql import Worker, _account_ids, _chunks
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.notifications import _tables as notifications_t
from wattbook.application.accounts import ports as account_ports
from wattbook.application.notifications import ports as sms_ports
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money, Price

_o = notifications_t.sms_outbox

_d = notifications_t.sms_deliveries

_REF_SEPARATOR = ","

# Built once: the statements of the enqueue path run for every batch of bank callbacks.
_ACCOUNT_PHONES = sa.select(
    accounts_t.accounts.c.account_number, accounts_t.accounts.c.id, accounts_t.accounts.c.phone
).where(accounts_t.accounts.c.account_number.in_(sa.bindparam("numbers", expanding=True)))

_INSERT: dict[bool, Any] = {
    postgres: (postgresql.insert(_o) if postgres else sqlite.insert(_o))
    .on_conflict_do_nothing()
    .returning(_o.c.id)
    for postgres in (False, True)
}


class MissingSmsPolicy(LookupError):
    """No SMS policy is in force on the date asked about (migration 0005 seeds one)."""


class MessageNotClaimed(RuntimeError):
    """The outbox message is not in the state the worker's step expects."""


def _phone(value: str | None) -> accounts.PhoneNumber | None:
    if value is None:
        return None
    try:
        return accounts.PhoneNumber(digits=value)
    except accounts.InvalidPhoneNumber:
        # A malformed stored number cannot be dialled: the row is treated as having none.
        return None


def _refs(value: str) -> tuple[str, ...]:
    return tuple(ref for ref in value.split(_REF_SEPARATOR) if ref)


def _queued(row: Any) -> sms_ports.QueuedSms:
    return sms_ports.QueuedSms(
        id=int(row["id"]),
        account_number=AccountNumber(value=row["account_number"]),
        kind=sms_ports.NotificationKind(row["kind"]),
        phone=_phone(row["phone"]),
        balance=Money(fen=int(row["balance_fen"])),
        price=Price(yuan_per_kwh=row["price"]),
        amount=None if row["amount_fen"] is None else Money(fen=int(row["amount_fen"])),
        created_at=row["created_at"],
        attempts=int(row["attempts"]),
        parts_sent=int(row["parts_sent"]),
        message_refs=_refs(row["message_refs"]),
        body=row["body"],
        claimed_at=row["claimed_at"],
        stored_index=None if row["stored_index"] is None else int(row["stored_index"]),
        stores_parts=bool(row["stores_parts"]),
    )


def _select_queued() -> sa.Select[Any]:
    return sa.select(_o, accounts_t.accounts.c.account_number).join(
        accounts_t.accounts, accounts_t.accounts.c.id == _o.c.account_id
    )


class SqlSmsOutbox:
    """The SMS outbox and its delivery records on the unit of work's connection."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _conn(self) -> Connection:
        return self._worker.conn()

    # ------------------------------------------------------------------ producers

    def _enqueue(self, requests: Sequence[sms_ports.SmsRequest], at: datetime) -> int:
        if not requests:
            return 0
        connection = self._conn()
        # One read for the ids and the phones, one INSERT for all rows (executemany with
        # RETURNING: SQLAlchemy sends it as multi-row VALUES): a batch of bank callbacks
        # queues its messages in two statements, not one per message.
        accounts_of: dict[str, tuple[int, str | None]] = {}
        for chunk in _chunks(sorted({str(request.account_number) for request in requests})):
            rows = connection.execute(_ACCOUNT_PHONES, {"numbers": chunk})
            accounts_of.update({row.account_number: (row.id, row.phone) for row in rows})
        rows_in: list[dict[str, Any]] = []
        pending = sms_ports.SmsStatus.PENDING.value
        for request in requests:
            found = accounts_of.get(str(request.account_number))
            if found is None:
                raise account_ports.UnknownAccount(str(request.account_number))
            rows_in.append(
                {
                    "account_id": found[0],
                    "kind": request.kind.value,
                    "phone": found[1],
                    "balance_fen": request.balance.fen,
                    "price": request.price.yuan_per_kwh,
                    "amount_fen": None if request.amount is None else request.amount.fen,
                    "dedup_key": request.dedup_key,
                    "body": request.body,
                    "created_at": at,
                    "status": pending,
                }
            )
        insert = _INSERT[connection.dialect.name == "postgresql"]
        # A row whose dedup_key was queued before (or earlier in this batch) is skipped and
        # returns no id.
        return len(connection.execute(insert, rows_in).all())

    async def enqueue(self, requests: Sequence[sms_ports.SmsRequest], *, at: datetime) -> int:
        """Queue notifications with the accounts' current phone numbers; return how many.

        A request whose ``dedup_key`` was queued before is skipped.

        :raises UnknownAccount: if a request names no account.
        """
        return await self._worker.run(self._enqueue, requests, at)

    # ------------------------------------------------------------------ policy

    def _policy(self, on: date) -> sms_ports.SmsPolicy:
        p = notifications_t.sms_policies
        row = (
            self._conn()
            .execute(
                sa.select(p)
                .where(p.c.effective_from <= on)
                .order_by(p.c.effective_from.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise MissingSmsPolicy(f"no SMS policy in force on {on.isoformat()}")
        return sms_ports.SmsPolicy(
            daily_cap_per_phone=row["daily_cap_per_phone"],
            max_attempts=row["max_attempts"],
            first_retry=timedelta(seconds=row["first_retry_seconds"]),
            max_retry=timedelta(seconds=row["max_retry_seconds"]),
            in_doubt=sms_ports.InDoubtRule(row["in_doubt"]),
            locale=sms_ports.SmsLocale(row["locale"]),
        )

    async def policy(self, *, on: date) -> sms_ports.SmsPolicy:
        """Return the SMS policy in force on a local date.

        :raises MissingSmsPolicy: if none is in force.
        """
        return await self._worker.run(self._policy, on)

    # ------------------------------------------------------------------ the worker's step

    def _next_due(self, at: datetime) -> sms_ports.QueuedSms | None:
        connection = self._conn()
        query = (
            _select_queued()
            .where(
                _o.c.status == sms_ports.SmsStatus.PENDING.value,
                _o.c.claimed_at.is_(None),
                sa.or_(_o.c.next_attempt_at.is_(None), _o.c.next_attempt_at <= at),
            )
            .order_by(_o.c.id)
            .limit(1)
        )
        if connection.dialect.name == "postgresql":
            # A second worker skips the row this one holds instead of waiting for it.
            query = query.with_for_update(of=_o, skip_locked=True)
        row = connection.execute(query).mappings().first()
        return None if row is None else _queued(row)

    async def next_due(self, *, at: datetime) -> sms_ports.QueuedSms | None:
        """Return the oldest pending, unclaimed message due at ``at``, locked for this worker."""
        return await self._worker.run(self._next_due, at)

    def _newer_pending(self, message: sms_ports.QueuedSms) -> int | None:
        account_id = _account_ids(self._conn(), (message.account_number,))[
            str(message.account_number)
        ]
        found = self._conn().execute(
            sa.select(sa.func.max(_o.c.id)).where(
                _o.c.account_id == account_id,
                _o.c.kind == message.kind.value,
                _o.c.status == sms_ports.SmsStatus.PENDING.value,
                _o.c.id > message.id,
            )
        )
        newest = found.scalar_one_or_none()
        return None if newest is None else int(newest)

    async def newer_pending(self, message: sms_ports.QueuedSms) -> int | None:
        """Return the id of a newer pending message of the same account and kind, if any."""
        return await self._worker.run(self._newer_pending, message)

    def _sent_count(self, phone: accounts.PhoneNumber, since: datetime) -> int:
        return int(
            self._conn()
            .execute(
                sa.select(sa.func.count()).where(
                    _o.c.phone == str(phone),
                    _o.c.status.in_(
                        (sms_ports.SmsStatus.SENT.value, sms_ports.SmsStatus.CONFIRMED.value)
                    ),
                    _o.c.done_at >= since,
                )
            )
            .scalar_one()
        )

    async def sent_count(self, phone: accounts.PhoneNumber, *, since: datetime) -> int:
        """Return how many messages went to ``phone`` from ``since`` on."""
        return await self._worker.run(self._sent_count, phone, since)

    def _claim(
        self, message_id: int, at: datetime, sender: str, body: str, stores_parts: bool
    ) -> int:
        connection = self._conn()
        attempt = connection.execute(
            _o.update()
            .where(
                _o.c.id == message_id,
                _o.c.status == sms_ports.SmsStatus.PENDING.value,
                _o.c.claimed_at.is_(None),
            )
            .values(
                attempts=_o.c.attempts + 1,
                claimed_at=at,
                body=body,
                last_error=None,
                stores_parts=stores_parts,
            )
            .returning(_o.c.attempts)
        ).scalar_one_or_none()
        if attempt is None:
            raise MessageNotClaimed(f"SMS {message_id} is not pending and unclaimed")
        connection.execute(
            _d.insert().values(outbox_id=message_id, attempt=attempt, sender=sender, started_at=at)
        )
        return int(attempt)

    async def claim(
        self, message_id: int, *, at: datetime, sender: str, body: str, stores_parts: bool = False
    ) -> int:
        """Claim the message for a new attempt, store its text, open its delivery record.

        ``stores_parts`` says the attempt sends each part through the sender's storage.

        :raises MessageNotClaimed: if another worker holds it or it is no longer pending.
        """
        return await self._worker.run(self._claim, message_id, at, sender, body, stores_parts)

    def _record_stored(self, message_id: int, index: int | None) -> None:
        updated = self._conn().execute(
            _o.update()
            .where(_o.c.id == message_id, _o.c.claimed_at.is_not(None))
            .values(stored_index=index)
        )
        if updated.rowcount != 1:
            raise MessageNotClaimed(f"SMS {message_id} is not claimed")

    async def record_stored(self, message_id: int, *, index: int | None) -> None:
        """Record the storage index of the claimed message's next part (None: forget it).

        :raises MessageNotClaimed: if the message is not claimed.
        """
        await self._worker.run(self._record_stored, message_id, index)

    def _stored_indexes(self) -> frozenset[int]:
        rows = self._conn().execute(
            sa.select(_o.c.stored_index).where(_o.c.stored_index.is_not(None))
        )
        return frozenset(int(index) for index in rows.scalars())

    async def stored_indexes(self) -> frozenset[int]:
        """Return the storage indexes the outbox still refers to."""
        return await self._worker.run(self._stored_indexes)

    def _open_attempt(self, message_id: int) -> tuple[int, str]:
        row = (
            self._conn()
            .execute(
                sa.select(_o.c.attempts, _o.c.message_refs).where(
                    _o.c.id == message_id, _o.c.claimed_at.is_not(None)
                )
            )
            .first()
        )
        if row is None:
            raise MessageNotClaimed(f"SMS {message_id} is not claimed")
        return int(row[0]), str(row[1])

    def _record_part(self, message_id: int, reference: str, at: datetime, last: bool) -> None:
        connection = self._conn()
        attempt, refs = self._open_attempt(message_id)
        if _REF_SEPARATOR in reference:
            raise ValueError(f"a message reference must not contain {_REF_SEPARATOR!r}")
        joined = _REF_SEPARATOR.join((*_refs(refs), reference))
        values: dict[str, Any] = {
            "parts_sent": _o.c.parts_sent + 1,
            "message_refs": joined,
            "stored_index": None,
        }
        if last:
            values.update(status=sms_ports.SmsStatus.SENT.value, done_at=at, claimed_at=None)
        connection.execute(_o.update().where(_o.c.id == message_id).values(**values))
        delivery = _d.c.outbox_id == message_id, _d.c.attempt == attempt
        attempt_refs = connection.execute(sa.select(_d.c.message_refs).where(*delivery))
        mine = _REF_SEPARATOR.join((*_refs(attempt_refs.scalar_one()), reference))
        update: dict[str, Any] = {"message_refs": mine}
        if last:
            update.update(outcome=sms_ports.DeliveryOutcome.SENT.value, finished_at=at)
        connection.execute(_d.update().where(*delivery).values(**update))

    async def record_part(
        self, message_id: int, *, reference: str, at: datetime, last: bool
    ) -> None:
        """Store one accepted part's reference, forget its storage index; ``last``: mark SENT.

        :raises MessageNotClaimed: if the message is not claimed.
        """
        await self._worker.run(self._record_part, message_id, reference, at, last)

    def _release(
        self,
        message_id: int,
        at: datetime,
        outcome: sms_ports.DeliveryOutcome,
        error: str,
        retry_at: datetime | None,
        keep_stored: bool,
    ) -> None:
        connection = self._conn()
        attempt, _refs_so_far = self._open_attempt(message_id)
        values: dict[str, Any] = {"claimed_at": None, "last_error": error[:200]}
        if not keep_stored:
            values["stored_index"] = None
        if retry_at is None:
            values.update(status=sms_ports.SmsStatus.FAILED.value, done_at=at)
        else:
            values.update(next_attempt_at=retry_at)
        connection.execute(_o.update().where(_o.c.id == message_id).values(**values))
        connection.execute(
            _d.update()
            .where(_d.c.outbox_id == message_id, _d.c.attempt == attempt)
            .values(outcome=outcome.value, finished_at=at, error=error[:200])
        )

    async def release(
        self,
        message_id: int,
        *,
        at: datetime,
        outcome: sms_ports.DeliveryOutcome,
        error: str,
        retry_at: datetime | None,
        keep_stored: bool = False,
    ) -> None:
        """End the current attempt unsent: pending again from ``retry_at``, or FAILED if None.

        The next part's storage index is forgotten unless ``keep_stored``.

        :raises MessageNotClaimed: if the message is not claimed.
        """
        await self._worker.run(self._release, message_id, at, outcome, error, retry_at, keep_stored)

    def _defer(self, message_id: int, until: datetime, reason: str) -> None:
        self._conn().execute(
            _o.update()
            .where(_o.c.id == message_id)
            .values(next_attempt_at=until, last_error=reason[:200])
        )

    async def defer(self, message_id: int, *, until: datetime, reason: str) -> None:
        """Leave the message pending, untried, until ``until`` (e.g. the daily cap)."""
        await self._worker.run(self._defer, message_id, until, reason)

    def _close(
        self, message_id: int, status: sms_ports.SmsStatus, at: datetime, reason: str
    ) -> None:
        if status not in (sms_ports.SmsStatus.FAILED, sms_ports.SmsStatus.CANCELLED):
            raise ValueError(f"a message is closed as FAILED or CANCELLED, not {status}")
        self._conn().execute(
            _o.update()
            .where(_o.c.id == message_id)
            .values(status=status.value, done_at=at, last_error=reason[:200])
        )

    async def close(
        self, message_id: int, *, status: sms_ports.SmsStatus, at: datetime, reason: str
    ) -> None:
        """Mark a message that was never tried FAILED or CANCELLED, with the reason.

        :raises ValueError: for any other status.
        """
        await self._worker.run(self._close, message_id, status, at, reason)

    def _claimed(self) -> tuple[sms_ports.QueuedSms, ...]:
        rows = self._conn().execute(
            _select_queued().where(_o.c.claimed_at.is_not(None)).order_by(_o.c.id)
        )
        return tuple(_queued(row) for row in rows.mappings())

    async def claimed(self) -> tuple[sms_ports.QueuedSms, ...]:
        """Return messages claimed by a worker that did not finish them."""
        return await self._worker.run(self._claimed)

    def _deliveries(self, message_id: int) -> tuple[sms_ports.SmsDelivery, ...]:
        rows = self._conn().execute(
            sa.select(_d).where(_d.c.outbox_id == message_id).order_by(_d.c.attempt)
        )
        return tuple(
            sms_ports.SmsDelivery(
                attempt=row["attempt"],
                sender=row["sender"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                outcome=None
                if row["outcome"] is None
                else sms_ports.DeliveryOutcome(row["outcome"]),
                message_refs=_refs(row["message_refs"]),
                error=row["error"],
            )
            for row in rows.mappings()
        )

    async def deliveries(self, message_id: int) -> tuple[sms_ports.SmsDelivery, ...]:
        """Return the message's delivery records, oldest first."""
        return await self._worker.run(self._deliveries, message_id)

    def _failed(self, since: datetime, limit: int) -> tuple[sms_ports.FailedSms, ...]:
        rows = self._conn().execute(
            _select_queued()
            .where(_o.c.status == sms_ports.SmsStatus.FAILED.value, _o.c.done_at >= since)
            .order_by(_o.c.done_at.desc(), _o.c.id.desc())
            .limit(limit)
        )
        return tuple(
            sms_ports.FailedSms(
                id=int(row["id"]),
                account_number=AccountNumber(value=row["account_number"]),
                kind=sms_ports.NotificationKind(row["kind"]),
                phone=row["phone"],
                created_at=row["created_at"],
                failed_at=row["done_at"],
                attempts=int(row["attempts"]),
                error=row["last_error"] or "",
            )
            for row in rows.mappings()
        )

    async def failed(self, *, since: datetime, limit: int) -> tuple[sms_ports.FailedSms, ...]:
        """Return messages that failed from ``since`` on, newest first."""
        return await self._worker.run(self._failed, since, limit)

    # ------------------------------------------------------------------ N2

    def _without_phone(
        self, after: AccountNumber | None, limit: int
    ) -> tuple[sms_ports.AccountWithoutPhone, ...]:
        a = accounts_t.accounts
        unsent = (
            sa.select(sa.func.count())
            .where(
                _o.c.account_id == a.c.id,
                _o.c.status == sms_ports.SmsStatus.FAILED.value,
                _o.c.last_error == "NO_PHONE",
            )
            .scalar_subquery()
        )
        query = (
            sa.select(
                a.c.account_number,
                a.c.holder,
                a.c.address,
                sa.func.coalesce(billing_t.balances.c.balance_fen, 0).label("balance_fen"),
                unsent.label("unsent"),
            )
            .outerjoin(billing_t.balances, billing_t.balances.c.account_id == a.c.id)
            .where(a.c.status == "OPEN", sa.or_(a.c.phone.is_(None), a.c.phone == ""))
            .order_by(a.c.account_number)
            .limit(limit)
        )
        if after is not None:
            query = query.where(a.c.account_number > str(after))
        return tuple(
            sms_ports.AccountWithoutPhone(
                account_number=AccountNumber(value=row["account_number"]),
                holder=row["holder"],
                address=row["address"],
                balance=Money(fen=int(row["balance_fen"])),
                unsent=int(row["unsent"]),
            )
            for row in self._conn().execute(query).mappings()
        )

    async def without_phone(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[sms_ports.AccountWithoutPhone, ...]:
        """Return open accounts without a phone number, by number, after ``after``."""
        return await self._worker.run(self._without_phone, after, limit)
