"""Local time in Asia/Shanghai, used only where a local day matters (CONVENTIONS §6)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

# Never hard-code +08:00: the zone database knows the offset for every instant.
SHANGHAI = ZoneInfo("Asia/Shanghai")


class NaiveDatetime(ValueError):
    """Raise when a datetime without a time zone reaches the domain."""


def require_aware(at: datetime, /) -> datetime:
    """Return ``at`` unchanged if it is aware.

    :raises NaiveDatetime: if it carries no UTC offset.
    """
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetime(f"naive datetime reached the domain: {at.isoformat()}")
    return at


def to_local(at: datetime, /) -> datetime:
    """Return ``at`` as Shanghai wall-clock time.

    :raises NaiveDatetime: if ``at`` is naive.
    """
    return require_aware(at).astimezone(SHANGHAI)


def local_date(at: datetime, /) -> date:
    """Return the Shanghai calendar date of ``at``.

    :raises NaiveDatetime: if ``at`` is naive.
    """
    return to_local(at).date()


def start_of_local_day(day: date, /) -> datetime:
    """Return the aware instant at which the Shanghai calendar day ``day`` begins."""
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)


def local_datetime(day: date, wall_clock: time, /) -> datetime:
    """Return the aware instant of Shanghai wall-clock time ``wall_clock`` on ``day``."""
    return datetime.combine(day, wall_clock, tzinfo=SHANGHAI)
