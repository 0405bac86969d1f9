"""How many days the balance lasts at the household's recent use (Q2, Q6)."""

from __future__ import annotations

from wattbook.domain.values import Energy

# The window the portal averages use over: the last 14 local days.
AVERAGE_WINDOW_DAYS = 14


def days_left(*, energy_left: Energy, used_wh: int, over_days: int) -> int | None:
    """Return the whole days ``energy_left`` lasts at ``used_wh`` per ``over_days`` days.

    Rounded down, so the portal never promises a day the money does not buy. None when
    nothing was used in the window (no average to go by); 0 when nothing is left.

    :raises ValueError: if ``over_days`` is not positive or ``used_wh`` is negative.
    """
    if over_days <= 0:
        raise ValueError(f"over_days must be positive, not {over_days}")
    if used_wh < 0:
        raise ValueError(f"used_wh must not be negative, not {used_wh}")
    if used_wh == 0:
        return None
    if energy_left.wh <= 0:
        return 0
    # energy / (used / days) = energy x days / used, in integers.
    return energy_left.wh * over_days // used_wh
