"""The head-end's ports: the meter gateway, the collection sink, head-end storage.

The companion of :mod:`wattbook.application.ports` (whose unit of work carries the
:class:`HeadendRepository`); kept apart so the head-end's many value types do not crowd the
core's ports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from wattbook.domain import metering
from wattbook.domain.headend import (
    MeterEventKind,
    MeterStatus,
    ReadRequest,
    ReadRequestStatus,
    ReadValues,
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet

# ---------------------------------------------------------------------------- meter errors


class MeterError(Exception):
    """A meter could not be read or commanded; the base of the gateway's errors."""

    def __init__(self, meter: str, detail: str) -> None:
        super().__init__(f"meter {meter}: {detail}")
        self.meter = meter
        self.detail = detail


class MeterUnreachable(MeterError):
    """The meter did not answer, or only garbage came back, or the bus itself failed."""


class BusUnreachable(MeterUnreachable):
    """The bus itself cannot be used: its serial-to-TCP server or serial port cannot be opened.

    ``meter`` names the bus. A subclass of :class:`MeterUnreachable`: for the meter a visit
    was for, it is the same silence.
    """


class MeterRefused(MeterError):
    """The meter answered with a refusal (unknown item, wrong password, keep-power, ...)."""


# ---------------------------------------------------------------------------- meter values


# How many records of each kind a DDZY102 keeps (the "last 1..10" records).
RECORDS_KEPT = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class InstantValues:
    """Voltage, current and active power in integer milli-units (M3)."""

    voltage_mv: int
    current_ma: int
    active_power_mw: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterEvent:
    """One event record as the meter stored it, its times placed in the meter's zone.

    ``ended_at`` is None while the event lasts (cover still open) or for instant events.
    """

    meter_number: MeterNumber
    kind: MeterEventKind
    occurred_at: datetime
    ended_at: datetime | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockCheck:
    """A reading of a meter's clock: what it showed, when, and how far off it was."""

    meter_number: MeterNumber
    checked_at: datetime
    meter_at: datetime
    corrected: bool = False

    @property
    def drift(self) -> timedelta:
        """Return how far the meter clock is ahead of true time (negative: behind)."""
        return self.meter_at - self.checked_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """The registers a meter froze at a settlement instant, for one billing month (M2)."""

    meter_number: MeterNumber
    month: str  # "YYYY-MM": the month the freeze closed
    registers: RegisterSet
    read_at: datetime


class MeterGateway(Protocol):
    """One bus of meters, one request in flight at a time; every error is a MeterError.

    ``urgent`` requests (relay commands and their confirmation) go before waiting polls.
    """

    @property
    def bus(self) -> str:
        """Return the bus's name."""
        ...

    async def connect(self) -> None:
        """Make sure the line is open: dial it again if it could not be opened or dropped.

        Every other request dials a line that is down, too; this asks for nothing else.

        :raises BusUnreachable: if the line cannot be opened.
        """
        ...

    async def read_registers(self, meter: MeterNumber) -> metering.Reading:
        """Return the five registers (0001FF00), placed at the meter's time.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_settlement(self, meter: MeterNumber, *, months_back: int = 1) -> RegisterSet:
        """Return the registers frozen at a past settlement (0001FF01: last month).

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_status(self, meter: MeterNumber, *, urgent: bool = False) -> MeterStatus:
        """Return run status word 3.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_instant_values(self, meter: MeterNumber) -> InstantValues:
        """Return voltage, current and active power.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_event_count(self, meter: MeterNumber, kind: MeterEventKind) -> int:
        """Return how often an event kind happened since the meter was made.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_event(
        self, meter: MeterNumber, kind: MeterEventKind, *, index: int
    ) -> MeterEvent | None:
        """Return the ``index``-th most recent record (1-10), or None for an empty slot.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def read_clock(self, meter: MeterNumber) -> ClockCheck:
        """Return the meter's clock against true time, and remember the drift for readings.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def set_clock(self, meter: MeterNumber) -> None:
        """Set one meter's clock to the true time (a password-protected write).

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        ...

    async def broadcast_time(self) -> None:
        """Send the true time to every meter of the bus (08H; nobody answers).

        :raises MeterUnreachable: if the bus itself fails.
        """
        ...

    async def operate_relay(self, meter: MeterNumber, operation: RelayOperation) -> None:
        """Send a relay order (1CH) and await the meter's acknowledgement.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses (password, keep-power, expired order).
        """
        ...


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True, kw_only=True)
class PollPlan:
    """How often each thing is read from a meter, and the head-end policy that goes with it.

    Stored by name in the database; the defaults are the seeded ``DEFAULT`` plan.
    """

    name: str = "DEFAULT"
    energy_every: timedelta = timedelta(minutes=15)
    status_every: timedelta = timedelta(minutes=5)
    clock_every: timedelta = timedelta(days=1)
    settlement_day: int = 1
    settlement_hour: int = 0
    drift_limit: timedelta = timedelta(minutes=1)
    no_communication_after: int = 3
    relay_attempts: int = 5
    relay_backoff: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if min(self.energy_every, self.status_every, self.clock_every) <= timedelta(0):
            raise ValueError("poll intervals must be positive")
        if not 1 <= self.settlement_day <= 28 or not 0 <= self.settlement_hour <= 23:
            raise ValueError("settlement is on day 1-28 at hour 0-23")
        if self.no_communication_after < 1 or self.relay_attempts < 1:
            raise ValueError("failure and attempt counts are at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class BusMeter:
    """A meter on a bus, with its plan and the event counts last seen from it."""

    meter_number: MeterNumber
    plan: PollPlan = field(default_factory=PollPlan)
    event_counts: tuple[tuple[MeterEventKind, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BusConfig:
    """One RS-485 bus: ``tcp://host:port`` or ``serial:///dev/ttyX``, its baud, its meters.

    ``response_timeout`` is the wait for a meter's first reply byte.
    """

    name: str
    url: str
    baud: int = 2400
    response_timeout: timedelta = timedelta(seconds=1)
    meters: tuple[BusMeter, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a bus needs a name")
        check_bus_url(self.url)
        if self.baud not in (1200, 2400, 4800, 9600, 19200):
            raise ValueError(f"{self.baud} is not a DL/T 645 baud rate")
        if self.response_timeout <= timedelta(0):
            raise ValueError("the response timeout must be positive")
        numbers = [meter.meter_number for meter in self.meters]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"a meter appears twice on bus {self.name}")


def check_bus_url(url: str) -> None:
    """Check that ``url`` is ``tcp://HOST:PORT`` (port 1-65535) or ``serial://DEVICE``.

    Settings such as ``?baud=2400`` may follow; the transport checks them when it opens the bus.

    :raises ValueError: if it is neither.
    """
    expected = f"a bus URL is tcp://HOST:PORT or serial:///dev/PORT, not {url!r}"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{expected}: the port must be a number from 1 to 65535") from None
    if parts.fragment:
        raise ValueError(expected)
    if parts.scheme == "tcp":
        if not parts.hostname or parts.username is not None or parts.path not in ("", "/"):
            raise ValueError(expected)
        if port is None or not 1 <= port <= 65535:
            raise ValueError(f"{expected}: the port must be a number from 1 to 65535")
    elif parts.scheme == "serial":
        if not (parts.netloc + parts.path).strip("/ "):
            raise ValueError(f"{expected}: name the serial device")
    else:
        raise ValueError(expected)


class MeterGatewayFactory(Protocol):
    """Open a bus: ``async with factory(bus) as gateway: ...``."""

    def __call__(self, bus: BusConfig) -> AbstractAsyncContextManager[MeterGateway]:
        """Return the bus's gateway, opened on entry and closed on exit."""
        ...


# ---------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayOutcome:
    """What happened on the bus to a relay command: confirmed by status word 3, or why not."""

    confirmed: bool
    status: MeterStatus | None = None
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunicationOutcome:
    """Whether one visit to a meter got answers, and what went wrong if not."""

    meter_number: MeterNumber
    at: datetime
    succeeded: bool
    error: str = ""
    no_communication_after: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunicationState:
    """A meter's run of failures and its last success."""

    consecutive_failures: int = 0
    last_success_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunicationDay:
    """Collection success of one meter (or, with ``meter_number`` None, a bus) on a local day."""

    bus: str
    meter_number: MeterNumber | None
    day: date
    attempts: int
    successes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LatestValues:
    """The last status and instantaneous values read from a meter, for the console."""

    meter_number: MeterNumber
    read_at: datetime
    status: MeterStatus
    values: InstantValues | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterOverview:
    """One installed meter as the console shows it: its bus, what was last read, how often
    it answered since ``since``, its clock, and its last relay command."""

    meter_number: MeterNumber
    account_number: AccountNumber
    holder: str
    bus: str | None
    read_at: datetime | None
    relay_open: bool | None
    keep_power: bool | None
    active_power_mw: int | None
    drift_ms: int | None
    attempts: int
    successes: int
    last_command: str | None
    last_command_status: str | None
    last_command_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterCollection:
    """What one visit to a meter collected, for the core to store.

    ``event_counts`` are the counters read on this visit (empty if none were due or the
    meter fell silent first); ``lost`` the records per kind that the meter no longer held
    when its counter was read (more than 10 happened since the last visit); ``bus_failed``
    that the visit failed because the bus itself could not be used (:class:`BusUnreachable`).
    """

    meter_number: MeterNumber
    bus: str
    visited_at: datetime
    succeeded: bool
    error: str = ""
    reading: metering.Reading | None = None
    latest: LatestValues | None = None
    event_counts: tuple[tuple[MeterEventKind, int], ...] = ()
    events: tuple[MeterEvent, ...] = ()
    lost: tuple[tuple[MeterEventKind, int], ...] = ()
    settlement: Settlement | None = None
    clock: ClockCheck | None = None
    bus_failed: bool = False


class HeadendRepository(Protocol):
    """Buses, events, alarms, communication health and the relay-command side of the outbox."""

    async def save_bus(self, bus: BusConfig) -> None:
        """Store a bus and put its meters on it (moving them from any other bus)."""
        ...

    async def buses(self, names: Collection[str] | None = None) -> tuple[BusConfig, ...]:
        """Return the buses (all, or those named) with their meters, plans and event counts."""
        ...

    async def bus_of(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, str]:
        """Return the bus each of the meters hangs on."""
        ...

    async def save_event_counts(
        self, meter: MeterNumber, counts: Mapping[MeterEventKind, int], *, at: datetime
    ) -> None:
        """Store the event counts last seen on a meter."""
        ...

    async def add_events(self, events: Sequence[MeterEvent], *, recorded_at: datetime) -> int:
        """Store events once each (meter, kind, time); fill in an end seen later.

        Return how many were new.
        """
        ...

    async def save_latest(self, latest: LatestValues) -> None:
        """Store a meter's latest status and values."""
        ...

    async def save_settlement(self, settlement: Settlement) -> None:
        """Store a month's frozen registers once."""
        ...

    async def add_clock_check(self, check: ClockCheck) -> None:
        """Store a clock reading and its drift."""
        ...

    async def communication(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, CommunicationState]:
        """Return the meters' runs of failures (meters never visited are absent)."""
        ...

    async def save_communication(
        self,
        bus: str,
        outcomes: Sequence[CommunicationOutcome],
        states: Mapping[MeterNumber, CommunicationState],
    ) -> None:
        """Store the new runs of failures and add the outcomes to the per-day counts."""
        ...

    async def communication_days(self, *, bus: str) -> tuple[CommunicationDay, ...]:
        """Return the per-day success counts of the bus and of its meters."""
        ...

    async def meter_events(self, meter: MeterNumber, *, limit: int) -> tuple[MeterEvent, ...]:
        """Return the meter's last ``limit`` stored events, newest first."""
        ...

    async def meter_overview(
        self, *, since: datetime, meter: MeterNumber | None = None
    ) -> tuple[MeterOverview, ...]:
        """Return every installed meter (or one) with its latest values, its success since
        ``since``, its last clock drift and its last relay command, by meter number."""
        ...

    async def due_relay_commands(self, *, at: datetime, limit: int) -> tuple[RelayCommand, ...]:
        """Return pending relay commands due by ``at``, oldest first."""
        ...

    async def add_relay_command(
        self,
        meter: MeterNumber,
        operation: RelayOperation,
        *,
        reason: RelayReason,
        at: datetime,
        ordered_by: str | None = None,
        note: str | None = None,
    ) -> int:
        """Queue a relay command for a meter's account; return its id.

        ``reason`` says why; an operator's order (OPERATOR) also records who and why.

        :raises NoMeterInstalled: if the meter is on no account.
        """
        ...

    async def update_relay_command(
        self,
        command_id: int,
        *,
        status: RelayCommandStatus,
        at: datetime,
        attempts: int | None = None,
        not_before_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Move a relay command on (done commands get ``done_at``)."""
        ...

    async def relay_command_state(self, command_id: int) -> tuple[RelayCommandStatus, int] | None:
        """Return a relay command's status and attempts so far (None: no such command).

        The row stays locked until the unit of work ends, so two writers that record the
        same outcome take turns and the second sees the first's.
        """
        ...

    async def cancel_pending_closes(self, command: RelayCommand, *, at: datetime) -> None:
        """Cancel the pending closes queued for the same meter with the same cut as ``command``."""
        ...

    async def last_relay_switch(
        self, account: AccountNumber, *, other_than: int
    ) -> tuple[RelayOperation, RelayReason] | None:
        """Return the operation and reason of the account's last confirmed trip or close.

        Command ``other_than`` (the one being recorded) is left out; None if there is none.
        """
        ...

    async def add_read_request(self, meter: MeterNumber, *, requested_by: str, at: datetime) -> int:
        """Queue a read-now request for a meter; return its id (that of the pending one, if
        one is pending already)."""
        ...

    async def read_requests(
        self, *, meter: MeterNumber | None = None, pending_only: bool = False, limit: int
    ) -> tuple[ReadRequest, ...]:
        """Return read-now requests: a meter's newest first, or (no meter) the oldest first."""
        ...

    async def expire_read_requests(self, *, requested_before: datetime, at: datetime) -> int:
        """Mark the pending requests made at or before ``requested_before`` expired; return how
        many."""
        ...

    async def finish_read_request(
        self,
        request_id: int,
        *,
        status: ReadRequestStatus,
        at: datetime,
        error: str = "",
        values: ReadValues | None = None,
    ) -> bool:
        """Store how a pending request ended; return False if it was no longer pending."""
        ...


class CollectionSink(Protocol):
    """Where the head-end hands what it collected and how its relay commands went: the core
    in this process, or a broker (``broker_sink.BrokerSink``, ADR 20)."""

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        """Store and charge a batch of readings."""
        ...

    async def record_meter_events(self, collection: MeterCollection) -> None:
        """Store one meter visit's events, status, settlements and clock check; raise alarms."""
        ...

    async def record_communication(
        self, bus: str, outcomes: Sequence[CommunicationOutcome]
    ) -> None:
        """Count successes and failures; raise and clear no-communication alarms."""
        ...

    async def recheck_relay_command(self, command: RelayCommand) -> bool:
        """Test whether a relay command is still wanted just before it is sent.

        The core cancels a trip a top-up overtook; a command that came through the broker
        was rechecked by the core when it was published.
        """
        ...

    async def record_relay_outcome(
        self, bus: str, command: RelayCommand, outcome: RelayOutcome, plan: PollPlan
    ) -> None:
        """Record what happened on the bus to a relay command (confirmed, retry, failed)."""
        ...
