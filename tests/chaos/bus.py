"""Bus faults: the head-end on a simulated campus whose meters go silent, garble, lose frames
and answer late.

The campus and the head-end share one hand-stepped clock (``tests/integration/headend``'s
site): every step is one energy interval (15 minutes) and one sweep of every bus, so a day of
collection takes seconds. A read is *scheduled* for every meter on every sweep; it is
*collected* when a reading of that meter at that time is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from tests.chaos import invariants
from tests.integration.headend.campus import bus_spec, site

from wattbook.adapters import db
from wattbook.dlt645 import simulator

STEP = dt.timedelta(minutes=15)
FAULT_KINDS = ("loss", "garble", "late", "silence")


@dataclasses.dataclass(slots=True, kw_only=True)
class BusRun:
    """What one bus-fault run scheduled, collected and found broken."""

    kind: str
    backend: str
    scheduled: int = 0
    collected: int = 0
    violations: list[str] = dataclasses.field(default_factory=list)


def _addresses(bus: int, meters: int) -> list[str]:
    return [f"0516{bus:02d}{n:06d}" for n in range(1, meters + 1)]


def _faults(kind: str, addresses: list[str]) -> dict[str, simulator.Faults]:
    if kind == "loss":  # 1 % of exchanges lose a frame: half the requests, half the replies
        return {a: simulator.Faults(silent=0.005, drop=0.005) for a in addresses}
    if kind == "garble":
        return {a: simulator.Faults(garble=0.05) for a in addresses}
    if kind == "late":
        # Replies just past the 40 ms timeout now and then, and one meter always late: its
        # stale replies reach the line while its neighbours are being asked.
        late = {a: simulator.Faults(slow=0.05, slow_delay_s=0.06) for a in addresses}
        late[addresses[0]] = simulator.Faults(slow=1.0, slow_delay_s=0.06)
        return late
    return {}


async def bus_fault_run(
    *, kind: str, backend: str, url: str, buses: int, meters: int, sweeps: int, seed: int
) -> BusRun:
    """Run ``sweeps`` sweeps of ``buses`` x ``meters`` meters under one kind of fault."""
    rng = random.Random(seed)
    addresses = [_addresses(b, meters) for b in range(1, buses + 1)]
    specs = [
        bus_spec(f"bus-{b}", numbers, faults=_faults(kind, numbers))
        for b, numbers in enumerate(addresses, start=1)
    ]
    # Silence: one meter goes quiet for the middle third of the run and opens its cover
    # meanwhile; it must be alarmed, then read again and its event uploaded on its return.
    quiet = rng.choice(addresses[0])
    quiet_from, quiet_to = sweeps // 3, 2 * sweeps // 3
    run = BusRun(kind=kind, backend=backend)
    engine = db.create_engine(url)
    try:
        async with site(engine, specs) as place, place.running() as headend:
            # The first sweep reads the meters at their installation time: that is the
            # baseline, not a reading, so it is not counted.
            await headend.sweep()
            for index in range(sweeps):
                if kind == "silence" and index == quiet_from:
                    place.campus.set_faults(quiet, simulator.Faults(silent=1.0))
                if kind == "silence" and index == (quiet_from + quiet_to) // 2:
                    place.campus.meter(quiet).open_cover()
                    place.clock.advance(dt.timedelta(minutes=1))
                    place.campus.meter(quiet).close_cover()
                if kind == "silence" and index == quiet_to:
                    place.campus.set_faults(quiet, simulator.NO_FAULTS)
                await place.step(STEP)
            numbers = [a for bus in addresses for a in bus]
            collected = {
                str(number): int(count)
                for number, count in place.rows(
                    "SELECT i.meter_number, COUNT(DISTINCT r.meter_time_at) FROM readings r"
                    " JOIN meter_installations i ON i.id = r.installation_id"
                    " GROUP BY i.meter_number"
                )
            }
            always_late = {bus[0] for bus in addresses} if kind == "late" else set()
            for number in numbers:
                expected = sweeps
                if kind == "silence" and number == quiet:
                    expected = sweeps - (quiet_to - quiet_from)
                if number in always_late:  # never answers in time: not collectable
                    expected = 0
                run.scheduled += expected
                run.collected += min(expected, collected.get(number, 0))
            run.violations += invariants.charges(
                url, opening_fen=10_000, initial_wh={n: place.initial[n].total_wh for n in numbers}
            )
            run.violations += await invariants.ledger(url)
            run.violations += invariants.no_cuts(
                url,
                numbers=numbers,
                relays_closed={n: place.campus.meter(n).relay_closed for n in numbers},
            )
            # Nothing stored is wrong: every reading is one the meter could have given.
            for number in numbers:
                stored = place.last_total_wh(number)
                if stored > place.campus.meter(number).registers().total_wh:
                    run.violations.append(f"{number}: stored {stored} Wh, more than the meter")
            if kind == "silence":
                run.violations += _silence_checks(place, quiet)
    finally:
        engine.dispose()
    return run


def _silence_checks(place: object, quiet: str) -> list[str]:
    from tests.integration.headend.campus import Site

    assert isinstance(place, Site)
    found = []
    events = place.rows(
        "SELECT COUNT(*) FROM meter_events WHERE meter_number = :n AND kind = 'METER_COVER_OPENED'",
        n=quiet,
    )[0][0]
    if int(events) != 1:
        found.append(f"{quiet}: {events} cover-open event(s) stored, the meter recorded 1")
    alarms = place.rows(
        "SELECT started_at, ended_at FROM alarms WHERE meter_number = :n"
        " AND kind = 'NO_COMMUNICATION'",
        n=quiet,
    )
    if not alarms:
        found.append(f"{quiet}: silent for hours and no no-communication alarm")
    elif any(ended is None for _, ended in alarms):
        found.append(f"{quiet}: back on the bus but its no-communication alarm never ended")
    return found
