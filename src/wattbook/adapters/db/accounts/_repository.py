"""The accounts area's repositories: accounts (A2) and meter installations with their readings."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._metadata import REGISTERS
from wattbook.adapters.db._sql import (
    Worker,
    _account_id,
    _account_ids,
    _chunks,
    _register_values,
    _registers,
    insert_ignoring_duplicates,
)
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.alarms import _tables as alarms_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.accounts import ports as account_ports
from wattbook.domain import accounts, metering, prepaid
from wattbook.domain.values import (
    AccountNumber,
    MeterNumber,
    RegisterSet,
)


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
            accounts_t.accounts.insert()
            .values(
                account_number=str(account.number),
                holder=str(account.holder),
                phone=None if account.phone is None else str(account.phone),
                address=str(account.address),
                status=account.status.value,
                opened_at=account.opened_at,
                closed_at=account.closed_at,
            )
            .returning(accounts_t.accounts.c.id)
        ).scalar_one()
        connection.execute(
            billing_t.balances.insert().values(
                account_id=account_id, balance_fen=0, entry_count=0, updated_at=account.opened_at
            )
        )
        connection.execute(
            prepaid_t.prepaid_states.insert().values(
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
            .execute(
                sa.select(accounts_t.accounts).where(
                    accounts_t.accounts.c.account_number == str(number)
                )
            )
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

    def _search(self, text: str, limit: int) -> tuple[accounts.Account, ...]:
        a = accounts_t.accounts
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        rows = (
            self._worker.conn()
            .execute(
                sa.select(a)
                .where(
                    sa.or_(
                        *(
                            column.like(pattern, escape="\\")
                            for column in (a.c.account_number, a.c.holder, a.c.address, a.c.phone)
                        )
                    )
                )
                .order_by(a.c.account_number)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        return tuple(_account_from_row(row) for row in rows)

    async def search(self, text: str, *, limit: int) -> tuple[accounts.Account, ...]:
        """Return accounts whose number, holder, address or phone contains ``text``."""
        return await self._worker.run(self._search, text.strip(), limit)

    def _write(self, account: accounts.Account) -> int:
        connection = self._worker.conn()
        account_id = _account_id(connection, account.number)
        connection.execute(
            accounts_t.accounts.update()
            .where(accounts_t.accounts.c.id == account_id)
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
            accounts_t.account_changes.insert().values(
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
            sa.select(accounts_t.account_changes)
            .where(accounts_t.account_changes.c.account_id == account_id)
            .order_by(accounts_t.account_changes.c.changed_at, accounts_t.account_changes.c.id)
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
            .select_from(accounts_t.meter_installations)
            .where(
                accounts_t.meter_installations.c.removed_at.is_(None),
                sa.or_(
                    accounts_t.meter_installations.c.account_id == account_id,
                    accounts_t.meter_installations.c.meter_number == str(installation.meter_number),
                ),
            )
        ).scalar_one()
        if taken:
            raise account_ports.MeterAlreadyInstalled(
                f"meter {installation.meter_number} or account {installation.account_number}"
                " already has an installation"
            )
        installation_id = connection.execute(
            accounts_t.meter_installations.insert()
            .values(
                account_id=account_id,
                meter_number=str(installation.meter_number),
                bus=installation.bus,
                installed_at=installation.installed_at,
                **_register_values(installation.initial, "initial_"),
            )
            .returning(accounts_t.meter_installations.c.id)
        ).scalar_one()
        connection.execute(
            metering_t.register_baselines.insert().values(
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
            sa.select(accounts_t.meter_installations, accounts_t.accounts.c.account_number)
            .join(
                accounts_t.accounts,
                accounts_t.accounts.c.id == accounts_t.meter_installations.c.account_id,
            )
            .where(
                accounts_t.accounts.c.account_number == str(number),
                accounts_t.meter_installations.c.removed_at.is_(None),
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
            accounts_t.meter_installations.update()
            .where(accounts_t.meter_installations.c.id == row["id"])
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
        i, b = accounts_t.meter_installations, metering_t.register_baselines
        columns = (
            i.c.id,
            i.c.account_id,
            i.c.meter_number,
            i.c.bus,
            i.c.installed_at,
            *(i.c[f"initial_{name}"] for name in REGISTERS),
            accounts_t.accounts.c.account_number,
            b.c.at,
            b.c.source,
            *(b.c[name] for name in REGISTERS),
            accounts_t.accounts.c.opened_at,
        )
        for chunk in _chunks(sorted(given)):
            query = (
                sa.select(*columns)
                .join(accounts_t.accounts, accounts_t.accounts.c.id == i.c.account_id)
                .join(b, b.c.installation_id == i.c.id)
                .where(i.c.meter_number.in_(chunk), i.c.removed_at.is_(None))
            )
            if connection.dialect.name == "postgresql":
                # The baselines are what charging starts from: two writers charging the same
                # meter (two ingest workers, one holding a redelivered reading) take turns, in
                # meter order, and the second reads the first's baseline. SQLite's IMMEDIATE
                # transaction already serialises writers.
                query = query.order_by(i.c.meter_number).with_for_update(of=b)
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
                accounts_t.meter_installations.c.meter_number, accounts_t.meter_installations.c.id
            ).where(
                accounts_t.meter_installations.c.meter_number.in_(chunk),
                accounts_t.meter_installations.c.removed_at.is_(None),
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
                    "kind": alarm.kind.value,
                    "subject": str(reading.meter_number),
                    "meter_number": str(reading.meter_number),
                    "installation_id": installation_id,
                    "started_at": alarm.at,
                    "raised_at": raised_at,
                    "detail": alarm.detail,
                }
                for alarm in assessment.alarms
            )
        insert_ignoring_duplicates(
            connection, metering_t.readings, reading_rows, keys=("installation_id", "meter_time_at")
        )
        insert_ignoring_duplicates(
            connection, alarms_t.alarms, alarm_rows, keys=("kind", "subject", "started_at")
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
            b = metering_t.register_baselines
            connection.execute(
                b.update()
                .where(b.c.installation_id == sa.bindparam("b_installation_id"))
                .values(
                    at=sa.bindparam("b_at"),
                    source=sa.bindparam("b_source"),
                    **{name: sa.bindparam(f"b_{name}") for name in REGISTERS},
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
