"""Shared pytest configuration: the session's migrated database templates."""

from __future__ import annotations

from tests.integration.db.databases import database_templates

__all__ = ["database_templates"]
