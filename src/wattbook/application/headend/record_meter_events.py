"""Store what a visit to a meter collected and raise the alarms it shows (M5, M6, C3, C5)."""

from __future__ import annotations

from datetime import datetime

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.domain.alarms import Alarm, AlarmKind
from wattbook.domain.headend import MeterEventKind

# Event kinds that raise an alarm, and which alarm; relay operations are only recorded.
EVENT_ALARMS = {
    MeterEventKind.METER_COVER_OPENED: AlarmKind.METER_COVER_OPENED,
    MeterEventKind.TERMINAL_COVER_OPENED: AlarmKind.TERMINAL_COVER_OPENED,
    MeterEventKind.POWER_DOWN: AlarmKind.POWER_DOWN,
    MeterEventKind.OVER_CURRENT: AlarmKind.OVER_CURRENT_TRIP,
}


def _event_alarm(event: hp.MeterEvent) -> Alarm:
    kind = EVENT_ALARMS[event.kind]
    # An over-current trip lasts until the relay is closed again; the record has no end.
    ended_at = None if kind is AlarmKind.OVER_CURRENT_TRIP else event.ended_at
    return Alarm.on_meter(
        event.meter_number,
        kind,
        started_at=event.occurred_at,
        ended_at=ended_at,
        detail=event.detail,
    )


def _lost_alarms(collection: hp.MeterCollection) -> list[Alarm]:
    return [
        Alarm.on_meter(
            collection.meter_number,
            AlarmKind.EVENT_RECORDS_LOST,
            started_at=collection.visited_at,
            ended_at=collection.visited_at,
            detail=f"{kind.value}: {lost} record(s) lost; the meter keeps {hp.RECORDS_KEPT}",
        )
        for kind, lost in collection.lost
    ]


async def record_meter_events(
    *, uow: ports.UnitOfWork, clock: ports.Clock, collection: hp.MeterCollection
) -> tuple[Alarm, ...]:
    """Store a visit's events, counts, latest values, settlement and clock check; raise alarms.

    Events keep their original meter times and are stored once each, so records read again
    after an outage change nothing (C3). Alarms: one per cover opening, terminal cover
    opening, power down and over-current trip event, with the event's start and end; one when
    event records were lost; the relay state unlike its command (status word 3 bit 4 against
    bit 6) for as long as it lasts, and an over-current trip ends when the relay is closed.
    Return the alarms raised or updated.
    """
    now = clock.now()
    meter = collection.meter_number
    alarms = [_event_alarm(event) for event in collection.events if event.kind in EVENT_ALARMS]
    lost = _lost_alarms(collection)
    if len(lost) > 1:
        # Several kinds lost on one visit: one alarm carries them all (unique start time).
        lost = [
            Alarm.on_meter(
                meter,
                AlarmKind.EVENT_RECORDS_LOST,
                started_at=collection.visited_at,
                ended_at=collection.visited_at,
                detail="; ".join(alarm.detail for alarm in lost),
            )
        ]
    alarms.extend(lost)
    async with uow:
        await uow.headend.add_events(collection.events, recorded_at=now)
        if collection.event_counts:
            await uow.headend.save_event_counts(
                meter, dict(collection.event_counts), at=collection.visited_at
            )
        latest = collection.latest
        if latest is not None:
            await uow.headend.save_latest(latest)
            alarms.extend(await _status_alarms(uow, latest, at=collection.visited_at))
        await uow.alarms.record(alarms, raised_at=now)
        if collection.settlement is not None:
            await uow.headend.save_settlement(collection.settlement)
        if collection.clock is not None:
            await uow.headend.add_clock_check(collection.clock)
        await uow.commit()
    return tuple(alarms)


async def _status_alarms(
    uow: ports.UnitOfWork, latest: hp.LatestValues, *, at: datetime
) -> list[Alarm]:
    status = latest.status
    open_kinds = {alarm.kind for alarm in await uow.alarms.alarms(subject=str(latest.meter_number))}
    ended: set[AlarmKind] = set()
    raised: list[Alarm] = []
    mismatch = status.relay_open != status.relay_command_open
    if mismatch and AlarmKind.RELAY_STATE_MISMATCH not in open_kinds:
        raised.append(
            Alarm.on_meter(
                latest.meter_number,
                AlarmKind.RELAY_STATE_MISMATCH,
                started_at=at,
                detail=(
                    f"relay {'open' if status.relay_open else 'closed'}, command "
                    f"{'open' if status.relay_command_open else 'closed'}"
                ),
            )
        )
    elif not mismatch:
        ended.add(AlarmKind.RELAY_STATE_MISMATCH)
    if not status.relay_open:
        ended.add(AlarmKind.OVER_CURRENT_TRIP)
    await uow.alarms.end_open(str(latest.meter_number), ended & open_kinds, at=at)
    return raised
