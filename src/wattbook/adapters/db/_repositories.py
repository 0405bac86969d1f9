"""SQL repositories behind the application ports (SQLAlchemy Core, both backends).

Each public method is async and runs its SQL in a worker thread on the unit of work's
connection; the ``_sync`` bodies are plain blocking Core.
"""

from __future__ import annotations

import abc
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db import _tables as t
from wattbook.adapters.db._types import UtcDateTime
from wattbook.application.accounts import ports as account_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.domain import accounts, billing, ledger, metering, prepaid
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    CalendarOverride,
    Energy,
    MeterNumber,
    Money,
    Period,
    Price,
    RegisterSet,
    TimeOfUse,
    WorkingCalendar,
)

T = TypeVar("T")

# Bound parameters per statement stay well under SQLite's limit (32766) and PostgreSQL's.
_CHUNK = 900


class Worker(abc.ABC):
    """Hand blocking calls on the unit of work's connection to a thread.

    It also remembers, for one unit of work, what a batch looked up once and needs again:
    account ids (an account's id never changes), the installation id of each meter read
    (forgotten when an installation changes) and the prepaid state rows as loaded (so that
    only changed states are written back).
    """

    def __init__(self) -> None:
        self.account_id_cache: dict[str, int] = {}
        self.installation_id_cache: dict[str, int] = {}
        self.loaded_states: dict[int, tuple[Any, ...]] = {}

    @abc.abstractmethod
    def conn(self) -> Connection:
        """Return the open connection."""

    @abc.abstractmethod
    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run ``function(*args)`` off the event loop and return its result."""

    def forget(self) -> None:
        """Drop what was remembered (at the end of a unit of work)."""
        self.account_id_cache.clear()
        self.installation_id_cache.clear()
        self.loaded_states.clear()

    def account_ids(self, numbers: Collection[AccountNumber]) -> dict[str, int]:
        """Return the ids of the accounts that exist among ``numbers``, by number."""
        cache = self.account_id_cache
        wanted = {str(number) for number in numbers}
        missing = wanted - cache.keys()
        if missing:
            cache.update(_account_ids(self.conn(), [AccountNumber(value=m) for m in missing]))
        return {number: cache[number] for number in wanted if number in cache}


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _registers(row: Any, prefix: str = "") -> RegisterSet:
    return RegisterSet(
        total_wh=row[f"{prefix}total_wh"],
        sharp_wh=row[f"{prefix}sharp_wh"],
        peak_wh=row[f"{prefix}peak_wh"],
        flat_wh=row[f"{prefix}flat_wh"],
        valley_wh=row[f"{prefix}valley_wh"],
    )


def _register_values(registers: RegisterSet, prefix: str = "") -> dict[str, int]:
    return {
        f"{prefix}{name}": value
        for name, value in zip(t.REGISTERS, registers.as_tuple(), strict=True)
    }


def upsert(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """Insert rows, or on a key conflict add to ``add`` columns and overwrite ``replace`` ones.

    Both SQLite (3.24+) and PostgreSQL speak ``INSERT ... ON CONFLICT DO UPDATE``.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    statement: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in add}
    updates.update({name: statement.excluded[name] for name in replace})
    if updates:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    connection.execute(statement, list(rows))


def insert_ignoring_duplicates(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
) -> None:
    """Insert rows, skipping those whose key exists already (re-deliveries)."""
    upsert(connection, table, rows, keys=keys)


def _account_ids(connection: Connection, numbers: Collection[AccountNumber]) -> dict[str, int]:
    wanted = sorted({str(number) for number in numbers})
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        query = sa.select(t.accounts.c.account_number, t.accounts.c.id).where(
            t.accounts.c.account_number.in_(chunk)
        )
        found.update({str(number): int(id_) for number, id_ in connection.execute(query)})
    return found


def _account_id(connection: Connection, number: AccountNumber) -> int:
    found = _account_ids(connection, (number,))
    if str(number) not in found:
        raise account_ports.UnknownAccount(str(number))
    return found[str(number)]


# ---------------------------------------------------------------------------- accounts


def _account_from_row(row: Any) -> accounts.Account:
    return accounts.Account(
        number=AccountNumber(value=row["account_number"]),
        holder=accounts.Holder(name=row["holder"]),
        phone=None if row["phone"] is None else accounts.PhoneNumber(digits=row["phone"]),
        address=accounts.Address(text=row["address"]),
        status=accounts.AccountStatus(row["status"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


class SqlAccountRepository:
    """Accounts and their history in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _add(self, account: accounts.Account) -> None:
        connection = self._worker.conn()
        if _account_ids(connection, (account.number,)):
            raise account_ports.DuplicateAccount(str(account.number))
        account_id = connection.execute(
            t.accounts.insert()
            .values(
                account_number=str(account.number),
                holder=str(account.holder),
                phone=None if account.phone is None else str(account.phone),
                address=str(account.address),
                status=account.status.value,
                opened_at=account.opened_at,
                closed_at=account.closed_at,
            )
            .returning(t.accounts.c.id)
        ).scalar_one()
        connection.execute(
            t.balances.insert().values(
                account_id=account_id, balance_fen=0, entry_count=0, updated_at=account.opened_at
            )
        )
        connection.execute(
            t.prepaid_states.insert().values(
                account_id=account_id,
                low_balance_notified=False,
                warning_cut_done=False,
                warning_close_due_at=None,
                tripped_for_arrears=False,
                relay=prepaid.RelayState.UNKNOWN.value,
                re_evaluate_at=None,
            )
        )

    async def add(self, account: accounts.Account) -> None:
        """Store a new account with a zero balance and the initial prepaid state.

        :raises DuplicateAccount: if the number is taken.
        """
        await self._worker.run(self._add, account)

    def _get(self, number: AccountNumber) -> accounts.Account:
        row = (
            self._worker.conn()
            .execute(sa.select(t.accounts).where(t.accounts.c.account_number == str(number)))
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise account_ports.UnknownAccount(str(number))
        return _account_from_row(row)

    async def get(self, number: AccountNumber) -> accounts.Account:
        """Return the account.

        :raises UnknownAccount: if there is none.
        """
        return await self._worker.run(self._get, number)

    def _write(self, account: accounts.Account) -> int:
        connection = self._worker.conn()
        account_id = _account_id(connection, account.number)
        connection.execute(
            t.accounts.update()
            .where(t.accounts.c.id == account_id)
            .values(
                holder=str(account.holder),
                phone=None if account.phone is None else str(account.phone),
                address=str(account.address),
                status=account.status.value,
                closed_at=account.closed_at,
            )
        )
        return account_id

    def _save(self, update: accounts.AccountUpdate) -> None:
        account_id = self._write(update.account)
        change = update.change
        self._worker.conn().execute(
            t.account_changes.insert().values(
                account_id=account_id,
                kind=change.kind.value,
                old_value=change.old_value,
                new_value=change.new_value,
                changed_at=change.at,
                changed_by=change.changed_by,
                document_note=change.document_note,
                attachment_ref=change.attachment_ref,
            )
        )

    async def save(self, update: accounts.AccountUpdate) -> None:
        """Store the changed account and its history row."""
        await self._worker.run(self._save, update)

    async def close(self, account: accounts.Account) -> None:
        """Store the account as closed."""
        await self._worker.run(self._write, account)

    def _history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        connection = self._worker.conn()
        account_id = _account_id(connection, number)
        rows = connection.execute(
            sa.select(t.account_changes)
            .where(t.account_changes.c.account_id == account_id)
            .order_by(t.account_changes.c.changed_at, t.account_changes.c.id)
        ).mappings()
        return tuple(
            accounts.AccountChange(
                account_number=number,
                kind=accounts.ChangeKind(row["kind"]),
                old_value=row["old_value"],
                new_value=row["new_value"],
                at=row["changed_at"],
                changed_by=row["changed_by"],
                document_note=row["document_note"],
                attachment_ref=row["attachment_ref"],
            )
            for row in rows
        )

    async def history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        """Return the account's changes, oldest first."""
        return await self._worker.run(self._history, number)


# ---------------------------------------------------------------------------- meters


class SqlMeterRepository:
    """Meter installations, baselines, readings and alarms in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _insert_installation(
        self, installation: accounts.MeterInstallation, baseline: metering.RegisterBaseline
    ) -> None:
        connection = self._worker.conn()
        # Which installation is current changes here: forget the remembered ones.
        self._worker.installation_id_cache.clear()
        account_id = _account_id(connection, installation.account_number)
        taken = connection.execute(
            sa.select(sa.func.count())
            .select_from(t.meter_installations)
            .where(
                t.meter_installations.c.removed_at.is_(None),
                sa.or_(
                    t.meter_installations.c.account_id == account_id,
                    t.meter_installations.c.meter_number == str(installation.meter_number),
                ),
            )
        ).scalar_one()
        if taken:
            raise account_ports.MeterAlreadyInstalled(
                f"meter {installation.meter_number} or account {installation.account_number}"
                " already has an installation"
            )
        installation_id = connection.execute(
            t.meter_installations.insert()
            .values(
                account_id=account_id,
                meter_number=str(installation.meter_number),
                bus=installation.bus,
                installed_at=installation.installed_at,
                **_register_values(installation.initial, "initial_"),
            )
            .returning(t.meter_installations.c.id)
        ).scalar_one()
        connection.execute(
            t.register_baselines.insert().values(
                installation_id=installation_id,
                at=baseline.at,
                source=baseline.source.value,
                **_register_values(baseline.registers),
            )
        )

    async def install(
        self, installation: accounts.MeterInstallation, baseline: metering.RegisterBaseline
    ) -> None:
        """Store a new installation and its first baseline.

        :raises MeterAlreadyInstalled: if the account or the meter is taken.
        """
        await self._worker.run(self._insert_installation, installation, baseline)

    def _current_row(self, number: AccountNumber) -> Any:
        connection = self._worker.conn()
        query = (
            sa.select(t.meter_installations, t.accounts.c.account_number)
            .join(t.accounts, t.accounts.c.id == t.meter_installations.c.account_id)
            .where(
                t.accounts.c.account_number == str(number),
                t.meter_installations.c.removed_at.is_(None),
            )
        )
        row = connection.execute(query).mappings().one_or_none()
        if row is None:
            raise account_ports.NoMeterInstalled(str(number))
        return row

    @staticmethod
    def _installation(row: Any) -> accounts.MeterInstallation:
        return accounts.MeterInstallation(
            account_number=AccountNumber(value=row["account_number"]),
            meter_number=MeterNumber(value=row["meter_number"]),
            bus=row["bus"],
            installed_at=row["installed_at"],
            initial=_registers(row, "initial_"),
        )

    async def current(self, number: AccountNumber) -> accounts.MeterInstallation:
        """Return the meter installed on the account.

        :raises NoMeterInstalled: if there is none.
        """
        row = await self._worker.run(self._current_row, number)
        return self._installation(row)

    def _replace(
        self, replacement: accounts.MeterReplacement, baseline: metering.RegisterBaseline
    ) -> None:
        row = self._current_row(replacement.account_number)
        self._worker.conn().execute(
            t.meter_installations.update()
            .where(t.meter_installations.c.id == row["id"])
            .values(
                removed_at=replacement.final_reading_at,
                **_register_values(replacement.final, "final_"),
            )
        )
        self._insert_installation(replacement.installation, baseline)

    async def replace(
        self, replacement: accounts.MeterReplacement, baseline: metering.RegisterBaseline
    ) -> None:
        """Remove the old meter with its final reading and install the new one."""
        await self._worker.run(self._replace, replacement, baseline)

    def _positions(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, account_ports.MeterPosition]:
        connection = self._worker.conn()
        given = {str(meter): meter for meter in meters}
        found: dict[MeterNumber, account_ports.MeterPosition] = {}
        i, b = t.meter_installations, t.register_baselines
        columns = (
            i.c.id,
            i.c.account_id,
            i.c.meter_number,
            i.c.bus,
            i.c.installed_at,
            *(i.c[f"initial_{name}"] for name in t.REGISTERS),
            t.accounts.c.account_number,
            b.c.at,
            b.c.source,
            *(b.c[name] for name in t.REGISTERS),
            t.accounts.c.opened_at,
        )
        for chunk in _chunks(sorted(given)):
            query = (
                sa.select(*columns)
                .join(t.accounts, t.accounts.c.id == i.c.account_id)
                .join(b, b.c.installation_id == i.c.id)
                .where(i.c.meter_number.in_(chunk), i.c.removed_at.is_(None))
            )
            # One row per installed meter of the batch: plain tuples, and the number objects
            # the caller passed in, keep the mapping cheap.
            for row in connection.execute(query):
                meter = given[row[2]]
                self._worker.installation_id_cache[row[2]] = row[0]
                self._worker.account_id_cache[row[10]] = row[1]
                installation = accounts.MeterInstallation(
                    account_number=AccountNumber(value=row[10]),
                    meter_number=meter,
                    bus=row[3],
                    installed_at=row[4],
                    initial=RegisterSet(
                        total_wh=row[5],
                        sharp_wh=row[6],
                        peak_wh=row[7],
                        flat_wh=row[8],
                        valley_wh=row[9],
                    ),
                )
                found[meter] = account_ports.MeterPosition(
                    installation=installation,
                    baseline=metering.RegisterBaseline(
                        meter_number=meter,
                        registers=RegisterSet(
                            total_wh=row[13],
                            sharp_wh=row[14],
                            peak_wh=row[15],
                            flat_wh=row[16],
                            valley_wh=row[17],
                        ),
                        at=row[11],
                        source=metering.BaselineSource(row[12]),
                    ),
                    account_opened_at=row[18],
                )
        return found

    async def positions(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, account_ports.MeterPosition]:
        """Return the installed meters among ``meters``, with their baselines."""
        return await self._worker.run(self._positions, meters)

    def _installation_ids(self, meters: Collection[str]) -> dict[str, int]:
        connection = self._worker.conn()
        cache = self._worker.installation_id_cache
        found = {meter: cache[meter] for meter in meters if meter in cache}
        for chunk in _chunks(sorted(set(meters) - found.keys())):
            query = sa.select(
                t.meter_installations.c.meter_number, t.meter_installations.c.id
            ).where(
                t.meter_installations.c.meter_number.in_(chunk),
                t.meter_installations.c.removed_at.is_(None),
            )
            found.update({str(meter): int(id_) for meter, id_ in connection.execute(query)})
        return found

    def _record(
        self,
        assessments: Sequence[metering.ReadingAssessment],
        baselines: Sequence[metering.RegisterBaseline],
        raised_at: datetime,
    ) -> None:
        connection = self._worker.conn()
        meters = {str(a.reading.meter_number) for a in assessments}
        meters.update(str(b.meter_number) for b in baselines)
        ids = self._installation_ids(meters)
        reading_rows: list[dict[str, Any]] = []
        alarm_rows: list[dict[str, Any]] = []
        for assessment in assessments:
            if assessment.outcome is metering.ReadingOutcome.DUPLICATE:
                continue
            reading = assessment.reading
            installation_id = ids[str(reading.meter_number)]
            reading_rows.append(
                {
                    "installation_id": installation_id,
                    "meter_time_at": reading.meter_time_at,
                    "received_at": reading.received_at,
                    "outcome": assessment.outcome.value,
                    **_register_values(reading.registers),
                }
            )
            alarm_rows.extend(
                {
                    "installation_id": installation_id,
                    "kind": alarm.kind.value,
                    "at": alarm.at,
                    "raised_at": raised_at,
                    "detail": alarm.detail,
                }
                for alarm in assessment.alarms
            )
        insert_ignoring_duplicates(
            connection, t.readings, reading_rows, keys=("installation_id", "meter_time_at")
        )
        insert_ignoring_duplicates(
            connection, t.alarms, alarm_rows, keys=("installation_id", "kind", "at")
        )
        baseline_rows = [
            {
                "b_installation_id": ids[str(baseline.meter_number)],
                "b_at": baseline.at,
                "b_source": baseline.source.value,
                **_register_values(baseline.registers, "b_"),
            }
            for baseline in baselines
        ]
        if baseline_rows:
            b = t.register_baselines
            connection.execute(
                b.update()
                .where(b.c.installation_id == sa.bindparam("b_installation_id"))
                .values(
                    at=sa.bindparam("b_at"),
                    source=sa.bindparam("b_source"),
                    **{name: sa.bindparam(f"b_{name}") for name in t.REGISTERS},
                ),
                baseline_rows,
            )

    async def record(
        self,
        assessments: Sequence[metering.ReadingAssessment],
        baselines: Sequence[metering.RegisterBaseline],
        *,
        raised_at: datetime,
    ) -> None:
        """Store assessed readings (re-deliveries are ignored), their alarms, new baselines."""
        await self._worker.run(self._record, assessments, baselines, raised_at)


# ---------------------------------------------------------------------------- ledger


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
            query = sa.select(t.balances.c.account_id, t.balances.c.balance_fen).where(
                t.balances.c.account_id.in_(chunk)
            )
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
                sa.select(t.ledger_entries.c.reference).where(
                    t.ledger_entries.c.reference.in_(chunk)
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
                    t.balances.c.account_id, t.balances.c.balance_fen, t.balances.c.entry_count
                )
                .where(t.balances.c.account_id.in_(id_chunk))
                .order_by(t.balances.c.account_id)
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
            connection.execute(t.ledger_entries.insert(), rows)
        except sa.exc.IntegrityError as error:
            # A concurrent writer got the same reference in first.
            raise ledger.DuplicateReference(rows[0]["reference"]) from error
        latest = max(entry.at for entry in entries)
        connection.execute(
            t.balances.update()
            .where(t.balances.c.account_id == sa.bindparam("b_account_id"))
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
            query = sa.select(t.ledger_entries.c.reference, t.ledger_entries.c.id).where(
                t.ledger_entries.c.reference.in_(chunk)
            )
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
        e = t.ledger_entries
        reversed_entry = e.alias("reversed_entry")
        query = (
            sa.select(e, t.accounts.c.account_number, reversed_entry.c.reference.label("rev"))
            .join(t.accounts, t.accounts.c.id == e.c.account_id)
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
            sa.select(t.ledger_entries.c.id, t.ledger_entries.c.account_id).where(
                t.ledger_entries.c.reference == reference
            )
        ).one()
        connection.execute(
            t.migration_credits.insert().values(
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
        m = t.migration_credits
        rows = (
            self._worker.conn()
            .execute(
                sa.select(m, t.ledger_entries.c.amount_fen, t.ledger_entries.c.note)
                .join(t.ledger_entries, t.ledger_entries.c.id == m.c.entry_id)
                .join(t.accounts, t.accounts.c.id == m.c.account_id)
                .where(t.accounts.c.account_number == str(number))
                .order_by(m.c.at)
            )
            .mappings()
        )
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

    async def migration_credits(
        self, number: AccountNumber
    ) -> tuple[accounts.MigrationCredit, ...]:
        """Return the account's B8 migration credits."""
        return await self._worker.run(self._migration_credits, number)

    def _reconcile(self) -> tuple[billing_ports.BalanceDifference, ...]:
        journal = (
            sa.select(
                t.ledger_entries.c.account_id,
                sa.func.sum(t.ledger_entries.c.amount_fen).label("journal_fen"),
            )
            .group_by(t.ledger_entries.c.account_id)
            .subquery()
        )
        journal_fen = sa.func.coalesce(journal.c.journal_fen, 0)
        query = (
            sa.select(t.accounts.c.account_number, t.balances.c.balance_fen, journal_fen)
            .join(t.balances, t.balances.c.account_id == t.accounts.c.id)
            .outerjoin(journal, journal.c.account_id == t.accounts.c.id)
            .where(t.balances.c.balance_fen != journal_fen)
            .order_by(t.accounts.c.account_number)
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


# ---------------------------------------------------------------------------- tariffs


class SqlTariffRepository:
    """Tariff versions and their price components in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _history(self) -> billing.TariffHistory:
        connection = self._worker.conn()
        components: dict[int, list[billing.PriceComponent]] = defaultdict(list)
        for row in connection.execute(sa.select(t.tariff_components)).mappings():
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
                sa.select(t.tariffs).order_by(t.tariffs.c.effective_from)
            ).mappings()
        )
        return billing.TariffHistory(tariffs=versions)

    async def history(self) -> billing.TariffHistory:
        """Return every tariff."""
        return await self._worker.run(self._history)

    def _replace_from(self, tariff: billing.Tariff) -> None:
        connection = self._worker.conn()
        starts = tariff.effective_from
        connection.execute(
            t.tariffs.update()
            .where(
                t.tariffs.c.item == tariff.item,
                t.tariffs.c.effective_from < starts,
                sa.or_(t.tariffs.c.effective_to.is_(None), t.tariffs.c.effective_to > starts),
            )
            .values(effective_to=starts)
        )
        tariff_id = connection.execute(
            t.tariffs.insert()
            .values(
                key=tariff.key,
                item=tariff.item,
                effective_from=tariff.effective_from,
                effective_to=tariff.effective_to,
            )
            .returning(t.tariffs.c.id)
        ).scalar_one()
        connection.execute(
            t.tariff_components.insert(),
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


# ---------------------------------------------------------------------------- charges


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
        c, e = t.charge_totals, t.charge_energy
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
            t.charge_totals,
            total_rows,
            keys=("account_id", "month", "tariff_key"),
            replace=("charged_fen",),
        )
        upsert(
            connection,
            t.charge_energy,
            energy_rows,
            keys=("account_id", "month", "tariff_key", "component"),
            replace=("energy_wh",),
        )

    async def save(self, totals: Mapping[AccountNumber, Sequence[billing.ChargeTotal]]) -> None:
        """Insert or overwrite the given charge totals."""
        await self._worker.run(self._save, totals)


# ---------------------------------------------------------------------------- usage


class SqlUsageRepository:
    """Usage aggregates by local day, month and year in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        connection = self._worker.conn()
        ids = self._worker.account_ids(usage.keys())
        daily: dict[tuple[int, date], list[int]] = {}
        for number, consumptions in usage.items():
            account_id = ids[str(number)]
            for consumption in consumptions:
                # Split by local month as the charges are (metering.by_month), each part
                # counted on the local day of its last instant: readings come every few
                # minutes, and a gap's energy is only known when it closes.
                for part in metering.by_month(consumption):
                    sums = daily.setdefault((account_id, part.day), [0, 0, 0, 0, 0])
                    for index, value in enumerate(part.delta.as_tuple()):
                        sums[index] += value
        monthly: dict[tuple[int, str], list[int]] = {}
        yearly: dict[tuple[int, int], list[int]] = {}
        for (account_id, day), sums in daily.items():
            month_sums = monthly.setdefault(
                (account_id, f"{day.year:04d}-{day.month:02d}"), [0] * 5
            )
            year_sums = yearly.setdefault((account_id, day.year), [0] * 5)
            for index, value in enumerate(sums):
                month_sums[index] += value
                year_sums[index] += value

        def rows(bucket: Mapping[tuple[int, Any], list[int]], column: str) -> list[dict[str, Any]]:
            return [
                {"account_id": account_id, column: key, **dict(zip(t.REGISTERS, sums, strict=True))}
                for (account_id, key), sums in bucket.items()
            ]

        upsert(
            connection,
            t.usage_daily,
            rows(daily, "day"),
            keys=("account_id", "day"),
            add=t.REGISTERS,
        )
        upsert(
            connection,
            t.usage_monthly,
            rows(monthly, "month"),
            keys=("account_id", "month"),
            add=t.REGISTERS,
        )
        upsert(
            connection,
            t.usage_yearly,
            rows(yearly, "year"),
            keys=("account_id", "year"),
            add=t.REGISTERS,
        )

    async def add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        """Add consumption to the aggregates, split by month as charges are (metering.by_month)."""
        await self._worker.run(self._add, usage)


# ---------------------------------------------------------------------------- prepaid


def load_calendar(connection: Connection, first_date: date, last_date: date) -> WorkingCalendar:
    """Return the calendar of ``[first_date, last_date]``: the package, the years the centre
    confirmed, its overrides, and the provisional fallback for every other date."""
    c, y = t.calendar_overrides, t.calendar_years
    overrides = tuple(
        CalendarOverride(
            day=row["day"],
            working=row["working"],
            note=row["note"],
            imported=row["origin"] == "IMPORT",
        )
        for row in connection.execute(
            sa.select(c).where(c.c.day.between(first_date, last_date))
        ).mappings()
    )
    confirmed = connection.execute(
        sa.select(y.c.year).where(y.c.year.between(first_date.year, last_date.year))
    ).scalars()
    return WorkingCalendar.from_chinese_calendar(
        first_date=first_date,
        last_date=last_date,
        overrides=overrides,
        confirmed_years=(int(year) for year in confirmed),
    )


class SqlPrepaidRepository:
    """Prepaid rule state, keep-power orders, policy and calendar overrides in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _settings(self, on: date) -> prepaid.PrepaidSettings:
        p = t.prepaid_policies
        row = (
            self._worker.conn()
            .execute(
                sa.select(p).where(p.c.effective_from <= on).order_by(p.c.effective_from.desc())
            )
            .mappings()
            .first()
        )
        if row is None:
            return prepaid.PrepaidSettings()
        trip_time = row["deferred_trip_time"]
        return prepaid.PrepaidSettings(
            low_balance_energy=Energy(wh=row["low_balance_wh"]),
            warning_cut_energy=Energy(wh=row["warning_cut_wh"]),
            reclose_delay=timedelta(seconds=row["reclose_delay_seconds"]),
            holiday_rule=prepaid.HolidayRule(row["holiday_rule"]),
            deferred_trip_time=trip_time if isinstance(trip_time, time) else time(8, 0),
        )

    async def settings(self, *, on: date) -> prepaid.PrepaidSettings:
        """Return the policy in force on a local date (the manual's values if none)."""
        return await self._worker.run(self._settings, on)

    def _calendar(self, first_date: date, last_date: date) -> WorkingCalendar:
        return load_calendar(self._worker.conn(), first_date, last_date)

    async def calendar(self, *, first_date: date, last_date: date) -> WorkingCalendar:
        """Return the working calendar with the local overrides."""
        return await self._worker.run(self._calendar, first_date, last_date)

    def _snapshots(
        self, numbers: Collection[AccountNumber], at: datetime
    ) -> dict[AccountNumber, prepaid_ports.PrepaidSnapshot]:
        connection = self._worker.conn()
        s, k = t.prepaid_states, t.keep_power_orders
        given = {str(number): number for number in numbers}
        ids = self._worker.account_ids(numbers)
        by_id = {id_: given[number] for number, id_ in ids.items()}
        found: dict[AccountNumber, prepaid_ports.PrepaidSnapshot] = {}
        for chunk in _chunks(sorted(by_id)):
            keep: dict[int, list[Period]] = defaultdict(list)
            rows = connection.execute(
                sa.select(k.c.account_id, k.c.start_at, k.c.end_at)
                .where(
                    k.c.account_id.in_(chunk),
                    sa.or_(k.c.end_at.is_(None), k.c.end_at > at),
                )
                .order_by(k.c.start_at)
            )
            for account_id, start_at, end_at in rows:
                keep[account_id].append(Period(start_at=start_at, end_at=end_at))
            states = connection.execute(
                sa.select(
                    s.c.account_id,
                    s.c.low_balance_notified,
                    s.c.warning_cut_done,
                    s.c.warning_close_due_at,
                    s.c.tripped_for_arrears,
                    s.c.re_evaluate_at,
                    s.c.relay,
                    t.accounts.c.phone,
                    t.meter_installations.c.meter_number,
                )
                .join(t.accounts, t.accounts.c.id == s.c.account_id)
                .outerjoin(
                    t.meter_installations,
                    sa.and_(
                        t.meter_installations.c.account_id == s.c.account_id,
                        t.meter_installations.c.removed_at.is_(None),
                    ),
                )
                .where(s.c.account_id.in_(chunk))
            )
            for (
                account_id,
                low,
                warning,
                close_due_at,
                tripped,
                re_evaluate_at,
                relay,
                phone,
                meter_number,
            ) in states:
                # Remembered so that save_states writes back only the states that changed.
                self._worker.loaded_states[account_id] = (
                    low,
                    warning,
                    close_due_at,
                    tripped,
                    re_evaluate_at,
                )
                found[by_id[account_id]] = prepaid_ports.PrepaidSnapshot(
                    state=prepaid.RuleState(
                        low_balance_notified=low,
                        warning_cut_done=warning,
                        warning_close_due_at=close_due_at,
                        tripped_for_arrears=tripped,
                    ),
                    relay=prepaid.RelayState(relay),
                    keep_power=tuple(keep[account_id]),
                    phone=None if phone is None else accounts.PhoneNumber(digits=phone),
                    meter_number=None if meter_number is None else MeterNumber(value=meter_number),
                )
        return found

    async def snapshots(
        self, numbers: Collection[AccountNumber], *, at: datetime
    ) -> dict[AccountNumber, prepaid_ports.PrepaidSnapshot]:
        """Return the rule inputs of the accounts, with keep-power orders not over at ``at``."""
        return await self._worker.run(self._snapshots, numbers, at)

    def _save_states(
        self, states: Mapping[AccountNumber, tuple[prepaid.RuleState, datetime | None]]
    ) -> None:
        if not states:
            return
        connection = self._worker.conn()
        ids = self._worker.account_ids(states.keys())
        loaded = self._worker.loaded_states
        rows = []
        for number, (state, re_evaluate_at) in states.items():
            account_id = ids[str(number)]
            row = (
                state.low_balance_notified,
                state.warning_cut_done,
                state.warning_close_due_at,
                state.tripped_for_arrears,
                re_evaluate_at,
            )
            # A state read in this unit of work and unchanged since needs no write.
            if loaded.get(account_id) == row:
                continue
            loaded[account_id] = row
            rows.append(
                {
                    "b_account_id": account_id,
                    "b_low": row[0],
                    "b_warning": row[1],
                    "b_close_due_at": row[2],
                    "b_tripped": row[3],
                    "b_re_evaluate_at": row[4],
                }
            )
        if not rows:
            return
        s = t.prepaid_states
        connection.execute(
            s.update()
            .where(s.c.account_id == sa.bindparam("b_account_id"))
            .values(
                low_balance_notified=sa.bindparam("b_low"),
                warning_cut_done=sa.bindparam("b_warning"),
                warning_close_due_at=sa.bindparam("b_close_due_at", type_=UtcDateTime),
                tripped_for_arrears=sa.bindparam("b_tripped"),
                re_evaluate_at=sa.bindparam("b_re_evaluate_at", type_=UtcDateTime),
            ),
            rows,
        )

    async def save_states(
        self, states: Mapping[AccountNumber, tuple[prepaid.RuleState, datetime | None]]
    ) -> None:
        """Store new rule states and when each account must be looked at again."""
        await self._worker.run(self._save_states, states)

    def _due(self, at: datetime, limit: int) -> tuple[AccountNumber, ...]:
        s = t.prepaid_states
        rows = self._worker.conn().execute(
            sa.select(t.accounts.c.account_number)
            .join(s, s.c.account_id == t.accounts.c.id)
            .where(
                sa.or_(
                    s.c.re_evaluate_at <= at,
                    s.c.warning_close_due_at <= at,
                )
            )
            # Earliest due first, whichever of the two instants it is, alike on both engines
            # (a NULL sorts first on SQLite and last on PostgreSQL): a warning close must not
            # wait behind a page of re-evaluations.
            .order_by(
                sa.case(
                    (s.c.re_evaluate_at.is_(None), s.c.warning_close_due_at),
                    (s.c.warning_close_due_at.is_(None), s.c.re_evaluate_at),
                    (s.c.warning_close_due_at < s.c.re_evaluate_at, s.c.warning_close_due_at),
                    else_=s.c.re_evaluate_at,
                ),
                t.accounts.c.id,
            )
            .limit(limit)
        )
        return tuple(AccountNumber(value=number) for (number,) in rows)

    async def due(self, *, at: datetime, limit: int) -> tuple[AccountNumber, ...]:
        """Return accounts whose rules asked to be evaluated again by ``at``."""
        return await self._worker.run(self._due, at, limit)

    def _add_keep_power(self, order: prepaid_ports.KeepPowerOrder) -> None:
        connection = self._worker.conn()
        connection.execute(
            t.keep_power_orders.insert().values(
                account_id=_account_id(connection, order.account_number),
                start_at=order.period.start_at,
                end_at=order.period.end_at,
                ordered_by=order.ordered_by,
                reason=order.reason,
                created_at=order.created_at,
            )
        )

    async def add_keep_power(self, order: prepaid_ports.KeepPowerOrder) -> None:
        """Store a keep-power order."""
        await self._worker.run(self._add_keep_power, order)

    def _set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        connection = self._worker.conn()
        connection.execute(
            t.prepaid_states.update()
            .where(t.prepaid_states.c.account_id == _account_id(connection, number))
            .values(relay=relay.value)
        )

    async def set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        """Store the relay state last confirmed on the account's meter."""
        await self._worker.run(self._set_relay, number, relay)


# ---------------------------------------------------------------------------- outbox


class SqlOutbox:
    """SMS and relay commands written in the same transaction as the money."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _add(
        self,
        commands: Sequence[prepaid.Command],
        at: datetime,
        phones: Mapping[AccountNumber, accounts.PhoneNumber | None],
        meters: Mapping[AccountNumber, MeterNumber],
    ) -> None:
        if not commands:
            return
        connection = self._worker.conn()
        ids = self._worker.account_ids({command.account_number for command in commands})
        sms_rows: list[dict[str, Any]] = []
        relay_rows: list[dict[str, Any]] = []
        for command in commands:
            account_id = ids[str(command.account_number)]
            meter = meters.get(command.account_number)
            meter_number = None if meter is None else str(meter)
            if isinstance(command, prepaid.SendSms):
                phone = phones.get(command.account_number)
                sms_rows.append(
                    {
                        "account_id": account_id,
                        "kind": command.kind.value,
                        "phone": None if phone is None else str(phone),
                        "balance_fen": command.balance.fen,
                        "price": command.price.yuan_per_kwh,
                        "created_at": at,
                        "status": "PENDING",
                    }
                )
            elif isinstance(command, prepaid.TripRelay | prepaid.CloseRelay):
                # Rows are flushed in command order: a warning cut's trip precedes its close.
                self._insert_relay(sms_rows=sms_rows, relay_rows=relay_rows)
                relay_rows.append(
                    {
                        "account_id": account_id,
                        "meter_number": meter_number,
                        "action": "TRIP" if isinstance(command, prepaid.TripRelay) else "CLOSE",
                        "reason": command.reason.value,
                        "not_before_at": (
                            at if isinstance(command, prepaid.TripRelay) else command.not_before_at
                        ),
                        "created_at": at,
                        "status": "PENDING",
                    }
                )
            else:
                self._insert_relay(sms_rows=sms_rows, relay_rows=relay_rows)
                r = t.relay_commands
                connection.execute(
                    r.update()
                    .where(
                        r.c.account_id == account_id,
                        r.c.action == "CLOSE",
                        r.c.reason == command.reason.value,
                        r.c.status == "PENDING",
                    )
                    .values(status="CANCELLED", done_at=at)
                )
        self._insert_relay(sms_rows=sms_rows, relay_rows=relay_rows)

    def _insert_relay(
        self, *, sms_rows: list[dict[str, Any]], relay_rows: list[dict[str, Any]]
    ) -> None:
        connection = self._worker.conn()
        if sms_rows:
            connection.execute(t.sms_outbox.insert(), sms_rows)
            sms_rows.clear()
        if relay_rows:
            connection.execute(t.relay_commands.insert(), relay_rows)
            relay_rows.clear()

    async def add(
        self,
        commands: Sequence[prepaid.Command],
        *,
        at: datetime,
        phones: Mapping[AccountNumber, accounts.PhoneNumber | None],
        meters: Mapping[AccountNumber, MeterNumber],
    ) -> None:
        """Store the commands; a scheduled-close cancellation cancels pending closes."""
        await self._worker.run(self._add, commands, at, phones, meters)
