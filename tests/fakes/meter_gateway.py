"""An in-memory meter gateway: meters as plain values, silence and refusals on demand."""

from __future__ import annotations

import dataclasses
import datetime as dt

from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import MeterEventKind, MeterStatus, RelayOperation
from wattbook.domain.values import MeterNumber, RegisterSet


@dataclasses.dataclass
class FakeMeter:
    """What one fake meter holds."""

    registers: RegisterSet = dataclasses.field(default_factory=RegisterSet.zero)
    status: MeterStatus = dataclasses.field(
        default_factory=lambda: MeterStatus(
            relay_open=False, relay_command_open=False, keep_power=False
        )
    )
    counts: dict[MeterEventKind, int] = dataclasses.field(default_factory=dict)
    records: dict[MeterEventKind, list[hp.MeterEvent]] = dataclasses.field(default_factory=dict)
    drift: dt.timedelta = dt.timedelta(0)
    silent: bool = False

    def record(self, event: hp.MeterEvent) -> None:
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
        self.records.setdefault(event.kind, []).insert(0, event)
        del self.records[event.kind][hp.RECORDS_KEPT :]


class FakeMeterGateway:
    """A MeterGateway over fake meters; ``requests`` counts what was asked."""

    def __init__(self, clock: object, meters: dict[MeterNumber, FakeMeter]) -> None:
        self.clock = clock
        self.meters = meters
        self.requests = 0
        self.clock_sets: list[MeterNumber] = []
        self.line_down = ""  # why the line cannot be opened; empty: it opens

    @property
    def bus(self) -> str:
        return "fake-bus"

    async def connect(self) -> None:
        if self.line_down:
            raise hp.BusUnreachable(self.bus, self.line_down)

    def _meter(self, meter: MeterNumber) -> FakeMeter:
        self.requests += 1
        if self.line_down:
            raise hp.BusUnreachable(self.bus, self.line_down)
        found = self.meters[meter]
        if found.silent:
            raise hp.MeterUnreachable(str(meter), "NoResponse")
        return found

    def _now(self) -> dt.datetime:
        now: dt.datetime = self.clock.now()  # type: ignore[attr-defined]
        return now

    async def read_registers(self, meter: MeterNumber) -> metering.Reading:
        found = self._meter(meter)
        return metering.Reading(
            meter_number=meter,
            registers=found.registers,
            meter_time_at=self._now() + found.drift,
            received_at=self._now(),
        )

    async def read_settlement(self, meter: MeterNumber, *, months_back: int = 1) -> RegisterSet:
        return self._meter(meter).registers

    async def read_status(self, meter: MeterNumber, *, urgent: bool = False) -> MeterStatus:
        return self._meter(meter).status

    async def read_instant_values(self, meter: MeterNumber) -> hp.InstantValues:
        self._meter(meter)
        return hp.InstantValues(voltage_mv=220_000, current_ma=1_000, active_power_mw=220_000)

    async def read_event_count(self, meter: MeterNumber, kind: MeterEventKind) -> int:
        return self._meter(meter).counts.get(kind, 0)

    async def read_event(
        self, meter: MeterNumber, kind: MeterEventKind, *, index: int
    ) -> hp.MeterEvent | None:
        records = self._meter(meter).records.get(kind, [])
        return records[index - 1] if index <= len(records) else None

    async def read_clock(self, meter: MeterNumber) -> hp.ClockCheck:
        found = self._meter(meter)
        now = self._now()
        return hp.ClockCheck(meter_number=meter, checked_at=now, meter_at=now + found.drift)

    async def set_clock(self, meter: MeterNumber) -> None:
        self._meter(meter).drift = dt.timedelta(0)
        self.clock_sets.append(meter)

    async def broadcast_time(self) -> None:
        self.requests += 1

    async def operate_relay(self, meter: MeterNumber, operation: RelayOperation) -> None:
        found = self._meter(meter)
        opened = {RelayOperation.TRIP: True, RelayOperation.CLOSE: False}.get(operation)
        if opened is not None:
            found.status = dataclasses.replace(
                found.status, relay_open=opened, relay_command_open=opened
            )
