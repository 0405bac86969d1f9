"""Tariffs: effective-dated prices, flat, time-of-use, or tiered by yearly consumption."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from wattbook.domain.values import (
    DEFAULT_PRICE,
    Price,
    TimeOfUse,
    require_aware,
    start_of_local_day,
)

# Stored code of 居民照明 (residential lighting); the label lives in the UI.
ITEM_RESIDENTIAL_LIGHTING = "RESIDENTIAL_LIGHTING"


class InvalidTariff(ValueError):
    """Raise when a tariff's components or dates do not make a tariff."""


class NoTariffInForce(LookupError):
    """Raise when consumption falls at a time no tariff covers."""

    def __init__(self, at: datetime) -> None:
        super().__init__(f"no tariff in force at {at.isoformat()}")
        self.at = at


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceComponent:
    """One price of a tariff: for a time-of-use period (or all hours, ``period`` None), from a
    cumulative-in-year consumption threshold (``from_year_wh``; 0 for the first or only band).

    阶梯电价 (yearly tiers) are bands of components with rising ``from_year_wh``.
    """

    price: Price
    period: TimeOfUse | None = None
    from_year_wh: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.from_year_wh, bool) or not isinstance(self.from_year_wh, int):
            raise InvalidTariff("from_year_wh must be an int")
        if self.from_year_wh < 0:
            raise InvalidTariff("a tier threshold cannot be negative")

    @property
    def code(self) -> str:
        """Return the component's stored code: ``ALL``, ``PEAK``, ``ALL@2160000``..."""
        name = "ALL" if self.period is None else self.period.value
        return name if self.from_year_wh == 0 else f"{name}@{self.from_year_wh}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tariff:
    """One version of a tariff: an item's prices over ``[effective_from, effective_to)``.

    The dates are local calendar dates; a version starts at local midnight.

    A new price is a new version starting on a date; versions never overlap and never change
    consumption before their start.
    """

    item: str
    effective_from: date
    effective_to: date | None
    components: tuple[PriceComponent, ...]

    def __post_init__(self) -> None:
        if not self.item.strip():
            raise InvalidTariff("a tariff names its item")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise InvalidTariff(f"tariff ends on or before it starts: {self.effective_from}")
        if not self.components:
            raise InvalidTariff("a tariff has at least one price")
        codes = [c.code for c in self.components]
        if len(set(codes)) != len(codes):
            raise InvalidTariff(f"duplicate price components: {codes}")
        periods = {c.period for c in self.components}
        thresholds = {c.from_year_wh for c in self.components}
        if None in periods:
            if periods != {None}:
                raise InvalidTariff("mix of all-hours and time-of-use prices")
            if 0 not in thresholds:
                raise InvalidTariff("the first tier must start at 0 Wh")
        else:
            if thresholds != {0}:
                # The component key already fits TOU x tiers; splitting a reading across both
                # needs a rule for which period's energy crosses a threshold. Not needed yet.
                raise InvalidTariff("time-of-use prices combined with tiers are not supported")
            if periods != set(TimeOfUse):
                raise InvalidTariff("a time-of-use tariff prices each of the four periods")

    @property
    def key(self) -> str:
        """Return the natural key of this version, e.g. ``RESIDENTIAL_LIGHTING@2024-01-01``."""
        return f"{self.item}@{self.effective_from.isoformat()}"

    @property
    def is_time_of_use(self) -> bool:
        """Test whether the tariff prices the four periods separately."""
        return self.components[0].period is not None

    @property
    def is_tiered(self) -> bool:
        """Test whether the tariff has yearly consumption tiers."""
        return len(self.components) > 1 and not self.is_time_of_use

    @property
    def bands(self) -> tuple[PriceComponent, ...]:
        """Return the all-hours components by rising threshold (one for a flat tariff)."""
        return tuple(sorted(self.components, key=lambda c: c.from_year_wh))

    @property
    def reference_price(self) -> Price:
        """Return the price the prepaid thresholds use: the flat price, FLAT-period price, or
        first tier."""
        if self.is_time_of_use:
            return next(c.price for c in self.components if c.period is TimeOfUse.FLAT)
        return self.bands[0].price

    @property
    def start_at(self) -> datetime:
        """Return the instant the version starts: local midnight of ``effective_from``."""
        return start_of_local_day(self.effective_from)

    @property
    def end_at(self) -> datetime | None:
        """Return the instant the version ends, or None if open-ended."""
        return None if self.effective_to is None else start_of_local_day(self.effective_to)

    def covers(self, at: datetime) -> bool:
        """Test whether the version is in force at the aware instant ``at``."""
        require_aware(at)
        end_at = self.end_at
        return self.start_at <= at and (end_at is None or at < end_at)

    def price_of(self, code: str) -> Price:
        """Return the price of the component with ``code``.

        :raises InvalidTariff: if there is no such component.
        """
        for component in self.components:
            if component.code == code:
                return component.price
        raise InvalidTariff(f"tariff {self.key} has no component {code!r}")


def flat_tariff(
    *,
    price: Price,
    effective_from: date,
    effective_to: date | None = None,
    item: str = ITEM_RESIDENTIAL_LIGHTING,
) -> Tariff:
    """Return a one-price tariff (B2)."""
    return Tariff(
        item=item,
        effective_from=effective_from,
        effective_to=effective_to,
        components=(PriceComponent(price=price),),
    )


def time_of_use_tariff(
    *,
    prices: dict[TimeOfUse, Price],
    effective_from: date,
    effective_to: date | None = None,
    item: str = ITEM_RESIDENTIAL_LIGHTING,
) -> Tariff:
    """Return a tariff with a price per time-of-use period.

    :raises InvalidTariff: unless all four periods are priced.
    """
    return Tariff(
        item=item,
        effective_from=effective_from,
        effective_to=effective_to,
        components=tuple(PriceComponent(price=p, period=period) for period, p in prices.items()),
    )


def tiered_tariff(
    *,
    bands: Iterable[tuple[int, Price]],
    effective_from: date,
    effective_to: date | None = None,
    item: str = ITEM_RESIDENTIAL_LIGHTING,
) -> Tariff:
    """Return a tariff with yearly tiers: ``(from_year_wh, price)`` bands, the first from 0.

    :raises InvalidTariff: if the first band does not start at 0 or thresholds repeat.
    """
    return Tariff(
        item=item,
        effective_from=effective_from,
        effective_to=effective_to,
        components=tuple(PriceComponent(price=p, from_year_wh=wh) for wh, p in bands),
    )


def default_tariff(*, effective_from: date) -> Tariff:
    """Return the manual's tariff: 居民照明 at 0.5283 yuan/kWh, all hours."""
    return flat_tariff(price=DEFAULT_PRICE, effective_from=effective_from)


@dataclass(frozen=True, slots=True, kw_only=True)
class TariffHistory:
    """The versions of one item's tariff, in date order, never overlapping."""

    tariffs: tuple[Tariff, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.tariffs, key=lambda t: t.effective_from))
        object.__setattr__(self, "tariffs", ordered)
        if len({t.item for t in ordered}) > 1:
            raise InvalidTariff("a tariff history holds one item")
        for earlier, later in itertools.pairwise(ordered):
            if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                raise InvalidTariff(f"{earlier.key} overlaps {later.key}")

    def at(self, at: datetime) -> Tariff:
        """Return the version in force at ``at``.

        :raises NoTariffInForce: if none is.
        """
        for tariff in self.tariffs:
            if tariff.covers(at):
                return tariff
        raise NoTariffInForce(at)

    def by_key(self, key: str) -> Tariff:
        """Return the version with the natural ``key``.

        :raises InvalidTariff: if there is none.
        """
        for tariff in self.tariffs:
            if tariff.key == key:
                return tariff
        raise InvalidTariff(f"no tariff version {key!r}")

    def boundaries(self) -> tuple[datetime, ...]:
        """Return every instant at which a version starts or ends."""
        instants = {t.start_at for t in self.tariffs}
        instants.update(t.end_at for t in self.tariffs if t.end_at is not None)
        return tuple(sorted(instants))

    def changed(self, *, tariff: Tariff) -> TariffHistory:
        """Return the history with ``tariff`` starting on its date, ending the open version then.

        A price change applies from its date only: the version in force is closed at the new
        start, and nothing before it changes.

        :raises InvalidTariff: if the new version starts on or before the open version's start,
            or the history has no open version to end.
        """
        if not self.tariffs:
            return TariffHistory(tariffs=(tariff,))
        last = self.tariffs[-1]
        if last.effective_to is not None:
            return TariffHistory(tariffs=(*self.tariffs, tariff))
        if tariff.effective_from <= last.effective_from:
            raise InvalidTariff("a price change cannot start before the current version")
        ended = Tariff(
            item=last.item,
            effective_from=last.effective_from,
            effective_to=tariff.effective_from,
            components=last.components,
        )
        return TariffHistory(tariffs=(*self.tariffs[:-1], ended, tariff))
