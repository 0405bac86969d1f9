"""The head-end's SQL repository: buses, events, communication, relay commands."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db._metadata import REGISTERS
from wattbook.adapters.db._sql import Worker, upsert
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.application.accounts import ports as account_ports
from wattbook.application.headend import ports as hp
from wattbook.domain.headend import (
    MeterEventKind,
    ReadRequest,
    ReadRequestStatus,
    ReadValues,
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet, local_date

_CHUNK = 900


def _insert(connection: Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _plan_from_row(row: Any) -> hp.PollPlan:
    return hp.PollPlan(
        name=row["name"],
        energy_every=timedelta(seconds=row["energy_every_s"]),
        status_every=timedelta(seconds=row["status_every_s"]),
        clock_every=timedelta(seconds=row["clock_every_s"]),
        settlement_day=row["settlement_day"],
        settlement_hour=row["settlement_hour"],
        drift_limit=timedelta(seconds=row["drift_limit_s"]),
        no_communication_after=row["no_communication_after"],
        relay_attempts=row["relay_attempts"],
        relay_backoff=timedelta(seconds=row["relay_backoff_s"]),
    )


def _plan_row(plan: hp.PollPlan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "energy_every_s": int(plan.energy_every.total_seconds()),
        "status_every_s": int(plan.status_every.total_seconds()),
        "clock_every_s": int(plan.clock_every.total_seconds()),
        "settlement_day": plan.settlement_day,
        "settlement_hour": plan.settlement_hour,
        "drift_limit_s": int(plan.drift_limit.total_seconds()),
        "no_communication_after": plan.no_communication_after,
        "relay_attempts": plan.relay_attempts,
        "relay_backoff_s": int(plan.relay_backoff.total_seconds()),
    }


_ACTIONS = {
    "TRIP": RelayOperation.TRIP,
    "CLOSE": RelayOperation.CLOSE,
    "KEEP_POWER_ON": RelayOperation.KEEP_POWER_ON,
    "KEEP_POWER_OFF": RelayOperation.KEEP_POWER_OFF,
}


class SqlHeadendRepository:
    """The head-end's storage in SQL (both backends)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    # ------------------------------------------------------------------ buses

    def _save_bus(self, bus: hp.BusConfig) -> None:
        connection = self._worker.conn()
        plans = {meter.plan.name: meter.plan for meter in bus.meters}
        upsert(
            connection,
            headend_t.poll_plans,
            [_plan_row(plan) for plan in plans.values()],
            keys=("name",),
            replace=tuple(column for column in _plan_row(hp.PollPlan()) if column != "name"),
        )
        values = {
            "url": bus.url,
            "baud": bus.baud,
            "response_timeout_ms": int(bus.response_timeout.total_seconds() * 1000),
        }
        upsert(
            connection,
            headend_t.buses,
            [{"name": bus.name, **values}],
            keys=("name",),
            replace=tuple(values),
        )
        bus_id = connection.execute(
            sa.select(headend_t.buses.c.id).where(headend_t.buses.c.name == bus.name)
        ).scalar_one()
        connection.execute(
            headend_t.bus_meters.delete().where(headend_t.bus_meters.c.bus_id == bus_id)
        )
        rows = [
            {
                "meter_number": str(meter.meter_number),
                "bus_id": bus_id,
                "plan": meter.plan.name,
                "position": position,
            }
            for position, meter in enumerate(bus.meters)
        ]
        upsert(
            connection,
            headend_t.bus_meters,
            rows,
            keys=("meter_number",),
            replace=("bus_id", "plan", "position"),
        )

    async def save_bus(self, bus: hp.BusConfig) -> None:
        """Store a bus and put its meters on it (moving them from any other bus)."""
        await self._worker.run(self._save_bus, bus)

    def _buses(self, names: Collection[str] | None) -> tuple[hp.BusConfig, ...]:
        connection = self._worker.conn()
        plans = {
            row["name"]: _plan_from_row(row)
            for row in connection.execute(sa.select(headend_t.poll_plans)).mappings()
        }
        query = sa.select(headend_t.buses).order_by(headend_t.buses.c.name)
        if names is not None:
            query = query.where(headend_t.buses.c.name.in_(sorted(names)))
        bus_rows = list(connection.execute(query).mappings())
        meters: dict[int, list[Any]] = defaultdict(list)
        for row in connection.execute(
            sa.select(headend_t.bus_meters).order_by(
                headend_t.bus_meters.c.bus_id, headend_t.bus_meters.c.position
            )
        ).mappings():
            meters[row["bus_id"]].append(row)
        counts: dict[str, list[tuple[MeterEventKind, int]]] = defaultdict(list)
        for row in connection.execute(sa.select(headend_t.meter_event_counts)).mappings():
            counts[row["meter_number"]].append((MeterEventKind(row["kind"]), int(row["count"])))
        return tuple(
            hp.BusConfig(
                name=row["name"],
                url=row["url"],
                baud=row["baud"],
                response_timeout=timedelta(milliseconds=row["response_timeout_ms"]),
                meters=tuple(
                    hp.BusMeter(
                        meter_number=MeterNumber(value=meter["meter_number"]),
                        plan=plans[meter["plan"]],
                        event_counts=tuple(sorted(counts.get(meter["meter_number"], ()))),
                    )
                    for meter in meters[row["id"]]
                ),
            )
            for row in bus_rows
        )

    async def buses(self, names: Collection[str] | None = None) -> tuple[hp.BusConfig, ...]:
        """Return the buses (all, or those named) with their meters, plans and event counts."""
        return await self._worker.run(self._buses, names)

    def _bus_of(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, str]:
        wanted = sorted({str(meter) for meter in meters})
        found: dict[MeterNumber, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._worker.conn().execute(
                sa.select(headend_t.bus_meters.c.meter_number, headend_t.buses.c.name)
                .join(headend_t.buses, headend_t.buses.c.id == headend_t.bus_meters.c.bus_id)
                .where(headend_t.bus_meters.c.meter_number.in_(wanted[start : start + _CHUNK]))
            )
            found.update({MeterNumber(value=number): name for number, name in rows})
        return found

    async def bus_of(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, str]:
        """Return the bus each of the meters hangs on."""
        return await self._worker.run(self._bus_of, meters)

    # ------------------------------------------------------------------ events

    def _save_event_counts(
        self, meter: MeterNumber, counts: Mapping[MeterEventKind, int], at: datetime
    ) -> None:
        rows = [
            {"meter_number": str(meter), "kind": kind.value, "count": count, "updated_at": at}
            for kind, count in counts.items()
        ]
        upsert(
            self._worker.conn(),
            headend_t.meter_event_counts,
            rows,
            keys=("meter_number", "kind"),
            replace=("count", "updated_at"),
        )

    async def save_event_counts(
        self, meter: MeterNumber, counts: Mapping[MeterEventKind, int], *, at: datetime
    ) -> None:
        """Store the event counts last seen on a meter."""
        await self._worker.run(self._save_event_counts, meter, counts, at)

    def _add_events(self, events: Sequence[hp.MeterEvent], recorded_at: datetime) -> int:
        if not events:
            return 0
        connection = self._worker.conn()
        e = headend_t.meter_events
        before = connection.execute(sa.select(sa.func.count()).select_from(e)).scalar_one()
        statement = _insert(connection)(e)
        # A re-upload is harmless; an end seen later (cover closed since) fills in the gap.
        statement = statement.on_conflict_do_update(
            index_elements=["meter_number", "kind", "occurred_at"],
            set_={"ended_at": sa.func.coalesce(e.c.ended_at, statement.excluded.ended_at)},
        )
        connection.execute(
            statement,
            [
                {
                    "meter_number": str(event.meter_number),
                    "kind": event.kind.value,
                    "occurred_at": event.occurred_at,
                    "ended_at": event.ended_at,
                    "detail": event.detail,
                    "recorded_at": recorded_at,
                }
                for event in events
            ],
        )
        after = connection.execute(sa.select(sa.func.count()).select_from(e)).scalar_one()
        return int(after - before)

    async def add_events(self, events: Sequence[hp.MeterEvent], *, recorded_at: datetime) -> int:
        """Store events once each (meter, kind, time); fill in an end seen later.

        Return how many were new.
        """
        return await self._worker.run(self._add_events, events, recorded_at)

    # ------------------------------------------------------------------ values

    def _save_latest(self, latest: hp.LatestValues) -> None:
        values = latest.values
        row = {
            "read_at": latest.read_at,
            "relay_open": latest.status.relay_open,
            "relay_command_open": latest.status.relay_command_open,
            "keep_power": latest.status.keep_power,
            "voltage_mv": None if values is None else values.voltage_mv,
            "current_ma": None if values is None else values.current_ma,
            "active_power_mw": None if values is None else values.active_power_mw,
        }
        upsert(
            self._worker.conn(),
            headend_t.meter_latest,
            [{"meter_number": str(latest.meter_number), **row}],
            keys=("meter_number",),
            replace=tuple(row),
        )

    async def save_latest(self, latest: hp.LatestValues) -> None:
        """Store a meter's latest status and values."""
        await self._worker.run(self._save_latest, latest)

    def _save_settlement(self, settlement: hp.Settlement) -> None:
        registers: RegisterSet = settlement.registers
        upsert(
            self._worker.conn(),
            headend_t.meter_settlements,
            [
                {
                    "meter_number": str(settlement.meter_number),
                    "month": settlement.month,
                    **dict(zip(REGISTERS, registers.as_tuple(), strict=True)),
                    "read_at": settlement.read_at,
                }
            ],
            keys=("meter_number", "month"),
        )

    async def save_settlement(self, settlement: hp.Settlement) -> None:
        """Store a month's frozen registers once."""
        await self._worker.run(self._save_settlement, settlement)

    def _add_clock_check(self, check: hp.ClockCheck) -> None:
        drift = check.drift
        self._worker.conn().execute(
            headend_t.meter_clock_checks.insert().values(
                meter_number=str(check.meter_number),
                checked_at=check.checked_at,
                meter_at=check.meter_at,
                drift_ms=(drift.days * 86_400 + drift.seconds) * 1000 + drift.microseconds // 1000,
                corrected=check.corrected,
            )
        )

    async def add_clock_check(self, check: hp.ClockCheck) -> None:
        """Store a clock reading and its drift."""
        await self._worker.run(self._add_clock_check, check)

    # ------------------------------------------------------------------ communication

    def _communication(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, hp.CommunicationState]:
        c = headend_t.meter_communication
        wanted = sorted({str(meter) for meter in meters})
        found: dict[MeterNumber, hp.CommunicationState] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._worker.conn().execute(
                sa.select(c).where(c.c.meter_number.in_(wanted[start : start + _CHUNK]))
            )
            for row in rows.mappings():
                found[MeterNumber(value=row["meter_number"])] = hp.CommunicationState(
                    consecutive_failures=row["consecutive_failures"],
                    last_success_at=row["last_success_at"],
                )
        return found

    async def communication(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, hp.CommunicationState]:
        """Return the meters' runs of failures (meters never visited are absent)."""
        return await self._worker.run(self._communication, meters)

    def _save_communication(
        self,
        bus: str,
        outcomes: Sequence[hp.CommunicationOutcome],
        states: Mapping[MeterNumber, hp.CommunicationState],
    ) -> None:
        connection = self._worker.conn()
        errors = {outcome.meter_number: outcome.error for outcome in outcomes}
        upsert(
            connection,
            headend_t.meter_communication,
            [
                {
                    "meter_number": str(meter),
                    "consecutive_failures": state.consecutive_failures,
                    "last_success_at": state.last_success_at,
                    "last_error": errors.get(meter, ""),
                }
                for meter, state in states.items()
            ],
            keys=("meter_number",),
            replace=("consecutive_failures", "last_success_at", "last_error"),
        )
        days: dict[tuple[str, Any], list[int]] = {}
        for outcome in outcomes:
            day = local_date(outcome.at)
            # The bus's own row has meter_number '' (a key column cannot be NULL).
            for meter in (str(outcome.meter_number), ""):
                counts = days.setdefault((meter, day), [0, 0])
                counts[0] += 1
                counts[1] += int(outcome.succeeded)
        upsert(
            connection,
            headend_t.communication_days,
            [
                {"bus": bus, "meter_number": meter, "day": day, "attempts": a, "successes": s}
                for (meter, day), (a, s) in days.items()
            ],
            keys=("bus", "meter_number", "day"),
            add=("attempts", "successes"),
        )

    async def save_communication(
        self,
        bus: str,
        outcomes: Sequence[hp.CommunicationOutcome],
        states: Mapping[MeterNumber, hp.CommunicationState],
    ) -> None:
        """Store the new runs of failures and add the outcomes to the per-day counts."""
        await self._worker.run(self._save_communication, bus, outcomes, states)

    def _meter_events(self, meter: MeterNumber, limit: int) -> tuple[hp.MeterEvent, ...]:
        e = headend_t.meter_events
        rows = (
            self._worker.conn()
            .execute(
                sa.select(e)
                .where(e.c.meter_number == str(meter))
                .order_by(e.c.occurred_at.desc(), e.c.id.desc())
                .limit(limit)
            )
            .mappings()
            .all()
        )
        return tuple(
            hp.MeterEvent(
                meter_number=meter,
                kind=MeterEventKind(row["kind"]),
                occurred_at=row["occurred_at"],
                ended_at=row["ended_at"],
                detail=row["detail"],
            )
            for row in rows
        )

    async def meter_events(self, meter: MeterNumber, *, limit: int) -> tuple[hp.MeterEvent, ...]:
        """Return the meter's last ``limit`` stored events, newest first."""
        return await self._worker.run(self._meter_events, meter, limit)

    def _meter_overview(
        self, since: datetime, meter: MeterNumber | None
    ) -> tuple[hp.MeterOverview, ...]:
        i = accounts_t.meter_installations
        a = accounts_t.accounts
        latest = headend_t.meter_latest
        bm, b = headend_t.bus_meters, headend_t.buses
        checks, days, commands = (
            headend_t.meter_clock_checks,
            headend_t.communication_days,
            headend_t.relay_commands,
        )
        last_check = (
            sa.select(checks.c.drift_ms)
            .where(checks.c.meter_number == i.c.meter_number)
            .order_by(checks.c.checked_at.desc(), checks.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        since_day = local_date(since)
        attempts = (
            sa.select(sa.func.coalesce(sa.func.sum(days.c.attempts), 0))
            .where(days.c.meter_number == i.c.meter_number, days.c.day >= since_day)
            .scalar_subquery()
        )
        successes = (
            sa.select(sa.func.coalesce(sa.func.sum(days.c.successes), 0))
            .where(days.c.meter_number == i.c.meter_number, days.c.day >= since_day)
            .scalar_subquery()
        )
        earlier = commands.alias("earlier_commands")
        last_command_id = (
            sa.select(sa.func.max(earlier.c.id))
            .where(earlier.c.meter_number == i.c.meter_number)
            .scalar_subquery()
        )
        query = (
            sa.select(
                i.c.meter_number,
                a.c.account_number,
                a.c.holder,
                sa.func.coalesce(b.c.name, sa.func.nullif(i.c.bus, "-")).label("bus"),
                latest.c.read_at,
                latest.c.relay_open,
                latest.c.keep_power,
                latest.c.active_power_mw,
                last_check.label("drift_ms"),
                attempts.label("attempts"),
                successes.label("successes"),
                commands.c.action,
                commands.c.status,
                commands.c.created_at,
            )
            .select_from(
                i.join(a, a.c.id == i.c.account_id)
                .outerjoin(latest, latest.c.meter_number == i.c.meter_number)
                .outerjoin(bm, bm.c.meter_number == i.c.meter_number)
                .outerjoin(b, b.c.id == bm.c.bus_id)
                .outerjoin(commands, commands.c.id == last_command_id)
            )
            .where(i.c.removed_at.is_(None))
            .order_by(i.c.meter_number)
        )
        if meter is not None:
            query = query.where(i.c.meter_number == str(meter))
        rows = self._worker.conn().execute(query)
        return tuple(
            hp.MeterOverview(
                meter_number=MeterNumber(value=row.meter_number),
                account_number=AccountNumber(value=row.account_number),
                holder=row.holder,
                bus=row.bus,
                read_at=row.read_at,
                relay_open=row.relay_open,
                keep_power=row.keep_power,
                active_power_mw=row.active_power_mw,
                drift_ms=None if row.drift_ms is None else int(row.drift_ms),
                attempts=int(row.attempts),
                successes=int(row.successes),
                last_command=row.action,
                last_command_status=row.status,
                last_command_at=row.created_at,
            )
            for row in rows
        )

    async def meter_overview(
        self, *, since: datetime, meter: MeterNumber | None = None
    ) -> tuple[hp.MeterOverview, ...]:
        """Return every installed meter (or one) with its latest values and health."""
        return await self._worker.run(self._meter_overview, since, meter)

    def _communication_days(self, bus: str) -> tuple[hp.CommunicationDay, ...]:
        d = headend_t.communication_days
        rows = self._worker.conn().execute(
            sa.select(d).where(d.c.bus == bus).order_by(d.c.day, d.c.meter_number)
        )
        return tuple(
            hp.CommunicationDay(
                bus=row["bus"],
                meter_number=MeterNumber(value=row["meter_number"])
                if row["meter_number"]
                else None,
                day=row["day"],
                attempts=row["attempts"],
                successes=row["successes"],
            )
            for row in rows.mappings()
        )

    async def communication_days(self, *, bus: str) -> tuple[hp.CommunicationDay, ...]:
        """Return the per-day success counts of the bus and of its meters."""
        return await self._worker.run(self._communication_days, bus)

    # ------------------------------------------------------------------ relay commands

    def _due(self, at: datetime, limit: int) -> tuple[RelayCommand, ...]:
        r = headend_t.relay_commands
        m = accounts_t.meter_installations
        # A command belongs to the account: it goes to the meter installed now. The rules may
        # queue one before any meter is installed (a small opening balance), or the meter may
        # have been replaced since; the stored number is only the fallback.
        target = sa.func.coalesce(m.c.meter_number, r.c.meter_number).label("target_meter")
        rows = self._worker.conn().execute(
            sa.select(r, accounts_t.accounts.c.account_number, target)
            .join(accounts_t.accounts, accounts_t.accounts.c.id == r.c.account_id)
            .outerjoin(m, sa.and_(m.c.account_id == r.c.account_id, m.c.removed_at.is_(None)))
            .where(
                r.c.status == RelayCommandStatus.PENDING.value,
                r.c.not_before_at <= at,
                target.is_not(None),
            )
            .order_by(r.c.not_before_at, r.c.id)
            .limit(limit)
        )
        return tuple(
            RelayCommand(
                id=int(row["id"]),
                account_number=AccountNumber(value=row["account_number"]),
                meter_number=MeterNumber(value=row["target_meter"]),
                operation=_ACTIONS[row["action"]],
                reason=RelayReason(row["reason"]),
                not_before_at=row["not_before_at"],
                attempts=row["attempts"],
                ordered_by=row["ordered_by"],
                note=row["note"],
            )
            for row in rows.mappings()
        )

    async def due_relay_commands(self, *, at: datetime, limit: int) -> tuple[RelayCommand, ...]:
        """Return pending relay commands due by ``at``, oldest first."""
        return await self._worker.run(self._due, at, limit)

    def _add_relay_command(
        self,
        meter: MeterNumber,
        operation: RelayOperation,
        reason: RelayReason,
        at: datetime,
        ordered_by: str | None,
        note: str | None,
    ) -> int:
        connection = self._worker.conn()
        account_id = connection.execute(
            sa.select(accounts_t.meter_installations.c.account_id).where(
                accounts_t.meter_installations.c.meter_number == str(meter),
                accounts_t.meter_installations.c.removed_at.is_(None),
            )
        ).scalar_one_or_none()
        if account_id is None:
            raise account_ports.NoMeterInstalled(str(meter))
        return int(
            connection.execute(
                headend_t.relay_commands.insert()
                .values(
                    account_id=account_id,
                    meter_number=str(meter),
                    action=operation.value,
                    reason=reason.value,
                    ordered_by=ordered_by,
                    note=note,
                    not_before_at=at,
                    created_at=at,
                    status=RelayCommandStatus.PENDING.value,
                )
                .returning(headend_t.relay_commands.c.id)
            ).scalar_one()
        )

    async def add_relay_command(
        self,
        meter: MeterNumber,
        operation: RelayOperation,
        *,
        reason: RelayReason,
        at: datetime,
        ordered_by: str | None = None,
        note: str | None = None,
    ) -> int:
        """Queue a relay command for a meter's account; return its id.

        ``reason`` says why; an operator's order (OPERATOR) also records who and why.

        :raises NoMeterInstalled: if the meter is on no account.
        """
        return await self._worker.run(
            self._add_relay_command, meter, operation, reason, at, ordered_by, note
        )

    def _update(
        self,
        command_id: int,
        status: RelayCommandStatus,
        at: datetime,
        attempts: int | None,
        not_before_at: datetime | None,
        error: str | None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is not RelayCommandStatus.PENDING:
            values["done_at"] = at
        if attempts is not None:
            values["attempts"] = attempts
        if not_before_at is not None:
            values["not_before_at"] = not_before_at
        if error is not None:
            values["last_error"] = error
        r = headend_t.relay_commands
        self._worker.conn().execute(r.update().where(r.c.id == command_id).values(**values))

    async def update_relay_command(
        self,
        command_id: int,
        *,
        status: RelayCommandStatus,
        at: datetime,
        attempts: int | None = None,
        not_before_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Move a relay command on (done commands get ``done_at``)."""
        await self._worker.run(self._update, command_id, status, at, attempts, not_before_at, error)

    def _command_state(self, command_id: int) -> tuple[RelayCommandStatus, int] | None:
        r = headend_t.relay_commands
        query = sa.select(r.c.status, r.c.attempts).where(r.c.id == command_id)
        connection = self._worker.conn()
        if connection.dialect.name == "postgresql":
            # SQLite's IMMEDIATE transaction already serialises writers.
            query = query.with_for_update()
        row = connection.execute(query).one_or_none()
        return None if row is None else (RelayCommandStatus(row[0]), int(row[1]))

    async def relay_command_state(self, command_id: int) -> tuple[RelayCommandStatus, int] | None:
        """Return a relay command's status and attempts, its row locked (on PostgreSQL)."""
        return await self._worker.run(self._command_state, command_id)

    def _cancel_closes(self, command: RelayCommand, at: datetime) -> None:
        r = headend_t.relay_commands
        self._worker.conn().execute(
            r.update()
            .where(
                r.c.meter_number == str(command.meter_number),
                r.c.action == "CLOSE",
                r.c.reason == RelayReason.WARNING_CUT_ENDED.value,
                r.c.status == RelayCommandStatus.PENDING.value,
                r.c.id > command.id,
            )
            .values(status=RelayCommandStatus.CANCELLED.value, done_at=at)
        )

    async def cancel_pending_closes(self, command: RelayCommand, *, at: datetime) -> None:
        """Cancel the warning cut's pending close queued after ``command`` for its meter."""
        await self._worker.run(self._cancel_closes, command, at)

    def _last_switch(
        self, account: AccountNumber, other_than: int
    ) -> tuple[RelayOperation, RelayReason] | None:
        r = headend_t.relay_commands
        row = (
            self._worker.conn()
            .execute(
                sa.select(r.c.action, r.c.reason)
                .join(accounts_t.accounts, accounts_t.accounts.c.id == r.c.account_id)
                .where(
                    accounts_t.accounts.c.account_number == str(account),
                    r.c.action.in_(("TRIP", "CLOSE")),
                    r.c.status == RelayCommandStatus.CONFIRMED.value,
                    r.c.id != other_than,
                )
                # The order the meter carried them out in, not the order they were queued.
                .order_by(r.c.done_at.desc(), r.c.id.desc())
                .limit(1)
            )
            .first()
        )
        return None if row is None else (_ACTIONS[row.action], RelayReason(row.reason))

    async def last_relay_switch(
        self, account: AccountNumber, *, other_than: int
    ) -> tuple[RelayOperation, RelayReason] | None:
        """Return the operation and reason of the account's last confirmed trip or close.

        Command ``other_than`` (the one being recorded) is left out; None if there is none.
        """
        return await self._worker.run(self._last_switch, account, other_than)

    # ------------------------------------------------------------------ read-now requests

    def _add_read_request(self, meter: MeterNumber, requested_by: str, at: datetime) -> int:
        t = headend_t.meter_read_requests
        connection = self._worker.conn()
        pending = t.c.status == ReadRequestStatus.PENDING.value
        inserted = connection.execute(
            _insert(connection)(t)
            .values(
                meter_number=str(meter),
                requested_by=requested_by,
                requested_at=at,
                status=ReadRequestStatus.PENDING.value,
            )
            .on_conflict_do_nothing(index_elements=["meter_number"], index_where=pending)
            .returning(t.c.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return int(inserted)
        # Another ask queued one first: that is the request.
        return int(
            connection.execute(
                sa.select(t.c.id).where(t.c.meter_number == str(meter), pending)
            ).scalar_one()
        )

    async def add_read_request(self, meter: MeterNumber, *, requested_by: str, at: datetime) -> int:
        """Queue a read-now request for a meter; return its id (that of the pending one, if
        one is pending already)."""
        return await self._worker.run(self._add_read_request, meter, requested_by, at)

    def _read_requests(
        self, meter: MeterNumber | None, pending_only: bool, limit: int
    ) -> tuple[ReadRequest, ...]:
        t = headend_t.meter_read_requests
        query = sa.select(t)
        if meter is not None:
            query = query.where(t.c.meter_number == str(meter)).order_by(t.c.id.desc())
        else:
            query = query.order_by(t.c.requested_at, t.c.id)
        if pending_only:
            query = query.where(t.c.status == ReadRequestStatus.PENDING.value)
        rows = self._worker.conn().execute(query.limit(limit)).mappings()
        return tuple(_read_request(row) for row in rows)

    async def read_requests(
        self, *, meter: MeterNumber | None = None, pending_only: bool = False, limit: int
    ) -> tuple[ReadRequest, ...]:
        """Return read-now requests: a meter's newest first, or (no meter) the oldest first."""
        return await self._worker.run(self._read_requests, meter, pending_only, limit)

    def _expire_read_requests(self, requested_before: datetime, at: datetime) -> int:
        t = headend_t.meter_read_requests
        result = self._worker.conn().execute(
            t.update()
            .where(
                t.c.status == ReadRequestStatus.PENDING.value,
                t.c.requested_at <= requested_before,
            )
            .values(status=ReadRequestStatus.EXPIRED.value, done_at=at)
        )
        return int(result.rowcount)

    async def expire_read_requests(self, *, requested_before: datetime, at: datetime) -> int:
        """Mark the pending requests made at or before ``requested_before`` expired; return how
        many."""
        return await self._worker.run(self._expire_read_requests, requested_before, at)

    def _finish_read_request(
        self,
        request_id: int,
        status: ReadRequestStatus,
        at: datetime,
        error: str,
        values: ReadValues | None,
    ) -> bool:
        t = headend_t.meter_read_requests
        row: dict[str, Any] = {"status": status.value, "done_at": at, "error": error}
        if values is not None:
            row.update(
                read_at=values.read_at,
                total_wh=values.total_wh,
                relay_open=values.relay_open,
                active_power_mw=values.active_power_mw,
                voltage_mv=values.voltage_mv,
                current_ma=values.current_ma,
            )
        result = self._worker.conn().execute(
            t.update()
            .where(t.c.id == request_id, t.c.status == ReadRequestStatus.PENDING.value)
            .values(**row)
        )
        return bool(result.rowcount)

    async def finish_read_request(
        self,
        request_id: int,
        *,
        status: ReadRequestStatus,
        at: datetime,
        error: str = "",
        values: ReadValues | None = None,
    ) -> bool:
        """Store how a pending request ended; return False if it was no longer pending."""
        return await self._worker.run(
            self._finish_read_request, request_id, status, at, error, values
        )


def _read_request(row: Any) -> ReadRequest:
    values = None
    if row["read_at"] is not None:
        values = ReadValues(
            read_at=row["read_at"],
            total_wh=row["total_wh"],
            relay_open=row["relay_open"],
            active_power_mw=row["active_power_mw"],
            voltage_mv=row["voltage_mv"],
            current_ma=row["current_ma"],
        )
    return ReadRequest(
        id=int(row["id"]),
        meter_number=MeterNumber(value=row["meter_number"]),
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        status=ReadRequestStatus(row["status"]),
        done_at=row["done_at"],
        error=row["error"],
        values=values,
    )
