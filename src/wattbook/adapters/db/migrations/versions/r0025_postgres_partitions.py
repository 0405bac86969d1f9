"""Readings and ledger entries partitioned by month on PostgreSQL (ADR 21).

On PostgreSQL each table is rebuilt as ``PARTITION BY RANGE`` (readings on ``meter_time_at``,
ledger entries on ``at``) with one partition per local billing month from the oldest row's
month to three months ahead of the database's clock, and a default partition. Every row is
moved across; ids keep their sequences.

A partitioned table's unique keys must contain the partition key:

- readings: the primary key becomes (id, meter_time_at); the dedupe key (installation_id,
  meter_time_at) already contains it and stays what ``ON CONFLICT`` names.
- ledger entries: the primary key becomes (id, at). The keys that did not contain ``at``
  (``reference`` unique, ``reverses_id`` unique, ``id`` as the target of foreign keys) move to
  ``ledger_keys`` (id, reference, reverses_id), a plain table that a BEFORE INSERT trigger on
  ``ledger_entries`` fills in the same statement, so a duplicate reference or a second reversal
  still fails the insert with a unique violation. Foreign keys that pointed at
  ``ledger_entries.id`` point at ``ledger_keys.id``, and ``ledger_entries.id`` itself at
  ``ledger_keys.id``. A TRUNCATE of the ledger empties ``ledger_keys`` too.

Non-unique indexes of both tables (whatever revisions before this one made) are carried over as
partitioned indexes; ``ix_ledger_entries_reference`` is added for look-ups by reference. A
kind PARTITION_MISSING is allowed in the alarms' kind check (on both engines, so the check
stays the enum's; on SQLite that is all this revision does).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types
from wattbook.adapters.db import _partitions
from wattbook.domain.values import BillingMonth

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUFFIX = "_r0025"
_MONTHS_AHEAD = 3
# Partitions for older data than this are not made: such rows go to the default partition.
_MONTHS_BACK_AT_MOST = 240
_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Every alarm kind up to this revision, frozen here: later kinds come with later revisions.
_BEFORE = (
    "OVER_CURRENT_TRIP",
    "METER_COVER_OPENED",
    "TERMINAL_COVER_OPENED",
    "POWER_DOWN",
    "RELAY_STATE_MISMATCH",
    "RELAY_NOT_CONFIRMED",
    "NO_COMMUNICATION",
    "EVENT_RECORDS_LOST",
    "REGISTER_BACKWARDS",
    "IMPLAUSIBLE_JUMP",
    "TOU_MISMATCH",
    "LATE_READING_INCONSISTENT",
    "HOLIDAY_SCHEDULE_UNCONFIRMED",
    "BUS_UNREACHABLE",
    "BANK_CALLBACK_REFUSED",
    "BANK_DEBIT_UNANSWERED",
    "KIOSK_NOTE_RETURNED_CREDITED",
    "KIOSK_ACCEPTOR_FAULT",
    "HEADEND_SPOOLED",
)
_AFTER = (*_BEFORE, "PARTITION_MISSING")

_KEYS_TRIGGER_FUNCTION = """
CREATE FUNCTION wattbook_ledger_keys_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_keys (id, reference, reverses_id)
    VALUES (NEW.id, NEW.reference, NEW.reverses_id)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND AND NOT EXISTS (
        SELECT 1 FROM ledger_keys k
        WHERE k.id = NEW.id AND k.reference = NEW.reference
          AND k.reverses_id IS NOT DISTINCT FROM NEW.reverses_id
    ) THEN
        -- The id is taken by another entry: never two entries with one id.
        RAISE unique_violation USING
            MESSAGE = format('ledger entry id %s is already taken', NEW.id),
            CONSTRAINT = 'pk_ledger_keys';
    END IF;
    -- Otherwise this is an entry moved between partitions (the upkeep): its key stays.
    RETURN NEW;
END
$$
"""

_KEYS_TRUNCATE_FUNCTION = """
CREATE FUNCTION wattbook_ledger_keys_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A row of another table that points at a key makes this fail, as it did before.
    DELETE FROM ledger_keys;
    RETURN NULL;
END
$$
"""


def _scalar(sql: str, **params: object) -> object:
    return op.get_bind().execute(sa.text(sql), params).scalar()


def _rows(sql: str, **params: object) -> list[tuple[object, ...]]:
    return [tuple(row) for row in op.get_bind().execute(sa.text(sql), params)]


def _plain_indexes(table: str) -> list[tuple[str, str]]:
    """Return (name, definition) of the table's indexes that back no constraint."""
    rows = _rows(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = to_regclass(:table)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        " ORDER BY i.relname",
        table=table,
    )
    return [(str(name), str(definition)) for name, definition in rows]


def _all_indexes(table: str) -> list[str]:
    rows = _rows(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = to_regclass(:table)",
        table=table,
    )
    return [str(name) for (name,) in rows]


def _foreign_keys_to(table: str, *, skip: str) -> list[tuple[str, str, str]]:
    """Return (table, constraint name, definition) of the foreign keys to ``table`` of the
    tables other than itself and ``skip``."""
    rows = _rows(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass(:table)"
        " AND c.conparentid = 0 AND c.conrelid <> c.confrelid"
        " AND c.conrelid <> to_regclass(:skip) ORDER BY 1, 2",
        table=table,
        skip=skip,
    )
    return [(str(owner), str(name), str(definition)) for owner, name, definition in rows]


def _set_aside(table: str) -> str:
    """Rename ``table`` and its indexes out of the way; return its new name."""
    for name in _all_indexes(table):
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}{_SUFFIX}"')
    aside = f"{table}{_SUFFIX}"
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{aside}"')
    return aside


def _recreate_indexes(indexes: list[tuple[str, str]]) -> None:
    for _name, definition in indexes:
        # pg_get_indexdef of a partitioned table's index says "ON ONLY"; a plain one does not.
        op.execute(definition.replace(" ON ONLY ", " ON "))


def _months(table: str, column: str) -> tuple[BillingMonth, ...]:
    """Return the months to partition: the data's, from the oldest, to some months ahead."""
    now = _scalar("SELECT now()")
    if not isinstance(now, datetime):
        raise TypeError(f"the database's now() gave {now!r}")
    current = BillingMonth.of(now)
    floor_month = current
    for _ in range(_MONTHS_BACK_AT_MOST):
        floor_month = floor_month.previous()
    first = current
    oldest = _scalar(f'SELECT min("{column}") FROM "{table}"')  # noqa: S608 (names from PARTITIONED, no input)
    if isinstance(oldest, datetime):
        first = max(min(first, BillingMonth.of(oldest)), floor_month)
    count = 1
    month = first
    while month < current:
        count += 1
        month = month.next()
    return _partitions.months_from(first, count + _MONTHS_AHEAD)


def _partition(table: str, primary_key: str) -> None:
    """Rebuild ``table`` as a partitioned table with its rows, checks, defaults and indexes."""
    column = _partitions.PARTITIONED[table]
    indexes = _plain_indexes(table)
    months = _months(table, column)
    aside = _set_aside(table)
    op.execute(
        f'CREATE TABLE "{table}" (LIKE "{aside}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        f' PARTITION BY RANGE ("{column}")'
    )
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({primary_key})')
    _recreate_indexes(indexes)
    bind = op.get_bind()
    _partitions.create_default_partition(bind, table)
    _partitions.ensure_month_partitions(bind, months)
    # The id sequence must belong to the new table before the old one is dropped.
    sequence = _scalar("SELECT pg_get_serial_sequence(:t, 'id')", t=aside)
    if sequence is not None:
        op.execute(f'ALTER SEQUENCE {sequence} OWNED BY "{table}".id')


def _partition_readings() -> None:
    _partition("readings", "id, meter_time_at")
    op.execute(
        'ALTER TABLE "readings" ADD CONSTRAINT "uq_readings_installation_id_meter_time_at"'
        " UNIQUE (installation_id, meter_time_at)"
    )
    op.execute(
        'ALTER TABLE "readings" ADD CONSTRAINT "fk_readings_installation_id"'
        " FOREIGN KEY (installation_id) REFERENCES meter_installations (id)"
    )
    op.execute(f'INSERT INTO "readings" SELECT * FROM "readings{_SUFFIX}"')  # noqa: S608 (names from PARTITIONED, no input)
    op.execute(f'DROP TABLE "readings{_SUFFIX}"')


def _partition_ledger() -> None:
    incoming = _foreign_keys_to("ledger_entries", skip="ledger_entries")
    for owner, name, _definition in incoming:
        op.execute(f'ALTER TABLE {owner} DROP CONSTRAINT "{name}"')
    op.execute(
        "CREATE TABLE ledger_keys ("
        " id BIGINT NOT NULL,"
        " reference VARCHAR(120) NOT NULL,"
        " reverses_id BIGINT,"
        " CONSTRAINT pk_ledger_keys PRIMARY KEY (id),"
        " CONSTRAINT uq_ledger_keys_reference UNIQUE (reference),"
        " CONSTRAINT uq_ledger_keys_reverses_id UNIQUE (reverses_id),"
        " CONSTRAINT fk_ledger_keys_reverses_id FOREIGN KEY (reverses_id)"
        " REFERENCES ledger_keys (id))"
    )
    op.execute(
        "INSERT INTO ledger_keys (id, reference, reverses_id)"
        " SELECT id, reference, reverses_id FROM ledger_entries ORDER BY id"
    )
    _partition("ledger_entries", "id, at")
    op.execute(
        'ALTER TABLE "ledger_entries" ADD CONSTRAINT "fk_ledger_entries_account_id"'
        " FOREIGN KEY (account_id) REFERENCES accounts (id)"
    )
    op.execute(
        'ALTER TABLE "ledger_entries" ADD CONSTRAINT "fk_ledger_entries_id"'
        " FOREIGN KEY (id) REFERENCES ledger_keys (id)"
    )
    op.execute('CREATE INDEX "ix_ledger_entries_reference" ON "ledger_entries" (reference)')
    op.execute(f'INSERT INTO "ledger_entries" SELECT * FROM "ledger_entries{_SUFFIX}"')  # noqa: S608 (names from PARTITIONED, no input)
    op.execute(f'DROP TABLE "ledger_entries{_SUFFIX}"')
    # The keys were copied above: the trigger guards the entries written from now on.
    op.execute(_KEYS_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER ledger_keys_insert BEFORE INSERT ON ledger_entries"
        " FOR EACH ROW EXECUTE FUNCTION wattbook_ledger_keys_insert()"
    )
    op.execute(_KEYS_TRUNCATE_FUNCTION)
    op.execute(
        "CREATE TRIGGER ledger_keys_truncate AFTER TRUNCATE ON ledger_entries"
        " FOR EACH STATEMENT EXECUTE FUNCTION wattbook_ledger_keys_truncate()"
    )
    for owner, name, definition in incoming:
        retargeted = re.sub(
            r"REFERENCES \S*ledger_entries\(", "REFERENCES ledger_keys(", definition
        )
        op.execute(f'ALTER TABLE {owner} ADD CONSTRAINT "{name}" {retargeted}')


def _in(values: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _alarms(kinds: tuple[str, ...]) -> sa.Table:
    """Return ``alarms`` as it stands, so SQLite's table copy keeps every constraint."""
    return sa.Table(
        "alarms",
        sa.MetaData(),
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=12), nullable=True),
        sa.Column("installation_id", sa.Integer(), nullable=True),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(_in(kinds), name="ck_alarms_kind"),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name="ck_alarms_ends_after_start"
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name="ck_alarms_acknowledged_by_whom",
        ),
        sa.CheckConstraint(
            "meter_number IS NULL OR meter_number = subject", name="ck_alarms_meter_is_subject"
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"], ["meter_installations.id"], name="fk_alarms_installation_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name="uq_alarms_kind_subject_started_at"
        ),
        sa.Index("ix_alarms_ended_at_subject", "ended_at", "subject"),
        sa.Index("ix_alarms_meter_number_started_at", "meter_number", "started_at"),
    )


def _set_alarm_kinds(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table("alarms", copy_from=_alarms(old)) as batch:
        batch.drop_constraint(op.f("ck_alarms_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_alarms_kind"), _in(new))


def upgrade() -> None:
    """Partition readings and ledger entries by month (PostgreSQL); allow PARTITION_MISSING."""
    _set_alarm_kinds(_BEFORE, _AFTER)
    if op.get_bind().dialect.name != "postgresql":
        return
    _partition_readings()
    _partition_ledger()


def _unpartition(table: str, primary_key: str) -> None:
    indexes = [
        (name, definition)
        for name, definition in _plain_indexes(table)
        if name != "ix_ledger_entries_reference"
    ]
    aside = f"{table}{_SUFFIX}"
    op.execute(f'CREATE TABLE "{aside}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    op.execute(f'INSERT INTO "{aside}" SELECT * FROM "{table}"')  # noqa: S608 (names from PARTITIONED, no input)
    sequence = _scalar("SELECT pg_get_serial_sequence(:t, 'id')", t=table)
    if sequence is not None:
        op.execute(f'ALTER SEQUENCE {sequence} OWNED BY "{aside}".id')
    op.execute(f'DROP TABLE "{table}"')
    op.execute(f'ALTER TABLE "{aside}" RENAME TO "{table}"')
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({primary_key})')
    _recreate_indexes(indexes)


def downgrade() -> None:
    """Put both tables back as plain tables with their rows; drop PARTITION_MISSING."""
    op.execute("DELETE FROM alarms WHERE kind = 'PARTITION_MISSING'")
    _set_alarm_kinds(_AFTER, _BEFORE)
    if op.get_bind().dialect.name != "postgresql":
        return
    _unpartition("readings", "id")
    op.execute(
        'ALTER TABLE "readings" ADD CONSTRAINT "uq_readings_installation_id_meter_time_at"'
        " UNIQUE (installation_id, meter_time_at)"
    )
    op.execute(
        'ALTER TABLE "readings" ADD CONSTRAINT "fk_readings_installation_id"'
        " FOREIGN KEY (installation_id) REFERENCES meter_installations (id)"
    )
    incoming = _foreign_keys_to("ledger_keys", skip="ledger_entries")
    for owner, name, _definition in incoming:
        op.execute(f'ALTER TABLE {owner} DROP CONSTRAINT "{name}"')
    _unpartition("ledger_entries", "id")
    op.execute("DROP FUNCTION wattbook_ledger_keys_insert() CASCADE")
    op.execute("DROP FUNCTION wattbook_ledger_keys_truncate() CASCADE")
    op.execute('DROP TABLE "ledger_keys"')
    for statement in (
        'ADD CONSTRAINT "uq_ledger_entries_reference" UNIQUE (reference)',
        'ADD CONSTRAINT "uq_ledger_entries_reverses_id" UNIQUE (reverses_id)',
        'ADD CONSTRAINT "fk_ledger_entries_account_id" FOREIGN KEY (account_id)'
        " REFERENCES accounts (id)",
        'ADD CONSTRAINT "fk_ledger_entries_reverses_id" FOREIGN KEY (reverses_id)'
        " REFERENCES ledger_entries (id)",
    ):
        op.execute(f'ALTER TABLE "ledger_entries" {statement}')
    for owner, name, definition in incoming:
        retargeted = re.sub(
            r"REFERENCES \S*ledger_keys\(", "REFERENCES ledger_entries(", definition
        )
        op.execute(f'ALTER TABLE {owner} ADD CONSTRAINT "{name}" {retargeted}')
