"""Run the Alembic migrations that ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")


class UnknownRevision(ValueError):
    """The revision asked for is not one wattbook ships, or not one to upgrade to from here."""


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic configuration that migrates through ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``.

    :raises UnknownRevision: if ``revision`` names no shipped revision, or one below the
        database's (Alembic finds that out before it changes anything).
    """
    try:
        command.upgrade(alembic_config(engine), revision)
    except CommandError as error:
        raise UnknownRevision(f"cannot upgrade to revision {revision!r}: {error}") from error


def downgrade(engine: Engine, *, revision: str) -> None:
    """Migrate the database behind ``engine`` down to ``revision`` (``"base"`` empties it)."""
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision shipped with this version of wattbook."""
    script = ScriptDirectory(str(MIGRATIONS_DIRECTORY))
    return script.get_current_head()


def is_shipped_revision(revision: str) -> bool:
    """Return whether ``revision`` is one of the revisions shipped with this version."""
    script = ScriptDirectory(str(MIGRATIONS_DIRECTORY))
    return any(found.revision == revision for found in script.walk_revisions())
