"""Deployment settings: where the database lives (and, later, serial ports and the modem).

Business policy (prices, thresholds, holidays) is not here: it is effective-dated data in the
database (CONVENTIONS §1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DATABASE_URL_VARIABLE = "WATTBOOK_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/wattbook.sqlite3"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Hold what differs between one deployment and another."""

    database_url: str = DEFAULT_DATABASE_URL

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Return the settings read from the environment (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        url = env.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
        return cls(database_url=url)
