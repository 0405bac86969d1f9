"""Count collection successes and raise or clear the no-communication alarm (C2)."""

from __future__ import annotations

from collections.abc import Sequence

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.domain.alarms import Alarm, AlarmKind


async def record_communication(
    *,
    uow: ports.UnitOfWork,
    bus: str,
    outcomes: Sequence[hp.CommunicationOutcome],
) -> tuple[Alarm, ...]:
    """Add the visits' outcomes to the per-day counts of the bus and its meters.

    A meter's ``no_communication_after``-th failure in a row raises a no-communication
    alarm (from that failure's time); its next success ends the alarm. Return the alarms
    raised.
    """
    if not outcomes:
        return ()
    raised: list[Alarm] = []
    async with uow:
        states = dict(await uow.headend.communication({o.meter_number for o in outcomes}))
        for outcome in sorted(outcomes, key=lambda o: o.at):
            meter = outcome.meter_number
            state = states.get(meter, hp.CommunicationState())
            limit = outcome.no_communication_after
            if outcome.succeeded:
                if state.consecutive_failures >= limit:
                    await uow.alarms.end_open(
                        str(meter), (AlarmKind.NO_COMMUNICATION,), at=outcome.at
                    )
                states[meter] = hp.CommunicationState(
                    consecutive_failures=0, last_success_at=outcome.at
                )
                continue
            failures = state.consecutive_failures + 1
            if failures == limit:
                since = state.last_success_at
                raised.append(
                    Alarm.on_meter(
                        meter,
                        AlarmKind.NO_COMMUNICATION,
                        started_at=outcome.at,
                        detail=(
                            f"{failures} visits without an answer ({outcome.error}); last answer "
                            f"{'never' if since is None else since.isoformat()}"
                        ),
                    )
                )
            states[meter] = hp.CommunicationState(
                consecutive_failures=failures, last_success_at=state.last_success_at
            )
        await uow.alarms.record(raised, raised_at=max(o.at for o in outcomes))
        await uow.headend.save_communication(
            bus, outcomes, {o.meter_number: states[o.meter_number] for o in outcomes}
        )
        await uow.commit()
    return tuple(raised)
