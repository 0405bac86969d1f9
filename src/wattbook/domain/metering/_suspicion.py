"""When a meter's use looks like theft or a fault: the one home of those thresholds.

Three patterns, each on energy already summed per account (the read side sums ``usage_daily``
set-based and hands the sums here, so no query decides a threshold itself):

- zero use while occupied: nothing used in the window though the household used at least
  ``occupied_wh`` in the window of the same length just before (the meter answered meanwhile);
- a sudden drop after a meter or terminal cover was opened: use in the days after the event
  below ``drop_ratio`` of use in as many days before it, which must be worth comparing;
- use while the relay is open: the registers moved by more than one register step while the
  relay stood open (a bridged relay or extra wiring, M5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from wattbook.domain.metering._assessment import REGISTER_STEP_WH
from wattbook.domain.values import Energy

OCCUPIED = Energy(wh=1_000)
DROP_RATIO = Fraction(1, 2)
OPEN_RELAY_TOLERANCE = Energy(wh=REGISTER_STEP_WH)


class SuspectKind(StrEnum):
    """Why a meter is on the theft-or-fault report."""

    ZERO_USE_WHILE_OCCUPIED = "ZERO_USE_WHILE_OCCUPIED"
    DROP_AFTER_COVER_OPENED = "DROP_AFTER_COVER_OPENED"
    USE_WHILE_RELAY_OPEN = "USE_WHILE_RELAY_OPEN"


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspicionLimits:
    """The thresholds: a household that used 1 kWh or more the week before is occupied; a
    drop is below half the use before; the relay may let one register step through."""

    window_days: int = 7
    occupied: Energy = OCCUPIED
    drop_ratio: Fraction = DROP_RATIO
    open_relay_tolerance: Energy = OPEN_RELAY_TOLERANCE


def zero_use_while_occupied(*, before: Energy, during: Energy, limits: SuspicionLimits) -> bool:
    """Test whether nothing was used in the window though the window before shows occupancy."""
    return during.wh == 0 and before.wh >= limits.occupied.wh


def sudden_drop(*, before: Energy, after: Energy, limits: SuspicionLimits) -> bool:
    """Test whether use after a cover-open event fell below ``drop_ratio`` of use before it.

    A household that used less than ``occupied`` before is not compared (too little to say).
    """
    if before.wh < limits.occupied.wh:
        return False
    return Fraction(after.wh) < limits.drop_ratio * before.wh


def use_while_relay_open(*, used: Energy, limits: SuspicionLimits) -> bool:
    """Test whether the registers moved by more than the tolerance while the relay was open."""
    return used.wh > limits.open_relay_tolerance.wh
