"""Log-in throttling: a few failures per window, never locked out longer than the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wattbook.interfaces.web._throttle import FailureThrottle, Throttled

NOON = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)


class TestFailureThrottle:
    def test_allows_up_to_the_limit(self) -> None:
        throttle = FailureThrottle(limit=3, window=timedelta(minutes=5))
        for _ in range(2):
            throttle.fail("account:1", now=NOON)

        throttle.check("account:1", now=NOON)

    def test_refuses_at_the_limit_until_the_oldest_failure_leaves_the_window(self) -> None:
        throttle = FailureThrottle(limit=3, window=timedelta(minutes=5))
        for minute in range(3):
            throttle.fail("account:1", now=NOON + timedelta(minutes=minute))

        with pytest.raises(Throttled) as refused:
            throttle.check("account:1", now=NOON + timedelta(minutes=3))
        throttle.check("account:1", now=NOON + timedelta(minutes=5))

        assert refused.value.retry_after_s == 120

    def test_keys_are_separate_and_forgotten_after_success(self) -> None:
        throttle = FailureThrottle(limit=1, window=timedelta(minutes=5))
        throttle.fail("account:1", now=NOON)

        throttle.check("account:2", now=NOON)
        throttle.forget("account:1")
        throttle.check("account:1", now=NOON)

    def test_keeps_at_most_its_capacity_of_keys(self) -> None:
        throttle = FailureThrottle(limit=1, window=timedelta(minutes=5), capacity=2)
        for key in ("a", "b", "c"):
            throttle.fail(key, now=NOON)

        throttle.check("a", now=NOON)
        with pytest.raises(Throttled):
            throttle.check("c", now=NOON)
