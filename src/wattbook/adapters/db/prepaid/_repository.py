"""The prepaid area's repositories: rule state and policy, and the command outbox."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wattbook.adapters.db._sql import Worker, _account_id, _chunks
from wattbook.adapters.db._types import UtcDateTime
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.adapters.db.notifications import _tables as notifications_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.domain import accounts, prepaid
from wattbook.domain.values import (
    AccountNumber,
    CalendarOverride,
    Energy,
    MeterNumber,
    Period,
    WorkingCalendar,
)


def load_calendar(connection: Connection, first_date: date, last_date: date) -> WorkingCalendar:
    """Return the calendar of ``[first_date, last_date]``: the package, the years the centre
    confirmed, its overrides, and the provisional fallback for every other date."""
    c, y = prepaid_t.calendar_overrides, prepaid_t.calendar_years
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


def prepaid_settings(connection: Connection, on: date) -> prepaid.PrepaidSettings:
    """Return the policy in force on a local date (the manual's values if none)."""
    p = prepaid_t.prepaid_policies
    row = (
        connection.execute(
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


class SqlPrepaidRepository:
    """Prepaid rule state, keep-power orders, policy and calendar overrides in SQL."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _settings(self, on: date) -> prepaid.PrepaidSettings:
        return prepaid_settings(self._worker.conn(), on)

    async def settings(self, *, on: date) -> prepaid.PrepaidSettings:
        """Return the policy in force on a local date (the manual's values if none)."""
        return await self._worker.run(self._settings, on)

    def _set_settings(self, effective_from: date, settings: prepaid.PrepaidSettings) -> None:
        p = prepaid_t.prepaid_policies
        connection = self._worker.conn()
        connection.execute(p.delete().where(p.c.effective_from == effective_from))
        connection.execute(
            p.insert().values(
                effective_from=effective_from,
                low_balance_wh=settings.low_balance_energy.wh,
                warning_cut_wh=settings.warning_cut_energy.wh,
                reclose_delay_seconds=int(settings.reclose_delay.total_seconds()),
                holiday_rule=settings.holiday_rule.value,
                deferred_trip_time=settings.deferred_trip_time,
            )
        )

    async def set_settings(
        self, *, effective_from: date, settings: prepaid.PrepaidSettings
    ) -> None:
        """Put ``settings`` in force from ``effective_from``."""
        await self._worker.run(self._set_settings, effective_from, settings)

    def _calendar(self, first_date: date, last_date: date) -> WorkingCalendar:
        return load_calendar(self._worker.conn(), first_date, last_date)

    async def calendar(self, *, first_date: date, last_date: date) -> WorkingCalendar:
        """Return the working calendar with the local overrides."""
        return await self._worker.run(self._calendar, first_date, last_date)

    def _snapshots(
        self, numbers: Collection[AccountNumber], at: datetime
    ) -> dict[AccountNumber, prepaid_ports.PrepaidSnapshot]:
        connection = self._worker.conn()
        s, k = prepaid_t.prepaid_states, prepaid_t.keep_power_orders
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
                    accounts_t.accounts.c.phone,
                    accounts_t.meter_installations.c.meter_number,
                )
                .join(accounts_t.accounts, accounts_t.accounts.c.id == s.c.account_id)
                .outerjoin(
                    accounts_t.meter_installations,
                    sa.and_(
                        accounts_t.meter_installations.c.account_id == s.c.account_id,
                        accounts_t.meter_installations.c.removed_at.is_(None),
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
        s = prepaid_t.prepaid_states
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
        s = prepaid_t.prepaid_states
        rows = self._worker.conn().execute(
            sa.select(accounts_t.accounts.c.account_number)
            .join(s, s.c.account_id == accounts_t.accounts.c.id)
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
                accounts_t.accounts.c.id,
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
            prepaid_t.keep_power_orders.insert().values(
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
            prepaid_t.prepaid_states.update()
            .where(prepaid_t.prepaid_states.c.account_id == _account_id(connection, number))
            .values(relay=relay.value)
        )

    async def set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        """Store the relay state last confirmed on the account's meter."""
        await self._worker.run(self._set_relay, number, relay)


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
                r = headend_t.relay_commands
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
            connection.execute(notifications_t.sms_outbox.insert(), sms_rows)
            sms_rows.clear()
        if relay_rows:
            connection.execute(headend_t.relay_commands.insert(), relay_rows)
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
