"""The one ``metadata`` every area's tables are declared on, and the column helpers they share.

Amounts are BIGINT fen (``*_fen``), energies BIGINT Wh (``*_wh``), prices BIGINT yuan/kWh x 10^4
(:class:`PriceColumn`), instants UTC (:class:`UtcDateTime`), local calendar days ``DATE``.
Stored enum values are uppercase codes. Each area's tables, keys and CHECK constraints (those
that guard the money: CONVENTIONS §4, §8) live in ``<area>/_tables.py``."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

_Conditional = TypeVar("_Conditional", sa.Constraint, sa.Index)

# Constraint names are stable so that migrations can refer to them on both backends.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Tables that grow with every reading get 64-bit keys on PostgreSQL; on SQLite an INTEGER
# PRIMARY KEY is the 64-bit rowid already, and only that spelling makes it autoincrement.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

REGISTERS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


def _only_on(dialect: str, items: tuple[_Conditional, ...]) -> tuple[_Conditional, ...]:
    for item in items:
        item.info["dialects"] = (dialect,)
        item.ddl_if(dialect=dialect)
    return items


def _sqlite_only(*items: _Conditional) -> tuple[_Conditional, ...]:
    """Return constraints or indexes that exist on SQLite only.

    They are created there (``ddl_if``) and compared there (``info["dialects"]``, read by
    ``_partitions.comparison_filter``); on PostgreSQL partitioning replaces them (ADR 21).
    """
    return _only_on("sqlite", items)


def _postgresql_only(*items: _Conditional) -> tuple[_Conditional, ...]:
    """Return constraints or indexes that exist on PostgreSQL only (see :func:`_sqlite_only`)."""
    return _only_on("postgresql", items)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def _registers(prefix: str, *, nullable: bool) -> list[sa.Column[int]]:
    return [sa.Column(f"{prefix}{name}", sa.BigInteger, nullable=nullable) for name in REGISTERS]


def _registers_not_negative(prefix: str, name: str) -> sa.CheckConstraint:
    condition = " AND ".join(f"{prefix}{register} >= 0" for register in REGISTERS)
    return sa.CheckConstraint(condition, name=name)


OUTBOX_STATUSES = ("PENDING", "SENT", "CONFIRMED", "FAILED", "CANCELLED")
