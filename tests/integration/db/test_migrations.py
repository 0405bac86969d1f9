"""The shipped migrations build exactly the schema the code declares, and undo it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from tests.integration.db.databases import table_names

from wattbook.adapters import db


class TestUpgrade:
    def test_reaches_the_head_revision(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine)

        assert db.current_revision(empty_engine) == db.head_revision()

    def test_leaves_no_difference_from_the_declared_tables(self, empty_engine: Engine) -> None:
        db.upgrade(empty_engine)

        with empty_engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
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
