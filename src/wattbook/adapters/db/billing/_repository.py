"""The billing area's repositories: the journal and balances, tariffs, charge totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wattbook.adapters.db._sql import Worker, _chunks, upsert
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.application.accounts import ports as account_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.domain import accounts, billing, ledger
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    Energy,
    Money,
    Price,
    TimeOfUse,
)


def charge_totals(
    connection: Connection,
    by_id: Mapping[int, AccountNumber],
    years: Collection[int] | None,
) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
    """Return the charge totals of the accounts (row id to number) in the calendar years
    given (None: all), read on ``connection``."""
    c, e = billing_t.charge_totals, billing_t.charge_energy
    # Totals and their energy in one query: a key's energy rows follow its total row.
    query = (
        sa.select(c.c.account_id, c.c.month, c.c.tariff_key, c.c.charged_fen)
        .add_columns(e.c.component, e.c.energy_wh)
        .outerjoin(
            e,
            sa.and_(
                e.c.account_id == c.c.account_id,
                e.c.month == c.c.month,
                e.c.tariff_key == c.c.tariff_key,
            ),
        )
        .order_by(c.c.account_id, c.c.month, c.c.tariff_key, e.c.component)
    )
    if years is not None:
        if not years:
            return {}
        query = query.where(
            sa.or_(*(c.c.month.between(f"{y:04d}-01", f"{y:04d}-12") for y in sorted(years)))
        )
    rows: list[Any] = []
    for chunk in _chunks(sorted(by_id)):
        rows.extend(connection.execute(query.where(c.c.account_id.in_(chunk))))
    months: dict[str, BillingMonth] = {}
    found: dict[AccountNumber, list[billing.ChargeTotal]] = defaultdict(list)
    current: tuple[int, str, str] | None = None
    energy: list[tuple[str, int]] = []
    charged = 0

    def flush() -> None:
        if current is None:
            return
        account_id, month, tariff_key = current
        if month not in months:
            months[month] = BillingMonth.parse(month)
        found[by_id[account_id]].append(
            billing.ChargeTotal(
                key=billing.ChargeKey(tariff_key=tariff_key, month=months[month]),
                energy_wh=tuple(energy),
                charged=Money(fen=charged),
            )
        )

    for account_id, month, tariff_key, fen, component, wh in rows:
        key = (account_id, month, tariff_key)
        if key != current:
            flush()
            current, energy, charged = key, [], fen
        if component is not None:
            energy.append((component, wh))
    flush()
    return {number: tuple(totals) for number, totals in found.items()}


def migration_credits(
    connection: Connection, number: AccountNumber
) -> tuple[accounts.MigrationCredit, ...]:
    """Return the account's B8 migration credits, read on ``connection``."""
    m = billing_t.migration_credits
    rows = connection.execute(
        sa.select(m, billing_t.ledger_entries.c.amount_fen, billing_t.ledger_entries.c.note)
        .join(billing_t.ledger_entries, billing_t.ledger_entries.c.id == m.c.entry_id)
        .join(accounts_t.accounts, accounts_t.accounts.c.id == m.c.account_id)
        .where(accounts_t.accounts.c.account_number == str(number))
        .order_by(m.c.at)
    ).mappings()
    return tuple(
        accounts.MigrationCredit(
            account_number=number,
            energy=Energy(wh=row["energy_wh"]),
            price=Price(yuan_per_kwh=row["price"]),
            amount=Money(fen=row["amount_fen"]),
            at=row["at"],
            note=row["note"],
        )
        for row in rows
    )


class SqlLedgerRepository:
    """The append-only journal and the cached balances in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _balances(self, numbers: Collection[AccountNumber]) -> dict[AccountNumber, Money]:
        connection = self._worker.conn()
        given = {str(number): number for number in numbers}
        ids = self._worker.account_ids(numbers)
        by_id = {id_: given[number] for number, id_ in ids.items()}
        found: dict[AccountNumber, Money] = {}
        for chunk in _chunks(sorted(by_id)):
            query = sa.select(
                billing_t.balances.c.account_id, billing_t.balances.c.balance_fen
            ).where(billing_t.balances.c.account_id.in_(chunk))
            for account_id, fen in connection.execute(query):
                found[by_id[account_id]] = Money(fen=fen)
        return found

    async def balances(self, numbers: Collection[AccountNumber]) -> dict[AccountNumber, Money]:
        """Return the cached balances of the accounts."""
        return await self._worker.run(self._balances, numbers)

    def _post(self, entries: Sequence[ledger.Entry]) -> dict[AccountNumber, Money]:
        connection = self._worker.conn()
        if not entries:
            return {}
        references = [entry.reference for entry in entries]
        if len(set(references)) != len(references):
            raise ledger.DuplicateReference(next(r for r in references if references.count(r) > 1))
        for chunk in _chunks(references):
            taken = connection.execute(
                sa.select(billing_t.ledger_entries.c.reference).where(
                    billing_t.ledger_entries.c.reference.in_(chunk)
                )
            ).first()
            if taken is not None:
                raise ledger.DuplicateReference(taken[0])
        ids = self._worker.account_ids({entry.account_number for entry in entries})
        missing = {str(e.account_number) for e in entries} - ids.keys()
        if missing:
            raise account_ports.UnknownAccount(min(missing))
        # One query reads and (on PostgreSQL) locks the balances: concurrent writers to the
        # same account's money queue here, in id order (no deadlock). SQLite's BEGIN
        # IMMEDIATE already serialises writers.
        lock = connection.dialect.name == "postgresql"
        state: dict[int, list[int]] = {}
        for id_chunk in _chunks(sorted(ids.values())):
            query = (
                sa.select(
                    billing_t.balances.c.account_id,
                    billing_t.balances.c.balance_fen,
                    billing_t.balances.c.entry_count,
                )
                .where(billing_t.balances.c.account_id.in_(id_chunk))
                .order_by(billing_t.balances.c.account_id)
            )
            if lock:
                query = query.with_for_update()
            for account_id, fen, count in connection.execute(query):
                state[account_id] = [fen, count]
        reversed_ids = self._reversed_ids(entries)
        rows: list[dict[str, Any]] = []
        for entry in entries:
            account_id = ids[str(entry.account_number)]
            balance = state[account_id]
            balance[0] += entry.amount.fen
            balance[1] += 1
            rows.append(
                {
                    "account_id": account_id,
                    "reference": entry.reference,
                    "kind": entry.kind.value,
                    "amount_fen": entry.amount.fen,
                    "at": entry.at,
                    "reverses_id": None if entry.reverses is None else reversed_ids[entry.reverses],
                    "note": entry.note,
                    "balance_after_fen": balance[0],
                }
            )
        try:
            connection.execute(billing_t.ledger_entries.insert(), rows)
        except sa.exc.IntegrityError as error:
            # A concurrent writer got the same reference in first.
            raise ledger.DuplicateReference(rows[0]["reference"]) from error
        latest = max(entry.at for entry in entries)
        connection.execute(
            billing_t.balances.update()
            .where(billing_t.balances.c.account_id == sa.bindparam("b_account_id"))
            .values(
                balance_fen=sa.bindparam("b_fen"),
                entry_count=sa.bindparam("b_count"),
                updated_at=sa.bindparam("b_at"),
            ),
            [
                {"b_account_id": account_id, "b_fen": fen, "b_count": count, "b_at": latest}
                for account_id, (fen, count) in state.items()
            ],
        )
        numbers = {id_: number for number, id_ in ids.items()}
        return {
            AccountNumber(value=numbers[id_]): Money(fen=fen) for id_, (fen, _c) in state.items()
        }

    def _reversed_ids(self, entries: Sequence[ledger.Entry]) -> dict[str, int]:
        wanted = sorted({e.reverses for e in entries if e.reverses is not None})
        found: dict[str, int] = {}
        for chunk in _chunks(wanted):
            query = sa.select(
                billing_t.ledger_entries.c.reference, billing_t.ledger_entries.c.id
            ).where(billing_t.ledger_entries.c.reference.in_(chunk))
            rows = self._worker.conn().execute(query)
            found.update({str(reference): int(id_) for reference, id_ in rows})
        missing = set(wanted) - found.keys()
        if missing:
            raise ledger.UnknownEntry(min(missing))
        return found

    async def post(self, entries: Sequence[ledger.Entry]) -> dict[AccountNumber, Money]:
        """Append entries, update the cached balances, and return the new balances.

        :raises ledger.DuplicateReference: if a reference was posted before.
        :raises ledger.UnknownEntry: if a correction reverses an entry that does not exist.
        :raises UnknownAccount: if an entry names an account that does not exist.
        """
        return await self._worker.run(self._post, entries)

    def _get(self, reference: str) -> ledger.Entry | None:
        e = billing_t.ledger_entries
        reversed_entry = e.alias("reversed_entry")
        query = (
            sa.select(
                e, accounts_t.accounts.c.account_number, reversed_entry.c.reference.label("rev")
            )
            .join(accounts_t.accounts, accounts_t.accounts.c.id == e.c.account_id)
            .outerjoin(reversed_entry, reversed_entry.c.id == e.c.reverses_id)
            .where(e.c.reference == reference)
        )
        row = self._worker.conn().execute(query).mappings().one_or_none()
        if row is None:
            return None
        return ledger.Entry(
            account_number=AccountNumber(value=row["account_number"]),
            reference=row["reference"],
            kind=ledger.EntryKind(row["kind"]),
            amount=Money(fen=row["amount_fen"]),
            at=row["at"],
            reverses=row["rev"],
            note=row["note"],
        )

    async def get(self, reference: str) -> ledger.Entry | None:
        """Return the entry with this reference, if any."""
        return await self._worker.run(self._get, reference)

    def _record_migration_credit(self, credit: accounts.MigrationCredit, reference: str) -> None:
        connection = self._worker.conn()
        row = connection.execute(
            sa.select(billing_t.ledger_entries.c.id, billing_t.ledger_entries.c.account_id).where(
                billing_t.ledger_entries.c.reference == reference
            )
        ).one()
        connection.execute(
            billing_t.migration_credits.insert().values(
                entry_id=row.id,
                account_id=row.account_id,
                energy_wh=credit.energy.wh,
                price=credit.price.yuan_per_kwh,
                at=credit.at,
            )
        )

    async def record_migration_credit(
        self, credit: accounts.MigrationCredit, *, reference: str
    ) -> None:
        """Remember the energy and price behind a posted migration credit (B8)."""
        await self._worker.run(self._record_migration_credit, credit, reference)

    def _migration_credits(self, number: AccountNumber) -> tuple[accounts.MigrationCredit, ...]:
        return migration_credits(self._worker.conn(), number)

    async def migration_credits(
        self, number: AccountNumber
    ) -> tuple[accounts.MigrationCredit, ...]:
        """Return the account's B8 migration credits."""
        return await self._worker.run(self._migration_credits, number)

    def _reconcile(self) -> tuple[billing_ports.BalanceDifference, ...]:
        journal = (
            sa.select(
                billing_t.ledger_entries.c.account_id,
                sa.func.sum(billing_t.ledger_entries.c.amount_fen).label("journal_fen"),
            )
            .group_by(billing_t.ledger_entries.c.account_id)
            .subquery()
        )
        journal_fen = sa.func.coalesce(journal.c.journal_fen, 0)
        query = (
            sa.select(
                accounts_t.accounts.c.account_number, billing_t.balances.c.balance_fen, journal_fen
            )
            .join(billing_t.balances, billing_t.balances.c.account_id == accounts_t.accounts.c.id)
            .outerjoin(journal, journal.c.account_id == accounts_t.accounts.c.id)
            .where(billing_t.balances.c.balance_fen != journal_fen)
            .order_by(accounts_t.accounts.c.account_number)
        )
        return tuple(
            billing_ports.BalanceDifference(
                account_number=AccountNumber(value=number),
                cached=Money(fen=int(cached)),
                journal=Money(fen=int(summed)),
            )
            for number, cached, summed in self._worker.conn().execute(query)
        )

    async def reconcile(self) -> tuple[billing_ports.BalanceDifference, ...]:
        """Recompute every balance from the journal and return the ones that differ."""
        return await self._worker.run(self._reconcile)


def tariff_history(connection: Connection) -> billing.TariffHistory:
    """Return every tariff version, read on ``connection`` (the portal reads it in its own
    transaction)."""
    components: dict[int, list[billing.PriceComponent]] = defaultdict(list)
    for row in connection.execute(sa.select(billing_t.tariff_components)).mappings():
        components[row["tariff_id"]].append(
            billing.PriceComponent(
                price=Price(yuan_per_kwh=row["price"]),
                period=None if row["period"] is None else TimeOfUse(row["period"]),
                from_year_wh=row["from_year_wh"],
            )
        )
    versions = tuple(
        billing.Tariff(
            item=row["item"],
            effective_from=row["effective_from"],
            effective_to=row["effective_to"],
            components=tuple(components[row["id"]]),
        )
        for row in connection.execute(
            sa.select(billing_t.tariffs).order_by(billing_t.tariffs.c.effective_from)
        ).mappings()
    )
    return billing.TariffHistory(tariffs=versions)


class SqlTariffRepository:
    """Tariff versions and their price components in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _history(self) -> billing.TariffHistory:
        return tariff_history(self._worker.conn())

    async def history(self) -> billing.TariffHistory:
        """Return every tariff."""
        return await self._worker.run(self._history)

    def _replace_from(self, tariff: billing.Tariff) -> None:
        connection = self._worker.conn()
        starts = tariff.effective_from
        connection.execute(
            billing_t.tariffs.update()
            .where(
                billing_t.tariffs.c.item == tariff.item,
                billing_t.tariffs.c.effective_from < starts,
                sa.or_(
                    billing_t.tariffs.c.effective_to.is_(None),
                    billing_t.tariffs.c.effective_to > starts,
                ),
            )
            .values(effective_to=starts)
        )
        tariff_id = connection.execute(
            billing_t.tariffs.insert()
            .values(
                key=tariff.key,
                item=tariff.item,
                effective_from=tariff.effective_from,
                effective_to=tariff.effective_to,
            )
            .returning(billing_t.tariffs.c.id)
        ).scalar_one()
        connection.execute(
            billing_t.tariff_components.insert(),
            [
                {
                    "tariff_id": tariff_id,
                    "code": component.code,
                    "period": None if component.period is None else component.period.value,
                    "from_year_wh": component.from_year_wh,
                    "price": component.price.yuan_per_kwh,
                }
                for component in tariff.components
            ],
        )

    async def replace_from(self, tariff: billing.Tariff) -> None:
        """End the tariff in force at ``tariff.effective_from`` there, and add ``tariff``."""
        await self._worker.run(self._replace_from, tariff)


class SqlChargeRepository:
    """Cumulative charges per account, tariff version and billing month in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _totals(
        self, numbers: Collection[AccountNumber], years: Collection[int] | None
    ) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
        connection = self._worker.conn()
        given = {str(number): number for number in numbers}
        ids = self._worker.account_ids(numbers)
        by_id = {id_: given[number] for number, id_ in ids.items()}
        return charge_totals(connection, by_id, years)

    async def totals(
        self, numbers: Collection[AccountNumber], *, years: Collection[int] | None
    ) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
        """Return the accounts' charge totals in the calendar years given (None: all)."""
        return await self._worker.run(self._totals, numbers, years)

    def _save(self, totals: Mapping[AccountNumber, Sequence[billing.ChargeTotal]]) -> None:
        connection = self._worker.conn()
        ids = self._worker.account_ids(totals.keys())
        total_rows: list[dict[str, Any]] = []
        energy_rows: list[dict[str, Any]] = []
        for number, account_totals in totals.items():
            account_id = ids[str(number)]
            for total in account_totals:
                key = {
                    "account_id": account_id,
                    "month": str(total.key.month),
                    "tariff_key": total.key.tariff_key,
                }
                total_rows.append({**key, "charged_fen": total.charged.fen})
                energy_rows.extend(
                    {**key, "component": code, "energy_wh": wh} for code, wh in total.energy_wh
                )
        upsert(
            connection,
            billing_t.charge_totals,
            total_rows,
            keys=("account_id", "month", "tariff_key"),
            replace=("charged_fen",),
        )
        upsert(
            connection,
            billing_t.charge_energy,
            energy_rows,
            keys=("account_id", "month", "tariff_key", "component"),
            replace=("energy_wh",),
        )

    async def save(self, totals: Mapping[AccountNumber, Sequence[billing.ChargeTotal]]) -> None:
        """Insert or overwrite the given charge totals."""
        await self._worker.run(self._save, totals)
