"""Read-now requests: an operator asks the head-end to read one meter before its schedule.

The web process never talks on a bus (the head-end owns it: two masters on one RS-485 bus
garble each other), so a request is a durable row the head-end serves. A request nobody
serves is not forgotten: :func:`read_request_expired` is the one rule that says when it is
given up, and the console says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from wattbook.domain.values import MeterNumber

# A read-now request no head-end has served by then is marked expired (and shown so).
READ_REQUEST_EXPIRES_AFTER = timedelta(minutes=10)


class ReadRequestStatus(StrEnum):
    """Where a read-now request stands."""

    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


def read_request_expired(requested_at: datetime, now: datetime) -> bool:
    """Test whether a request made at ``requested_at`` and still pending is given up by ``now``."""
    return now - requested_at >= READ_REQUEST_EXPIRES_AFTER


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadValues:
    """What a read-now got from the meter: energy in Wh, relay, power and volts in milli-units.

    A value the meter refused (or a part of the visit that failed) is None.
    """

    read_at: datetime
    total_wh: int | None = None
    relay_open: bool | None = None
    active_power_mw: int | None = None
    voltage_mv: int | None = None
    current_ma: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadRequest:
    """One read-now request: who asked for which meter when, and how it ended."""

    id: int
    meter_number: MeterNumber
    requested_by: str
    requested_at: datetime
    status: ReadRequestStatus = ReadRequestStatus.PENDING
    done_at: datetime | None = None
    error: str = ""
    values: ReadValues | None = None

    def status_at(self, now: datetime) -> ReadRequestStatus:
        """Return the status as staff should see it at ``now`` (a stale pending one is expired)."""
        if self.status is ReadRequestStatus.PENDING and read_request_expired(
            self.requested_at, now
        ):
            return ReadRequestStatus.EXPIRED
        return self.status

    @property
    def expires_at(self) -> datetime:
        """Return when the request is given up if nobody serves it."""
        return self.requested_at + READ_REQUEST_EXPIRES_AFTER
