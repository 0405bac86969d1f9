"""A household's electrical load: day and season shape, appliances switching, deterministic.

Time is cut into slots (5 minutes by default). In each slot every appliance of the household is
on or off, decided by a hash of (seed, household, appliance, slot) against a probability that
depends on the local hour, the month and the day of the week. Nothing is stored: the power of any
slot can be computed directly, so time can jump by a day or a month and the energy still adds up
to exactly what the slots say, and the same seed always gives the same households.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

_MASK64 = (1 << 64) - 1
DEFAULT_SLOT_S = 300
_PERMILLE = 1000


def mix(*parts: int) -> int:
    """Return a well-mixed 64-bit hash of integers (splitmix64 chained), stable across runs."""
    state = 0x9E3779B97F4A7C15
    for part in parts:
        state = (state ^ (part & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        state = (state ^ (state >> 27)) * 0x94D049BB133111EB & _MASK64
        state ^= state >> 31
    return state


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Appliance:
    """A kind of appliance and when households run it.

    ``hourly_permille`` holds, per local hour, the chance (in 1/1000) that it is on in a slot;
    ``season_percent`` scales that chance per month (January first); ``weekend_percent`` on
    Saturdays and Sundays. ``owned_permille`` is the share of households that have one.
    """

    name: str
    power_w: int
    hourly_permille: tuple[int, ...]
    season_percent: tuple[int, ...] = (100,) * 12
    weekend_percent: int = 100
    owned_permille: int = _PERMILLE

    def __post_init__(self) -> None:
        if len(self.hourly_permille) != 24 or len(self.season_percent) != 12:
            raise ValueError(f"{self.name}: 24 hourly and 12 monthly values are needed")


def _hours(default: int, **by_hour: int) -> tuple[int, ...]:
    values = [default] * 24
    for key, value in by_hour.items():
        first, _, last = key.removeprefix("h").partition("_")
        for hour in range(int(first), int(last or first) + 1):
            values[hour] = value
    return tuple(values)


HOUSEHOLD_APPLIANCES: tuple[Appliance, ...] = (
    Appliance(
        name="refrigerator",
        power_w=150,
        hourly_permille=_hours(400),
        season_percent=(80, 80, 90, 100, 110, 125, 135, 135, 120, 100, 90, 80),
    ),
    Appliance(
        name="lighting",
        power_w=180,
        hourly_permille=_hours(
            40, h0=120, h1_5=20, h6_7=300, h17=400, h18=800, h19_20=900, h21=800, h22=500, h23=250
        ),
        season_percent=(120, 115, 105, 95, 85, 80, 80, 85, 95, 105, 115, 120),
    ),
    Appliance(
        name="cooking",
        power_w=1800,
        hourly_permille=_hours(5, h6=100, h7=150, h11=250, h12=120, h17=200, h18=250, h19=60),
        weekend_percent=130,
    ),
    Appliance(
        name="water heater",
        power_w=2000,
        hourly_permille=_hours(10, h6=120, h7=150, h20=150, h21=200, h22=150, h23=60),
        season_percent=(150, 140, 120, 100, 80, 60, 60, 60, 80, 100, 120, 150),
        owned_permille=800,
    ),
    Appliance(
        name="air conditioner",
        power_w=1300,
        hourly_permille=_hours(60, h0_6=200, h12_17=150, h18=150, h19_23=250),
        season_percent=(80, 60, 15, 5, 25, 90, 140, 140, 60, 10, 25, 70),
        owned_permille=850,
    ),
    Appliance(
        name="washing machine",
        power_w=500,
        hourly_permille=_hours(5, h8_11=80, h19_21=60),
        weekend_percent=250,
    ),
    Appliance(
        name="television and computer",
        power_w=180,
        hourly_permille=_hours(50, h0=100, h12=200, h18_22=600, h23=300),
        weekend_percent=140,
    ),
)
"""What an ordinary staff household runs."""

HEAVY_USER_APPLIANCES: tuple[Appliance, ...] = (
    Appliance(
        name="electric heater",
        power_w=2000,
        hourly_permille=_hours(100, h0_6=200, h18_23=400),
        season_percent=(100, 90, 40, 0, 0, 0, 0, 0, 0, 0, 40, 100),
    ),
    Appliance(
        name="second air conditioner",
        power_w=1500,
        hourly_permille=_hours(100, h0_6=250, h19_23=350),
        season_percent=(80, 60, 10, 0, 20, 90, 140, 140, 60, 0, 20, 70),
    ),
    Appliance(
        name="kiln and workshop tools",
        power_w=3000,
        hourly_permille=_hours(5, h9_11=150, h14_17=150),
        weekend_percent=200,
    ),
)
"""What a heavy user runs on top of an ordinary household."""

_TAG_OWNED = 1
_TAG_SCALE = 2
_TAG_BASE = 3
_TAG_ON = 4
_TAG_JITTER = 5


class LoadProfile:
    """The electrical load of one household, in deciwatts per slot, from a seed.

    Power is held in deciwatts (0.1 W), the resolution of the meter's XX.XXXX kW power item,
    so every value the meter shows is exact.
    """

    def __init__(
        self,
        *,
        seed: int,
        household: int,
        zone: dt.tzinfo,
        heavy: bool = False,
        slot_s: int = DEFAULT_SLOT_S,
    ) -> None:
        if slot_s <= 0 or 86_400 % slot_s:
            raise ValueError("a slot must divide the day")
        self._seed = seed
        self._household = household
        self._zone = zone
        self._heavy = heavy
        self._slot_s = slot_s
        catalogue = HOUSEHOLD_APPLIANCES + (HEAVY_USER_APPLIANCES if heavy else ())
        owned: list[tuple[int, Appliance, int]] = []
        for index, appliance in enumerate(catalogue):
            if mix(seed, household, index, _TAG_OWNED) % _PERMILLE < appliance.owned_permille:
                # Each household's appliance differs from the catalogue by up to 25 %.
                scale = 750 + mix(seed, household, index, _TAG_SCALE) % 501
                owned.append((index, appliance, appliance.power_w * 10 * scale // _PERMILLE))
        self._owned = tuple(owned)
        self._chance_scale = 1300 if heavy else 1000
        self._base_dw = 250 + mix(seed, household, _TAG_BASE) % 500

    @property
    def heavy(self) -> bool:
        """Test whether this household is one of the few heavy users."""
        return self._heavy

    @property
    def slot_s(self) -> int:
        """Return the length of a slot in seconds."""
        return self._slot_s

    @property
    def appliances(self) -> tuple[str, ...]:
        """Return the names of the appliances this household owns."""
        return tuple(appliance.name for _, appliance, _ in self._owned)

    def slot_of(self, epoch_s: int) -> int:
        """Return the slot holding a moment given as whole seconds since the epoch."""
        return epoch_s // self._slot_s

    def power_dw(self, slot: int) -> int:
        """Return the household's power during a slot, in deciwatts."""
        local = dt.datetime.fromtimestamp(slot * self._slot_s, self._zone)
        weekend = local.weekday() >= 5
        power = self._base_dw + mix(self._seed, self._household, slot, _TAG_JITTER) % 100
        for index, appliance, power_dw in self._owned:
            chance = self._chance(appliance, local.hour, local.month, weekend=weekend)
            if mix(self._seed, self._household, index, slot, _TAG_ON) % 1_000_000 < chance:
                power += power_dw
        return power

    def _chance(self, appliance: Appliance, hour: int, month: int, *, weekend: bool) -> int:
        """Return the chance an appliance is on, in parts per million."""
        chance = appliance.hourly_permille[hour] * appliance.season_percent[month - 1] * 10
        if weekend:
            chance = chance * appliance.weekend_percent // 100
        return min(chance * self._chance_scale // _PERMILLE, 1_000_000)

    def expected_power_dw(self, *, month: int, second_of_day: int) -> int:
        """Return the household's mean power at a time of day in a month, in deciwatts.

        Used to give a new meter a plausible history (registers and freezes) without
        simulating years slot by slot.
        """
        hour = second_of_day // 3600
        power = self._base_dw + 50
        for _, appliance, power_dw in self._owned:
            weekday = self._chance(appliance, hour, month, weekend=False)
            weekend = self._chance(appliance, hour, month, weekend=True)
            power += power_dw * (5 * weekday + 2 * weekend) // 7_000_000
        return power


class ConstantLoad:
    """A load that draws the same power in every slot: for tests and worked examples."""

    def __init__(self, *, watts: int, slot_s: int = DEFAULT_SLOT_S) -> None:
        if watts < 0:
            raise ValueError("a load cannot be negative")
        self._power_dw = watts * 10
        self._slot_s = slot_s

    @property
    def slot_s(self) -> int:
        """Return the length of a slot in seconds."""
        return self._slot_s

    def slot_of(self, epoch_s: int) -> int:
        """Return the slot holding a moment given as whole seconds since the epoch."""
        return epoch_s // self._slot_s

    def power_dw(self, slot: int) -> int:
        """Return the constant power, in deciwatts."""
        return self._power_dw

    def expected_power_dw(self, *, month: int, second_of_day: int) -> int:
        """Return the constant power, in deciwatts."""
        return self._power_dw


class Load(Protocol):
    """What a meter needs from the load behind it."""

    @property
    def slot_s(self) -> int:
        """Return the length of a slot in seconds."""
        ...

    def slot_of(self, epoch_s: int) -> int:
        """Return the slot holding a moment given as whole seconds since the epoch."""
        ...

    def power_dw(self, slot: int) -> int:
        """Return the power during a slot, in deciwatts."""
        ...

    def expected_power_dw(self, *, month: int, second_of_day: int) -> int:
        """Return the mean power at a time of day in a month, in deciwatts."""
        ...
