"""Where an interval's energy belongs in time: the one rule for charges and usage alike.

A reading interval that spans a local month start (or, for charging, a tariff boundary) is cut
there, and each register's delta is apportioned to the parts in proportion to elapsed meter
time. The parts come from rounding the cumulative share half up, so they add up to the delta
exactly, and a part's energy depends only on the elapsed time at its two cuts: cutting at more
instants (tariff boundaries) never changes what a whole month gets. Charges
(billing.charge_consumption) and the usage aggregates (by day, month and year) both use this
rule, so a statement's kWh per month and the usage of that month agree.

Intervals are half-open, ``[start_at, end_at)``: a part belongs to the local day and month of
its last instant, which for a part inside one month is the month of its start. An empty
interval (a reading at the baseline's own time with new registers) belongs to its start.

Energy a meter registered before its account was opened in this system (a meter installed
before the account, B8) is moved to the opening: nothing is charged or aggregated in a month
before the account existed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from fractions import Fraction

from wattbook.domain.metering._reading import Consumption
from wattbook.domain.values import BillingMonth, RegisterSet, local_date, round_half_up

_ONE_US = timedelta(microseconds=1)


def attributed_at(*, start_at: datetime, end_at: datetime) -> datetime:
    """Return the instant a part ``[start_at, end_at)`` is attributed to: its last instant.

    An empty part (``end_at <= start_at``) is attributed to its start.
    """
    return max(start_at, end_at - _ONE_US)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthlyUsage:
    """The part of a consumption that falls in one local billing month.

    ``day`` is the local day of the part's last instant, the day the usage aggregates count it.
    """

    month: BillingMonth
    day: date
    delta: RegisterSet


def since_opening(consumption: Consumption, *, opened_at: datetime) -> Consumption:
    """Return ``consumption`` with its interval moved to start no earlier than ``opened_at``.

    A meter installed before its account was opened (B8: the meters were replaced months
    before the accounts moved to this system) registers energy the account can only be
    charged from its opening: the whole first interval then lies on or after the opening, and
    its months are the account's months. An interval entirely before the opening becomes the
    empty interval at the opening.
    """
    if consumption.start_at >= opened_at:
        return consumption
    return replace(consumption, start_at=opened_at, end_at=max(consumption.end_at, opened_at))


def _apportion(wh: int, elapsed_us: list[int], total_us: int) -> list[int]:
    if total_us <= 0:
        return [wh, *([0] * (len(elapsed_us) - 1))]
    parts = []
    done = 0
    for elapsed in elapsed_us:
        cumulative = round_half_up(Fraction(wh * elapsed, total_us))
        parts.append(cumulative - done)
        done = cumulative
    return parts


def apportion(consumption: Consumption, *, cuts: Iterable[datetime]) -> tuple[Consumption, ...]:
    """Return ``consumption`` cut at each of ``cuts`` strictly inside its interval.

    Every register's delta is shared out in proportion to elapsed time, the cumulative share
    rounded half up, so the parts add up to the delta exactly. Cuts outside the interval are
    ignored; an empty interval is one part.
    """
    start_at, end_at = consumption.start_at, consumption.end_at
    inner = sorted({cut for cut in cuts if start_at < cut < end_at})
    if not inner:
        return (consumption,)
    bounds = [start_at, *inner, end_at]
    total_us = (end_at - start_at) // _ONE_US
    elapsed_us = [(bound - start_at) // _ONE_US for bound in bounds[1:]]
    shares = [_apportion(value, elapsed_us, total_us) for value in consumption.delta.as_tuple()]
    return tuple(
        Consumption(
            meter_number=consumption.meter_number,
            start_at=a,
            end_at=b,
            delta=RegisterSet(
                total_wh=shares[0][index],
                sharp_wh=shares[1][index],
                peak_wh=shares[2][index],
                flat_wh=shares[3][index],
                valley_wh=shares[4][index],
            ),
        )
        for index, (a, b) in enumerate(itertools.pairwise(bounds))
    )


def month_starts(*, start_at: datetime, end_at: datetime) -> tuple[datetime, ...]:
    """Return the local month starts strictly inside ``(start_at, end_at)``."""
    starts = []
    month = BillingMonth.of(start_at)
    while month.end_at < end_at:
        starts.append(month.end_at)
        month = month.next()
    return tuple(starts)


def by_month(consumption: Consumption) -> tuple[MonthlyUsage, ...]:
    """Return ``consumption`` split into local billing months, oldest first (see module)."""
    start_at, end_at = consumption.start_at, consumption.end_at
    month = BillingMonth.of(start_at)
    if end_at <= month.end_at:
        # Almost every interval lies in one month: nothing to apportion.
        at = attributed_at(start_at=start_at, end_at=end_at)
        return (MonthlyUsage(month=month, day=local_date(at), delta=consumption.delta),)
    parts = apportion(consumption, cuts=month_starts(start_at=start_at, end_at=end_at))
    return tuple(
        MonthlyUsage(
            month=BillingMonth.of(part.start_at),
            day=local_date(attributed_at(start_at=part.start_at, end_at=part.end_at)),
            delta=part.delta,
        )
        for part in parts
    )
