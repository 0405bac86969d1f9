"""Half-open periods of time and billing months."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Self

from wattbook.domain.values._localtime import local_date, require_aware, start_of_local_day


class InvalidPeriod(ValueError):
    """Raise when a period ends before it starts, or a billing month is malformed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """A half-open period ``[start_at, end_at)``; ``end_at`` None means open-ended."""

    start_at: datetime
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.start_at)
        if self.end_at is not None and require_aware(self.end_at) < self.start_at:
            raise InvalidPeriod(f"period ends before it starts: {self.start_at} .. {self.end_at}")

    def contains(self, at: datetime) -> bool:
        """Test whether ``at`` lies in the period (the start is in, the end is out)."""
        require_aware(at)
        return self.start_at <= at and (self.end_at is None or at < self.end_at)

    def overlaps(self, other: Period) -> bool:
        """Test whether the two periods share at least one instant."""
        starts_before_other_ends = other.end_at is None or self.start_at < other.end_at
        other_starts_before_self_ends = self.end_at is None or other.start_at < self.end_at
        return starts_before_other_ends and other_starts_before_self_ends


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class BillingMonth:
    """A calendar month in Shanghai local time; charges are totalled per billing month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise InvalidPeriod(f"not a billing month: {self.year}-{self.month}")

    @classmethod
    def of(cls, at: datetime) -> Self:
        """Return the local billing month containing the instant ``at``.

        :raises NaiveDatetime: if ``at`` is naive.
        """
        day = local_date(at)
        return cls(year=day.year, month=day.month)

    @classmethod
    def of_date(cls, day: date) -> Self:
        """Return the billing month containing the local date ``day``."""
        return cls(year=day.year, month=day.month)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Return the month written as ``"2024-02"``.

        :raises InvalidPeriod: if the text is not YYYY-MM with a valid month.
        """
        match = _MONTH.match(text)
        if match is None:
            raise InvalidPeriod(f"not a YYYY-MM month: {text!r}")
        return cls(year=int(match[1]), month=int(match[2]))

    @property
    def first_date(self) -> date:
        """Return the first local date of the month."""
        return date(self.year, self.month, 1)

    @property
    def start_at(self) -> datetime:
        """Return the instant the month starts (local midnight on its first day)."""
        return start_of_local_day(self.first_date)

    @property
    def end_at(self) -> datetime:
        """Return the instant the month ends, which is when the next one starts."""
        return self.next().start_at

    @property
    def period(self) -> Period:
        """Return the month as a half-open period of time."""
        return Period(start_at=self.start_at, end_at=self.end_at)

    def next(self) -> BillingMonth:
        """Return the following month."""
        if self.month == 12:
            return BillingMonth(year=self.year + 1, month=1)
        return BillingMonth(year=self.year, month=self.month + 1)

    def previous(self) -> BillingMonth:
        """Return the preceding month."""
        if self.month == 1:
            return BillingMonth(year=self.year - 1, month=12)
        return BillingMonth(year=self.year, month=self.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def local_month(at: datetime, /) -> BillingMonth:
    """Return the local billing month of the aware instant ``at``.

    :raises NaiveDatetime: if ``at`` is naive.
    """
    return BillingMonth.of(at)
