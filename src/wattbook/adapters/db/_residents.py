"""The residents' portal's reads: one household at a time, each bounded by an index.

Every query starts from the household's row id and walks an ``(account_id, ...)`` index
(migration 0017 adds the ones the portal needs), with a LIMIT, so a page costs the same on a
campus of 2,000 accounts or 20,000 and for a household of any age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db._sql import _account_id, _registers
from wattbook.adapters.db._uow import SqlReadOnlyUnitOfWork
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.billing._repository import (
    charge_totals,
    migration_credits,
    tariff_history,
)
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.adapters.db.notifications import _tables as sms_t
from wattbook.adapters.db.payments import _tables as payments_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.payments import ports as payment_ports
from wattbook.application.queries import resident_ports as ports
from wattbook.domain import payments
from wattbook.domain.headend import RelayCommandStatus, RelayOperation, RelayReason
from wattbook.domain.values import AccountNumber, Money, start_of_local_day

T = TypeVar("T")

_REGISTER_NAMES = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


def _profile(connection: Connection, number: AccountNumber) -> ports.ResidentProfile:
    account_id = _account_id(connection, number)
    a, b, s = accounts_t.accounts, billing_t.balances, prepaid_t.prepaid_states
    row = connection.execute(
        sa.select(a.c.holder, a.c.phone, a.c.address, b.c.balance_fen, s.c.relay)
        .select_from(a)
        .outerjoin(b, b.c.account_id == a.c.id)
        .outerjoin(s, s.c.account_id == a.c.id)
        .where(a.c.id == account_id)
    ).one()
    paid = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(payments_t.payments.c.amount_fen), 0)).where(
            payments_t.payments.c.account_id == account_id
        )
    ).scalar_one()
    return ports.ResidentProfile(
        account_number=number,
        holder=row.holder,
        phone=row.phone,
        address=row.address,
        balance=Money(fen=int(row.balance_fen or 0)),
        paid_total=Money(fen=int(paid)),
        relay=row.relay or "UNKNOWN",
    )


def _usage(
    connection: Connection, account_id: int, table: sa.Table, column: str, first: Any, last: Any
) -> tuple[ports.UsageRow, ...]:
    key = table.c[column]
    rows = connection.execute(
        sa.select(key.label("period"), *(table.c[name] for name in _REGISTER_NAMES))
        .where(table.c.account_id == account_id, key >= first, key <= last)
        .order_by(key)
        # a year of days, or twenty years of months, at most
        .limit(400)
    ).mappings()
    return tuple(
        ports.UsageRow(
            period=row["period"].isoformat()
            if isinstance(row["period"], date)
            else str(row["period"]),
            registers=_registers(row),
        )
        for row in rows
    )


_PAYMENT_COLUMNS = (
    payments_t.payments.c.receipt_number,
    payments_t.payments.c.channel,
    payments_t.payments.c.channel_reference,
    payments_t.payments.c.kind,
    payments_t.payments.c.amount_fen,
    payments_t.payments.c.balance_before_fen,
    payments_t.payments.c.balance_after_fen,
    payments_t.payments.c.at,
    payments_t.payments.c.operator,
    payments_t.payments.c.corrects_receipt,
    payments_t.payments.c.note,
    billing_t.ledger_entries.c.reference,
)


def _payments(
    connection: Connection, number: AccountNumber, where: list[Any], offset: int, limit: int
) -> tuple[payment_ports.Payment, ...]:
    p, e = payments_t.payments, billing_t.ledger_entries
    rows = connection.execute(
        sa.select(*_PAYMENT_COLUMNS)
        .join(e, e.c.id == p.c.entry_id)
        .where(*where)
        .order_by(p.c.at.desc(), p.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return tuple(
        payment_ports.Payment(
            receipt_number=payments.ReceiptNumber.parse(row.receipt_number),
            channel=payments.Channel(row.channel),
            channel_reference=row.channel_reference,
            kind=payments.PaymentKind(row.kind),
            account_number=number,
            amount=Money(fen=row.amount_fen),
            balance_before=Money(fen=row.balance_before_fen),
            balance_after=Money(fen=row.balance_after_fen),
            at=row.at,
            operator=row.operator,
            corrects_receipt=row.corrects_receipt,
            entry_reference=row.reference,
            note=row.note,
        )
        for row in rows
    )


def _relay_records(
    connection: Connection, account_id: int, since: datetime, limit: int
) -> tuple[ports.RelayRecord, ...]:
    r, e = headend_t.relay_commands, billing_t.ledger_entries

    def last_balance(*signed: Any) -> Any:
        return (
            sa.select(e.c.balance_after_fen)
            .where(e.c.account_id == account_id, e.c.at <= r.c.created_at, *signed)
            .order_by(e.c.at.desc(), e.c.id.desc())
            .limit(1)
            .correlate(r)
            .scalar_subquery()
        )

    # What moved the balance to the command: a charge (negative) for a trip, a credit
    # (positive) for a close; a top-up and the trip it overtook may share an instant, and the
    # trip's reason is the charge before it, not the top-up. With no such entry (a warning
    # cut at the opening), the last entry.
    moved = sa.case(
        (r.c.action == RelayOperation.TRIP.value, e.c.amount_fen < 0),
        else_=e.c.amount_fen > 0,
    )
    balance_then = sa.func.coalesce(last_balance(moved), last_balance())
    rows = connection.execute(
        sa.select(
            r.c.action,
            r.c.reason,
            r.c.status,
            r.c.created_at,
            r.c.not_before_at,
            r.c.done_at,
            balance_then.label("balance_then"),
        )
        .where(r.c.account_id == account_id, r.c.created_at >= since)
        .order_by(r.c.created_at.desc(), r.c.id.desc())
        .limit(limit)
    )
    return tuple(
        ports.RelayRecord(
            action=RelayOperation(row.action),
            reason=RelayReason(row.reason),
            status=RelayCommandStatus(row.status),
            ordered_at=row.created_at,
            not_before_at=row.not_before_at,
            done_at=row.done_at,
            balance_then=None if row.balance_then is None else Money(fen=row.balance_then),
        )
        for row in rows
    )


def _spells(
    connection: Connection, account_id: int, since: datetime
) -> tuple[ports.KeepPowerSpell, ...]:
    k = prepaid_t.keep_power_orders
    rows = connection.execute(
        sa.select(k.c.start_at, k.c.end_at, k.c.reason)
        .where(k.c.account_id == account_id, sa.or_(k.c.end_at.is_(None), k.c.end_at >= since))
        .order_by(k.c.start_at.desc(), k.c.id.desc())
        .limit(100)
    )
    return tuple(
        ports.KeepPowerSpell(start_at=row.start_at, end_at=row.end_at, reason=row.reason)
        for row in rows
    )


class SqlResidentReader:
    """``ResidentReader`` on SQLite or PostgreSQL, one read-only transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _read(self, function: Callable[[Connection], T]) -> T:
        # Admitted through the engine's gate, run on its workers, never holding the write
        # lock; one hop to a worker for everything a page reads.
        async with SqlReadOnlyUnitOfWork(self._engine) as uow:
            return await uow.call(function)

    async def profile(self, number: AccountNumber) -> ports.ResidentProfile:
        """Return the household's profile.

        :raises UnknownAccount: if there is no such account.
        """
        return await self._read(lambda connection: _profile(connection, number))

    async def home(
        self, number: AccountNumber, *, first_date: date, last_date: date
    ) -> ports.HomeFacts:
        """Return the profile and the days with usage between two local dates (inclusive).

        :raises UnknownAccount: if there is no such account.
        """

        def read(connection: Connection) -> ports.HomeFacts:
            profile = _profile(connection, number)
            account_id = _account_id(connection, number)
            days = _usage(
                connection, account_id, metering_t.usage_daily, "day", first_date, last_date
            )
            return ports.HomeFacts(
                profile=profile, recent_days=days, tariffs=tariff_history(connection)
            )

        return await self._read(read)

    async def usage(
        self,
        number: AccountNumber,
        *,
        first_date: date,
        last_date: date,
        first_month: str,
        last_month: str,
        today: date,
        this_month: str,
        this_year: int,
    ) -> ports.UsageFacts:
        """Return the days and months with usage in the ranges, and today, this month and
        this year."""

        def read(connection: Connection) -> ports.UsageFacts:
            account_id = _account_id(connection, number)
            daily, monthly = metering_t.usage_daily, metering_t.usage_monthly
            return ports.UsageFacts(
                days=_usage(connection, account_id, daily, "day", first_date, last_date),
                months=_usage(connection, account_id, monthly, "month", first_month, last_month),
                today=_usage(connection, account_id, daily, "day", today, today),
                this_month=_usage(connection, account_id, monthly, "month", this_month, this_month),
                this_year=_usage(
                    connection, account_id, metering_t.usage_yearly, "year", this_year, this_year
                ),
            )

        return await self._read(read)

    async def payments(
        self,
        number: AccountNumber,
        *,
        first_date: date | None,
        last_date: date | None,
        offset: int,
        limit: int,
    ) -> ports.PaymentPage:
        """Return a page of payments between two local dates (inclusive), newest first."""

        def read(connection: Connection) -> ports.PaymentPage:
            p = payments_t.payments
            where: list[Any] = [p.c.account_id == _account_id(connection, number)]
            if first_date is not None:
                where.append(p.c.at >= start_of_local_day(first_date))
            if last_date is not None:
                where.append(p.c.at < start_of_local_day(last_date + timedelta(days=1)))
            total = connection.execute(
                sa.select(sa.func.count()).select_from(p).where(*where)
            ).scalar_one()
            return ports.PaymentPage(
                payments=_payments(connection, number, where, offset, limit), total=int(total)
            )

        return await self._read(read)

    async def statement(self, number: AccountNumber) -> ports.StatementFacts:
        """Return what the household's monthly statement is made from.

        :raises UnknownAccount: if there is no such account.
        """

        def read(connection: Connection) -> ports.StatementFacts:
            account_id = _account_id(connection, number)
            balance = connection.execute(
                sa.select(billing_t.balances.c.balance_fen).where(
                    billing_t.balances.c.account_id == account_id
                )
            ).scalar_one_or_none()
            totals = charge_totals(connection, {account_id: number}, None)
            return ports.StatementFacts(
                totals=totals.get(number, ()),
                migration_credits=migration_credits(connection, number),
                balance=Money(fen=int(balance or 0)),
                tariffs=tariff_history(connection),
            )

        return await self._read(read)

    async def power(
        self, number: AccountNumber, *, since: datetime, limit: int
    ) -> ports.PowerFacts:
        """Return the relay now, its commands, keep-power orders and top-ups since ``since``."""

        def read(connection: Connection) -> ports.PowerFacts:
            account_id = _account_id(connection, number)
            state = connection.execute(
                sa.select(
                    prepaid_t.prepaid_states.c.relay, prepaid_t.prepaid_states.c.re_evaluate_at
                ).where(prepaid_t.prepaid_states.c.account_id == account_id)
            ).one_or_none()
            p = payments_t.payments
            top_ups = _payments(
                connection,
                number,
                [p.c.account_id == account_id, p.c.at >= since, p.c.amount_fen > 0],
                0,
                2 * limit,
            )
            return ports.PowerFacts(
                relay="UNKNOWN" if state is None else state.relay,
                held_until=None if state is None else state.re_evaluate_at,
                records=_relay_records(connection, account_id, since, limit),
                spells=_spells(connection, account_id, since),
                top_ups=top_ups,
            )

        return await self._read(read)

    async def texts(self, number: AccountNumber, *, offset: int, limit: int) -> ports.TextPage:
        """Return a page of the household's SMS, newest first."""

        def read(connection: Connection) -> ports.TextPage:
            o, a = sms_t.sms_outbox, accounts_t.accounts
            account_id = _account_id(connection, number)
            phone = connection.execute(
                sa.select(a.c.phone).where(a.c.id == account_id)
            ).scalar_one_or_none()
            total = connection.execute(
                sa.select(sa.func.count()).select_from(o).where(o.c.account_id == account_id)
            ).scalar_one()
            rows = connection.execute(
                sa.select(
                    o.c.kind,
                    o.c.status,
                    o.c.created_at,
                    o.c.done_at,
                    o.c.body,
                    o.c.balance_fen,
                    o.c.amount_fen,
                )
                .where(o.c.account_id == account_id)
                .order_by(o.c.created_at.desc(), o.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return ports.TextPage(
                texts=tuple(
                    ports.SentText(
                        kind=row.kind,
                        status=row.status,
                        created_at=row.created_at,
                        done_at=row.done_at,
                        body=row.body,
                        balance=Money(fen=row.balance_fen),
                        amount=None if row.amount_fen is None else Money(fen=row.amount_fen),
                    )
                    for row in rows
                ),
                total=int(total),
                has_phone=phone is not None,
            )

        return await self._read(read)
