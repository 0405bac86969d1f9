"""The journeys run on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

from tests.integration.db.databases import empty_engine, engine

__all__ = ["empty_engine", "engine"]
