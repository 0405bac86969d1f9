"""Fixtures that run a test on SQLite and, when configured, on PostgreSQL.

SQLite always runs, on a file in the test's temporary directory. PostgreSQL runs when
``WATTBOOK_TEST_POSTGRES_URL`` is set (CI sets ``postgresql://postgres@127.0.0.1:5432/test``).
Import the fixtures into a ``conftest.py`` to use them.

Migrating costs about 0.1 s on SQLite and 0.3 s on PostgreSQL, and most storage tests want a
migrated database, so the migrations run once per session into a template and each test gets a
copy of it (:class:`Templates`): SQLite copies the template file, PostgreSQL makes a database
with ``CREATE DATABASE ... TEMPLATE`` (about 35 ms here, against 0.3 s for migrating a schema,
0.1 s for the FILE_COPY strategy and 0.18 s for replaying a pg_dump of a migrated schema). Each
test still has a database of its own, dropped afterwards, so tests never see each other's rows
and may run in any order. ``empty_engine`` stays a fresh, unmigrated database per test for the
migration tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from wattbook.adapters import db

POSTGRES_URL_VARIABLE = "WATTBOOK_TEST_POSTGRES_URL"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_url() -> str | None:
    """Return the PostgreSQL server URL for tests, or None when not configured."""
    return os.environ.get(POSTGRES_URL_VARIABLE, "").strip() or None


def _require_postgres_url() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_URL_VARIABLE} to run this leg")
    return url


def _postgres_admin(url: str) -> Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return sa.create_engine(db.normalise_url(url), isolation_level="AUTOCOMMIT")


def _postgres_engine(schema: str) -> Engine:
    url = _require_postgres_url()
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


class Templates:
    """Databases migrated once per session, copied for each test that wants one."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: str | None = None  # the template database's name

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self._folder / "template.sqlite3"
            engine = db.create_engine(f"sqlite:///{path}")
            try:
                db.upgrade(engine)
                with engine.connect() as connection:
                    # Fold the WAL into the main file, so the file alone is the database.
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                engine.dispose()
            self._sqlite = path
        return self._sqlite

    def _postgres_template(self, url: str) -> str:
        if self._postgres is None:
            name = f"wattbook_template_{uuid.uuid4().hex[:12]}"
            admin = _postgres_admin(url)
            try:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            finally:
                admin.dispose()
            engine = db.create_engine(_database_url(url, name))
            try:
                db.upgrade(engine)
            finally:
                # No session may stay connected to a template while it is copied.
                engine.dispose()
            self._postgres = name
        return self._postgres

    @contextlib.contextmanager
    def migrated(self, backend: str, folder: Path, name: str = "wattbook") -> Iterator[Engine]:
        """Yield an engine on a new copy of the migrated template; drop the copy afterwards."""
        if backend == "sqlite":
            path = folder / f"{name}.sqlite3"
            shutil.copyfile(self._sqlite_template(), path)
            engine = db.create_engine(f"sqlite:///{path}")
            try:
                yield engine
            finally:
                engine.dispose()
            return
        url = _require_postgres_url()
        template = self._postgres_template(url)
        copy = f"t_{uuid.uuid4().hex[:16]}"
        admin = _postgres_admin(url)
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
            engine = db.create_engine(_database_url(url, copy))
            try:
                yield engine
            finally:
                engine.dispose()
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        finally:
            admin.dispose()

    def close(self) -> None:
        """Drop the PostgreSQL template, if one was made."""
        if self._postgres is None:
            return
        url = postgres_url()
        assert url is not None
        admin = _postgres_admin(url)
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self._postgres}"')
        finally:
            admin.dispose()
        self._postgres = None


def _database_url(url: str, database: str) -> URL:
    return db.normalise_url(url).set(database=database)


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Yield the session's migrated templates (each made when first needed)."""
    templates = Templates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.close()


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


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: Templates
) -> Iterator[Engine]:
    """Yield an engine on a database migrated to the newest revision, one per test."""
    with database_templates.migrated(request.param, tmp_path) as migrated:
        yield migrated


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
    # libpq splits options at spaces: the default path '"$user", public' must lose its space.
    settings = f"-c search_path={schema.replace(' ', '')} {options}".strip()
    return db.create_engine(url, connect_args={"options": settings}, **engine_options)
