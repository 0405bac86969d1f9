"""In-memory fakes, one per port."""

from tests.fakes.bank import FakeBankGateway
from tests.fakes.clock import FakeClock

__all__ = ["FakeBankGateway", "FakeClock"]
