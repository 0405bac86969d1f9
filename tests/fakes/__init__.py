"""In-memory fakes, one per port."""

from tests.fakes.bank import FakeBankGateway
from tests.fakes.clock import FakeClock
from tests.fakes.meter_gateway import FakeMeter, FakeMeterGateway
from tests.fakes.partitions import FakePartitionKeeper
from tests.fakes.sms import FakeSmsSender
from tests.fakes.storage import FakeDatabase, FakeStatementReader, FakeUnitOfWork

__all__ = [
    "FakeBankGateway",
    "FakeClock",
    "FakeDatabase",
    "FakeMeter",
    "FakeMeterGateway",
    "FakePartitionKeeper",
    "FakeSmsSender",
    "FakeStatementReader",
    "FakeUnitOfWork",
]
