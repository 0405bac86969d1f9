"""The meter's five cumulative energy registers."""

from __future__ import annotations

from dataclasses import dataclass

from wattbook.domain.values._energy import InvalidEnergy
from wattbook.domain.values._tou import TimeOfUse


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterSet:
    """Cumulative (or, as a difference, delta) register values in Wh: total and the four periods.

    The time-of-use registers need not add up to the total; a mismatch is recorded by metering,
    never "fixed" here.
    """

    total_wh: int
    sharp_wh: int
    peak_wh: int
    flat_wh: int
    valley_wh: int

    def __post_init__(self) -> None:
        for name in ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidEnergy(f"{name} must be an int, not {type(value).__name__}")

    @classmethod
    def zero(cls) -> RegisterSet:
        """Return all registers at zero (a new meter)."""
        return cls(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0)

    @property
    def tou_sum_wh(self) -> int:
        """Return the sum of the four time-of-use registers."""
        return self.sharp_wh + self.peak_wh + self.flat_wh + self.valley_wh

    def by_period(self, period: TimeOfUse) -> int:
        """Return the register of one time-of-use period."""
        return {
            TimeOfUse.SHARP: self.sharp_wh,
            TimeOfUse.PEAK: self.peak_wh,
            TimeOfUse.FLAT: self.flat_wh,
            TimeOfUse.VALLEY: self.valley_wh,
        }[period]

    def minus(self, other: RegisterSet) -> RegisterSet:
        """Return the register-by-register difference ``self - other``."""
        return RegisterSet(
            total_wh=self.total_wh - other.total_wh,
            sharp_wh=self.sharp_wh - other.sharp_wh,
            peak_wh=self.peak_wh - other.peak_wh,
            flat_wh=self.flat_wh - other.flat_wh,
            valley_wh=self.valley_wh - other.valley_wh,
        )

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """Return (total, sharp, peak, flat, valley)."""
        return (self.total_wh, self.sharp_wh, self.peak_wh, self.flat_wh, self.valley_wh)

    def any_below(self, other: RegisterSet) -> bool:
        """Test whether any register is lower than the same register of ``other``."""
        return any(
            mine < theirs for mine, theirs in zip(self.as_tuple(), other.as_tuple(), strict=True)
        )
