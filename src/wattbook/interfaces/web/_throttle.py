"""Log-in throttling: failures counted per key (an account, a client address) in a window.

After ``limit`` failures within ``window`` a key is refused until the oldest of them leaves
the window, so the real resident is never locked out for longer than ``window`` (a few
minutes), while a guesser gets ``limit`` tries per window per account and per address.
Kept in this process, like the sessions (ADR 13); time comes from the caller.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wattbook.domain.values import require_aware


class Throttled(Exception):
    """Too many failed attempts for a key; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(slots=True, kw_only=True)
class FailureThrottle:
    """At most ``limit`` failures per key within ``window``; at most ``capacity`` keys kept."""

    limit: int
    window: timedelta
    capacity: int = 100_000
    _failures: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and now - found[0] >= self.window:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def check(self, key: str, *, now: datetime) -> None:
        """Refuse ``key`` if it failed ``limit`` times within the window.

        :raises Throttled: with the seconds until its oldest failure leaves the window.
        """
        require_aware(now)
        recent = self._recent(key, now)
        if len(recent) >= self.limit:
            wait = (recent[0] + self.window - now).total_seconds()
            raise Throttled(max(1, math.ceil(wait)))

    def fail(self, key: str, *, now: datetime) -> None:
        """Count one failure for ``key``."""
        require_aware(now)
        recent = self._recent(key, now)
        if key not in self._failures:
            self._failures[key] = recent
        recent.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.capacity:
            self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        """Clear ``key``'s failures (after a successful log-in)."""
        self._failures.pop(key, None)
