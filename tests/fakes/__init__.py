"""In-memory fakes, one per port."""

from tests.fakes.clock import FakeClock

__all__ = ["FakeClock"]
