"""A clock that stands still until a test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Tell the time a test set; never the real one."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        """Return the current fake time."""
        return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move the time forward by ``delta`` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        self._at += delta
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (forwards only)."""
        if at < self._at:
            raise ValueError("time does not run backwards")
        self._at = at
