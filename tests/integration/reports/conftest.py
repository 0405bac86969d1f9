"""Report and import tests run on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from tests.integration.db.databases import empty_engine, engine

__all__ = ["empty_engine", "engine"]
