"""The one place that reads the system clock (CONVENTIONS §6)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Tell the time from the operating system, always as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)
