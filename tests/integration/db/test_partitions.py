"""Readings and ledger entries partitioned by month on PostgreSQL (revision 0025, ADR 21).

The dedupe keys must hold across partitions as they did on one table: a reading's (meter,
meter time), a journal reference, one reversal per entry, and the entry a payment points at.
Those run on both engines (SQLite keeps its plain tables). Where rows land, the upkeep and the
migration of existing rows are PostgreSQL's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.db.databases import Templates, _postgres_engine, _require_postgres_url
from tests.integration.db.databases import _drop_postgres_schema as drop_schema

from wattbook.adapters import db
from wattbook.application.keep_partitions import keep_partitions
from wattbook.domain import ledger
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import AccountNumber, BillingMonth, Money

# Far from the database's own clock, so the migration made no partition for these months.
MAY_2031 = datetime(2031, 5, 10, 4, 0, tzinfo=UTC)
JUNE_2031 = datetime(2031, 6, 10, 4, 0, tzinfo=UTC)
MAY_2025 = datetime(2025, 5, 10, 4, 0, tzinfo=UTC)
JUNE_2025 = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)
NUMBER = "051600000001"


@pytest.fixture
def postgres(tmp_path: Path, database_templates: Templates) -> Iterator[Engine]:
    """Yield a migrated PostgreSQL database (skipped when PostgreSQL is not configured)."""
    with database_templates.migrated("postgresql", tmp_path) as engine:
        yield engine


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    """Yield an empty PostgreSQL schema, for migrating step by step."""
    _require_postgres_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = _postgres_engine(schema)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_schema(schema)


def _add_account_and_meter(connection: sa.Connection, at: datetime) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO accounts (id, account_number, holder, phone, address, status, opened_at)"
            " VALUES (1, :number, '住户', NULL, '丙6-1-801', 'OPEN', :at)"
        ),
        {"number": NUMBER, "at": at},
    )
    connection.execute(
        sa.text(
            "INSERT INTO balances (account_id, balance_fen, entry_count, updated_at)"
            " VALUES (1, 0, 0, :at)"
        ),
        {"at": at},
    )
    connection.execute(
        sa.text(
            "INSERT INTO meter_installations (id, account_id, meter_number, bus, installed_at,"
            " initial_total_wh, initial_sharp_wh, initial_peak_wh, initial_flat_wh,"
            " initial_valley_wh) VALUES (1, 1, :number, 'bus-1', :at, 0, 0, 0, 0, 0)"
        ),
        {"number": NUMBER, "at": at},
    )


_READING = sa.text(
    "INSERT INTO readings (installation_id, meter_time_at, received_at, total_wh, sharp_wh,"
    " peak_wh, flat_wh, valley_wh, outcome) VALUES (1, :at, :at, :wh, 0, 0, :wh, 0, 'ACCEPTED')"
)
_ENTRY = sa.text(
    "INSERT INTO ledger_entries (account_id, reference, kind, amount_fen, at, reverses_id,"
    " balance_after_fen) VALUES (1, :reference, :kind, :fen, :at, :reverses, 0)"
)


def _entry(connection: sa.Connection, reference: str, at: datetime, **values: object) -> int:
    params = {"reference": reference, "kind": "TOP_UP", "fen": 500, "at": at, "reverses": None}
    connection.execute(_ENTRY, params | values)
    found = connection.execute(
        sa.text("SELECT id FROM ledger_entries WHERE reference = :r"), {"r": reference}
    ).scalar_one()
    return int(found)


def _partition_of(connection: sa.Connection, table: str, where: str) -> list[str]:
    rows = connection.execute(
        sa.text(f"SELECT tableoid::regclass::text FROM {table} WHERE {where} ORDER BY 1")  # noqa: S608
    )
    return [str(name) for (name,) in rows]


def _partitions(connection: sa.Connection, table: str) -> set[str]:
    rows = connection.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    )
    return {str(name) for (name,) in rows}


class TestKeysHoldAcrossMonths:
    """The dedupe keys, on both engines; on PostgreSQL across two month partitions."""

    def test_a_reading_is_stored_once_per_meter_and_meter_time(self, engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
            connection.execute(_READING, {"at": JUNE_2031, "wh": 10})

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            connection.execute(_READING, {"at": JUNE_2031, "wh": 20})

    def test_a_reference_posts_once_even_in_another_month(self, engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
            _entry(connection, "KIOSK:1", MAY_2031)

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            _entry(connection, "KIOSK:1", JUNE_2031)

    async def test_the_ledger_refuses_a_repeated_reference_in_another_month(
        self, engine: Engine
    ) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
        number = AccountNumber(value=NUMBER)
        first = ledger.Entry(
            account_number=number,
            reference="BANK:9",
            kind=ledger.EntryKind.TOP_UP,
            amount=Money(fen=100),
            at=MAY_2031,
        )
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.ledger.post((first,))
            await uow.commit()

        again = ledger.Entry(
            account_number=number,
            reference="BANK:9",
            kind=ledger.EntryKind.TOP_UP,
            amount=Money(fen=100),
            at=JUNE_2031,
        )
        async with db.SqlUnitOfWork(engine) as uow:
            with pytest.raises(ledger.DuplicateReference):
                await uow.ledger.post((again,))

    def test_an_entry_is_reversed_once_even_from_another_month(self, engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
            top_up = _entry(connection, "KIOSK:2", MAY_2031)
            _entry(connection, "FIX:1", MAY_2031, kind="CORRECTION", fen=-500, reverses=top_up)

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            _entry(connection, "FIX:2", JUNE_2031, kind="CORRECTION", fen=-500, reverses=top_up)

    def test_a_correction_cannot_reverse_an_entry_that_does_not_exist(self, engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            _entry(connection, "FIX:3", JUNE_2031, kind="CORRECTION", fen=-5, reverses=999_999)

    def test_a_payment_must_point_at_an_entry(self, engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
            entry_id = _entry(connection, "COUNTER:1", JUNE_2031)
        insert = sa.text(
            "INSERT INTO payments (receipt_number, channel, channel_reference, kind,"
            " account_id, entry_id, amount_fen, balance_before_fen, balance_after_fen, at,"
            " operator) VALUES (:receipt, 'COUNTER', :receipt, 'TOP_UP', 1, :entry, 500, 0,"
            " 500, :at, 'wang.li')"
        )
        with engine.begin() as connection:
            connection.execute(insert, {"receipt": "C1", "entry": entry_id, "at": JUNE_2031})

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            connection.execute(insert, {"receipt": "C2", "entry": entry_id + 99, "at": JUNE_2031})


class TestWhereRowsLand:
    def test_a_month_partition_holds_its_local_month_and_the_default_the_rest(
        self, postgres: Engine
    ) -> None:
        month = BillingMonth(year=2031, month=6)
        with postgres.begin() as connection:
            db.ensure_month_partitions(connection, [month])
            _add_account_and_meter(connection, MAY_2031)
            # 1 June 00:00 in Shanghai is 31 May 16:00 UTC: it belongs to June.
            connection.execute(_READING, {"at": month.start_at, "wh": 1})
            connection.execute(
                _READING, {"at": month.start_at - timedelta(microseconds=1), "wh": 1}
            )
            _entry(connection, "KIOSK:7", month.end_at - timedelta(microseconds=1))
            _entry(connection, "KIOSK:8", month.end_at)

        with postgres.connect() as connection:
            readings = [
                str(name)
                for (name,) in connection.execute(
                    sa.text("SELECT tableoid::regclass::text FROM readings ORDER BY meter_time_at")
                )
            ]
            entries = _partition_of(connection, "ledger_entries", "reference = 'KIOSK:7'")
            entries += _partition_of(connection, "ledger_entries", "reference = 'KIOSK:8'")

        assert readings == ["readings_default", "readings_2031_06"]
        assert entries == ["ledger_entries_2031_06", "ledger_entries_default"]

    def test_making_a_month_moves_its_rows_out_of_the_default_partition(
        self, postgres: Engine
    ) -> None:
        with postgres.begin() as connection:
            _add_account_and_meter(connection, MAY_2031)
            connection.execute(_READING, {"at": JUNE_2031, "wh": 5})
            _entry(connection, "KIOSK:9", JUNE_2031)

        with postgres.begin() as connection:
            created = db.ensure_month_partitions(connection, [BillingMonth.of(JUNE_2031)])
        with postgres.begin() as connection:
            readings = _partition_of(connection, "readings", "true")
            entries = _partition_of(connection, "ledger_entries", "reference = 'KIOSK:9'")
            # The moved entry keeps its one key: posting its reference again still fails.
            with pytest.raises(sa.exc.IntegrityError):
                _entry(connection, "KIOSK:9", MAY_2031)

        assert created == ("readings_2031_06", "ledger_entries_2031_06")
        assert readings == ["readings_2031_06"]
        assert entries == ["ledger_entries_2031_06"]


class TestUpkeep:
    async def test_makes_the_months_ahead_and_raises_no_alarm(self, engine: Engine) -> None:
        clock = FakeClock(MAY_2031)

        check = await keep_partitions(
            keeper=db.SqlPartitionKeeper(engine), uow=db.SqlUnitOfWork(engine), clock=clock
        )
        async with db.SqlUnitOfWork(engine) as uow:
            alarms = await uow.alarms.alarms(kinds=(AlarmKind.PARTITION_MISSING,))

        assert check.missing == ()
        assert alarms == ()
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                made = _partitions(connection, "readings") & {
                    f"readings_2031_{m:02d}" for m in range(4, 10)
                }
            assert made == {f"readings_2031_{m:02d}" for m in (5, 6, 7, 8)}
        else:
            assert check.upkeep.created == ()

    async def test_alarms_while_next_month_cannot_be_made_and_ends_it_once_made(
        self, postgres: Engine
    ) -> None:
        clock = FakeClock(MAY_2031)
        keeper = db.SqlPartitionKeeper(postgres)
        with postgres.begin() as connection:
            # A hand-made partition overlapping June: PostgreSQL refuses June's.
            connection.exec_driver_sql(
                "CREATE TABLE readings_by_hand PARTITION OF readings"
                " FOR VALUES FROM ('2031-06-15 00:00+00') TO ('2031-06-16 00:00+00')"
            )

        refused = await keep_partitions(keeper=keeper, uow=db.SqlUnitOfWork(postgres), clock=clock)
        async with db.SqlUnitOfWork(postgres) as uow:
            raised = await uow.alarms.alarms(kinds=(AlarmKind.PARTITION_MISSING,))
        with postgres.begin() as connection:
            connection.exec_driver_sql("DROP TABLE readings_by_hand")
        clock.advance(timedelta(hours=1))
        made = await keep_partitions(keeper=keeper, uow=db.SqlUnitOfWork(postgres), clock=clock)
        async with db.SqlUnitOfWork(postgres) as uow:
            still_open = await uow.alarms.alarms(kinds=(AlarmKind.PARTITION_MISSING,))

        assert refused.missing == ("readings",)
        assert [(r.table, str(r.month)) for r in refused.upkeep.refused] == [
            ("readings", "2031-06")
        ]
        assert "ledger_entries_2031_06" in refused.upkeep.created
        assert [(a.subject, a.ended_at) for a in raised] == [("readings 2031-06", None)]
        assert "would overlap" in raised[0].detail
        assert made.missing == ()
        assert "readings_2031_06" in made.upkeep.created
        assert still_open == ()


class TestMigration:
    """Revision 0025 keeps every row and key, and its downgrade gives them back.

    The rows are older than the database's clock: the migration makes their months' partitions.
    """

    @staticmethod
    def _fill(engine: Engine) -> None:
        with engine.begin() as connection:
            _add_account_and_meter(connection, MAY_2025)
            for day in range(3):
                at = MAY_2025 + timedelta(days=20 * day)
                connection.execute(_READING, {"at": at, "wh": 10 * day})
            top_up = _entry(connection, "KIOSK:1", MAY_2025)
            _entry(connection, "FIX:1", JUNE_2025, kind="CORRECTION", fen=-500, reverses=top_up)
            connection.execute(
                sa.text(
                    "INSERT INTO payments (receipt_number, channel, channel_reference, kind,"
                    " account_id, entry_id, amount_fen, balance_before_fen, balance_after_fen,"
                    " at) VALUES ('K1', 'KIOSK', 'K1', 'TOP_UP', 1, :entry, 500, 0, 500, :at)"
                ),
                {"entry": top_up, "at": MAY_2025},
            )

    @staticmethod
    def _contents(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as connection:
            return {
                table: [
                    tuple(row)
                    for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608
                ]
                for table in ("readings", "ledger_entries", "payments")
            }

    def test_upgrade_moves_every_row_into_its_month_and_keeps_the_keys(
        self, empty_postgres: Engine
    ) -> None:
        db.upgrade(empty_postgres, revision="0024")
        self._fill(empty_postgres)
        before = self._contents(empty_postgres)

        db.upgrade(empty_postgres, revision="0025")

        after = self._contents(empty_postgres)
        with empty_postgres.begin() as connection:
            readings = _partition_of(connection, "readings", "true")
            entries = _partition_of(connection, "ledger_entries", "true")
            new_id = _entry(connection, "KIOSK:2", JUNE_2025)
            with pytest.raises(sa.exc.IntegrityError):
                _entry(connection, "FIX:2", JUNE_2025, kind="CORRECTION", fen=-500, reverses=1)
        assert after == before
        assert readings == ["readings_2025_05", "readings_2025_05", "readings_2025_06"]
        assert entries == ["ledger_entries_2025_05", "ledger_entries_2025_06"]
        assert new_id == 3  # the id sequence carried on

    def test_downgrade_gives_back_plain_tables_with_every_row_and_key(
        self, empty_postgres: Engine
    ) -> None:
        db.upgrade(empty_postgres, revision="0024")
        self._fill(empty_postgres)
        before = self._contents(empty_postgres)
        db.upgrade(empty_postgres, revision="0025")

        db.downgrade(empty_postgres, revision="0024")

        after = self._contents(empty_postgres)
        with empty_postgres.connect() as connection:
            kinds = {
                str(name): str(kind)
                for name, kind in connection.execute(
                    sa.text(
                        "SELECT relname, relkind FROM pg_class WHERE relname IN"
                        " ('readings', 'ledger_entries', 'ledger_keys')"
                        " AND relnamespace = current_schema()::regnamespace"
                    )
                )
            }
            with pytest.raises(sa.exc.IntegrityError):
                _entry(connection, "KIOSK:1", JUNE_2025)
        assert after == before
        assert kinds == {"readings": "r", "ledger_entries": "r"}
