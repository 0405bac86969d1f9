"""Account look-ups are rate-limited per kiosk, so none can walk the accounts: a bucket each.

Kept in this process: one web process serves the kiosks (ADR 7). Time comes from the caller
(the runtime's wall clock), so tests need no sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from wattbook.domain.values import require_aware

# Look-ups a kiosk may make at once before the per-minute rate applies.
LOOKUP_BURST = 5


class LookupRateLimited(Exception):
    """A kiosk looked up accounts faster than its rate allows (answered 429)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime


@dataclass(slots=True)
class LookupLimiter:
    """A token bucket per kiosk: ``per_minute`` look-ups a minute, ``burst`` at once.

    ``burst`` is at most ``per_minute``: a rate of 2 a minute allows 2 at once.
    """

    per_minute: int
    burst: int = LOOKUP_BURST
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, kiosk_id: str, *, now: datetime) -> None:
        """Take one look-up for ``kiosk_id``.

        :raises LookupRateLimited: if its bucket is empty, with the seconds to wait.
        """
        require_aware(now)
        rate_per_s = self.per_minute / 60
        burst = float(max(1, min(self.burst, self.per_minute)))
        bucket = self._buckets.get(kiosk_id)
        if bucket is None:
            bucket = self._buckets[kiosk_id] = _Bucket(tokens=burst, at=now)
        elapsed = max(0.0, (now - bucket.at).total_seconds())
        bucket.tokens = min(burst, bucket.tokens + elapsed * rate_per_s)
        bucket.at = now
        if bucket.tokens < 1:
            raise LookupRateLimited(max(1, math.ceil((1 - bucket.tokens) / rate_per_s)))
        bucket.tokens -= 1
