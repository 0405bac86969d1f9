"""The numbers the set-based ingest hands the storage, against the domain's own rules."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from wattbook.application.metering import _set_based_ingest
from wattbook.domain import metering

_limits = st.builds(
    metering.PlausibilityLimits,
    max_current_ma=st.integers(min_value=0, max_value=200_000),
    nominal_voltage_mv=st.integers(min_value=0, max_value=400_000),
    margin_percent=st.integers(min_value=0, max_value=300),
    slack_wh=st.integers(min_value=0, max_value=100),
)


class TestPlausibilityBound:
    @given(
        limits=_limits,
        elapsed_us=st.integers(min_value=1, max_value=400 * 86_400 * 10**6),
        offset=st.integers(min_value=-3, max_value=3),
    )
    @example(
        limits=metering.PlausibilityLimits(),
        elapsed_us=3_600 * 10**6,
        offset=1,
    )
    def test_accepts_exactly_the_jumps_the_domain_allows(
        self, limits: metering.PlausibilityLimits, elapsed_us: int, offset: int
    ) -> None:
        allowed = limits.max_wh(timedelta(microseconds=elapsed_us))
        jump = max(allowed + offset, 0)
        bound = _set_based_ingest.plausibility_bound(limits)

        if jump <= bound.slack_wh:
            plausible = True
        else:
            if jump > bound.max_jump_wh or elapsed_us > bound.max_elapsed_us:
                return  # beyond 64 bits the storage does not decide: the domain does
            plausible = (jump - bound.slack_wh - 1) * bound.rate_denominator < (
                elapsed_us * bound.rate_numerator
            )

        assert plausible == (jump <= allowed)

    def test_covers_a_year_of_any_meter_at_the_default_limits(self) -> None:
        bound = _set_based_ingest.plausibility_bound(metering.PlausibilityLimits())

        assert bound.max_elapsed_us >= 366 * 86_400 * 10**6
        assert bound.max_jump_wh >= 10**11  # a DDZY102 shows at most 999,999.99 kWh
