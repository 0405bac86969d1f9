"""The head-end against a simulated campus over TCP: faults, an outage, events, alarms (C1-C5)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from sqlalchemy.engine import Engine
from tests.integration.headend.campus import Site, bus_spec, site

from wattbook.dlt645 import simulator
from wattbook.domain.values import round_half_up

HEALTHY = "051600000001"
GARBLING = "051600000002"
DRIFTING = "051600000003"
SILENT = "051600000011"
OFFLINE = "051600000012"
HEAVY = "051600000013"
MINUTE = dt.timedelta(minutes=1)


def expected_charge_fen(place: Site, number: str) -> int:
    used_wh = place.last_total_wh(number) - place.initial[number].total_wh
    return round_half_up(Fraction(used_wh * 5283, 100_000))


def campus_buses() -> list[simulator.BusSpec]:
    return [
        bus_spec(
            "block-5",
            [HEALTHY, GARBLING, DRIFTING],
            faults={GARBLING: simulator.Faults(garble=0.1)},
            offsets={DRIFTING: 600},
        ),
        bus_spec(
            "block-6",
            [SILENT, OFFLINE, HEAVY],
            faults={SILENT: simulator.Faults(silent=1.0)},
        ),
    ]


class TestCampusWithFaults:
    async def test_a_day_with_an_outage_ends_with_nothing_lost(self, engine: Engine) -> None:
        async with site(engine, campus_buses()) as place, place.running() as headend:
            await headend.sweep()
            for _ in range(4):
                await place.step(5 * MINUTE)
            place.campus.set_faults(OFFLINE, simulator.Faults(silent=1.0))
            opened_at = place.clock.advance(3 * dt.timedelta(hours=1))
            place.campus.meter(OFFLINE).open_cover()
            closed_at = place.clock.advance(10 * MINUTE)
            place.campus.meter(OFFLINE).close_cover()
            for _ in range(21):
                await place.step(dt.timedelta(hours=1))
            place.campus.meter(HEAVY).set_extra_load(watts=20_000)
            place.campus.set_faults(OFFLINE, simulator.NO_FAULTS)
            for _ in range(3):
                await place.step(15 * MINUTE)
            registers = {n: place.campus.meter(n).registers() for n in (HEALTHY, OFFLINE)}

            # Readings and charges: every healthy meter's last reading is the meter's now.
            for number in (HEALTHY, GARBLING, DRIFTING, OFFLINE, HEAVY):
                assert place.balance_fen(number) == 10_000 - expected_charge_fen(place, number)
            assert place.last_total_wh(HEALTHY) == registers[HEALTHY].total_wh // 10 * 10
            assert place.last_total_wh(OFFLINE) == registers[OFFLINE].total_wh // 10 * 10
            assert place.balance_fen(SILENT) == 10_000

            alarms = place.rows(
                "SELECT meter_number, kind, started_at, ended_at FROM alarms ORDER BY id"
            )
            kinds = {(str(m), str(k)) for m, k, _, _ in alarms}
            # C2: the silent meter is alarmed and stays so; the offline one recovered.
            no_comm = {str(m): e for m, k, _, e in alarms if k == "NO_COMMUNICATION"}
            assert no_comm[SILENT] is None
            assert no_comm[OFFLINE] is not None
            # M6, C3: the cover opening while offline, with its original times.
            (cover,) = [(s, e) for m, k, s, e in alarms if k == "METER_COVER_OPENED"]
            assert as_utc(cover[0]) == opened_at.replace(second=0, microsecond=0)
            assert as_utc(cover[1]) == closed_at.replace(second=0, microsecond=0)
            events = place.rows("SELECT kind FROM meter_events WHERE meter_number = :n", n=OFFLINE)
            assert [str(k) for (k,) in events] == ["METER_COVER_OPENED"]
            # M5: the over-current trip, and the relay open against a "closed" command.
            assert (HEAVY, "OVER_CURRENT_TRIP") in kinds
            assert (HEAVY, "RELAY_STATE_MISMATCH") in kinds
            # C5: the meter 10 minutes off was set right, and the drift recorded.
            checks = place.rows(
                "SELECT drift_ms, corrected FROM meter_clock_checks WHERE meter_number = :n",
                n=DRIFTING,
            )
            assert checks[0][0] >= 599_000
            assert bool(checks[0][1])
            drift = place.campus.meter(DRIFTING).meter_time() - place.clock.now().astimezone(
                simulator.SHANGHAI
            ).replace(tzinfo=None)
            assert abs(drift) < dt.timedelta(seconds=2)
            # C2: success per bus and meter per day; the garbling meter failed some visits.
            days = place.rows(
                "SELECT meter_number, SUM(attempts), SUM(successes) FROM communication_days "
                "WHERE bus = 'block-5' GROUP BY meter_number"
            )
            by_meter = {str(m): (int(a), int(s)) for m, a, s in days}
            assert by_meter[HEALTHY][0] == by_meter[HEALTHY][1]
            assert 0 < by_meter[GARBLING][1] <= by_meter[GARBLING][0]
            assert by_meter[""][0] == sum(a for m, (a, _) in by_meter.items() if m)

    async def test_records_read_again_change_nothing(self, engine: Engine) -> None:
        async with site(engine, campus_buses()[1:]) as place:
            place.campus.meter(OFFLINE).open_cover()
            place.clock.advance(MINUTE)
            place.campus.meter(OFFLINE).close_cover()
            async with place.running() as headend:
                await headend.sweep()
            place.execute("DELETE FROM meter_event_counts")  # as if the counts were never stored
            async with place.running() as headend:
                await place.step(5 * MINUTE)

            events = place.rows(
                "SELECT COUNT(*) FROM meter_events WHERE meter_number = :n", n=OFFLINE
            )
            alarms = place.rows("SELECT COUNT(*) FROM alarms WHERE kind = 'METER_COVER_OPENED'")
            assert (events[0][0], alarms[0][0]) == (1, 1)

    async def test_more_events_than_the_meter_keeps_raise_a_gap_alarm(self, engine: Engine) -> None:
        async with site(engine, campus_buses()[1:]) as place, place.running() as headend:
            await headend.sweep()
            meter = place.campus.meter(OFFLINE)
            for _ in range(12):
                meter.open_terminal_cover()
                place.clock.advance(MINUTE)
                meter.close_terminal_cover()
            await place.step(5 * MINUTE)

            (detail,) = place.rows("SELECT detail FROM alarms WHERE kind = 'EVENT_RECORDS_LOST'")[0]
            stored = place.rows(
                "SELECT COUNT(*) FROM meter_events WHERE kind = 'TERMINAL_COVER_OPENED'"
            )
            assert "2 record(s) lost" in str(detail)
            assert stored[0][0] == 10


def as_utc(value: object) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
