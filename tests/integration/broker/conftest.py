"""Fixtures: a NATS server of the test's own, and the databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.integration.broker.nats_server import nats_server
from tests.integration.db.databases import engine

__all__ = ["engine", "nats_server"]
