"""Alembic environment: migrate through the engine handed over by ``_migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db import metadata
from wattbook.adapters.db._engine import SQLITE_BEGIN_OPTION, create_engine
from wattbook.adapters.db._partitions import comparison_filter


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The partitions and the ledger's key table of revision 0025 are PostgreSQL's own.
        include_object=comparison_filter(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    engine: Engine | None = context.config.attributes.get("engine")
    if engine is None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no engine and no sqlalchemy.url given to the migrations")
        engine = create_engine(url)
    with engine.connect() as connection:
        _run(connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}))
        connection.commit()


_main()
