"""Monthly partitions of ``readings`` and ``ledger_entries`` on PostgreSQL (ADR 21).

Revision 0025 makes both tables ``PARTITION BY RANGE`` on PostgreSQL: readings on
``meter_time_at`` (the instant their dedupe key already holds), ledger entries on ``at``. A
partition holds one local billing month, ``[BillingMonth.start_at, BillingMonth.end_at)``, so
the domain's month is the only calendar rule; a ``*_default`` partition takes whatever no month
partition covers, so no row is ever refused for want of a partition.

A unique key of a partitioned table must contain the partition key. The readings' dedupe key
(installation, meter time) does; the ledger's keys (``reference``, ``reverses_id``) and the
``id`` other tables point at do not, so they live in ``ledger_keys``, a plain table a trigger
fills in the same statement as each entry (see revision 0025). SQLite is unchanged: its tables
are not partitioned and this module does nothing there.

:func:`ensure_month_partitions` creates months ahead (the scheduled job and ``wattbook
partitions ensure``); rows that landed in a default partition meanwhile are moved into the new
month in the same transaction. :func:`missing_month_partitions` says which tables lack a month.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.application.partition_ports import PartitionUpkeep, RefusedPartition
from wattbook.domain.values import BillingMonth

logger = logging.getLogger(__name__)

# Each partitioned table and its partition key.
PARTITIONED: dict[str, str] = {"readings": "meter_time_at", "ledger_entries": "at"}
# The plain table that holds the ledger's unique keys on PostgreSQL.
LEDGER_KEYS = "ledger_keys"
# Partitions are named <table>_<YYYY>_<MM> and <table>_default.
_PARTITION_NAME = re.compile(
    r"^(?P<table>" + "|".join(PARTITIONED) + r")_(?:(?P<year>\d{4})_(?P<month>\d{2})|default)$"
)


def partition_name(table: str, month: BillingMonth) -> str:
    """Return the name of ``table``'s partition for ``month``."""
    return f"{table}_{month.year:04d}_{month.month:02d}"


def default_partition_name(table: str) -> str:
    """Return the name of ``table``'s default partition."""
    return f"{table}_default"


def is_partition_name(name: str) -> bool:
    """Test whether ``name`` is the name of a month or default partition."""
    return _PARTITION_NAME.match(name) is not None


def months_from(first: BillingMonth, count: int) -> tuple[BillingMonth, ...]:
    """Return ``count`` consecutive months starting with ``first``."""
    months = [first]
    while len(months) < count:
        months.append(months[-1].next())
    return tuple(months[:count])


def _literal(at: datetime) -> str:
    # An unambiguous UTC timestamptz literal for a partition bound (DDL takes no parameters).
    return "'" + at.astimezone(UTC).isoformat(sep=" ") + "'"


def is_partitioned(connection: Connection, table: str) -> bool:
    """Test whether ``table`` is a partitioned table (never on SQLite)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        sa.text(
            "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(:name)",
        ),
        {"name": table},
    ).scalar()
    return kind == "p"


def _partitions_of(connection: Connection, table: str) -> set[str]:
    rows = connection.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": table},
    )
    return {str(name) for (name,) in rows}


def create_default_partition(connection: Connection, table: str) -> None:
    """Create ``table``'s default partition if it has none."""
    name = default_partition_name(table)
    if name not in _partitions_of(connection, table):
        connection.exec_driver_sql(f'CREATE TABLE "{name}" PARTITION OF "{table}" DEFAULT')


def _create_month(connection: Connection, table: str, month: BillingMonth) -> None:
    column = PARTITIONED[table]
    name = partition_name(table, month)
    low, high = _literal(month.start_at), _literal(month.end_at)
    default = default_partition_name(table)
    has_default = default in _partitions_of(connection, table)
    if has_default:
        # PostgreSQL refuses a partition whose range has rows in the default partition: move
        # them out and back in through the parent, all in this transaction.
        connection.exec_driver_sql(
            f'CREATE TEMPORARY TABLE "_moving_{table}" (LIKE "{table}") ON COMMIT DROP'
        )
        connection.exec_driver_sql(
            f'WITH moved AS (DELETE FROM "{default}" WHERE "{column}" >= {low}'  # noqa: S608 (names from PARTITIONED, no input)
            f' AND "{column}" < {high} RETURNING *) INSERT INTO "_moving_{table}"'
            " SELECT * FROM moved"
        )
    connection.exec_driver_sql(
        f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM ({low}) TO ({high})'
    )
    if has_default:
        connection.exec_driver_sql(f'INSERT INTO "{table}" SELECT * FROM "_moving_{table}"')  # noqa: S608 (names from PARTITIONED, no input)
        connection.exec_driver_sql(f'DROP TABLE "_moving_{table}"')


def ensure_month_partitions(
    connection: Connection, months: Iterable[BillingMonth]
) -> tuple[str, ...]:
    """Create each partitioned table's partitions for ``months`` that do not exist yet.

    Return the names created (nothing on SQLite, or before revision 0025). Run it inside a
    transaction: a month whose rows sit in the default partition is moved in the same one.

    :raises sqlalchemy.exc.DBAPIError: if PostgreSQL refuses a partition (say, a hand-made
        partition overlaps the month); nothing of that call is kept once it rolls back.
    """
    created: list[str] = []
    wanted = sorted(set(months))
    for table in PARTITIONED:
        if not is_partitioned(connection, table):
            continue
        existing = _partitions_of(connection, table)
        for month in wanted:
            if partition_name(table, month) not in existing:
                _create_month(connection, table, month)
                created.append(partition_name(table, month))
    return tuple(created)


def missing_month_partitions(connection: Connection, month: BillingMonth) -> tuple[str, ...]:
    """Return the partitioned tables that have no partition for ``month``."""
    return tuple(
        table
        for table in PARTITIONED
        if is_partitioned(connection, table)
        and partition_name(table, month) not in _partitions_of(connection, table)
    )


class SqlPartitionKeeper:
    """The partition keeper on an engine (``application.partition_ports.PartitionKeeper``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _ensure(self, months: tuple[BillingMonth, ...]) -> PartitionUpkeep:
        created: list[str] = []
        refused: list[RefusedPartition] = []
        with self._engine.connect() as connection:
            tables = [table for table in PARTITIONED if is_partitioned(connection, table)]
        for table in tables:
            for month in sorted(set(months)):
                try:
                    with self._engine.begin() as connection:
                        if partition_name(table, month) in _partitions_of(connection, table):
                            continue
                        _create_month(connection, table, month)
                except sa.exc.DBAPIError as error:
                    logger.exception(
                        "Unable to create the partition %s", partition_name(table, month)
                    )
                    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                    refused.append(RefusedPartition(table=table, month=month, reason=reason))
                else:
                    created.append(partition_name(table, month))
        return PartitionUpkeep(created=tuple(created), refused=tuple(refused))

    async def ensure(self, *, months: tuple[BillingMonth, ...]) -> PartitionUpkeep:
        """Create the missing partitions for ``months``, each in its own transaction."""
        return await asyncio.to_thread(self._ensure, months)

    def _missing(self, month: BillingMonth) -> tuple[str, ...]:
        with self._engine.connect() as connection:
            return missing_month_partitions(connection, month)

    async def missing(self, *, month: BillingMonth) -> tuple[str, ...]:
        """Return the partitioned tables with no partition for ``month``."""
        return await asyncio.to_thread(self._missing, month)


def comparison_filter(dialect: str) -> Callable[..., bool]:
    """Return an alembic ``include_object`` hook for comparing the schema with the metadata.

    On PostgreSQL the physical layout of revision 0025 is not in the metadata: the partitions,
    ``ledger_keys`` and the foreign keys that point at it (its own test checks them). Objects
    of the metadata that declare ``info={"dialects": (...)}`` are compared only on those.
    """

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        dialects = getattr(obj, "info", {}).get("dialects") if not reflected else None
        if dialects is not None and dialect not in dialects:
            return False
        if not reflected or dialect != "postgresql":
            return True
        if type_ == "table":
            return name != LEDGER_KEYS and not is_partition_name(name or "")
        if type_ == "foreign_key_constraint":
            return bool(obj.referred_table.name != LEDGER_KEYS)
        return True

    return include
