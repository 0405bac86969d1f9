"""Composition root: build the adapters from the settings and hand them to the use cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.adapters.clock import SystemClock
from wattbook.application import ports
from wattbook.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    """The database engine and what the use cases need of it."""

    engine: Engine
    uow_factory: Callable[[], ports.UnitOfWork]
    clock: ports.Clock

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()


def build_storage(settings: Settings | None = None) -> Storage:
    """Return the storage for the configured database (not migrated: see ``migrate``).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    engine = db.create_engine(resolved.database_url)
    return Storage(engine=engine, uow_factory=db.unit_of_work_factory(engine), clock=SystemClock())


def migrate(settings: Settings | None = None, *, revision: str = "head") -> tuple[str, str | None]:
    """Migrate the configured database to ``revision``; return its URL (no password) and revision.

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    engine = db.create_engine(resolved.database_url)
    try:
        db.upgrade(engine, revision=revision)
        return engine.url.render_as_string(hide_password=True), db.current_revision(engine)
    finally:
        engine.dispose()
