"""The model of one Wasion DDZY102: registers, clock, relay, events, freezes, measurements.

The model knows nothing about frames; :mod:`_device` puts it on a bus. Every method first
brings the meter up to the time source's *now* (integrating energy slot by slot, switching
tariffs at the meter clock's boundaries, freezing at settlement instants, tripping on
over-current), so time may advance in steps of any size and the registers still come out exact.

Decisions (record them with the lead):

- A trip (1A) while keep-power is in force is *refused*: :class:`KeepPowerInForce` here, an
  abnormal reply on the bus. Keep-power (3A) closes an open relay at once, so an emergency
  keep-power order gets a household's power back (A3). Keep-power blocks remote trips only: the
  over-current protection still trips, as a breaker must.
- An over-current trip leaves the relay open with close allowed: the resident restores power by
  pressing the button, or the master closes it (1C). Status word 3 then shows the relay open
  (bit 4) while the command state (bit 6) is still "closed", which the head-end should report.
- A broadcast time (08H) is accepted only if it moves the clock by at most 5 minutes and the
  meter was not broadcast-corrected that day; otherwise it is ignored (broadcasts get no reply).
- Every accepted 14H write is a programming event (03300000/03300001..0A); a clock write is
  also a clock-change event. Writes by the same operator within one minute (true time) of the
  session's first write form one programming session: one record, timed at the first write
  (meter clock before it took effect), listing each DI written once, at most 10; an eleventh
  DI, another operator or a later write starts a new record. Real meters delimit a session by
  their programming key or a security session; a minute stands in for that.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

from wattbook.dlt645.simulator._clock import (
    SHANGHAI,
    MeterClock,
    TimeSource,
    epoch_micros,
    micros,
)
from wattbook.dlt645.simulator._load import DEFAULT_SLOT_S, Load, LoadProfile, mix
from wattbook.dlt645.simulator._records import (
    BUTTON_OPERATOR,
    METER_OPERATOR,
    PROGRAMMED_DIS_KEPT,
    RECORDS_KEPT,
    SETTLEMENTS_KEPT,
    EventKind,
    EventLog,
    EventRecord,
    Measurements,
    Registers,
    Settlement,
)
from wattbook.dlt645.simulator._schedule import M1_SCHEDULE, Tariff, TimeOfUseSchedule

# Energy is integrated in deciwatt-microseconds: 1 Wh = 10 dW x 3 600 000 000 µs.
DW_US_PER_WH = 36_000_000_000
BROADCAST_LIMIT = dt.timedelta(minutes=5)
PROGRAMMING_SESSION = dt.timedelta(minutes=1)
DEFAULT_MAX_CURRENT_MA = 60_000
_STATUS_RELAY_OPEN = 1 << 4
_STATUS_COMMAND_OPEN = 1 << 6
_STATUS_ALARM = 1 << 7
_STATUS_KEEP_POWER = 1 << 12
_STATUS_AUTHENTICATED = 1 << 13
_STATUS_REMOTE_ACCOUNT = 1 << 15


class SimulatorError(Exception):
    """Base of the errors a virtual meter raises when asked to do what it cannot."""


class KeepPowerInForce(SimulatorError):
    """Raise when a trip is commanded while keep-power is in force."""


class CloseNotAllowed(SimulatorError):
    """Raise when the button is pressed but no close is allowed (or the relay is closed)."""


class MeterStateConflict(SimulatorError):
    """Raise when a manipulation does not fit the meter's state (cover already open, ...)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeterSpec:
    """The fixed configuration of one virtual meter.

    ``address`` is the communication address and the default meter and account number.
    ``history_months`` gives a new meter that many months of plausible past consumption
    (registers and settlements) so that a fresh simulator looks like a campus in service.
    """

    address: str
    meter_number: str | None = None
    account_number: str | None = None
    seed: int = 0
    heavy: bool = False
    drift_ppm: int = 0
    clock_offset: dt.timedelta = dt.timedelta(0)
    zone: dt.tzinfo = SHANGHAI
    schedule: TimeOfUseSchedule = M1_SCHEDULE
    max_current_ma: int = DEFAULT_MAX_CURRENT_MA
    slot_s: int = DEFAULT_SLOT_S
    settlement_day: int = 1
    settlement_hour: int = 0
    history_months: int = 0

    def __post_init__(self) -> None:
        for number in (self.address, self.meter_number, self.account_number):
            if number is not None and (len(number) != 12 or not number.isdigit()):
                raise ValueError(f"meter numbers are 12 digits, not {number!r}")
        if not 1 <= self.settlement_day <= 28 or not 0 <= self.settlement_hour <= 23:
            raise ValueError("settlement is on day 1-28 at hour 0-23")
        if self.max_current_ma <= 0:
            raise ValueError("the maximum current must be positive")


@dataclasses.dataclass(slots=True, kw_only=True)
class MeterState:
    """Everything about a meter that changes: what a state file saves and restores."""

    integrated_to: dt.datetime
    clock: MeterClock
    wh: list[int]
    residual: list[int]
    settlements: collections.deque[Settlement]
    relay_closed: bool = True
    trip_commanded: bool = False
    close_allowed: bool = False
    keep_power: bool = False
    alarm: bool = False
    close_operator: int = 0
    powered: bool = True
    cover_open: bool = False
    terminal_cover_open: bool = False
    extra_load_dw: int = 0
    last_broadcast_date: dt.date | None = None
    # True time of the first write of the programming session still open, if any.
    programming_session_at: dt.datetime | None = None
    counts: dict[EventKind, int] = dataclasses.field(default_factory=dict)
    records: dict[EventKind, collections.deque[EventRecord]] = dataclasses.field(
        default_factory=dict
    )

    def log(self, kind: EventKind) -> collections.deque[EventRecord]:
        """Return the (newest-first) record list of an event kind, creating it empty."""
        return self.records.setdefault(kind, collections.deque(maxlen=RECORDS_KEPT))


class VirtualMeter:
    """One simulated DDZY102 meter driven by a time source."""

    def __init__(
        self,
        *,
        spec: MeterSpec,
        time_source: TimeSource,
        state: MeterState | None = None,
        load: Load | None = None,
    ) -> None:
        """Build the meter; without ``state`` it starts new, without ``load`` from its seed."""
        self.spec = spec
        self._time = time_source
        self._load: Load = load or LoadProfile(
            seed=spec.seed,
            household=int(spec.address),
            zone=spec.zone,
            heavy=spec.heavy,
            slot_s=spec.slot_s,
        )
        self._voltage_offset_dv = mix(spec.seed, int(spec.address), 7) % 81 - 40
        self._power_factor_permille = 900 + mix(spec.seed, int(spec.address), 8) % 91
        self.state = state if state is not None else self._new_state()
        self._next_settlement = self._settlement_after(
            self.state.clock.at(self.state.integrated_to)
        )

    # ------------------------------------------------------------ identity

    @property
    def address(self) -> str:
        """Return the communication address (04000401)."""
        return self.spec.address

    @property
    def meter_number(self) -> str:
        """Return the meter number (04000402)."""
        return self.spec.meter_number or self.spec.address

    @property
    def account_number(self) -> str:
        """Return the account number (0400040E), by default the meter number."""
        return self.spec.account_number or self.meter_number

    @property
    def load(self) -> Load:
        """Return the household load behind the meter."""
        return self._load

    # ------------------------------------------------------------ time

    def now(self) -> dt.datetime:
        """Bring the meter up to the time source's now and return that true time."""
        now = self._time.now()
        self._advance(now)
        return now

    def meter_time(self) -> dt.datetime:
        """Return the meter clock's current (naive, meter-local) time."""
        return self.state.clock.at(self.now())

    def set_meter_time(self, meter_at: dt.datetime, *, operator_code: int = 0) -> None:
        """Set the meter clock (as a 14H write of 04000101/04000102 does) and record it.

        A forward jump past settlement instants freezes once per instant, as meters catch up
        on missed settlements; a backward jump freezes nothing twice.

        :raises ValueError: if ``meter_at`` is aware.
        """
        if meter_at.tzinfo is not None:
            raise ValueError("meter time is naive meter-local time")
        now = self.now()
        before = self.state.clock.at(now)
        self.state.clock.set(true_at=now, meter_at=meter_at)
        self._settle_until(meter_at)
        self._next_settlement = self._settlement_after(meter_at)
        self._record(
            EventKind.CLOCK_CHANGE,
            EventRecord(
                kind=EventKind.CLOCK_CHANGE,
                started_at=before.replace(microsecond=0),
                ended_at=meter_at.replace(microsecond=0),
                operator_code=operator_code,
            ),
        )

    def record_programming(self, *, data_id: int, operator_code: int) -> None:
        """Record an accepted write (14H) of ``data_id`` as a programming event.

        Call it before the write takes effect, so the record shows the meter clock of before a
        clock write. The write joins the newest record while its session is open (same
        operator, within :data:`PROGRAMMING_SESSION` of the session's first write, fewer than
        10 DIs); otherwise it starts a new record and the count goes up.

        :raises ValueError: if ``data_id`` or ``operator_code`` is not a 4-byte value.
        """
        if not 0 <= data_id <= 0xFFFFFFFF or not 0 <= operator_code <= 0xFFFFFFFF:
            raise ValueError("data identifiers and operator codes are 4 bytes")
        now = self.now()
        state = self.state
        log = state.log(EventKind.PROGRAMMING)
        session_at = state.programming_session_at
        if (
            log
            and session_at is not None
            and now - session_at < PROGRAMMING_SESSION
            and log[0].operator_code == operator_code
            and (data_id in log[0].data_ids or len(log[0].data_ids) < PROGRAMMED_DIS_KEPT)
        ):
            if data_id not in log[0].data_ids:
                log[0] = dataclasses.replace(log[0], data_ids=(*log[0].data_ids, data_id))
            return
        state.programming_session_at = now
        meter_at = state.clock.at(now).replace(microsecond=0)
        self._record(
            EventKind.PROGRAMMING,
            EventRecord(
                kind=EventKind.PROGRAMMING,
                started_at=meter_at,
                ended_at=meter_at,  # an instant, like a relay operation
                operator_code=operator_code,
                data_ids=(data_id,),
            ),
        )

    def broadcast_time(self, meter_at: dt.datetime) -> bool:
        """Apply a broadcast time (08H) within the meter's limits; return whether it did.

        The meter moves its clock only by up to 5 minutes and once per day; a broadcast beyond
        that is ignored, as the meter cannot answer a broadcast.
        """
        now = self.now()
        shown = self.state.clock.at(now)
        if abs(meter_at - shown) > BROADCAST_LIMIT:
            return False
        if self.state.last_broadcast_date == shown.date():
            return False
        self.state.clock.set(true_at=now, meter_at=meter_at)
        self.state.last_broadcast_date = meter_at.date()
        self._settle_until(meter_at)
        self._next_settlement = self._settlement_after(meter_at)
        return True

    # ------------------------------------------------------------ values

    def registers(self) -> Registers:
        """Return the five energy registers now, in Wh."""
        self.now()
        return Registers.from_tuple(tuple(self.state.wh))

    def settlements(self) -> tuple[Settlement, ...]:
        """Return the frozen settlements, most recent first (at most 12)."""
        self.now()
        return tuple(self.state.settlements)

    def measurements(self) -> Measurements:
        """Return voltage, current, power, power factor and frequency now."""
        now = self.now()
        slot = self._load.slot_of(epoch_micros(now) // 1_000_000)
        voltage_mv = self._voltage_dv(slot) * 100
        flowing = self.state.relay_closed and self.state.powered
        power_dw = self._power_dw(slot) if flowing else 0
        return Measurements(
            voltage_mv=voltage_mv,
            current_ma=self._current_ma(power_dw, voltage_mv),
            active_power_mw=power_dw * 100,
            power_factor_permille=self._power_factor_permille if power_dw else 1000,
            frequency_chz=4995 + mix(self.spec.seed, slot, 9) % 11,
        )

    def status_word_3(self, *, authenticated: bool = False) -> int:
        """Return run status word 3 (04000503), always in step with the relay.

        ``authenticated`` is the security module's word on bit 13 (identity authenticated).
        """
        self.now()
        state = self.state
        word = _STATUS_REMOTE_ACCOUNT
        if not state.relay_closed:
            word |= _STATUS_RELAY_OPEN
        if state.trip_commanded:
            word |= _STATUS_COMMAND_OPEN
        if state.alarm:
            word |= _STATUS_ALARM
        if state.keep_power:
            word |= _STATUS_KEEP_POWER
        if authenticated:
            word |= _STATUS_AUTHENTICATED
        return word

    def events(self, kind: EventKind) -> EventLog:
        """Return the count and the last 10 records of an event kind, most recent first."""
        self.now()
        return EventLog(
            kind=kind,
            count=self.state.counts.get(kind, 0),
            records=tuple(self.state.log(kind)),
        )

    # ------------------------------------------------------------ relay

    @property
    def relay_closed(self) -> bool:
        """Test whether the relay is closed (power flows)."""
        self.now()
        return self.state.relay_closed

    def trip(self, *, operator_code: int = 0) -> None:
        """Trip the relay (1A).

        :raises KeepPowerInForce: if keep-power is in force; nothing changes.
        """
        self.now()
        if self.state.keep_power:
            raise KeepPowerInForce(f"meter {self.address} is under keep-power")
        self.state.trip_commanded = True
        self.state.close_allowed = False
        self._open_relay(operator_code=operator_code)

    def allow_close(self, *, operator_code: int = 0) -> None:
        """Allow a close (1B): the relay closes when the resident presses the button."""
        self.now()
        self.state.trip_commanded = False
        if not self.state.relay_closed:
            self.state.close_allowed = True
            self.state.close_operator = operator_code

    def close(self, *, operator_code: int = 0) -> None:
        """Close the relay directly (1C)."""
        self.now()
        self.state.trip_commanded = False
        self._close_relay(operator_code=operator_code)

    def press_button(self) -> None:
        """Press the meter's button, closing a relay whose close was allowed.

        :raises CloseNotAllowed: if the relay is closed already or no close was allowed.
        """
        self.now()
        if self.state.relay_closed or not self.state.close_allowed:
            raise CloseNotAllowed(f"meter {self.address} has no close waiting for the button")
        operator = self.state.close_operator or BUTTON_OPERATOR
        self._close_relay(operator_code=operator)

    def set_alarm(self, *, on: bool) -> None:
        """Start (2A) or release (2B) the pre-trip alarm."""
        self.now()
        self.state.alarm = on

    def set_keep_power(self, *, on: bool, operator_code: int = 0) -> None:
        """Start (3A) or release (3B) keep-power; starting it closes an open relay."""
        self.now()
        self.state.keep_power = on
        if on:
            self.state.trip_commanded = False
            self._close_relay(operator_code=operator_code)

    # ------------------------------------------------------------ physical world

    def set_extra_load(self, *, watts: int) -> None:
        """Add a load on top of the household's (e.g. illegal extra wiring, a test overload).

        :raises ValueError: if ``watts`` is negative.
        """
        if watts < 0:
            raise ValueError("an extra load cannot be negative")
        self.now()
        self.state.extra_load_dw = watts * 10

    def open_cover(self) -> None:
        """Open the meter cover (tampering): starts a cover-open record.

        :raises MeterStateConflict: if the cover is open already.
        """
        self._start_cover(EventKind.COVER_OPEN, "cover_open")

    def close_cover(self) -> None:
        """Close the meter cover: ends the cover-open record.

        :raises MeterStateConflict: if the cover is not open.
        """
        self._end_event(EventKind.COVER_OPEN, "cover_open")

    def open_terminal_cover(self) -> None:
        """Open the terminal cover: starts a terminal-cover record.

        :raises MeterStateConflict: if it is open already.
        """
        self._start_cover(EventKind.TERMINAL_COVER_OPEN, "terminal_cover_open")

    def close_terminal_cover(self) -> None:
        """Close the terminal cover: ends the terminal-cover record.

        :raises MeterStateConflict: if it is not open.
        """
        self._end_event(EventKind.TERMINAL_COVER_OPEN, "terminal_cover_open")

    def power_down(self) -> None:
        """Cut the supply to the meter: it falls silent and no energy flows; its clock runs on.

        :raises MeterStateConflict: if it is powered down already.
        """
        self.now()
        if not self.state.powered:
            raise MeterStateConflict(f"meter {self.address} is powered down already")
        self.state.powered = False
        self._record(EventKind.POWER_DOWN, self._new_record(EventKind.POWER_DOWN))

    def power_up(self) -> None:
        """Restore the supply: ends the power-down record.

        :raises MeterStateConflict: if it is powered.
        """
        self.now()
        if self.state.powered:
            raise MeterStateConflict(f"meter {self.address} is powered already")
        self.state.powered = True
        self._finish_record(EventKind.POWER_DOWN)

    @property
    def cover_open(self) -> bool:
        """Test whether the meter cover is open now."""
        return self.state.cover_open

    @property
    def terminal_cover_open(self) -> bool:
        """Test whether the terminal cover is open now."""
        return self.state.terminal_cover_open

    @property
    def powered(self) -> bool:
        """Test whether the meter has supply (a powered-down meter does not answer)."""
        return self.state.powered

    # ------------------------------------------------------------ internals: relay, events

    def _open_relay(self, *, operator_code: int) -> None:
        if self.state.relay_closed:
            self.state.relay_closed = False
            self._record(
                EventKind.RELAY_TRIP,
                self._new_record(EventKind.RELAY_TRIP, operator_code=operator_code, ended=True),
            )

    def _close_relay(self, *, operator_code: int) -> None:
        self.state.close_allowed = False
        if not self.state.relay_closed:
            self.state.relay_closed = True
            self._record(
                EventKind.RELAY_CLOSE,
                self._new_record(EventKind.RELAY_CLOSE, operator_code=operator_code, ended=True),
            )

    def _over_current(self, true_at: dt.datetime) -> None:
        self.state.trip_commanded = False
        self.state.close_allowed = True
        self.state.close_operator = BUTTON_OPERATOR
        record = self._new_record(EventKind.OVER_CURRENT, at=true_at, ended=True)
        self._record(EventKind.OVER_CURRENT, record)
        self.state.relay_closed = False
        self._record(
            EventKind.RELAY_TRIP,
            self._new_record(
                EventKind.RELAY_TRIP, at=true_at, operator_code=METER_OPERATOR, ended=True
            ),
        )

    def _new_record(
        self,
        kind: EventKind,
        *,
        at: dt.datetime | None = None,
        operator_code: int = 0,
        ended: bool = False,
    ) -> EventRecord:
        true_at = at if at is not None else self.state.integrated_to
        meter_at = self.state.clock.at(true_at).replace(microsecond=0)
        energy = self.state.wh[0]
        return EventRecord(
            kind=kind,
            started_at=meter_at,
            ended_at=meter_at if ended else None,
            operator_code=operator_code,
            energy_before_wh=energy,
            energy_after_wh=energy if ended else None,
        )

    def _record(self, kind: EventKind, record: EventRecord) -> None:
        self.state.counts[kind] = self.state.counts.get(kind, 0) + 1
        self.state.log(kind).appendleft(record)

    def _finish_record(self, kind: EventKind) -> None:
        log = self.state.log(kind)
        if log and log[0].ended_at is None:
            meter_at = self.state.clock.at(self.state.integrated_to).replace(microsecond=0)
            log[0] = dataclasses.replace(
                log[0], ended_at=meter_at, energy_after_wh=self.state.wh[0]
            )

    def _start_cover(self, kind: EventKind, flag: str) -> None:
        self.now()
        if getattr(self.state, flag):
            raise MeterStateConflict(f"meter {self.address}: {kind.value} already in progress")
        setattr(self.state, flag, True)
        self._record(kind, self._new_record(kind))

    def _end_event(self, kind: EventKind, flag: str) -> None:
        self.now()
        if not getattr(self.state, flag):
            raise MeterStateConflict(f"meter {self.address}: no {kind.value} in progress")
        setattr(self.state, flag, False)
        self._finish_record(kind)

    # ------------------------------------------------------------ internals: energy

    def _voltage_dv(self, slot: int) -> int:
        # Around 220 V: a per-meter offset along the feeder, a little noise per slot.
        return 2200 + self._voltage_offset_dv + mix(self.spec.seed, slot, 6) % 21 - 10

    def _power_dw(self, slot: int) -> int:
        return self._load.power_dw(slot) + self.state.extra_load_dw

    def _current_ma(self, power_dw: int, voltage_mv: int) -> int:
        if power_dw == 0:
            return 0
        apparent = voltage_mv * self._power_factor_permille
        return power_dw * 100 * 1_000_000 // apparent

    def _advance(self, true_at: dt.datetime) -> None:
        """Integrate energy from the last instant reached up to ``true_at``."""
        state = self.state
        slot_us = self._load.slot_s * 1_000_000
        while state.integrated_to < true_at:
            start = state.integrated_to
            start_us = epoch_micros(start)
            slot = start_us // slot_us
            meter_at = state.clock.at(start)
            end = min(
                true_at,
                start + dt.timedelta(microseconds=(slot + 1) * slot_us - start_us),
                state.clock.true_time_of(self.spec.schedule.next_switch_after(meter_at)),
                state.clock.true_time_of(self._next_settlement),
            )
            if state.relay_closed and state.powered:
                power_dw = self._power_dw(slot)
                voltage_mv = self._voltage_dv(slot) * 100
                if self._current_ma(power_dw, voltage_mv) > self.spec.max_current_ma:
                    self._over_current(start)
                else:
                    tariff = self.spec.schedule.tariff_at(meter_at)
                    self._accumulate(power_dw * micros(end - start), tariff)
            state.integrated_to = end
            if state.clock.at(end) >= self._next_settlement:
                self._freeze(self._next_settlement)
                self._next_settlement = self._settlement_after(self._next_settlement)

    def _accumulate(self, energy_dw_us: int, tariff: Tariff) -> None:
        for index in (0, int(tariff)):
            carried, self.state.residual[index] = divmod(
                self.state.residual[index] + energy_dw_us, DW_US_PER_WH
            )
            self.state.wh[index] += carried

    def _freeze(self, at: dt.datetime) -> None:
        self.state.settlements.appendleft(
            Settlement(frozen_at=at, registers=Registers.from_tuple(tuple(self.state.wh)))
        )

    def _settle_until(self, meter_at: dt.datetime) -> None:
        """Freeze every settlement instant a forward clock jump skipped (at most 12)."""
        due = self._next_settlement
        skipped = 0
        while due <= meter_at and skipped < SETTLEMENTS_KEPT:
            self._freeze(due)
            due = self._settlement_after(due)
            skipped += 1

    def _settlement_after(self, meter_at: dt.datetime) -> dt.datetime:
        """Return the first settlement instant strictly after a meter-local time."""
        year, month = meter_at.year, meter_at.month
        while True:
            candidate = dt.datetime(  # meter-local by definition
                year, month, self.spec.settlement_day, self.spec.settlement_hour
            )
            if candidate > meter_at:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    # ------------------------------------------------------------ internals: a new meter

    def _new_state(self) -> MeterState:
        now = self._time.now()
        clock = MeterClock.synchronised(
            true_at=now,
            zone=self.spec.zone,
            drift_ppm=self.spec.drift_ppm,
            offset=self.spec.clock_offset,
        )
        state = MeterState(
            integrated_to=now,
            clock=clock,
            wh=[0] * 5,
            residual=[0] * 5,
            settlements=collections.deque(maxlen=SETTLEMENTS_KEPT),
        )
        if self.spec.history_months:
            self._synthesise_history(state, clock.at(now))
        return state

    def _synthesise_history(self, state: MeterState, meter_now: dt.datetime) -> None:
        """Give a new meter plausible past months from the load's expected shape.

        Simulating years slot by slot would take seconds per meter; the expected power per
        slot of the day, times the days, times a seeded ±15 %, gives the same shape at once.
        """
        first = meter_now
        for _ in range(self.spec.history_months):
            first = (first.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        month_start = self._settlement_after(first - dt.timedelta(days=31))
        while month_start < meter_now:
            month_end = self._settlement_after(month_start)
            span_end = min(month_end, meter_now)
            days_us = micros(span_end - month_start)
            factor = (
                850 + mix(self.spec.seed, int(self.spec.address), month_start.toordinal()) % 301
            )
            by_tariff = [0] * 5
            for second in range(0, 86_400, self._load.slot_s):
                tariff = self.spec.schedule.tariff_at(
                    dt.datetime.combine(month_start.date(), dt.time())
                    + dt.timedelta(seconds=second)
                )
                power = self._load.expected_power_dw(month=month_start.month, second_of_day=second)
                by_tariff[tariff] += power * factor // 1000
            for tariff in Tariff:
                # mean power per slot-of-day x slot share of the span, in dW·µs
                energy = by_tariff[tariff] * self._load.slot_s * days_us // 86_400
                carried, state.residual[tariff] = divmod(
                    state.residual[tariff] + energy, DW_US_PER_WH
                )
                state.wh[tariff] += carried
            state.wh[0] = sum(state.wh[1:])
            if month_end <= meter_now:
                state.settlements.appendleft(
                    Settlement(frozen_at=month_end, registers=Registers.from_tuple(tuple(state.wh)))
                )
            month_start = month_end
