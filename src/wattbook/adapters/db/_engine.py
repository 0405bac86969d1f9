"""Build SQLAlchemy engines for SQLite (WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from wattbook.adapters.db import _workers

# Long enough to ride out a writer finishing a large reading batch; short enough that a stuck
# process shows up as an error rather than a hang.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option read by the "begin" hook below: a unit of work that will write asks for
# BEGIN IMMEDIATE so SQLite takes the write lock up front. A deferred transaction that reads,
# then tries to write, fails with SQLITE_BUSY when another writer got in between.
SQLITE_BEGIN_OPTION = "wattbook_sqlite_begin"

# SQLite's setting for every connection (ADR 18): FULL syncs the WAL at each commit. Group
# commit (the bank callbacks' batcher) pays that sync once for many callbacks.
SQLITE_SYNCHRONOUS = "FULL"

# Execution option of a read-only unit of work's connection: repositories then read without
# row locks (PostgreSQL refuses FOR UPDATE in a READ ONLY transaction, and a reader needs none).
READ_ONLY_OPTION = "wattbook_read_only"


def locks_rows(connection: Connection) -> bool:
    """Test whether reads meant for an update must lock their rows on this connection.

    Only PostgreSQL needs it (SQLite's BEGIN IMMEDIATE serialises writers), and only in a unit
    of work that may write.
    """
    return connection.dialect.name == "postgresql" and not connection.get_execution_options().get(
        READ_ONLY_OPTION, False
    )


class UnsupportedDatabase(ValueError):
    """The database URL names a backend wattbook does not support."""


class InvalidDatabaseUrl(ValueError):
    """The database URL cannot be parsed (a bad port, no scheme...)."""


def normalise_url(url: str | URL) -> URL:
    """Return the URL with the driver wattbook uses for its backend.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3);
    ``sqlite://`` stays on the standard library driver.

    :raises InvalidDatabaseUrl: if the URL cannot be parsed.
    :raises UnsupportedDatabase: if the backend is neither SQLite nor PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as error:
        # The URL itself is not repeated: it may hold a password.
        raise InvalidDatabaseUrl(f"malformed database URL: {error}") from error
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise UnsupportedDatabase(f"unsupported database backend {backend!r}")


def sqlite_path(url: str | URL) -> Path | None:
    """Return the file of a SQLite database URL, or None (PostgreSQL, or SQLite in memory).

    :raises UnsupportedDatabase: if the backend is neither SQLite nor PostgreSQL.
    """
    parsed = normalise_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None  # an SQLite URI: its path is the driver's to read
    return Path(database)


# Connections beyond the workers' own, for direct users of the engine (the CLI, migrations).
POOL_OVERFLOW = 4
# How long connecting to PostgreSQL may take before it counts as unreachable.
POSTGRES_CONNECT_TIMEOUT_S = 10


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    read_only: bool = False,
    workers: int = _workers.DEFAULT_WORKERS,
    queue_timeout_s: float = _workers.DEFAULT_QUEUE_TIMEOUT_S,
    **options: Any,
) -> Engine:
    """Return an engine for ``url`` configured as wattbook needs it.

    SQLite gets WAL journaling, foreign keys on, a busy timeout and transactions that really
    begin where SQLAlchemy begins them (the driver's own implicit BEGIN is switched off).
    A file database's folder is created if it is missing; the command line asks first
    (``wattbook migrate --create-folder``, and every other command checks the file exists).
    The engine gets ``workers`` threads of its own for the async units of work (at most that
    many run at once; others wait up to ``queue_timeout_s``) and a connection pool at least
    that large, so that an admitted unit of work never waits for a connection.

    With ``read_only`` a SQLite file is opened read-only and left exactly as it is (no WAL
    switch, no file created): for checking a database before anything may change it.

    :raises UnsupportedDatabase: if the backend is neither SQLite nor PostgreSQL.
    :raises ValueError: if ``workers`` or ``queue_timeout_s`` is out of range.
    """
    limits = _workers.WorkerLimits(workers=workers, queue_timeout_s=queue_timeout_s)
    parsed = normalise_url(url)
    connect_args = dict(options.pop("connect_args", {}))
    if parsed.get_backend_name() == "postgresql":
        connect_args.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT_S)
        options.setdefault("pool_size", workers)
        options.setdefault("max_overflow", POOL_OVERFLOW)
        engine = sa.create_engine(
            parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args, **options
        )
        _configure_postgresql(engine)
        _workers.configure(engine, limits)
        return engine
    path = sqlite_path(parsed)
    if read_only and path is not None:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return sa.create_engine(
            "sqlite://",
            echo=echo,
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            **options,
        )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A file database gets a queue pool; an in-memory one keeps SQLAlchemy's own.
        options.setdefault("pool_size", workers)
        options.setdefault("max_overflow", POOL_OVERFLOW)
    # The async unit of work hops between worker threads, one call at a time.
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = sa.create_engine(parsed, echo=echo, connect_args=connect_args, **options)
    _configure_sqlite(engine)
    _workers.configure(engine, limits)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Money acknowledged is on disk (ADR 18): a server or role configured with
        # synchronous_commit=off would otherwise let an answered payment vanish in a crash.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO on")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Autocommit at driver level: SQLAlchemy's "begin" hook issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            # Every commit is on disk before it returns (ADR 18): an acknowledged payment,
            # callback or kiosk note must survive a power cut, and SQLite cannot change this
            # inside a transaction, so every connection is FULL. NORMAL would lose the last
            # commits before a power loss, including ones the bank was told had succeeded.
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")
