"""Journey 5 (C2, C3, M6): a meter goes offline, stores what happens meanwhile, and uploads it
when it answers again; staff see the no-communication alarm come and go."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.dlt645 import simulator
from wattbook.domain.values import SHANGHAI

MONDAY_MORNING = dt.datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)
FIVE = dt.timedelta(minutes=5)


async def test_a_meter_offline_stores_its_events_and_uploads_them(engine: Engine) -> None:
    people = residents(20_000, 20_000)
    offline = people[1]
    async with world(engine, people, start=MONDAY_MORNING) as campus:
        meter = campus.meter(offline.number)
        await campus.step(FIVE)

        campus.campus.set_faults(offline.number, simulator.Faults(silent=1.0))
        await campus.until(
            lambda: bool(campus.rows("SELECT 1 FROM alarms WHERE kind = 'NO_COMMUNICATION'")),
            step=FIVE,
        )
        meter.open_cover()
        await campus.step(FIVE)
        down_at = campus.clock.now()
        meter.power_down()
        await campus.step(FIVE)
        meter.power_up()
        meter.close_cover()
        await campus.step(FIVE)
        filed_while_silent = campus.rows("SELECT COUNT(*) FROM meter_events")[0][0]
        campus.campus.set_faults(offline.number, simulator.NO_FAULTS)
        await campus.until(
            lambda: bool(campus.rows("SELECT 1 FROM meter_events WHERE kind = 'POWER_DOWN'")),
            step=FIVE,
        )

        assert filed_while_silent == 0
        events = {
            row[0]: row[1]
            for row in campus.rows(
                "SELECT kind, occurred_at FROM meter_events WHERE meter_number = :m",
                m=offline.number,
            )
        }
        assert set(events) == {"METER_COVER_OPENED", "POWER_DOWN"}
        power_down_at = events["POWER_DOWN"]
        if isinstance(power_down_at, str):
            power_down_at = dt.datetime.fromisoformat(power_down_at)
        # Filed with the meter's own time of the event, not the time of the upload.
        assert abs(
            power_down_at.replace(tzinfo=None) - down_at.replace(tzinfo=None)
        ) < dt.timedelta(minutes=1)
        alarms = campus.rows(
            "SELECT kind, ended_at FROM alarms WHERE subject = :m ORDER BY id", m=offline.number
        )
        assert "NO_COMMUNICATION" in {row[0] for row in alarms}
        assert all(row[1] is not None for row in alarms if row[0] == "NO_COMMUNICATION")
        told = {
            (item.kind.value, item.subject, item.code, item.count)
            for item in await campus.feed(MONDAY_MORNING)
        }
        assert ("ALARM_RAISED", offline.number, "NO_COMMUNICATION", 1) in told
        assert ("ALARM_ENDED", offline.number, "NO_COMMUNICATION", 1) in told
        assert ("STORED_EVENTS_FILED", offline.number, "", 2) in told
