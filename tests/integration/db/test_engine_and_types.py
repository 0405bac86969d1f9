"""The engine factory and the project column types, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db

_metadata = sa.MetaData()
_probe = sa.Table(
    "probe",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", db.UtcDateTime, nullable=True),
    sa.Column("price", db.PriceColumn, nullable=True),
)


@pytest.fixture
def probe_engine(empty_engine: Engine) -> Engine:
    _metadata.create_all(empty_engine)
    return empty_engine


class TestNormaliseUrl:
    def test_plain_postgresql_url_gets_psycopg_driver(self) -> None:
        url = db.normalise_url("postgresql://postgres@127.0.0.1:5432/test")

        assert url.drivername == "postgresql+psycopg"

    def test_unknown_backend_is_refused(self) -> None:
        with pytest.raises(db.UnsupportedDatabase):
            db.normalise_url("mysql://root@localhost/wattbook")


class TestSqliteEngine:
    def test_turns_on_wal_and_foreign_keys(self, tmp_path: Path) -> None:
        engine = db.create_engine(f"sqlite:///{tmp_path / 'sub' / 'x.sqlite3'}")

        with engine.connect() as connection:
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        engine.dispose()

        assert (journal, foreign_keys, busy) == ("wal", 1, db.SQLITE_BUSY_TIMEOUT_MS)

    def test_rolls_back_what_was_not_committed(self, tmp_path: Path) -> None:
        engine = db.create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        _metadata.create_all(engine)

        with engine.connect() as connection:
            connection.execute(_probe.insert().values(id=1))
            connection.rollback()
        with engine.connect() as connection:
            count = connection.execute(sa.select(sa.func.count()).select_from(_probe)).scalar()
        engine.dispose()

        assert count == 0


class TestUtcDateTime:
    def test_round_trips_aware_time_as_utc(self, probe_engine: Engine) -> None:
        shanghai_noon = datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))

        with probe_engine.begin() as connection:
            connection.execute(_probe.insert().values(id=1, at=shanghai_noon))
            stored = connection.execute(sa.select(_probe.c.at)).scalar_one()

        assert stored == shanghai_noon
        assert stored.tzinfo == UTC

    def test_refuses_naive_time(self, probe_engine: Engine) -> None:
        with probe_engine.begin() as connection, pytest.raises(sa.exc.StatementError) as caught:
            connection.execute(_probe.insert().values(id=1, at=datetime(2024, 1, 1, 8, 0)))

        assert isinstance(caught.value.orig, db.NaiveDatetime)

    def test_compares_in_sql_by_instant(self, probe_engine: Engine) -> None:
        instant = datetime(2024, 1, 31, 16, 0, tzinfo=UTC)

        with probe_engine.begin() as connection:
            connection.execute(_probe.insert().values(id=1, at=instant))
            later = connection.execute(
                sa.select(sa.func.count())
                .select_from(_probe)
                .where(_probe.c.at >= instant - timedelta(microseconds=1))
            ).scalar()

        assert later == 1


class TestPriceColumn:
    def test_round_trips_four_decimal_places_exactly(self, probe_engine: Engine) -> None:
        with probe_engine.begin() as connection:
            connection.execute(_probe.insert().values(id=1, price=Decimal("0.5283")))
            stored = connection.execute(sa.select(_probe.c.price)).scalar_one()
            raw = connection.execute(sa.text("SELECT price FROM probe")).scalar_one()

        assert (stored, raw) == (Decimal("0.5283"), 5283)

    def test_refuses_a_fifth_decimal_place(self, probe_engine: Engine) -> None:
        with probe_engine.begin() as connection, pytest.raises(sa.exc.StatementError) as caught:
            connection.execute(_probe.insert().values(id=1, price=Decimal("0.52831")))

        assert isinstance(caught.value.orig, db.InexactPrice)
