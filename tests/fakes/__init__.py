"""In-memory fakes, one per port."""

from tests.fakes.bank import FakeBankGateway
from tests.fakes.clock import FakeClock
from tests.fakes.meter_gateway import FakeMeter, FakeMeterGateway

__all__ = ["FakeBankGateway", "FakeClock", "FakeMeter", "FakeMeterGateway"]
