"""One alarm table for every kind: ``alarms``, ``meter_alarms`` and ``system_alarms`` merged.

Before this revision a reading's alarms (``alarms``, keyed by installation and meter time), a
meter's alarms (``meter_alarms``) and the system's (``system_alarms``) lived in three tables
with two models, so no one list showed staff everything. The new ``alarms`` table holds them
all (ADR 12): ``subject`` names what an alarm is about (the meter number for meter and reading
alarms), ``meter_number`` and ``installation_id`` are kept where they apply, and every row of
the three old tables is copied across: a reading alarm's ``at`` becomes ``started_at`` and
its ``resolved_at`` becomes ``ended_at``; a system alarm's ``raised_at`` is its start. Ids are
given anew (the three old tables' ids overlapped), in order of start.

The downgrade splits the rows back by kind. What the old tables cannot hold is lost on the way
down and said so in the log: acknowledgements of reading alarms (the old table had none) and
reading alarms whose meter was never installed (none can exist, the old table required it).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wattbook.adapters.db._types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

_UTC = wattbook.adapters.db._types.UtcDateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_METER_KINDS = (
    "OVER_CURRENT_TRIP",
    "METER_COVER_OPENED",
    "TERMINAL_COVER_OPENED",
    "POWER_DOWN",
    "RELAY_STATE_MISMATCH",
    "RELAY_NOT_CONFIRMED",
    "NO_COMMUNICATION",
    "EVENT_RECORDS_LOST",
)
_READING_KINDS = (
    "REGISTER_BACKWARDS",
    "IMPLAUSIBLE_JUMP",
    "TOU_MISMATCH",
    "LATE_READING_INCONSISTENT",
)
_SYSTEM_KINDS = (
    "HOLIDAY_SCHEDULE_UNCONFIRMED",
    "BUS_UNREACHABLE",
    "BANK_CALLBACK_REFUSED",
    "BANK_DEBIT_UNANSWERED",
    "KIOSK_NOTE_RETURNED_CREDITED",
    "KIOSK_ACCEPTOR_FAULT",
)
# Frozen here: later kinds come with later revisions.
_ALL_KINDS = _METER_KINDS + _READING_KINDS + _SYSTEM_KINDS


def _in(values: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _create_alarms() -> None:
    op.create_table(
        "alarms",
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
        sa.CheckConstraint(_in(_ALL_KINDS), name=op.f("ck_alarms_kind")),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_alarms_ends_after_start")
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name=op.f("ck_alarms_acknowledged_by_whom"),
        ),
        sa.CheckConstraint(
            "meter_number IS NULL OR meter_number = subject",
            name=op.f("ck_alarms_meter_is_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"], ["meter_installations.id"], name=op.f("fk_alarms_installation_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name=op.f("uq_alarms_kind_subject_started_at")
        ),
    )
    op.create_index("ix_alarms_ended_at_subject", "alarms", ["ended_at", "subject"])
    op.create_index("ix_alarms_meter_number_started_at", "alarms", ["meter_number", "started_at"])


def _create_reading_alarms(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resolved_at", _UTC, nullable=True),
        sa.CheckConstraint(_in(_READING_KINDS), name=op.f(f"ck_{name}_kind")),
        sa.ForeignKeyConstraint(
            ["installation_id"], ["meter_installations.id"], name=op.f(f"fk_{name}_installation_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(
            "installation_id", "kind", "at", name=op.f(f"uq_{name}_installation_id_kind_at")
        ),
    )


def _create_meter_alarms() -> None:
    op.create_table(
        "meter_alarms",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("meter_number", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(_in(_METER_KINDS), name=op.f("ck_meter_alarms_kind")),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name=op.f("ck_meter_alarms_acknowledged_by_whom"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_meter_alarms_ends_after_start"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_alarms")),
        sa.UniqueConstraint(
            "meter_number",
            "kind",
            "started_at",
            name=op.f("uq_meter_alarms_meter_number_kind_started_at"),
        ),
    )
    op.create_index(
        "ix_meter_alarms_ended_at_meter_number", "meter_alarms", ["ended_at", "meter_number"]
    )


def _create_system_alarms() -> None:
    op.create_table(
        "system_alarms",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(_in(_SYSTEM_KINDS), name=op.f("ck_system_alarms_kind")),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_system_alarms_ends_after_start"),
        ),
        sa.CheckConstraint(
            "(acknowledged_at IS NULL) = (acknowledged_by IS NULL)",
            name=op.f("ck_system_alarms_acknowledged_by_whom"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_alarms")),
        sa.UniqueConstraint(
            "kind", "subject", "started_at", name=op.f("uq_system_alarms_kind_subject_started_at")
        ),
    )
    op.create_index("ix_system_alarms_ended_at", "system_alarms", ["ended_at"])


_COLUMNS = (
    "kind, subject, meter_number, installation_id, started_at, ended_at, raised_at, detail,"
    " acknowledged_at, acknowledged_by"
)


def upgrade() -> None:
    """Copy the three tables' rows into one ``alarms`` table, then drop them."""
    # The old reading-alarm table is named ``alarms`` too: move it aside first (a copy under
    # new names, so no constraint or index name is taken twice).
    _create_reading_alarms("reading_alarms_0016")
    op.execute(
        "INSERT INTO reading_alarms_0016"
        " (id, installation_id, kind, at, raised_at, detail, resolved_at)"
        " SELECT id, installation_id, kind, at, raised_at, detail, resolved_at FROM alarms"
    )
    op.drop_table("alarms")
    _create_alarms()
    op.execute(
        f"INSERT INTO alarms ({_COLUMNS})"  # noqa: S608 (constant kinds, no input)
        " SELECT kind, subject, meter_number, installation_id, started_at, ended_at, raised_at,"
        " detail, acknowledged_at, acknowledged_by FROM ("
        # A reading's alarms: the installation's meter is the subject.
        " SELECT r.kind AS kind, i.meter_number AS subject, i.meter_number AS meter_number,"
        " r.installation_id AS installation_id, r.at AS started_at, r.resolved_at AS ended_at,"
        " r.raised_at AS raised_at, r.detail AS detail, NULL AS acknowledged_at,"
        " NULL AS acknowledged_by, 0 AS source, r.id AS old_id"
        " FROM reading_alarms_0016 r JOIN meter_installations i ON i.id = r.installation_id"
        " UNION ALL"
        " SELECT kind, meter_number, meter_number, NULL, started_at, ended_at, raised_at, detail,"
        " acknowledged_at, acknowledged_by, 1, id FROM meter_alarms"
        " UNION ALL"
        " SELECT kind, subject, NULL, NULL, started_at, ended_at, started_at, detail,"
        " acknowledged_at, acknowledged_by, 2, id FROM system_alarms"
        ") AS every_alarm ORDER BY started_at, source, old_id"
    )
    op.drop_table("reading_alarms_0016")
    op.drop_index("ix_meter_alarms_ended_at_meter_number", table_name="meter_alarms")
    op.drop_table("meter_alarms")
    op.drop_index("ix_system_alarms_ended_at", table_name="system_alarms")
    op.drop_table("system_alarms")


def downgrade() -> None:
    """Split the one table's rows back into the three tables by kind."""
    lost = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM alarms WHERE kind IN :kinds"
                " AND (acknowledged_at IS NOT NULL OR installation_id IS NULL)"
            ).bindparams(sa.bindparam("kinds", expanding=True)),
            {"kinds": list(_READING_KINDS)},
        )
        .scalar_one()
    )
    if lost:
        logger.warning(
            "Downgrading below 0016: %d reading alarm(s) lose an acknowledgement or, with no"
            " installation, are dropped (the old table could not hold them)",
            lost,
        )
    _create_meter_alarms()
    _create_system_alarms()
    reading_in = _in(_READING_KINDS)
    op.execute(
        "INSERT INTO meter_alarms (meter_number, kind, started_at, ended_at, raised_at, detail,"  # noqa: S608 (constant kinds, no input)
        " acknowledged_at, acknowledged_by)"
        " SELECT meter_number, kind, started_at, ended_at, raised_at, detail, acknowledged_at,"
        f" acknowledged_by FROM alarms WHERE {_in(_METER_KINDS)} ORDER BY id"
    )
    op.execute(
        "INSERT INTO system_alarms (kind, subject, started_at, ended_at, detail, acknowledged_at,"  # noqa: S608 (constant kinds, no input)
        " acknowledged_by)"
        " SELECT kind, subject, started_at, ended_at, detail, acknowledged_at, acknowledged_by"
        f" FROM alarms WHERE {_in(_SYSTEM_KINDS)} ORDER BY id"
    )
    _create_reading_alarms("reading_alarms_0016")
    op.execute(
        "INSERT INTO reading_alarms_0016 (installation_id, kind, at, raised_at, detail,"  # noqa: S608 (constant kinds, no input)
        " resolved_at)"
        " SELECT installation_id, kind, started_at, raised_at, detail, ended_at FROM alarms"
        f" WHERE {reading_in} AND installation_id IS NOT NULL ORDER BY id"
    )
    op.drop_index("ix_alarms_meter_number_started_at", table_name="alarms")
    op.drop_index("ix_alarms_ended_at_subject", table_name="alarms")
    op.drop_table("alarms")
    _create_reading_alarms("alarms")
    op.execute(
        "INSERT INTO alarms (installation_id, kind, at, raised_at, detail, resolved_at)"
        " SELECT installation_id, kind, at, raised_at, detail, resolved_at"
        " FROM reading_alarms_0016 ORDER BY id"
    )
    op.drop_table("reading_alarms_0016")
