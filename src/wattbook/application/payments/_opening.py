"""Whether the counter serves now (P1), for every use case done at the counter.

Counter payments and corrections (P4) follow one rule, the domain's ``counter_open``: working
hours on working days, or an administrator's opening order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments
from wattbook.domain.values import local_date

# The calendar is asked about today only; a day is enough.
_TODAY = timedelta(0)


async def require_counter_open(
    uow: ports.UnitOfWork, *, at: datetime
) -> payment_ports.CounterOpening | None:
    """Refuse counter work at ``at`` unless the counter is open; return the administrator's
    opening order it is open under, or None within working hours.

    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    """
    today = local_date(at)
    openings = await uow.payments.counter_openings(at=at)
    hours = await uow.payments.counter_hours(on=today)
    calendar = await uow.prepaid.calendar(first_date=today, last_date=today + _TODAY)
    if payments.counter_open(at=at, hours=hours, calendar=calendar):
        return None
    payments.require_counter_open(
        at=at, hours=hours, calendar=calendar, openings=tuple(o.period for o in openings)
    )
    # Open only by an order; the first one given (the earliest made) is the one on record.
    return next(o for o in openings if o.period.contains(at))


def opening_note(opening: payment_ports.CounterOpening | None) -> str:
    """Return the audit note for work done under an administrator's opening order, or ""."""
    if opening is None:
        return ""
    assert opening.period.end_at is not None  # noqa: S101 - an opening order ends
    return (
        f"out of hours, counter opened by {opening.opened_by}"
        f" {opening.period.start_at.isoformat()}..{opening.period.end_at.isoformat()}:"
        f" {opening.reason}"
    )
