"""Fixtures that run a test on SQLite and, when configured, on PostgreSQL.

SQLite always runs, on a fresh file in the test's temporary directory. PostgreSQL runs when
``WATTBOOK_TEST_POSTGRES_URL`` is set (CI sets ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets its own schema, dropped afterwards, so tests never see each other's rows.
Import the fixtures into a ``conftest.py`` to use them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db

POSTGRES_URL_VARIABLE = "WATTBOOK_TEST_POSTGRES_URL"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_url() -> str | None:
    """Return the PostgreSQL server URL for tests, or None when not configured."""
    return os.environ.get(POSTGRES_URL_VARIABLE, "").strip() or None


def _postgres_engine(schema: str) -> Engine:
    url = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_URL_VARIABLE} to run this leg")
    admin = db.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    return db.create_engine(url, connect_args={"options": f"-c search_path={schema}"})


def _drop_postgres_schema(schema: str) -> None:
    url = postgres_url()
    assert url is not None
    admin = db.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Yield an engine on an empty database of each backend."""
    backend: str = request.param
    if backend == "sqlite":
        engine = db.create_engine(f"sqlite:///{tmp_path / 'wattbook.sqlite3'}")
        yield engine
        engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = _postgres_engine(schema)
    try:
        yield engine
    finally:
        engine.dispose()
        _drop_postgres_schema(schema)


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """Return an engine on a database migrated to the newest revision."""
    db.upgrade(empty_engine)
    return empty_engine


def table_names(engine: Engine) -> set[str]:
    """Return the names of the tables in the engine's (search-path) schema."""
    return set(sa.inspect(engine).get_table_names())


def same_database(engine: Engine, *, options: str = "", **engine_options: Any) -> Engine:
    """Return another engine on the database (and, on PostgreSQL, the schema) of ``engine``.

    ``options`` adds PostgreSQL server settings (``-c name=value``); ``engine_options`` go to
    ``db.create_engine`` (``workers``, ``queue_timeout_s``…).
    """
    if engine.dialect.name == "sqlite":
        return db.create_engine(engine.url, **engine_options)
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SHOW search_path").scalar_one()
    url = engine.url.render_as_string(hide_password=False)
    settings = f"-c search_path={schema} {options}".strip()
    return db.create_engine(url, connect_args={"options": settings}, **engine_options)
