"""SQL repository of payments, receipts, counter policy, kiosk sessions and bank debits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db._engine import locks_rows
from wattbook.adapters.db._sql import Worker, _account_id, _account_ids, _chunks
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.payments import _tables as payments_t
from wattbook.application.accounts import ports as account_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments
from wattbook.domain.values import (
    AccountNumber,
    Money,
    Period,
    local_date,
    start_of_local_day,
)


def _insert(connection: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _lock(connection: Connection, query: Any, table: sa.Table) -> Any:
    # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs the row lock,
    # except in a read-only unit of work.
    if locks_rows(connection):
        return query.with_for_update(of=table)
    return query


_PAYMENT_COLUMNS = (
    payments_t.payments.c.receipt_number,
    payments_t.payments.c.channel,
    payments_t.payments.c.channel_reference,
    payments_t.payments.c.kind,
    accounts_t.accounts.c.account_number,
    payments_t.payments.c.amount_fen,
    payments_t.payments.c.balance_before_fen,
    payments_t.payments.c.balance_after_fen,
    payments_t.payments.c.at,
    payments_t.payments.c.operator,
    payments_t.payments.c.corrects_receipt,
    billing_t.ledger_entries.c.reference,
    payments_t.payments.c.note,
)


def _payment_query() -> Any:
    return (
        sa.select(*_PAYMENT_COLUMNS)
        .join(accounts_t.accounts, accounts_t.accounts.c.id == payments_t.payments.c.account_id)
        .join(
            billing_t.ledger_entries,
            billing_t.ledger_entries.c.id == payments_t.payments.c.entry_id,
        )
    )


# Built once: these run for every batch of bank callbacks (expanding IN parameters).
_TOP_UPS_BY_REFERENCE = _payment_query().where(
    payments_t.payments.c.channel == sa.bindparam("channel"),
    payments_t.payments.c.kind == payments.PaymentKind.TOP_UP.value,
    payments_t.payments.c.channel_reference.in_(sa.bindparam("references", expanding=True)),
)

_ENTRIES_BY_REFERENCE = (
    sa.select(
        billing_t.ledger_entries.c.id,
        billing_t.ledger_entries.c.reference,
        billing_t.ledger_entries.c.account_id,
        billing_t.ledger_entries.c.amount_fen,
        billing_t.ledger_entries.c.at,
        billing_t.ledger_entries.c.balance_after_fen,
        accounts_t.accounts.c.account_number,
    )
    .join(accounts_t.accounts, accounts_t.accounts.c.id == billing_t.ledger_entries.c.account_id)
    .where(billing_t.ledger_entries.c.reference.in_(sa.bindparam("references", expanding=True)))
)


def _debit_select() -> Any:
    d, a = payments_t.bank_debits, payments_t.bank_agreements
    return (
        sa.select(
            d.c.debit_id,
            d.c.day,
            d.c.amount_fen,
            d.c.status,
            d.c.bank_serial,
            d.c.sent_at,
            a.c.agreement_number,
            accounts_t.accounts.c.account_number,
        )
        .join(a, a.c.id == d.c.agreement_id)
        .join(accounts_t.accounts, accounts_t.accounts.c.id == d.c.account_id)
    )


_OPEN_KIOSK_STATES = ("ENTERING_ACCOUNT", "CONFIRMING_DETAILS", "INSERTING_NOTES")


def _kiosk(row: Any) -> payments.Kiosk:
    return payments.Kiosk(
        kiosk_id=row.kiosk_id,
        secret=row.secret,
        registered_at=row.registered_at,
        registered_by=row.registered_by,
        revoked_at=row.revoked_at,
        last_acceptor_sequence=row.last_acceptor_sequence,
    )


def _kiosk_values(kiosk: payments.Kiosk) -> dict[str, Any]:
    return {
        "kiosk_id": kiosk.kiosk_id,
        "secret": kiosk.secret,
        "registered_at": kiosk.registered_at,
        "registered_by": kiosk.registered_by,
        "revoked_at": kiosk.revoked_at,
        "last_acceptor_sequence": kiosk.last_acceptor_sequence,
    }


def _payment(row: Any) -> payment_ports.Payment:
    return payment_ports.Payment(
        receipt_number=payments.ReceiptNumber.parse(row.receipt_number),
        channel=payments.Channel(row.channel),
        channel_reference=row.channel_reference,
        kind=payments.PaymentKind(row.kind),
        account_number=AccountNumber(value=row.account_number),
        amount=Money(fen=row.amount_fen),
        balance_before=Money(fen=row.balance_before_fen),
        balance_after=Money(fen=row.balance_after_fen),
        at=row.at,
        operator=row.operator,
        corrects_receipt=row.corrects_receipt,
        entry_reference=row.reference,
        note=row.note,
    )


def _agreement(row: Any, numbers: Sequence[str]) -> payments.Agreement:
    return payments.Agreement(
        agreement_number=row.agreement_number,
        holder=row.holder,
        id_number_masked=row.id_number_masked,
        card_token=row.card_token,
        card_masked=row.card_masked,
        phone=row.phone,
        account_numbers=tuple(AccountNumber(value=n) for n in numbers),
        threshold=Money(fen=row.threshold_fen),
        amount=Money(fen=row.amount_fen),
        signed_on=row.signed_on,
        cancelled_on=row.cancelled_on,
    )


class SqlPaymentRepository:
    """Payments and everything around them, in SQL (both backends)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    # ------------------------------------------------------------------ receipts

    def _allocate(self, connection: Connection, channel: str, day: date, count: int) -> int:
        statement = _ALLOCATE[connection.dialect.name == "postgresql"]
        last: int = connection.execute(
            statement, {"channel": channel, "day": day, "count": count, "added": count}
        ).scalar_one()
        return last - count + 1

    def _record(self, new: Sequence[payment_ports.NewPayment]) -> tuple[payment_ports.Payment, ...]:
        if not new:
            return ()
        connection = self._worker.conn()
        found: dict[str, Any] = {}
        for chunk in _chunks(sorted({n.entry_reference for n in new})):
            rows = connection.execute(_ENTRIES_BY_REFERENCE, {"references": chunk})
            found.update({row.reference: row for row in rows})
        by_day: dict[tuple[str, date], list[int]] = defaultdict(list)
        for index, item in enumerate(new):
            entry = found[item.entry_reference]
            by_day[(item.channel.value, local_date(entry.at))].append(index)
        numbers: dict[int, payments.ReceiptNumber] = {}
        for (channel, day), indexes in sorted(by_day.items()):
            first = self._allocate(connection, channel, day, len(indexes))
            for offset, index in enumerate(indexes):
                numbers[index] = payments.ReceiptNumber(
                    channel=payments.Channel(channel), day=day, sequence=first + offset
                )
        rows_out: list[dict[str, Any]] = []
        result: list[payment_ports.Payment] = []
        for index, item in enumerate(new):
            entry = found[item.entry_reference]
            receipt = numbers[index]
            before = entry.balance_after_fen - entry.amount_fen
            rows_out.append(
                {
                    "receipt_number": str(receipt),
                    "channel": item.channel.value,
                    "channel_reference": item.channel_reference,
                    "kind": item.kind.value,
                    "account_id": entry.account_id,
                    "entry_id": entry.id,
                    "amount_fen": entry.amount_fen,
                    "balance_before_fen": before,
                    "balance_after_fen": entry.balance_after_fen,
                    "at": entry.at,
                    "operator": item.operator,
                    "corrects_receipt": item.corrects_receipt,
                    "note": item.note,
                }
            )
            result.append(
                payment_ports.Payment(
                    receipt_number=receipt,
                    channel=item.channel,
                    channel_reference=item.channel_reference,
                    kind=item.kind,
                    account_number=AccountNumber(value=entry.account_number),
                    amount=Money(fen=entry.amount_fen),
                    balance_before=Money(fen=before),
                    balance_after=Money(fen=entry.balance_after_fen),
                    at=entry.at,
                    operator=item.operator,
                    corrects_receipt=item.corrects_receipt,
                    entry_reference=item.entry_reference,
                    note=item.note,
                )
            )
        try:
            connection.execute(payments_t.payments.insert(), rows_out)
        except sa.exc.IntegrityError as error:
            raise payments.DuplicatePayment("a channel reference was recorded before") from error
        return tuple(result)

    async def record(
        self, new: Sequence[payment_ports.NewPayment]
    ) -> tuple[payment_ports.Payment, ...]:
        """Give each payment the next receipt number of its channel and day, and store it.

        :raises payments.DuplicatePayment: if a channel reference was recorded before.
        """
        return await self._worker.run(self._record, new)

    def _by_channel_reference(
        self, channel: payments.Channel, references: Collection[str]
    ) -> dict[str, payment_ports.Payment]:
        found: dict[str, payment_ports.Payment] = {}
        for chunk in _chunks(sorted(set(references))):
            rows = self._worker.conn().execute(
                _TOP_UPS_BY_REFERENCE, {"channel": channel.value, "references": chunk}
            )
            for row in rows:
                found[row.channel_reference] = _payment(row)
        return found

    async def by_channel_reference(
        self, channel: payments.Channel, references: Collection[str]
    ) -> dict[str, payment_ports.Payment]:
        """Return the top-ups recorded under these channel references."""
        return await self._worker.run(self._by_channel_reference, channel, references)

    def _by_receipt(self, receipt_number: str) -> payment_ports.Payment:
        row = (
            self._worker.conn()
            .execute(_payment_query().where(payments_t.payments.c.receipt_number == receipt_number))
            .one_or_none()
        )
        if row is None:
            raise payments.UnknownReceipt(receipt_number)
        return _payment(row)

    async def by_receipt(self, receipt_number: str) -> payment_ports.Payment:
        """Return the payment with this receipt number.

        :raises payments.UnknownReceipt: if there is none.
        """
        return await self._worker.run(self._by_receipt, receipt_number)

    def _corrections_of(self, receipt_number: str) -> tuple[payment_ports.Payment, ...]:
        rows = self._worker.conn().execute(
            _payment_query()
            .where(payments_t.payments.c.corrects_receipt == receipt_number)
            .order_by(payments_t.payments.c.id)
        )
        return tuple(_payment(row) for row in rows)

    async def corrections_of(self, receipt_number: str) -> tuple[payment_ports.Payment, ...]:
        """Return the payments that correct this receipt."""
        return await self._worker.run(self._corrections_of, receipt_number)

    def _history(
        self, number: AccountNumber, first_date: date | None, last_date: date | None
    ) -> tuple[payment_ports.Payment, ...]:
        connection = self._worker.conn()
        query = _payment_query().where(
            payments_t.payments.c.account_id == _account_id(connection, number)
        )
        if first_date is not None:
            query = query.where(payments_t.payments.c.at >= start_of_local_day(first_date))
        if last_date is not None:
            query = query.where(
                payments_t.payments.c.at < start_of_local_day(last_date + timedelta(days=1))
            )
        rows = connection.execute(
            query.order_by(payments_t.payments.c.at, payments_t.payments.c.id)
        )
        return tuple(_payment(row) for row in rows)

    async def history(
        self, number: AccountNumber, *, first_date: date | None, last_date: date | None
    ) -> tuple[payment_ports.Payment, ...]:
        """Return the account's payments between two local dates (inclusive), oldest first."""
        return await self._worker.run(self._history, number, first_date, last_date)

    def _paid_before(self, number: AccountNumber, before: datetime) -> Money:
        connection = self._worker.conn()
        total = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(payments_t.payments.c.amount_fen), 0)).where(
                payments_t.payments.c.account_id == _account_id(connection, number),
                payments_t.payments.c.at < before,
            )
        ).scalar_one()
        return Money(fen=int(total))

    async def paid_before(self, number: AccountNumber, *, before: datetime) -> Money:
        """Return the sum of the account's payments before ``before``."""
        return await self._worker.run(self._paid_before, number, before)

    def _official(
        self, receipt_number: str | None, official_number: str | None
    ) -> payment_ports.OfficialReceipt | None:
        o = payments_t.official_receipts
        query = sa.select(o)
        if receipt_number is not None:
            query = query.where(o.c.receipt_number == receipt_number)
        if official_number is not None:
            query = query.where(o.c.official_number == official_number)
        row = self._worker.conn().execute(query).mappings().first()
        if row is None:
            return None
        return payment_ports.OfficialReceipt(
            official_number=row["official_number"],
            receipt_number=row["receipt_number"],
            exchanged_at=row["exchanged_at"],
            exchanged_by=row["exchanged_by"],
        )

    async def official_receipt(
        self, *, receipt_number: str | None = None, official_number: str | None = None
    ) -> payment_ports.OfficialReceipt | None:
        """Return the exchange of a receipt, or of an official number, if any."""
        return await self._worker.run(self._official, receipt_number, official_number)

    def _add_official(self, official: payment_ports.OfficialReceipt) -> None:
        self._worker.conn().execute(
            payments_t.official_receipts.insert().values(
                official_number=official.official_number,
                receipt_number=official.receipt_number,
                exchanged_at=official.exchanged_at,
                exchanged_by=official.exchanged_by,
            )
        )

    async def add_official_receipt(self, official: payment_ports.OfficialReceipt) -> None:
        """Record a receipt exchanged for an official number."""
        await self._worker.run(self._add_official, official)

    def _cash_up_lines(
        self, start_at: datetime, end_at: datetime
    ) -> tuple[payment_ports.CashUpLine, ...]:
        p = payments_t.payments
        rows = self._worker.conn().execute(
            sa.select(
                p.c.channel,
                p.c.operator,
                p.c.kind,
                sa.func.count().label("n"),
                sa.func.sum(p.c.amount_fen).label("fen"),
            )
            .where(p.c.at >= start_at, p.c.at < end_at)
            .group_by(p.c.channel, p.c.operator, p.c.kind)
            .order_by(p.c.channel, p.c.operator, p.c.kind)
        )
        return tuple(
            payment_ports.CashUpLine(
                channel=payments.Channel(row.channel),
                operator=row.operator,
                kind=payments.PaymentKind(row.kind),
                count=int(row.n),
                amount=Money(fen=int(row.fen)),
            )
            for row in rows
        )

    async def cash_up_lines(
        self, *, start_at: datetime, end_at: datetime
    ) -> tuple[payment_ports.CashUpLine, ...]:
        """Return the payments in ``[start_at, end_at)`` summed by channel, operator, kind."""
        return await self._worker.run(self._cash_up_lines, start_at, end_at)

    def _journal_money_in(self, start_at: datetime, end_at: datetime) -> Money:
        e = billing_t.ledger_entries
        reversed_ = e.alias("reversed")
        top_ups = sa.select(sa.func.coalesce(sa.func.sum(e.c.amount_fen), 0)).where(
            e.c.kind == "TOP_UP", e.c.at >= start_at, e.c.at < end_at
        )
        corrections = (
            sa.select(sa.func.coalesce(sa.func.sum(e.c.amount_fen), 0))
            .select_from(e.join(reversed_, e.c.reverses_id == reversed_.c.id))
            .where(
                e.c.kind == "CORRECTION",
                reversed_.c.kind == "TOP_UP",
                e.c.at >= start_at,
                e.c.at < end_at,
            )
        )
        connection = self._worker.conn()
        total = int(connection.execute(top_ups).scalar_one())
        total += int(connection.execute(corrections).scalar_one())
        return Money(fen=total)

    async def journal_money_in(self, *, start_at: datetime, end_at: datetime) -> Money:
        """Return the journal's top-ups and their corrections in ``[start_at, end_at)``."""
        return await self._worker.run(self._journal_money_in, start_at, end_at)

    def _audit(self, entries: Sequence[payment_ports.AuditEntry]) -> None:
        if entries:
            self._worker.conn().execute(
                payments_t.payment_audit.insert(),
                [
                    {
                        "at": a.at,
                        "actor": a.actor,
                        "action": a.action,
                        "receipt_number": a.receipt_number,
                        "detail": a.detail,
                    }
                    for a in entries
                ],
            )

    async def audit(self, entries: Sequence[payment_ports.AuditEntry]) -> None:
        """Append audit lines."""
        await self._worker.run(self._audit, entries)

    # ------------------------------------------------------------------ counter

    def _counter_hours(self, on: date) -> payments.CounterHours:
        h = payments_t.counter_hours
        connection = self._worker.conn()
        since = connection.execute(
            sa.select(sa.func.max(h.c.effective_from)).where(h.c.effective_from <= on)
        ).scalar_one_or_none()
        if since is None:
            return payments.DEFAULT_COUNTER_HOURS
        rows = connection.execute(sa.select(h).where(h.c.effective_from == since))
        return payments.CounterHours(
            shifts=tuple(
                sorted(
                    payments.CounterShift(
                        weekday=row.weekday, opens_at=row.opens_at, closes_at=row.closes_at
                    )
                    for row in rows
                )
            )
        )

    async def counter_hours(self, *, on: date) -> payments.CounterHours:
        """Return the counter's hours in force on a local date."""
        return await self._worker.run(self._counter_hours, on)

    def _set_counter_hours(self, effective_from: date, hours: payments.CounterHours) -> None:
        h = payments_t.counter_hours
        connection = self._worker.conn()
        connection.execute(h.delete().where(h.c.effective_from == effective_from))
        connection.execute(
            h.insert(),
            [
                {
                    "effective_from": effective_from,
                    "weekday": shift.weekday,
                    "opens_at": shift.opens_at,
                    "closes_at": shift.closes_at,
                }
                for shift in hours.shifts
            ],
        )

    async def set_counter_hours(
        self, *, effective_from: date, hours: payments.CounterHours
    ) -> None:
        """Put ``hours`` in force from ``effective_from``."""
        await self._worker.run(self._set_counter_hours, effective_from, hours)

    def _counter_openings(self, at: datetime) -> tuple[payment_ports.CounterOpening, ...]:
        o = payments_t.counter_openings
        rows = self._worker.conn().execute(
            sa.select(o.c.start_at, o.c.end_at, o.c.opened_by, o.c.reason, o.c.created_at)
            .where(o.c.start_at <= at, o.c.end_at > at)
            .order_by(o.c.created_at, o.c.id)
        )
        return tuple(
            payment_ports.CounterOpening(
                period=Period(start_at=row.start_at, end_at=row.end_at),
                opened_by=row.opened_by,
                reason=row.reason,
                created_at=row.created_at,
            )
            for row in rows
        )

    async def counter_openings(self, *, at: datetime) -> tuple[payment_ports.CounterOpening, ...]:
        """Return the administrators' opening orders covering ``at``."""
        return await self._worker.run(self._counter_openings, at)

    def _add_counter_opening(self, opening: payment_ports.CounterOpening) -> None:
        self._worker.conn().execute(
            payments_t.counter_openings.insert().values(
                start_at=opening.period.start_at,
                end_at=opening.period.end_at,
                opened_by=opening.opened_by,
                reason=opening.reason,
                created_at=opening.created_at,
            )
        )

    async def add_counter_opening(self, opening: payment_ports.CounterOpening) -> None:
        """Store an opening order."""
        await self._worker.run(self._add_counter_opening, opening)

    # ------------------------------------------------------------------ kiosk

    def _kiosk_session(self, transaction_id: str) -> payments.KioskSession | None:
        connection = self._worker.conn()
        s = payments_t.kiosk_sessions
        row = connection.execute(
            _lock(
                connection,
                sa.select(s, accounts_t.accounts.c.account_number)
                .outerjoin(accounts_t.accounts, accounts_t.accounts.c.id == s.c.account_id)
                .where(s.c.transaction_id == transaction_id),
                s,
            )
        ).one_or_none()
        if row is None:
            return None
        n = payments_t.kiosk_notes
        notes = connection.execute(
            sa.select(n.c.sequence, n.c.amount_fen, n.c.accepted_at)
            .where(n.c.session_id == row.id)
            .order_by(n.c.sequence)
        )
        return payments.KioskSession(
            transaction_id=row.transaction_id,
            kiosk_id=row.kiosk_id,
            state=payments.KioskState(row.state),
            account_number=None
            if row.account_number is None
            else AccountNumber(value=row.account_number),
            notes=tuple(
                payments.AcceptedNote(sequence=seq, amount=Money(fen=fen), accepted_at=accepted_at)
                for seq, fen, accepted_at in notes
            ),
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            recovered=row.recovered,
        )

    async def kiosk_session(self, transaction_id: str) -> payments.KioskSession | None:
        """Return the session, locked for this unit of work, or None."""
        return await self._worker.run(self._kiosk_session, transaction_id)

    def _save_kiosk_session(self, session: payments.KioskSession) -> None:
        connection = self._worker.conn()
        s = payments_t.kiosk_sessions
        account_id = (
            None
            if session.account_number is None
            else _account_id(connection, session.account_number)
        )
        values = {
            "kiosk_id": session.kiosk_id,
            "account_id": account_id,
            "state": session.state.value,
            "updated_at": session.updated_at,
            "recovered": session.recovered,
        }
        session_id = connection.execute(
            sa.select(s.c.id).where(s.c.transaction_id == session.transaction_id)
        ).scalar_one_or_none()
        if session_id is None:
            session_id = connection.execute(
                s.insert()
                .values(
                    transaction_id=session.transaction_id, opened_at=session.opened_at, **values
                )
                .returning(s.c.id)
            ).scalar_one()
        else:
            connection.execute(s.update().where(s.c.id == session_id).values(**values))
        if session.notes:
            statement = _insert(connection, payments_t.kiosk_notes).on_conflict_do_nothing(
                index_elements=["session_id", "sequence"]
            )
            connection.execute(
                statement,
                [
                    {
                        "session_id": session_id,
                        "sequence": note.sequence,
                        "amount_fen": note.amount.fen,
                        "accepted_at": note.accepted_at,
                    }
                    for note in session.notes
                ],
            )

    async def save_kiosk_session(self, session: payments.KioskSession) -> None:
        """Insert or update the session and insert its notes not stored yet."""
        await self._worker.run(self._save_kiosk_session, session)

    def _idle_kiosk_sessions(self, before: datetime, limit: int) -> tuple[str, ...]:
        s = payments_t.kiosk_sessions
        rows = self._worker.conn().execute(
            sa.select(s.c.transaction_id)
            .where(
                s.c.state.in_(_OPEN_KIOSK_STATES),
                s.c.updated_at < before,
            )
            .order_by(s.c.updated_at)
            .limit(limit)
        )
        return tuple(row[0] for row in rows)

    async def idle_kiosk_sessions(self, *, before: datetime, limit: int) -> tuple[str, ...]:
        """Return open sessions whose last activity was before ``before``."""
        return await self._worker.run(self._idle_kiosk_sessions, before, limit)

    def _kiosk_row(self, kiosk_id: str, lock: bool) -> payments.Kiosk | None:
        connection = self._worker.conn()
        k = payments_t.kiosks
        query = sa.select(k).where(k.c.kiosk_id == kiosk_id)
        row = connection.execute(_lock(connection, query, k) if lock else query).one_or_none()
        return None if row is None else _kiosk(row)

    async def kiosk(self, kiosk_id: str, *, lock: bool = False) -> payments.Kiosk | None:
        """Return the registered kiosk (locked for this unit of work if asked), or None."""
        return await self._worker.run(self._kiosk_row, kiosk_id, lock)

    def _kiosks(self) -> tuple[payments.Kiosk, ...]:
        k = payments_t.kiosks
        rows = self._worker.conn().execute(sa.select(k).order_by(k.c.kiosk_id))
        return tuple(_kiosk(row) for row in rows)

    async def kiosks(self) -> tuple[payments.Kiosk, ...]:
        """Return every registered kiosk, by id."""
        return await self._worker.run(self._kiosks)

    def _add_kiosk(self, kiosk: payments.Kiosk) -> None:
        self._worker.conn().execute(payments_t.kiosks.insert().values(**_kiosk_values(kiosk)))

    async def add_kiosk(self, kiosk: payments.Kiosk) -> None:
        """Store a newly registered kiosk."""
        await self._worker.run(self._add_kiosk, kiosk)

    def _save_kiosk(self, kiosk: payments.Kiosk) -> None:
        k = payments_t.kiosks
        values = _kiosk_values(kiosk)
        del values["kiosk_id"]
        self._worker.conn().execute(k.update().where(k.c.kiosk_id == kiosk.kiosk_id).values(values))

    async def save_kiosk(self, kiosk: payments.Kiosk) -> None:
        """Store a kiosk's new secret, revocation or last acceptor sequence."""
        await self._worker.run(self._save_kiosk, kiosk)

    def _open_kiosk_sessions(self, kiosk_id: str) -> tuple[str, ...]:
        s = payments_t.kiosk_sessions
        rows = self._worker.conn().execute(
            sa.select(s.c.transaction_id)
            .where(s.c.kiosk_id == kiosk_id, s.c.state.in_(_OPEN_KIOSK_STATES))
            .order_by(s.c.id.desc())
        )
        return tuple(row[0] for row in rows)

    async def open_kiosk_sessions(self, kiosk_id: str) -> tuple[str, ...]:
        """Return the transaction ids of the kiosk's open sessions, newest first."""
        return await self._worker.run(self._open_kiosk_sessions, kiosk_id)

    def _kiosk_note(self, kiosk_id: str, sequence: int) -> tuple[str, Money] | None:
        s, n = payments_t.kiosk_sessions, payments_t.kiosk_notes
        row = (
            self._worker.conn()
            .execute(
                sa.select(s.c.transaction_id, n.c.amount_fen)
                .join(n, n.c.session_id == s.c.id)
                .where(s.c.kiosk_id == kiosk_id, n.c.sequence == sequence)
                .order_by(s.c.id.desc())
                .limit(1)
            )
            .one_or_none()
        )
        return None if row is None else (row.transaction_id, Money(fen=row.amount_fen))

    async def kiosk_note(self, kiosk_id: str, sequence: int) -> tuple[str, Money] | None:
        """Return the session and amount of the kiosk's newest note with this sequence."""
        return await self._worker.run(self._kiosk_note, kiosk_id, sequence)

    def _remove_kiosk_note(self, transaction_id: str, sequence: int) -> None:
        s, n = payments_t.kiosk_sessions, payments_t.kiosk_notes
        session_id = sa.select(s.c.id).where(s.c.transaction_id == transaction_id)
        self._worker.conn().execute(
            n.delete().where(
                n.c.session_id == session_id.scalar_subquery(), n.c.sequence == sequence
            )
        )

    async def remove_kiosk_note(self, transaction_id: str, sequence: int) -> None:
        """Delete note ``sequence`` of the session: the acceptor gave it back (audit it)."""
        await self._worker.run(self._remove_kiosk_note, transaction_id, sequence)

    # ------------------------------------------------------------------ bank

    def _add_agreement(self, agreement: payments.Agreement, at: datetime) -> None:
        connection = self._worker.conn()
        ids = _account_ids(connection, agreement.account_numbers)
        missing = {str(n) for n in agreement.account_numbers} - ids.keys()
        if missing:
            raise account_ports.UnknownAccount(min(missing))
        a = payments_t.bank_agreements
        taken = connection.execute(
            sa.select(a.c.id).where(a.c.agreement_number == agreement.agreement_number)
        ).first()
        if taken is not None:
            raise payments.InvalidAgreement(f"agreement {agreement.agreement_number} exists")
        agreement_id = connection.execute(
            a.insert()
            .values(
                agreement_number=agreement.agreement_number,
                holder=agreement.holder,
                id_number_masked=agreement.id_number_masked,
                card_token=agreement.card_token,
                card_masked=agreement.card_masked,
                phone=agreement.phone,
                threshold_fen=agreement.threshold.fen,
                amount_fen=agreement.amount.fen,
                signed_on=agreement.signed_on,
                cancelled_on=agreement.cancelled_on,
                created_at=at,
            )
            .returning(a.c.id)
        ).scalar_one()
        connection.execute(
            payments_t.bank_agreement_accounts.insert(),
            [{"agreement_id": agreement_id, "account_id": id_} for id_ in ids.values()],
        )

    async def add_agreement(self, agreement: payments.Agreement, *, at: datetime) -> None:
        """Store a new agreement.

        :raises payments.InvalidAgreement: if its number is taken.
        :raises UnknownAccount: if it names an account that does not exist.
        """
        await self._worker.run(self._add_agreement, agreement, at)

    def _load_agreements(self, where: Any) -> tuple[payments.Agreement, ...]:
        connection = self._worker.conn()
        a, aa = payments_t.bank_agreements, payments_t.bank_agreement_accounts
        rows = list(connection.execute(sa.select(a).where(where).order_by(a.c.id)))
        if not rows:
            return ()
        numbers: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks([row.id for row in rows]):
            for agreement_id, number in connection.execute(
                sa.select(aa.c.agreement_id, accounts_t.accounts.c.account_number)
                .join(accounts_t.accounts, accounts_t.accounts.c.id == aa.c.account_id)
                .where(aa.c.agreement_id.in_(chunk))
                .order_by(accounts_t.accounts.c.account_number)
            ):
                numbers[agreement_id].append(number)
        return tuple(_agreement(row, numbers[row.id]) for row in rows)

    def _cancel_agreement(self, agreement_number: str, on: date) -> payments.Agreement:
        a = payments_t.bank_agreements
        found = self._load_agreements(a.c.agreement_number == agreement_number)
        if not found:
            raise payments.UnknownAgreement(agreement_number)
        cancelled_on = max(on, found[0].signed_on)
        self._worker.conn().execute(
            a.update()
            .where(a.c.agreement_number == agreement_number, a.c.cancelled_on.is_(None))
            .values(cancelled_on=cancelled_on)
        )
        return self._load_agreements(a.c.agreement_number == agreement_number)[0]

    async def cancel_agreement(self, agreement_number: str, *, on: date) -> payments.Agreement:
        """Mark the agreement cancelled from a local date and return it.

        :raises payments.UnknownAgreement: if there is none.
        """
        return await self._worker.run(self._cancel_agreement, agreement_number, on)

    def _agreements(
        self, on: date, numbers: Collection[AccountNumber] | None
    ) -> tuple[payments.Agreement, ...]:
        a, aa = payments_t.bank_agreements, payments_t.bank_agreement_accounts
        where = sa.and_(
            a.c.signed_on <= on, sa.or_(a.c.cancelled_on.is_(None), a.c.cancelled_on > on)
        )
        if numbers is not None:
            ids = _account_ids(self._worker.conn(), numbers)
            where = sa.and_(
                where,
                a.c.id.in_(
                    sa.select(aa.c.agreement_id).where(aa.c.account_id.in_(sorted(ids.values())))
                ),
            )
        return self._load_agreements(where)

    async def agreements(
        self, *, on: date, numbers: Collection[AccountNumber] | None = None
    ) -> tuple[payments.Agreement, ...]:
        """Return the agreements in force on a local date (for some accounts, or all)."""
        return await self._worker.run(self._agreements, on, numbers)

    @staticmethod
    def _due_on(on: date) -> Any:
        """Return the accounts under an agreement in force on ``on`` that are below its
        threshold and have no debit that day (any debit, settled or not)."""
        a, aa, d = (
            payments_t.bank_agreements,
            payments_t.bank_agreement_accounts,
            payments_t.bank_debits,
        )
        return (
            sa.select(aa.c.account_id)
            .join(a, a.c.id == aa.c.agreement_id)
            .join(billing_t.balances, billing_t.balances.c.account_id == aa.c.account_id)
            .where(
                a.c.signed_on <= on,
                sa.or_(a.c.cancelled_on.is_(None), a.c.cancelled_on > on),
                billing_t.balances.c.balance_fen < a.c.threshold_fen,
                ~sa.exists().where(d.c.account_id == aa.c.account_id, d.c.day == on),
            )
        )

    def _below_threshold(self, on: date, limit: int) -> tuple[AccountNumber, ...]:
        d = payments_t.bank_debits
        # An account whose debit still awaits the bank is left out here, not after the
        # limit, so that a crowd of pending debits never starves the accounts behind them.
        rows = self._worker.conn().execute(
            sa.select(accounts_t.accounts.c.account_number)
            .where(
                accounts_t.accounts.c.id.in_(self._due_on(on)),
                ~sa.exists().where(
                    d.c.account_id == accounts_t.accounts.c.id,
                    d.c.status == payments.DebitStatus.REQUESTED.value,
                ),
            )
            .order_by(accounts_t.accounts.c.account_number)
            .limit(limit)
        )
        return tuple(AccountNumber(value=row[0]) for row in rows)

    async def below_threshold(self, *, on: date, limit: int) -> tuple[AccountNumber, ...]:
        """Return accounts under an agreement below its threshold with no debit that day and
        none awaiting the bank's word."""
        return await self._worker.run(self._below_threshold, on, limit)

    def _held_by_pending(self, on: date, limit: int) -> tuple[payments.DebitRequest, ...]:
        d = payments_t.bank_debits
        rows = self._worker.conn().execute(
            self._debit_query()
            .where(
                d.c.status == payments.DebitStatus.REQUESTED.value,
                d.c.account_id.in_(self._due_on(on)),
            )
            .order_by(d.c.requested_at, d.c.id)
            .limit(limit)
        )
        return tuple(self._request(row) for row in rows)

    def _unanswered_debits(
        self, requested_before: datetime, limit: int
    ) -> tuple[payments.DebitRequest, ...]:
        d = payments_t.bank_debits
        rows = self._worker.conn().execute(
            self._debit_query()
            .where(
                d.c.status == payments.DebitStatus.REQUESTED.value,
                d.c.requested_at < requested_before,
            )
            .order_by(d.c.requested_at, d.c.id)
            .limit(limit)
        )
        return tuple(self._request(row) for row in rows)

    async def unanswered_debits(
        self, *, requested_before: datetime, limit: int
    ) -> tuple[payments.DebitRequest, ...]:
        """Return debits still awaiting the bank's word requested before an instant."""
        return await self._worker.run(self._unanswered_debits, requested_before, limit)

    async def held_by_pending(self, *, on: date, limit: int) -> tuple[payments.DebitRequest, ...]:
        """Return the debits awaiting the bank's word whose account would otherwise be due a
        debit on that day."""
        return await self._worker.run(self._held_by_pending, on, limit)

    def _add_debits(self, debits: Sequence[payments.DebitRequest], at: datetime) -> None:
        if not debits:
            return
        connection = self._worker.conn()
        ids = _account_ids(connection, {d.account_number for d in debits})
        a = payments_t.bank_agreements
        rows = connection.execute(
            sa.select(a.c.agreement_number, a.c.id).where(
                a.c.agreement_number.in_(sorted({d.agreement_number for d in debits}))
            )
        )
        agreement_ids: dict[str, int] = {row.agreement_number: row.id for row in rows}
        statement = _insert(connection, payments_t.bank_debits).on_conflict_do_nothing()
        connection.execute(
            statement,
            [
                {
                    "debit_id": d.debit_id,
                    "agreement_id": agreement_ids[d.agreement_number],
                    "account_id": ids[str(d.account_number)],
                    "day": d.day,
                    "amount_fen": d.amount.fen,
                    "status": payments.DebitStatus.REQUESTED.value,
                    "requested_at": at,
                }
                for d in debits
            ],
        )

    async def add_debits(self, debits: Sequence[payments.DebitRequest], *, at: datetime) -> None:
        """Store requested debits (one per account and day: duplicates are skipped)."""
        await self._worker.run(self._add_debits, debits, at)

    def _debit_query(self) -> Any:
        return _debit_select()

    @staticmethod
    def _request(row: Any) -> payments.DebitRequest:
        return payments.DebitRequest(
            debit_id=row.debit_id,
            agreement_number=row.agreement_number,
            account_number=AccountNumber(value=row.account_number),
            amount=Money(fen=row.amount_fen),
            day=row.day,
        )

    def _debits(self, debit_ids: Collection[str]) -> dict[str, payment_ports.DebitState]:
        connection = self._worker.conn()
        found: dict[str, payment_ports.DebitState] = {}
        query = _DEBITS_BY_ID[connection.dialect.name == "postgresql"]
        for chunk in _chunks(sorted(set(debit_ids))):
            # One row per journalled callback of each debit (one with none for a debit the
            # bank has not answered yet): the debit and its history in one statement.
            rows: dict[str, Any] = {}
            seen: defaultdict[str, set[tuple[str, payments.DebitStatus]]] = defaultdict(set)
            for row in connection.execute(query, {"debit_ids": chunk}):
                rows.setdefault(row.debit_id, row)
                if row.callback_serial is not None:
                    seen[row.debit_id].add(
                        (row.callback_serial, payments.DebitStatus(row.callback_status))
                    )
            for debit_id, row in rows.items():
                found[debit_id] = payment_ports.DebitState(
                    request=self._request(row),
                    status=payments.DebitStatus(row.status),
                    bank_serial=row.bank_serial,
                    sent=row.sent_at is not None,
                    seen=frozenset(seen[debit_id]),
                )
        return found

    async def debits(self, debit_ids: Collection[str]) -> dict[str, payment_ports.DebitState]:
        """Return the debits with these ids, locked for this unit of work."""
        return await self._worker.run(self._debits, debit_ids)

    def _unsent_debits(self, limit: int) -> tuple[payments.DebitRequest, ...]:
        d = payments_t.bank_debits
        rows = self._worker.conn().execute(
            self._debit_query()
            .where(d.c.status == "REQUESTED", d.c.sent_at.is_(None))
            .order_by(d.c.requested_at, d.c.id)
            .limit(limit)
        )
        return tuple(self._request(row) for row in rows)

    async def unsent_debits(self, *, limit: int) -> tuple[payments.DebitRequest, ...]:
        """Return requested debits not yet handed to the bank."""
        return await self._worker.run(self._unsent_debits, limit)

    def _mark_sent(self, debit_ids: Collection[str], at: datetime) -> None:
        d = payments_t.bank_debits
        for chunk in _chunks(sorted(set(debit_ids))):
            self._worker.conn().execute(
                d.update().where(d.c.debit_id.in_(chunk), d.c.sent_at.is_(None)).values(sent_at=at)
            )

    async def mark_sent(self, debit_ids: Collection[str], *, at: datetime) -> None:
        """Record that the bank accepted these debit requests."""
        await self._worker.run(self._mark_sent, debit_ids, at)

    def _settle_debits(self, settlements: Sequence[payment_ports.DebitSettlement]) -> None:
        if not settlements:
            return
        self._worker.conn().execute(
            _SETTLE_DEBIT,
            [
                {
                    "b_debit_id": s.debit_id,
                    "b_status": s.status.value,
                    "b_serial": s.bank_serial,
                    "b_at": s.at,
                    "b_detail": s.detail,
                }
                for s in settlements
            ],
        )

    async def settle_debits(self, settlements: Sequence[payment_ports.DebitSettlement]) -> None:
        """Store the bank's word on debits."""
        await self._worker.run(self._settle_debits, settlements)

    def _bank_credits(self, day: date) -> tuple[payments.JournalCredit, ...]:
        # Every bank top-up of the day's debits, found through the callback journal (the
        # serial that credited names its debit), not through the debit's last word alone.
        d, c = payments_t.bank_debits, payments_t.bank_callbacks
        rows = self._worker.conn().execute(
            sa.select(
                payments_t.payments.c.channel_reference,
                payments_t.payments.c.amount_fen,
                accounts_t.accounts.c.account_number,
                c.c.debit_id,
            )
            .join(accounts_t.accounts, accounts_t.accounts.c.id == payments_t.payments.c.account_id)
            .join(
                c,
                sa.and_(
                    c.c.serial == payments_t.payments.c.channel_reference,
                    c.c.status == payments.DebitStatus.SUCCEEDED.value,
                ),
            )
            .join(d, d.c.debit_id == c.c.debit_id)
            .where(
                payments_t.payments.c.channel == "BANK_AUTO",
                payments_t.payments.c.kind == "TOP_UP",
                d.c.day == day,
            )
        )
        return tuple(
            payments.JournalCredit(
                serial=serial,
                debit_id=debit,
                account_number=AccountNumber(value=number),
                amount=Money(fen=fen),
            )
            for serial, fen, number, debit in rows
        )

    async def bank_credits(self, *, day: date) -> tuple[payments.JournalCredit, ...]:
        """Return the journal's bank top-ups of debits of a local day."""
        return await self._worker.run(self._bank_credits, day)

    def _record_callbacks(self, records: Sequence[payment_ports.CallbackRecord]) -> None:
        if not records:
            return
        connection = self._worker.conn()
        connection.execute(
            _RECORD_CALLBACK[connection.dialect.name == "postgresql"],
            [
                {
                    "serial": r.serial,
                    "status": r.status.value,
                    "debit_id": r.debit_id,
                    "amount_fen": r.amount.fen,
                    "callback_at": r.callback_at,
                    "received_at": r.received_at,
                    "settlement": r.settlement.value,
                }
                for r in records
            ],
        )

    async def record_callbacks(self, records: Sequence[payment_ports.CallbackRecord]) -> None:
        """Journal callbacks a debit accepted (replays are not recorded again)."""
        await self._worker.run(self._record_callbacks, records)

    def _debit_credits(self, day: date | None) -> tuple[payments.DebitCredits, ...]:
        d, c = payments_t.bank_debits, payments_t.bank_callbacks
        query = (
            _debit_select()
            .add_columns(payments_t.payments.c.channel_reference)
            .outerjoin(
                c,
                sa.and_(
                    c.c.debit_id == d.c.debit_id,
                    c.c.status == payments.DebitStatus.SUCCEEDED.value,
                ),
            )
            .outerjoin(
                payments_t.payments,
                sa.and_(
                    payments_t.payments.c.channel == "BANK_AUTO",
                    payments_t.payments.c.kind == "TOP_UP",
                    payments_t.payments.c.channel_reference == c.c.serial,
                ),
            )
            .where(d.c.status != payments.DebitStatus.REQUESTED.value)
            .order_by(d.c.debit_id, payments_t.payments.c.channel_reference)
        )
        if day is not None:
            query = query.where(d.c.day == day)
        found: dict[str, tuple[Any, list[str]]] = {}
        for row in self._worker.conn().execute(query):
            entry = found.setdefault(row.debit_id, (row, []))
            if row.channel_reference is not None:
                entry[1].append(row.channel_reference)
        return tuple(
            payments.DebitCredits(
                debit_id=debit,
                account_number=AccountNumber(value=row.account_number),
                status=payments.DebitStatus(row.status),
                amount=Money(fen=row.amount_fen),
                credited_serials=tuple(serials),
            )
            for debit, (row, serials) in found.items()
        )

    async def debit_credits(self, *, day: date | None) -> tuple[payments.DebitCredits, ...]:
        """Return each debit (of a local day, or all) that was credited or has failed, with
        the serials of the bank top-ups paid for it."""
        return await self._worker.run(self._debit_credits, day)


def _debits_by_id(*, lock: bool) -> Any:
    # PostgreSQL locks the debits for this unit of work (not the callbacks: the outer join's
    # nullable side cannot be locked, and a debit's lock covers its history); SQLite's BEGIN
    # IMMEDIATE serialises.
    d, c = payments_t.bank_debits, payments_t.bank_callbacks
    query = (
        _debit_select()
        .add_columns(c.c.serial.label("callback_serial"), c.c.status.label("callback_status"))
        .outerjoin(c, c.c.debit_id == d.c.debit_id)
        .where(d.c.debit_id.in_(sa.bindparam("debit_ids", expanding=True)))
    )
    return query.with_for_update(of=d) if lock else query


_DEBITS_BY_ID = {postgres: _debits_by_id(lock=postgres) for postgres in (False, True)}


def _allocate_statement(*, postgres: bool) -> Any:
    # The next receipt numbers of a channel and day: one upsert that returns the last one.
    insert = (postgresql.insert if postgres else sqlite.insert)(payments_t.receipt_sequences)
    return (
        insert.values(
            channel=sa.bindparam("channel"),
            day=sa.bindparam("day"),
            last_sequence=sa.bindparam("count"),
        )
        .on_conflict_do_update(
            index_elements=["channel", "day"],
            set_={
                "last_sequence": payments_t.receipt_sequences.c.last_sequence
                + sa.bindparam("added")
            },
        )
        .returning(payments_t.receipt_sequences.c.last_sequence)
    )


def _record_callback_statement(*, postgres: bool) -> Any:
    insert = (postgresql.insert if postgres else sqlite.insert)(payments_t.bank_callbacks)
    return insert.on_conflict_do_nothing(index_elements=["serial", "status"])


# Built once, not per transaction: each bank callback batch runs them.
_ALLOCATE = {postgres: _allocate_statement(postgres=postgres) for postgres in (False, True)}
_RECORD_CALLBACK = {
    postgres: _record_callback_statement(postgres=postgres) for postgres in (False, True)
}
_SETTLE_DEBIT = (
    payments_t.bank_debits.update()
    .where(payments_t.bank_debits.c.debit_id == sa.bindparam("b_debit_id"))
    .values(
        status=sa.bindparam("b_status"),
        bank_serial=sa.bindparam("b_serial"),
        settled_at=sa.bindparam("b_at", type_=payments_t.bank_debits.c.settled_at.type),
        detail=sa.bindparam("b_detail"),
    )
)
