"""The set-based ingest: plain readings stored, charged and aggregated in a few statements.

A batch is staged in temporary tables (one executemany), classified and priced by one
INSERT ... SELECT that joins the stage with installations, baselines, balances, charge totals
and prepaid states, and then written with one set-based statement per table. Python does no
per-reading work beyond staging the batch and reading back what was charged. Temporary tables
are private to the connection (no concurrency keys, no WAL pages on SQLite); PostgreSQL
empties them at commit, and each batch empties them first.

The arithmetic is exact 64-bit integer SQL on both engines; every product that could leave
64 bits is guarded (by bounds from the application, or by CASE, whose order of evaluation both
engines respect), and a reading outside the bounds is simply not plain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from wattbook.adapters.db._metadata import REGISTERS
from wattbook.adapters.db._sql import Worker
from wattbook.adapters.db._types import NaiveDatetime, UtcDateTime
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.metering import ports as metering_ports
from wattbook.domain import billing, ledger, prepaid
from wattbook.domain.values import AccountNumber, ChargeRounding

# Temporary tables: declared on their own metadata, so they are no part of the schema.
_temporary = sa.MetaData()


def _temp(name: str, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        _temporary,
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DELETE ROWS",
    )


def _register_columns(prefix: str = "") -> list[sa.Column[int]]:
    return [sa.Column(f"{prefix}{name}", sa.BigInteger, nullable=False) for name in REGISTERS]


slots = _temp(
    "ingest_slots",
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("meter_time_us", sa.BigInteger, nullable=False),
    sa.Column("window_start_at", UtcDateTime, nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("tariff_key", sa.String(64), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("energy_cap_wh", sa.BigInteger, nullable=False),
    sa.Column("usage_day", sa.Date, nullable=False),
    sa.Column("usage_month", sa.String(7), nullable=False),
    sa.Column("usage_year", sa.Integer, nullable=False),
)

stage = _temp(
    "ingest_stage",
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("meter_number", sa.String(12), nullable=False),
    sa.Column("meter_time_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    *_register_columns(),
    sa.Column("slot", sa.Integer, nullable=False),
)

plain = _temp(
    "ingest_plain",
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("installation_id", sa.Integer, nullable=False),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("account_number", sa.String(12), nullable=False),
    sa.Column("meter_time_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    *_register_columns(),
    *_register_columns("d_"),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("tariff_key", sa.String(64), nullable=False),
    sa.Column("usage_day", sa.Date, nullable=False),
    sa.Column("usage_month", sa.String(7), nullable=False),
    sa.Column("usage_year", sa.Integer, nullable=False),
    sa.Column("energy_wh", sa.BigInteger, nullable=False),
    sa.Column("charged_fen", sa.BigInteger, nullable=False),
    sa.Column("posting_fen", sa.BigInteger, nullable=False),
    sa.Column("balance_fen", sa.BigInteger, nullable=False),
    sa.Column("entry_count", sa.BigInteger, nullable=False),
    sa.Column("needs_rules", sa.Boolean, nullable=False),
)

_tables = (slots, stage, plain)

# The set-based updates find their row by installation or account.
_plain_indexes = (
    sa.Index("ix_ingest_plain_installation_id", plain.c.installation_id, unique=True),
    sa.Index("ix_ingest_plain_account_id", plain.c.account_id, unique=True),
)


def charged_fen(energy_wh: Any, price_scaled: Any, *, rounding: ChargeRounding) -> Any:
    """Return the SQL for ``rounding.charge_fen(energy_wh, price_scaled)``, both non-negative.

    Integer division truncates on both engines, which for non-negative operands is floor, so
    ``(n + offset) / divisor`` rounds ``n / divisor`` as the domain does (with the domain's
    definition, ``(n + 50000) / 100000``: half up). The two numbers are the definition's, bound
    as typed BIGINT literals.
    """
    offset = sa.literal(rounding.offset, sa.BigInteger)
    divisor = sa.literal(rounding.divisor, sa.BigInteger)
    return (energy_wh * price_scaled + offset) // divisor


def _int(name: str) -> Any:
    # Typed BIGINT: psycopg would otherwise pick the parameter's type from its value.
    return sa.bindparam(name, type_=sa.BigInteger)


def _insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def epoch_us(dialect: str, column: Any) -> Any:
    """Return the SQL for a UtcDateTime column as microseconds since the Unix epoch (or NULL).

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC: whole seconds from strftime, the
    microseconds from the text. Any other spelling gives NULL, which makes a reading not plain.
    PostgreSQL's EXTRACT returns an exact numeric.
    """
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)
    return sa.case(
        (
            sa.func.length(column) == 26,
            sa.cast(sa.func.strftime("%s", column), sa.BigInteger) * 1_000_000
            + sa.cast(sa.func.substr(column, 21, 6), sa.BigInteger),
        ),
        else_=sa.null(),
    )


@dataclass(frozen=True, slots=True)
class _Statements:
    """The batch's statements for one dialect, built once (their parameters are bound)."""

    lock: Any
    classify: Any
    writes: tuple[Any, ...]
    entries: Any
    read_back: Any


def _lock_statement() -> Any:
    # As posting does: the balances of the batch's accounts are locked in id order before
    # they are read, so concurrent writers to the same money queue without deadlock.
    i = accounts_t.meter_installations
    accounts = (
        sa.select(i.c.account_id)
        .join(stage, stage.c.meter_number == i.c.meter_number)
        .where(i.c.removed_at.is_(None))
    )
    return (
        sa.select(billing_t.balances.c.account_id)
        .where(billing_t.balances.c.account_id.in_(accounts))
        .order_by(billing_t.balances.c.account_id)
        .with_for_update()
    )


def _classify_statement(dialect: str, *, rules_for_all: bool, rounding: ChargeRounding) -> Any:
    s, w, i, b = stage, slots, accounts_t.meter_installations, metering_t.register_baselines
    c, e, bal, ps = (
        billing_t.charge_totals,
        billing_t.charge_energy,
        billing_t.balances,
        prepaid_t.prepaid_states,
    )
    delta = {name: s.c[name] - b.c[name] for name in REGISTERS}
    not_below = sa.and_(*(value >= 0 for value in delta.values()))
    periods = delta["sharp_wh"] + delta["peak_wh"] + delta["flat_wh"] + delta["valley_wh"]
    # Each guard comes first in a CASE, so no product is computed outside 64 bits.
    tou_agrees = sa.case(
        (not_below, sa.func.abs(delta["total_wh"] - periods) <= _int("tou_tolerance_wh")),
        else_=sa.false(),
    )
    elapsed_us = w.c.meter_time_us - epoch_us(dialect, b.c.at)
    jump = delta["total_wh"]
    plausible = sa.case(
        (jump <= _int("slack_wh"), sa.true()),
        (
            sa.and_(jump <= _int("max_jump_wh"), elapsed_us <= _int("max_elapsed_us")),
            (jump - _int("slack_wh") - 1) * _int("rate_denominator")
            < elapsed_us * _int("rate_numerator"),
        ),
        else_=sa.false(),
    )
    energy_before = sa.func.coalesce(e.c.energy_wh, 0)
    charged_before = sa.func.coalesce(c.c.charged_fen, 0)
    energy_after = energy_before + jump
    priceable = sa.case((not_below, energy_before <= w.c.energy_cap_wh - jump), else_=sa.false())
    charged_after = charged_fen(energy_after, w.c.price, rounding=rounding)
    posting = charged_after - charged_before
    balance_after = bal.c.balance_fen - posting
    needs_rules: Any = ps.c.account_id.is_not(None)
    if not rules_for_all:
        at_rest = sa.and_(
            balance_after >= _int("low_balance_below_fen"),
            sa.not_(ps.c.low_balance_notified),
            sa.not_(ps.c.warning_cut_done),
            ps.c.warning_close_due_at.is_(None),
            sa.not_(ps.c.tripped_for_arrears),
            ps.c.re_evaluate_at.is_(None),
            ps.c.relay != "OPEN",
        )
        needs_rules = sa.and_(needs_rules, sa.not_(at_rest))
    query = (
        sa.select(
            s.c.seq,
            i.c.id,
            i.c.account_id,
            accounts_t.accounts.c.account_number,
            s.c.meter_time_at,
            s.c.received_at,
            *(s.c[name] for name in REGISTERS),
            *delta.values(),
            w.c.month,
            w.c.tariff_key,
            w.c.usage_day,
            w.c.usage_month,
            w.c.usage_year,
            energy_after,
            charged_after,
            posting,
            balance_after,
            bal.c.entry_count + sa.case((posting > 0, 1), else_=0),
            needs_rules,
        )
        .select_from(s)
        .join(w, w.c.slot == s.c.slot)
        .join(i, sa.and_(i.c.meter_number == s.c.meter_number, i.c.removed_at.is_(None)))
        .join(accounts_t.accounts, accounts_t.accounts.c.id == i.c.account_id)
        .join(b, b.c.installation_id == i.c.id)
        .join(bal, bal.c.account_id == i.c.account_id)
        .outerjoin(
            c,
            sa.and_(
                c.c.account_id == i.c.account_id,
                c.c.month == w.c.month,
                c.c.tariff_key == w.c.tariff_key,
            ),
        )
        .outerjoin(
            e,
            sa.and_(
                e.c.account_id == i.c.account_id,
                e.c.month == w.c.month,
                e.c.tariff_key == w.c.tariff_key,
                e.c.component == "ALL",
            ),
        )
        .outerjoin(ps, ps.c.account_id == i.c.account_id)
        .where(
            s.c.meter_time_at > b.c.at,
            b.c.at >= w.c.window_start_at,
            not_below,
            tou_agrees,
            plausible,
            priceable,
            # A total charged beyond its energy's worth is the domain's error to raise.
            charged_after >= charged_before,
        )
    )
    return plain.insert().from_select([column.name for column in plain.columns], query)


def _write_statements(dialect: str) -> tuple[Any, ...]:
    p = plain
    registers = {name: p.c[name] for name in REGISTERS}
    deltas = [p.c[f"d_{name}"] for name in REGISTERS]
    posted_at = sa.bindparam("posted_at", type_=UtcDateTime)
    # A stored reading at the same meter time keeps its row, as record() does.
    readings = (
        _insert(dialect, metering_t.readings)
        .from_select(
            ["installation_id", "meter_time_at", "received_at", *REGISTERS, "outcome"],
            sa.select(
                p.c.installation_id,
                p.c.meter_time_at,
                p.c.received_at,
                *registers.values(),
                sa.literal("ACCEPTED", sa.String),
            ).order_by(p.c.seq),
        )
        .on_conflict_do_nothing(index_elements=["installation_id", "meter_time_at"])
    )
    # The IN on the target's own key makes both updates start from the batch's rows and find
    # each target row through its primary key: with the join alone SQLite's planner scans the
    # whole target table and probes the temporary table's index, a cost that grows with the
    # number of accounts (ADR 17).
    b = metering_t.register_baselines
    baselines = (
        b.update()
        .where(
            b.c.installation_id == p.c.installation_id,
            b.c.installation_id.in_(sa.select(p.c.installation_id)),
        )
        .values(at=p.c.meter_time_at, source="READING", **registers)
    )
    key = ["account_id", "month", "tariff_key"]
    totals = _insert(dialect, billing_t.charge_totals).from_select(
        [*key, "charged_fen"],
        sa.select(p.c.account_id, p.c.month, p.c.tariff_key, p.c.charged_fen).where(sa.true()),
    )
    totals = totals.on_conflict_do_update(
        index_elements=key, set_={"charged_fen": totals.excluded.charged_fen}
    )
    # A key's energy row appears with its first energy, as in the domain (no zero row).
    energy = _insert(dialect, billing_t.charge_energy).from_select(
        [*key, "component", "energy_wh"],
        sa.select(
            p.c.account_id, p.c.month, p.c.tariff_key, sa.literal("ALL", sa.String), p.c.energy_wh
        ).where(p.c.d_total_wh > 0),
    )
    energy = energy.on_conflict_do_update(
        index_elements=[*key, "component"], set_={"energy_wh": energy.excluded.energy_wh}
    )
    reference = (
        "CHARGE:"
        + p.c.account_number
        + ":"
        + p.c.tariff_key
        + ":"
        + p.c.month
        + ":"
        + sa.cast(p.c.charged_fen, sa.String)
    )
    entries = billing_t.ledger_entries.insert().from_select(
        ["account_id", "reference", "kind", "amount_fen", "at", "note", "balance_after_fen"],
        sa.select(
            p.c.account_id,
            reference,
            sa.literal("CHARGE", sa.String),
            -p.c.posting_fen,
            posted_at,
            p.c.month + " " + p.c.tariff_key,
            p.c.balance_fen,
        )
        .where(p.c.posting_fen > 0)
        .order_by(p.c.seq),
    )
    balances = (
        billing_t.balances.update()
        .where(
            billing_t.balances.c.account_id == p.c.account_id,
            p.c.posting_fen > 0,
            billing_t.balances.c.account_id.in_(
                sa.select(p.c.account_id).where(p.c.posting_fen > 0)
            ),
        )
        .values(balance_fen=p.c.balance_fen, entry_count=p.c.entry_count, updated_at=posted_at)
    )
    usage = []
    for table, bucket, column in (
        (metering_t.usage_daily, "day", p.c.usage_day),
        (metering_t.usage_monthly, "month", p.c.usage_month),
        (metering_t.usage_yearly, "year", p.c.usage_year),
    ):
        upsert = _insert(dialect, table).from_select(
            ["account_id", bucket, *REGISTERS],
            sa.select(p.c.account_id, column, *deltas).where(sa.true()),
        )
        usage.append(
            upsert.on_conflict_do_update(
                index_elements=["account_id", bucket],
                set_={name: table.c[name] + upsert.excluded[name] for name in REGISTERS},
            )
        )
    # The journal's insert stays fifth: _statements names it.
    return (readings, baselines, totals, energy, entries, balances, *usage)


@cache
def _statements(dialect: str, *, rules_for_all: bool, rounding: ChargeRounding) -> _Statements:
    p = plain
    writes = _write_statements(dialect)
    return _Statements(
        lock=_lock_statement(),
        classify=_classify_statement(dialect, rules_for_all=rules_for_all, rounding=rounding),
        writes=writes,
        entries=writes[4],
        read_back=sa.select(
            p.c.seq,
            p.c.account_number,
            p.c.posting_fen,
            p.c.charged_fen,
            p.c.energy_wh,
            p.c.balance_fen,
            p.c.needs_rules,
        ).order_by(p.c.seq),
    )


@cache
def _preparation(dialect: Dialect) -> tuple[str, ...]:
    """Return the DDL that makes the temporary tables if missing, and empties them.

    The rows of an earlier committed batch on this connection are still there on SQLite.
    """
    statements: list[Any] = [CreateTable(table, if_not_exists=True) for table in _tables]
    statements += [CreateIndex(index, if_not_exists=True) for index in _plain_indexes]
    statements += [table.delete() for table in reversed(_tables)]
    return tuple(str(statement.compile(dialect=dialect)) for statement in statements)


def _instant(dialect: str) -> Callable[[datetime], Any]:
    """Return how a UtcDateTime value goes to the driver, remembering repeated instants.

    :raises NaiveDatetime: (from the returned function) if a datetime has no time zone.
    """
    if dialect == "postgresql":
        return _require_aware
    known: dict[datetime, str] = {}

    def to_text(at: datetime) -> str:
        text = known.get(at)
        if text is None:
            utc = _require_aware(at).astimezone(UTC)
            # SQLAlchemy's SQLite DATETIME storage format, which UtcDateTime columns hold.
            text = (
                f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
                f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
            )
            known[at] = text
        return text

    return to_text


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetime(f"refusing to store naive datetime {at.isoformat()}")
    return at


class SqlIngestRepository:
    """The set-based ingest of plain readings in SQL."""

    def __init__(
        self,
        worker: Worker,
        *,
        tariffs: Callable[[Connection], billing.TariffHistory],
        settings: Callable[[Connection, date], prepaid.PrepaidSettings],
    ) -> None:
        # The loaders are the billing and prepaid areas' own, handed in by the unit of work
        # (areas' repositories do not import each other).
        self._worker = worker
        self._tariffs = tariffs
        self._settings = settings

    async def record_plain(
        self, plan: metering_ports.PlainPlanner, *, settings_on: date
    ) -> metering_ports.PlainOutcome:
        """Read the tariffs and policy, plan, and charge the plain readings (see the port).

        One hand-off to a database thread; the commit too when the batch left nothing to do.

        :raises ledger.DuplicateReference: if a posting's reference is already in the journal.
        """
        return await self._worker.run(self._record, plan, settings_on)

    def _record(
        self, plan: metering_ports.PlainPlanner, settings_on: date
    ) -> metering_ports.PlainOutcome:
        connection = self._worker.conn()
        tariffs = self._tariffs(connection)
        batch = plan(tariffs, self._settings(connection, settings_on))
        if batch is None or not batch.readings:
            return metering_ports.PlainOutcome(
                tariffs=tariffs, batch=batch, charges=(), committed=False
            )
        charges = self._record_plain(batch)
        done = (
            batch.whole
            and len(charges) == len(batch.readings)
            and not any(charge.needs_rules and charge.posting_fen > 0 for charge in charges)
        )
        if done:
            self._worker.commit()
        return metering_ports.PlainOutcome(
            tariffs=tariffs, batch=batch, charges=charges, committed=done
        )

    def _prepare(self, connection: Connection) -> None:
        for statement in _preparation(connection.dialect):
            connection.exec_driver_sql(statement)

    def _stage(self, connection: Connection, batch: metering_ports.PlainBatch) -> None:
        connection.execute(
            slots.insert(),
            [
                {
                    "slot": index,
                    "meter_time_us": slot.meter_time_us,
                    "window_start_at": slot.window_start_at,
                    "month": slot.month,
                    "tariff_key": slot.tariff_key,
                    "price": slot.price_scaled,
                    "energy_cap_wh": slot.energy_cap_wh,
                    "usage_day": slot.usage_day,
                    "usage_month": f"{slot.usage_day.year:04d}-{slot.usage_day.month:02d}",
                    "usage_year": slot.usage_day.year,
                }
                for index, slot in enumerate(batch.slots)
            ],
        )
        # The one per-reading write: the driver's executemany of plain tuples (COPY on
        # PostgreSQL). SQLAlchemy's per-row parameter processing would cost more than
        # everything the database does with the batch afterwards; the two instants are
        # converted here as UtcDateTime would (SQLite: naive UTC text in SQLAlchemy's
        # format; psycopg: the aware datetime).
        instant = _instant(connection.dialect.name)
        rows = []
        for seq, (reading, slot) in enumerate(zip(batch.readings, batch.slot_of, strict=True)):
            registers = reading.registers
            rows.append(
                (
                    seq,
                    reading.meter_number.value,
                    instant(reading.meter_time_at),
                    instant(reading.received_at),
                    registers.total_wh,
                    registers.sharp_wh,
                    registers.peak_wh,
                    registers.flat_wh,
                    registers.valley_wh,
                    slot,
                )
            )
        names = ", ".join(column.name for column in stage.columns)
        if connection.dialect.name == "postgresql":
            # COPY into the temporary table, in the unit of work's transaction: the cheapest
            # way into PostgreSQL (no statement per row, no pipeline of parameter sets).
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(f"COPY {stage.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        markers = ", ".join(["?"] * len(stage.columns))
        connection.exec_driver_sql(
            f"INSERT INTO {stage.name} ({names}) VALUES ({markers})",  # noqa: S608
            rows,
        )

    def _record_plain(
        self, batch: metering_ports.PlainBatch
    ) -> tuple[metering_ports.PlainCharge, ...]:
        connection = self._worker.conn()
        dialect = connection.dialect.name
        statements = _statements(
            dialect, rules_for_all=batch.low_balance_below_fen is None, rounding=batch.rounding
        )
        self._prepare(connection)
        self._stage(connection, batch)
        if dialect == "sqlite":
            # Without statistics SQLite takes a temporary table for a million rows and, once
            # meter_installations has more than about 260,000, builds a Bloom filter over the
            # whole of it for every batch. Statistics of the staged batch (a few hundred rows,
            # a fraction of a millisecond) keep every lookup an index search (ADR 17).
            connection.exec_driver_sql(f"ANALYZE temp.{stage.name}")
        if dialect == "postgresql":
            connection.execute(statements.lock)
        bound = batch.bound
        connection.execute(
            statements.classify,
            {
                "tou_tolerance_wh": bound.tou_tolerance_wh,
                "slack_wh": bound.slack_wh,
                "max_jump_wh": bound.max_jump_wh,
                "max_elapsed_us": bound.max_elapsed_us,
                "rate_denominator": bound.rate_denominator,
                "rate_numerator": bound.rate_numerator,
                "low_balance_below_fen": batch.low_balance_below_fen,
            },
        )
        parameters = {"posted_at": batch.posted_at}
        for statement in statements.writes:
            if statement is not statements.entries:
                connection.execute(statement, parameters)
                continue
            try:
                connection.execute(statement, parameters)
            except sa.exc.IntegrityError as error:
                # The failure posting reports when a concurrent writer took a reference first
                # (on PostgreSQL the transaction is aborted now, so it cannot be looked up).
                raise ledger.DuplicateReference("a CHARGE reference of this batch") from error
        return tuple(
            metering_ports.PlainCharge(
                index=seq,
                account_number=AccountNumber(value=number),
                posting_fen=posting,
                charged_fen=charged,
                energy_wh=energy,
                balance_fen=balance,
                needs_rules=bool(needs),
            )
            for seq, number, posting, charged, energy, balance, needs in connection.execute(
                statements.read_back
            )
        )
