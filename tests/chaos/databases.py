"""A fresh, migrated database per chaos run, on SQLite or PostgreSQL, and its "restart".

PostgreSQL runs get a database of their own on the server ``WATTBOOK_TEST_POSTGRES_URL``
names (``chaos_<random>``), dropped afterwards. Other engineers share that server, so a
"database restart" is ``pg_terminate_backend`` on this run's database only: to its clients it
looks exactly like a restart (every connection dropped mid-statement), and nobody else's
sessions are touched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.settings import Settings

POSTGRES_URL_VARIABLE = "WATTBOOK_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


def postgres_server() -> str | None:
    """Return the PostgreSQL server URL for chaos runs, or None when not configured."""
    return os.environ.get(POSTGRES_URL_VARIABLE, "").strip() or None


def _admin(server: str) -> sa.Engine:
    return sa.create_engine(db.normalise_url(server), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a new database migrated to the newest schema; drop it afterwards.

    :raises RuntimeError: if ``backend`` is PostgreSQL and no server is configured.
    """
    name = f"chaos_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'{name}.sqlite3'}"
        bootstrap.migrate(Settings(database_url=url))
        yield url
        return
    server = postgres_server()
    if server is None:
        raise RuntimeError(f"PostgreSQL not configured: set {POSTGRES_URL_VARIABLE}")
    admin = _admin(server)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = db.normalise_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            bootstrap.migrate(Settings(database_url=url))
            yield url
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def terminate_backends(url: str) -> int:
    """Drop every connection to this PostgreSQL database but our own; return how many.

    This is what a server restart looks like to the clients of one database.
    """
    name = db.normalise_url(url).database
    admin = _admin(url)
    try:
        with admin.connect() as connection:
            dropped = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(dropped)
