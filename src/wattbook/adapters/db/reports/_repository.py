"""Reports and feeds: one or a few statements over every account, never one per account.

Local days become UTC bounds here (``start_of_local_day``), so the same SQL runs on SQLite
and PostgreSQL without either's time-zone functions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker, _account_id
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.adapters.db.payments import _tables as payments_t
from wattbook.application.accounts import ports as account_ports
from wattbook.application.queries import report_ports as rp
from wattbook.domain.values import AccountNumber, Energy, Money, local_date, start_of_local_day

_COVER_KINDS = ("METER_COVER_OPENED", "TERMINAL_COVER_OPENED")


def _account(row: Any) -> rp.AccountRow:
    return rp.AccountRow(
        account_number=AccountNumber(value=row["account_number"]),
        holder=row["holder"],
        phone=row["phone"],
        address=row["address"],
        status=row["status"],
        opened_at=row["opened_at"],
        balance=Money(fen=int(row["balance_fen"] or 0)),
    )


def _account_columns() -> list[Any]:
    a, b = accounts_t.accounts, billing_t.balances
    return [
        a.c.account_number,
        a.c.holder,
        a.c.phone,
        a.c.address,
        a.c.status,
        a.c.opened_at,
        sa.func.coalesce(b.c.balance_fen, 0).label("balance_fen"),
    ]


class SqlReportReader:
    """The reports' and feeds' reads on a unit of work's connection."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    # ------------------------------------------------------------------ feeds

    def _accounts_page(self, after: AccountNumber | None, limit: int) -> tuple[rp.AccountRow, ...]:
        a, b = accounts_t.accounts, billing_t.balances
        query = (
            sa.select(*_account_columns())
            .select_from(a.outerjoin(b, b.c.account_id == a.c.id))
            .order_by(a.c.account_number)
            .limit(limit)
        )
        if after is not None:
            query = query.where(a.c.account_number > str(after))
        return tuple(_account(row) for row in self._worker.conn().execute(query).mappings())

    async def accounts_page(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[rp.AccountRow, ...]:
        """Return up to ``limit`` accounts by number after ``after``, with their balances."""
        return await self._worker.run(self._accounts_page, after, limit)

    def _account(self, number: AccountNumber) -> rp.AccountRow:
        a, b = accounts_t.accounts, billing_t.balances
        query = (
            sa.select(*_account_columns())
            .select_from(a.outerjoin(b, b.c.account_id == a.c.id))
            .where(a.c.account_number == str(number))
        )
        row = self._worker.conn().execute(query).mappings().first()
        if row is None:
            raise account_ports.UnknownAccount(str(number))
        return _account(row)

    async def account(self, number: AccountNumber) -> rp.AccountRow:
        """Return one account with its balance.

        :raises UnknownAccount: if there is no such account.
        """
        return await self._worker.run(self._account, number)

    def _readings_page(
        self, number: AccountNumber, after_id: int | None, limit: int
    ) -> tuple[rp.ReadingRow, ...]:
        account_id = _account_id(self._worker.conn(), number)
        r, mi = metering_t.readings, accounts_t.meter_installations
        query = (
            sa.select(r, mi.c.meter_number)
            .join(mi, mi.c.id == r.c.installation_id)
            .where(mi.c.account_id == account_id)
            .order_by(r.c.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(r.c.id > after_id)
        return tuple(
            rp.ReadingRow(
                id=int(row["id"]),
                account_number=number,
                meter_number=row["meter_number"],
                meter_time_at=row["meter_time_at"],
                received_at=row["received_at"],
                total_wh=int(row["total_wh"]),
                sharp_wh=int(row["sharp_wh"]),
                peak_wh=int(row["peak_wh"]),
                flat_wh=int(row["flat_wh"]),
                valley_wh=int(row["valley_wh"]),
                outcome=row["outcome"],
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def readings_page(
        self, *, number: AccountNumber, after_id: int | None, limit: int
    ) -> tuple[rp.ReadingRow, ...]:
        """Return up to ``limit`` of the account's readings (every meter it had), by id.

        :raises UnknownAccount: if there is no such account.
        """
        return await self._worker.run(self._readings_page, number, after_id, limit)

    def _payments_page(
        self, number: AccountNumber | None, after_id: int | None, limit: int
    ) -> tuple[rp.PaymentRow, ...]:
        p, a = payments_t.payments, accounts_t.accounts
        query = (
            sa.select(p, a.c.account_number)
            .join(a, a.c.id == p.c.account_id)
            .order_by(p.c.id)
            .limit(limit)
        )
        if number is not None:
            query = query.where(p.c.account_id == _account_id(self._worker.conn(), number))
        if after_id is not None:
            query = query.where(p.c.id > after_id)
        return tuple(
            rp.PaymentRow(
                id=int(row["id"]),
                receipt_number=row["receipt_number"],
                account_number=AccountNumber(value=row["account_number"]),
                channel=row["channel"],
                kind=row["kind"],
                amount=Money(fen=int(row["amount_fen"])),
                balance_after=Money(fen=int(row["balance_after_fen"])),
                at=row["at"],
                operator=row["operator"],
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def payments_page(
        self, *, number: AccountNumber | None, after_id: int | None, limit: int
    ) -> tuple[rp.PaymentRow, ...]:
        """Return up to ``limit`` payments (of one account, or all) by id after ``after_id``.

        :raises UnknownAccount: if ``number`` names no account.
        """
        return await self._worker.run(self._payments_page, number, after_id, limit)

    # ---------------------------------------------------------------- reports

    def _collections(self, first_date: date, last_date: date) -> tuple[rp.CollectionRow, ...]:
        p = payments_t.payments
        days = [first_date + timedelta(days=n) for n in range((last_date - first_date).days + 1)]
        if not days:
            return ()
        bounds = [start_of_local_day(day) for day in days]
        end = start_of_local_day(last_date + timedelta(days=1))
        # Each payment's local day as a CASE over the days' UTC bounds: the same SQL on both
        # engines, and the range condition can use the index on ``at``.
        bucket = sa.case(
            *[
                (p.c.at < (bounds[n + 1] if n + 1 < len(bounds) else end), n)
                for n in range(len(bounds))
            ],
            else_=len(bounds),
        ).label("bucket")
        query = (
            sa.select(
                bucket,
                p.c.channel,
                p.c.operator,
                sa.func.count().label("count"),
                sa.func.sum(p.c.amount_fen).label("amount_fen"),
            )
            .where(p.c.at >= bounds[0], p.c.at < end)
            .group_by(bucket, p.c.channel, p.c.operator)
        )
        rows = [
            rp.CollectionRow(
                day=days[int(row["bucket"])],
                channel=row["channel"],
                operator=row["operator"],
                count=int(row["count"]),
                amount=Money(fen=int(row["amount_fen"])),
            )
            for row in self._worker.conn().execute(query).mappings()
        ]
        return tuple(sorted(rows, key=lambda r: (r.day, r.channel, r.operator or "")))

    async def collections(
        self, *, first_date: date, last_date: date
    ) -> tuple[rp.CollectionRow, ...]:
        """Return the money taken per local day, channel and operator, days inclusive."""
        return await self._worker.run(self._collections, first_date, last_date)

    def _balances_below(
        self,
        below_fen: int,
        at_least_fen: int | None,
        after: tuple[int, AccountNumber] | None,
        limit: int,
    ) -> tuple[rp.AccountRow, ...]:
        a, b = accounts_t.accounts, billing_t.balances
        query = (
            sa.select(*_account_columns())
            .select_from(a.join(b, b.c.account_id == a.c.id))
            .where(a.c.status == "OPEN", b.c.balance_fen < below_fen)
            .order_by(b.c.balance_fen, a.c.account_number)
            .limit(limit)
        )
        if at_least_fen is not None:
            query = query.where(b.c.balance_fen >= at_least_fen)
        if after is not None:
            fen, number = after
            query = query.where(
                sa.or_(
                    b.c.balance_fen > fen,
                    sa.and_(b.c.balance_fen == fen, a.c.account_number > str(number)),
                )
            )
        return tuple(_account(row) for row in self._worker.conn().execute(query).mappings())

    async def balances_below(
        self,
        *,
        below_fen: int,
        at_least_fen: int | None,
        after: tuple[int, AccountNumber] | None,
        limit: int,
    ) -> tuple[rp.AccountRow, ...]:
        """Return open accounts whose balance is below ``below_fen`` (and at least
        ``at_least_fen``), lowest first, after the (balance in fen, number) ``after``."""
        return await self._worker.run(self._balances_below, below_fen, at_least_fen, after, limit)

    def _consumption(
        self, first_date: date, last_date: date, limit: int
    ) -> tuple[rp.UsageRow, ...]:
        a, u = accounts_t.accounts, metering_t.usage_daily
        used = sa.func.sum(u.c.total_wh).label("used_wh")
        query = (
            sa.select(a.c.account_number, a.c.holder, a.c.address, used)
            .join(u, u.c.account_id == a.c.id)
            .where(u.c.day >= first_date, u.c.day <= last_date)
            .group_by(a.c.id, a.c.account_number, a.c.holder, a.c.address)
            .order_by(used.desc(), a.c.account_number)
            .limit(limit)
        )
        return tuple(
            rp.UsageRow(
                account_number=AccountNumber(value=row["account_number"]),
                holder=row["holder"],
                address=row["address"],
                energy=Energy(wh=int(row["used_wh"])),
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def consumption_ranking(
        self, *, first_date: date, last_date: date, limit: int
    ) -> tuple[rp.UsageRow, ...]:
        """Return the accounts that used most between two local days (inclusive), most first."""
        return await self._worker.run(self._consumption, first_date, last_date, limit)

    def _bus_success(self, first_date: date, last_date: date) -> tuple[rp.BusSuccessRow, ...]:
        c = headend_t.communication_days
        query = (
            sa.select(
                c.c.bus,
                sa.func.sum(c.c.attempts).label("attempts"),
                sa.func.sum(c.c.successes).label("successes"),
            )
            .where(c.c.meter_number == "", c.c.day >= first_date, c.c.day <= last_date)
            .group_by(c.c.bus)
            .order_by(c.c.bus)
        )
        return tuple(
            rp.BusSuccessRow(
                bus=row["bus"], attempts=int(row["attempts"]), successes=int(row["successes"])
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def bus_success(
        self, *, first_date: date, last_date: date
    ) -> tuple[rp.BusSuccessRow, ...]:
        """Return each bus's attempts and successes between two local days, by bus name."""
        return await self._worker.run(self._bus_success, first_date, last_date)

    def _idle(
        self, first_date: date, last_date: date, before_first_date: date
    ) -> tuple[rp.UsageAround, ...]:
        a, mi = accounts_t.accounts, accounts_t.meter_installations
        u, c = metering_t.usage_daily, headend_t.communication_days

        def used(first: date, last: date) -> Any:
            return (
                sa.select(sa.func.coalesce(sa.func.sum(u.c.total_wh), 0))
                .where(u.c.account_id == a.c.id, u.c.day >= first, u.c.day <= last)
                .scalar_subquery()
            )

        during = used(first_date, last_date).label("during_wh")
        before = used(before_first_date, first_date - timedelta(days=1)).label("before_wh")
        answered = (
            sa.select(c.c.meter_number)
            .where(
                c.c.meter_number == mi.c.meter_number,
                c.c.day >= first_date,
                c.c.day <= last_date,
                c.c.successes > 0,
            )
            .exists()
        )
        query = (
            sa.select(a.c.account_number, mi.c.meter_number, a.c.holder, a.c.address, before)
            .join(mi, sa.and_(mi.c.account_id == a.c.id, mi.c.removed_at.is_(None)))
            .where(a.c.status == "OPEN", answered, during == 0)
            .order_by(a.c.account_number)
        )
        return tuple(
            rp.UsageAround(
                account_number=AccountNumber(value=row["account_number"]),
                meter_number=row["meter_number"],
                holder=row["holder"],
                address=row["address"],
                before=Energy(wh=int(row["before_wh"])),
                after=Energy.zero(),
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def idle_meters(
        self, *, first_date: date, last_date: date, before_first_date: date
    ) -> tuple[rp.UsageAround, ...]:
        """Return open accounts whose meter answered in the window but recorded no use."""
        return await self._worker.run(self._idle, first_date, last_date, before_first_date)

    def _cover_events(
        self, since: datetime, until: datetime, days: int
    ) -> tuple[rp.UsageAround, ...]:
        e, mi, a = headend_t.meter_events, accounts_t.meter_installations, accounts_t.accounts
        u = metering_t.usage_daily
        query = (
            sa.select(
                e.c.occurred_at,
                mi.c.meter_number,
                a.c.id,
                a.c.account_number,
                a.c.holder,
                a.c.address,
            )
            .join(
                mi,
                sa.and_(
                    mi.c.meter_number == e.c.meter_number,
                    mi.c.installed_at <= e.c.occurred_at,
                    sa.or_(mi.c.removed_at.is_(None), mi.c.removed_at > e.c.occurred_at),
                ),
            )
            .join(a, a.c.id == mi.c.account_id)
            .where(e.c.kind.in_(_COVER_KINDS), e.c.occurred_at >= since, e.c.occurred_at < until)
            .order_by(e.c.occurred_at, mi.c.meter_number)
        )
        connection = self._worker.conn()
        events = connection.execute(query).mappings().all()
        found: list[rp.UsageAround] = []
        for event in events:
            day = local_date(event["occurred_at"])
            before_first, after_last = day - timedelta(days=days), day + timedelta(days=days)

            def used(first: date, last: date, account_id: int = event["id"]) -> int:
                return int(
                    connection.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(u.c.total_wh), 0)).where(
                            u.c.account_id == account_id, u.c.day >= first, u.c.day <= last
                        )
                    ).scalar_one()
                )

            found.append(
                rp.UsageAround(
                    account_number=AccountNumber(value=event["account_number"]),
                    meter_number=event["meter_number"],
                    holder=event["holder"],
                    address=event["address"],
                    before=Energy(wh=used(before_first, day - timedelta(days=1))),
                    after=Energy(wh=used(day + timedelta(days=1), after_last)),
                    at=event["occurred_at"],
                )
            )
        return tuple(found)

    async def use_around_cover_events(
        self, *, since: datetime, until: datetime, days: int
    ) -> tuple[rp.UsageAround, ...]:
        """Return the use before and after each cover-open event in ``[since, until)``."""
        return await self._worker.run(self._cover_events, since, until, days)

    def _relay_open(self) -> tuple[rp.UsageAround, ...]:
        ml, mi, a = headend_t.meter_latest, accounts_t.meter_installations, accounts_t.accounts
        rc, r = headend_t.relay_commands, metering_t.readings
        last_trip = (
            sa.select(rc.c.account_id, sa.func.max(rc.c.done_at).label("at"))
            .where(rc.c.action == "TRIP", rc.c.status == "CONFIRMED", rc.c.done_at.is_not(None))
            .group_by(rc.c.account_id)
            .subquery()
        )
        moved = (sa.func.max(r.c.total_wh) - sa.func.min(r.c.total_wh)).label("moved_wh")
        query = (
            sa.select(
                a.c.account_number,
                mi.c.meter_number,
                a.c.holder,
                a.c.address,
                last_trip.c.at,
                moved,
            )
            .select_from(ml)
            .join(mi, sa.and_(mi.c.meter_number == ml.c.meter_number, mi.c.removed_at.is_(None)))
            .join(a, a.c.id == mi.c.account_id)
            .join(last_trip, last_trip.c.account_id == a.c.id)
            .join(r, sa.and_(r.c.installation_id == mi.c.id, r.c.meter_time_at >= last_trip.c.at))
            .where(ml.c.relay_open.is_(True))
            .group_by(
                a.c.account_number, mi.c.meter_number, a.c.holder, a.c.address, last_trip.c.at
            )
            .order_by(a.c.account_number)
        )
        return tuple(
            rp.UsageAround(
                account_number=AccountNumber(value=row["account_number"]),
                meter_number=row["meter_number"],
                holder=row["holder"],
                address=row["address"],
                before=Energy.zero(),
                after=Energy(wh=int(row["moved_wh"])),
                at=row["at"],
            )
            for row in self._worker.conn().execute(query).mappings()
        )

    async def use_while_relay_open(self) -> tuple[rp.UsageAround, ...]:
        """Return the accounts whose relay reads open, with the registers' movement since
        the relay was last ordered open and confirmed."""
        return await self._worker.run(self._relay_open)
