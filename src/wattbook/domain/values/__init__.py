"""Value types: Money, Energy, Price, identifiers, local time, periods, time of use, calendar."""

from wattbook.domain.values._calendar import (
    CalendarNotCovered,
    CalendarOverride,
    CalendarSource,
    WorkingCalendar,
    fallback_days_off,
    package_covers,
)
from wattbook.domain.values._energy import Energy, InvalidEnergy
from wattbook.domain.values._identifiers import (
    OPERATOR_NAME_MAX,
    AccountNumber,
    InvalidAccountNumber,
    InvalidMeterNumber,
    MeterNumber,
)
from wattbook.domain.values._localtime import (
    SHANGHAI,
    NaiveDatetime,
    local_date,
    local_datetime,
    require_aware,
    start_of_local_day,
    to_local,
)
from wattbook.domain.values._money import InvalidAmount, Money
from wattbook.domain.values._period import BillingMonth, InvalidPeriod, Period, local_month
from wattbook.domain.values._price import (
    CHARGE_ROUNDING,
    DEFAULT_PRICE,
    PRICE_SCALE,
    ChargeRounding,
    InvalidPrice,
    Price,
)
from wattbook.domain.values._registers import RegisterSet
from wattbook.domain.values._rounding import RoundingMode, divide_half_up, round_half_up
from wattbook.domain.values._tou import (
    DEFAULT_TOU_SCHEDULE,
    InvalidSchedule,
    TimeOfUse,
    TouInterval,
    TouSchedule,
)

__all__ = [
    "CHARGE_ROUNDING",
    "DEFAULT_PRICE",
    "DEFAULT_TOU_SCHEDULE",
    "OPERATOR_NAME_MAX",
    "PRICE_SCALE",
    "SHANGHAI",
    "AccountNumber",
    "BillingMonth",
    "CalendarNotCovered",
    "CalendarOverride",
    "CalendarSource",
    "ChargeRounding",
    "Energy",
    "InvalidAccountNumber",
    "InvalidAmount",
    "InvalidEnergy",
    "InvalidMeterNumber",
    "InvalidPeriod",
    "InvalidPrice",
    "InvalidSchedule",
    "MeterNumber",
    "Money",
    "NaiveDatetime",
    "Period",
    "Price",
    "RegisterSet",
    "RoundingMode",
    "TimeOfUse",
    "TouInterval",
    "TouSchedule",
    "WorkingCalendar",
    "divide_half_up",
    "fallback_days_off",
    "local_date",
    "local_datetime",
    "local_month",
    "package_covers",
    "require_aware",
    "round_half_up",
    "start_of_local_day",
    "to_local",
]
