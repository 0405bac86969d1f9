"""Billing: tariffs, charging from cumulative totals, and monthly statements."""

from wattbook.domain.billing._charging import (
    ChargeInconsistent,
    ChargeKey,
    ChargeOutcome,
    ChargePosting,
    ChargeTotal,
    amount_due,
    charge_consumption,
)
from wattbook.domain.billing._statement import (
    PAID_RULE,
    PaidRule,
    StatementLine,
    StatementStatus,
    monthly_statement,
    statement_price,
)
from wattbook.domain.billing._tariff import (
    ITEM_RESIDENTIAL_LIGHTING,
    InvalidTariff,
    NoTariffInForce,
    PriceComponent,
    Tariff,
    TariffHistory,
    default_tariff,
    flat_tariff,
    tiered_tariff,
    time_of_use_tariff,
)

__all__ = [
    "ITEM_RESIDENTIAL_LIGHTING",
    "PAID_RULE",
    "ChargeInconsistent",
    "ChargeKey",
    "ChargeOutcome",
    "ChargePosting",
    "ChargeTotal",
    "InvalidTariff",
    "NoTariffInForce",
    "PaidRule",
    "PriceComponent",
    "StatementLine",
    "StatementStatus",
    "Tariff",
    "TariffHistory",
    "amount_due",
    "charge_consumption",
    "default_tariff",
    "flat_tariff",
    "monthly_statement",
    "statement_price",
    "tiered_tariff",
    "time_of_use_tariff",
]
