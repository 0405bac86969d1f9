"""The shipped migrations build exactly the schema the code declares, and undo it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from tests.integration.db.databases import table_names

from wattbook.adapters import db

AT = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)


class TestUpgrade:
    def test_reaches_the_head_revision(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine)

        assert db.current_revision(empty_engine) == db.head_revision()

    def test_leaves_no_difference_from_the_declared_tables(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine)

        with empty_engine.connect() as connection:
            # As the migrations' env.py: PostgreSQL's partitions and ledger_keys (revision 0025)
            # are not in the metadata; test_partitions.py checks them.
            include = db.comparison_filter(empty_engine.dialect.name)
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            differences = compare_metadata(context, db.metadata)

        assert differences == []

    def test_seeds_the_manuals_price(self, engine: Engine) -> None:
        with engine.connect() as connection:
            price = connection.execute(
                sa.text("SELECT price FROM tariff_components WHERE code = 'ALL'")
            ).scalar_one()

        assert price == 5283


class TestDowngrade:
    def test_to_base_removes_every_table(self, engine: Engine) -> None:
        db.downgrade(engine, revision="base")

        assert table_names(engine) <= {"alembic_version"}


class TestOperatorsRelayOrders:
    """Revision 0010: 'OPERATOR:<name>' rows become reason OPERATOR with the name apart."""

    @staticmethod
    def _add_commands(engine: Engine, *reasons: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO accounts (account_number, holder, phone, address, status, "
                    "opened_at) VALUES ('051600000001', '住户', NULL, '丙6-1-801', 'OPEN', :at)"
                ),
                {"at": AT},
            )
            for reason in reasons:
                connection.execute(
                    sa.text(
                        "INSERT INTO relay_commands (account_id, meter_number, action, reason, "
                        "not_before_at, created_at, status) SELECT id, '051600000001', 'TRIP', "
                        ":reason, :at, :at, 'CONFIRMED' FROM accounts"
                    ),
                    {"reason": reason, "at": AT},
                )

    @staticmethod
    def _rows(engine: Engine, *columns: str) -> list[tuple[object, ...]]:
        with engine.connect() as connection:
            table = sa.table("relay_commands", *(sa.column(name) for name in (*columns, "id")))
            query = sa.select(*(table.c[name] for name in columns)).order_by(table.c.id)
            return [tuple(row) for row in connection.execute(query)]

    def test_upgrade_moves_the_name_out_of_the_reason(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine, revision="0009")
        self._add_commands(empty_engine, "OPERATOR:duty officer 7", "ARREARS")

        db.upgrade(empty_engine, revision="0010")

        assert self._rows(empty_engine, "reason", "ordered_by", "note") == [
            ("OPERATOR", "duty officer 7", None),
            ("ARREARS", None, None),
        ]

    def test_downgrade_puts_the_name_back_into_the_reason(self, empty_engine: Engine) -> None:
        name = "欧阳值班调度员" * 8 + "第三班组"  # 60 characters: the old column holds 24
        db.upgrade(empty_engine, revision="0009")
        self._add_commands(empty_engine, "OPERATOR:duty officer 7", "ARREARS")
        db.upgrade(empty_engine, revision="0010")
        with empty_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO relay_commands (account_id, meter_number, action, reason, "
                    "ordered_by, note, not_before_at, created_at, status) SELECT id, "
                    "'051600000001', 'CLOSE', 'OPERATOR', :name, 'a reason', :at, :at, "
                    "'PENDING' FROM accounts"
                ),
                {"name": name, "at": AT},
            )

        db.downgrade(empty_engine, revision="0009")

        assert self._rows(empty_engine, "reason") == [
            ("OPERATOR:duty officer 7",),
            ("ARREARS",),
            (("OPERATOR:" + name)[:24],),
        ]


class TestDataCarriedAcross:
    def test_account_changes_from_before_0011_say_who_was_not_recorded(
        self, empty_engine: Engine
    ) -> None:
        db.upgrade(empty_engine, revision="0010")
        with empty_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO accounts (id, account_number, holder, address, status,"
                    " opened_at) VALUES (1, '051600000001', '李四', '丙6-1-801', 'OPEN',"
                    " '2025-06-01 00:00:00')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO account_changes (account_id, kind, old_value, new_value,"
                    " changed_at, document_note, attachment_ref) VALUES (1, 'PHONE', NULL,"
                    " '13900000000', '2025-06-02 00:00:00', '', '')"
                )
            )

        db.upgrade(empty_engine)

        with empty_engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT new_value, changed_by FROM account_changes")
            ).all()
        assert [tuple(row) for row in rows] == [("13900000000", "before-0011 (not recorded)")]


class TestKioskRegister:
    """Revision 0013: kiosks seen in sessions are registered without a usable secret."""

    def test_registers_each_kiosk_seen_above_its_highest_note(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine, revision="0012")
        with empty_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO accounts (account_number, holder, phone, address, status, "
                    "opened_at) VALUES ('051600000001', '住户', NULL, '丙6-1-801', 'OPEN', :at)"
                ),
                {"at": AT},
            )
            for txn, kiosk_id, notes in (
                ("K01-a1", "K01", 3),
                ("K01-b2", "K01", 5),
                ("K02-c3", "K02", 0),
            ):
                connection.execute(
                    sa.text(
                        "INSERT INTO kiosk_sessions (transaction_id, kiosk_id, account_id, state,"
                        " opened_at, updated_at, recovered) SELECT :txn, :kiosk, id, "
                        "'INSERTING_NOTES', :at, :at, false FROM accounts"
                    ),
                    {"txn": txn, "kiosk": kiosk_id, "at": AT},
                )
                for sequence in range(1, notes + 1):
                    connection.execute(
                        sa.text(
                            "INSERT INTO kiosk_notes (session_id, sequence, amount_fen,"
                            " accepted_at) SELECT id, :sequence, 100, :at FROM kiosk_sessions"
                            " WHERE transaction_id = :txn"
                        ),
                        {"sequence": sequence, "txn": txn, "at": AT},
                    )

        db.upgrade(empty_engine, revision="0013")

        with empty_engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT kiosk_id, secret, registered_by, last_acceptor_sequence, revoked_at"
                    " FROM kiosks ORDER BY kiosk_id"
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            ("K01", None, "migration 0013", 5, None),
            ("K02", None, "migration 0013", 0, None),
        ]


class TestKioskAlarmKinds:
    """Revision 0015: the kiosk alarm kinds, allowed on the way up, removed on the way down."""

    INSERT = sa.text(
        "INSERT INTO system_alarms (kind, subject, started_at, detail)"
        " VALUES (:kind, 'K01', :at, 'test')"
    )

    def test_allows_the_kiosk_kinds_and_takes_them_away_again(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine, revision="0014")
        with empty_engine.connect() as connection, pytest.raises(sa.exc.IntegrityError):
            connection.execute(self.INSERT, {"kind": "KIOSK_ACCEPTOR_FAULT", "at": AT})

        db.upgrade(empty_engine, revision="0015")
        with empty_engine.begin() as connection:
            for kind in ("KIOSK_ACCEPTOR_FAULT", "KIOSK_NOTE_RETURNED_CREDITED", "BUS_UNREACHABLE"):
                connection.execute(self.INSERT, {"kind": kind, "at": AT})
        db.downgrade(empty_engine, revision="0014")

        with empty_engine.connect() as connection:
            kinds = connection.execute(sa.text("SELECT kind FROM system_alarms")).scalars().all()
            with pytest.raises(sa.exc.IntegrityError):
                connection.execute(self.INSERT, {"kind": "KIOSK_NOTE_RETURNED_CREDITED", "at": AT})
        assert kinds == ["BUS_UNREACHABLE"]


class TestOneAlarmTable:
    """Revision 0016: the three alarm tables become one, and split back on the way down."""

    LATER = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def _fill_the_three_tables(self, connection: sa.Connection) -> None:
        connection.execute(
            sa.text(
                "INSERT INTO accounts (account_number, holder, phone, address, status, "
                "opened_at) VALUES ('051600000001', '住户', NULL, '丙6-1-801', 'OPEN', :at)"
            ),
            {"at": AT},
        )
        connection.execute(
            sa.text(
                "INSERT INTO meter_installations (account_id, meter_number, bus, installed_at,"
                " initial_total_wh, initial_sharp_wh, initial_peak_wh, initial_flat_wh,"
                " initial_valley_wh) SELECT id, '051600000001', 'bus-1', :at, 0, 0, 0, 0, 0"
                " FROM accounts"
            ),
            {"at": AT},
        )
        connection.execute(
            sa.text(
                "INSERT INTO alarms (installation_id, kind, at, raised_at, detail, resolved_at)"
                " SELECT id, 'REGISTER_BACKWARDS', :at, :at, 'went back 5 Wh', NULL"
                " FROM meter_installations"
            ),
            {"at": AT},
        )
        connection.execute(
            sa.text(
                "INSERT INTO meter_alarms (meter_number, kind, started_at, ended_at, raised_at,"
                " detail, acknowledged_at, acknowledged_by) VALUES ('051600000001',"
                " 'METER_COVER_OPENED', :later, NULL, :later, 'cover', :later, '值班员 7')"
            ),
            {"later": self.LATER},
        )
        connection.execute(
            sa.text(
                "INSERT INTO system_alarms (kind, subject, started_at, ended_at, detail)"
                " VALUES ('BUS_UNREACHABLE', 'bus-1', :at, :later, 'refused')"
            ),
            {"at": AT, "later": self.LATER},
        )

    def test_copies_every_alarm_into_one_table_and_splits_them_back(
        self, empty_engine: Engine
    ) -> None:
        db.upgrade(empty_engine, revision="0015")
        with empty_engine.begin() as connection:
            self._fill_the_three_tables(connection)

        db.upgrade(empty_engine, revision="0016")
        with empty_engine.connect() as connection:
            merged = connection.execute(
                sa.text(
                    "SELECT kind, subject, meter_number, installation_id IS NOT NULL, detail,"
                    " ended_at IS NOT NULL, acknowledged_by FROM alarms ORDER BY id"
                )
            ).all()
        tables = table_names(empty_engine)
        db.downgrade(empty_engine, revision="0015")
        with empty_engine.connect() as connection:
            reading = connection.execute(sa.text("SELECT kind, detail FROM alarms")).all()
            meter = connection.execute(
                sa.text("SELECT kind, meter_number, acknowledged_by FROM meter_alarms")
            ).all()
            system = connection.execute(
                sa.text("SELECT kind, subject, ended_at IS NOT NULL FROM system_alarms")
            ).all()

        assert [tuple(row) for row in merged] == [
            (
                "REGISTER_BACKWARDS",
                "051600000001",
                "051600000001",
                True,
                "went back 5 Wh",
                False,
                None,
            ),
            ("BUS_UNREACHABLE", "bus-1", None, False, "refused", True, None),
            (
                "METER_COVER_OPENED",
                "051600000001",
                "051600000001",
                False,
                "cover",
                False,
                "值班员 7",
            ),
        ]
        assert "meter_alarms" not in tables
        assert "system_alarms" not in tables
        assert [tuple(row) for row in reading] == [("REGISTER_BACKWARDS", "went back 5 Wh")]
        assert [tuple(row) for row in meter] == [("METER_COVER_OPENED", "051600000001", "值班员 7")]
        assert [tuple(row) for row in system] == [("BUS_UNREACHABLE", "bus-1", True)]

    def test_refuses_a_kind_it_does_not_know(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine, revision="0016")
        with empty_engine.connect() as connection, pytest.raises(sa.exc.IntegrityError):
            connection.execute(
                sa.text(
                    "INSERT INTO alarms (kind, subject, started_at, raised_at, detail)"
                    " VALUES ('NOT_A_KIND', 'x', :at, :at, '')"
                ),
                {"at": AT},
            )
