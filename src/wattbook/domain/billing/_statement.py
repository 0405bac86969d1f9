"""Monthly charge details (B3) and when a month counts as paid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from wattbook.domain.accounts import MigrationCredit
from wattbook.domain.billing._charging import ChargeTotal
from wattbook.domain.billing._tariff import ITEM_RESIDENTIAL_LIGHTING, Tariff, TariffHistory
from wattbook.domain.values import BillingMonth, Energy, Money, Price


class StatementStatus(StrEnum):
    """Whether a month's charges are covered (已付费 / 未付费 in the UI)."""

    PAID = "PAID"
    UNPAID = "UNPAID"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementLine:
    """One line of the monthly charge details: month, item, price, kWh, amount, status.

    ``price`` is None when the version has several prices (time of use, tiers). A B8 migration
    credit is a line of negative energy and negative amount.
    """

    month: BillingMonth
    item: str
    price: Price | None
    energy: Energy
    amount: Money
    status: StatementStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class PaidRule:
    """When a month's charges count as paid (B3): paid-in money covers the oldest first.

    Month m is PAID iff ``balance + Σ charges of months after m >= covered_from`` (zero). The
    set-based month-end in storage builds its CASE from ``covered_from`` and the status codes
    here, and a test holds the two equal.
    """

    covered_from: Money

    def status(self, *, balance: Money, later_charges: Money) -> StatementStatus:
        """Return the status of a month, given the balance and the charges of later months."""
        if balance + later_charges >= self.covered_from:
            return StatementStatus.PAID
        return StatementStatus.UNPAID


PAID_RULE = PaidRule(covered_from=Money.zero())


def statement_price(tariff: Tariff) -> Price | None:
    """Return the price a statement line shows for ``tariff``: its one price, or None when
    the version has several (time of use, tiers)."""
    return None if len(tariff.components) > 1 else tariff.components[0].price


def monthly_statement(
    *,
    totals: Iterable[ChargeTotal],
    tariffs: TariffHistory,
    migration_credits: Iterable[MigrationCredit],
    balance: Money,
) -> tuple[StatementLine, ...]:
    """Return the account's statement lines, oldest month first.

    A month is PAID when the money paid in covers every charge up to and including it, taking
    the oldest charges first (FIFO). Paid-in money is the balance plus all charges ever posted,
    so the rule is: month m is PAID iff ``balance + Σ charges of months after m >= 0``. In a
    prepaid system that is every month while the balance is not negative; arrears mark the most
    recent months UNPAID until a top-up covers them. Credit lines are always PAID.

    :raises InvalidTariff: if a total names a version missing from ``tariffs``.
    """
    charge_lines: list[tuple[BillingMonth, str, Price | None, Energy, Money]] = []
    for total in totals:
        tariff = tariffs.by_key(total.key.tariff_key)
        charge_lines.append(
            (total.key.month, tariff.item, statement_price(tariff), total.energy, total.charged)
        )
    charged_by_month: dict[BillingMonth, Money] = {}
    for month, _item, _price, _energy, amount in charge_lines:
        charged_by_month[month] = charged_by_month.get(month, Money.zero()) + amount
    lines: list[tuple[BillingMonth, int, StatementLine]] = []
    for credit in migration_credits:
        month = BillingMonth.of(credit.at)
        line = StatementLine(
            month=month,
            item=ITEM_RESIDENTIAL_LIGHTING,
            price=credit.price,
            energy=-credit.energy,
            amount=-credit.amount,
            status=StatementStatus.PAID,
        )
        lines.append((month, 0, line))
    for month, item, price, energy, amount in charge_lines:
        later = sum(
            (charge for other, charge in charged_by_month.items() if other > month), Money.zero()
        )
        line = StatementLine(
            month=month,
            item=item,
            price=price,
            energy=energy,
            amount=amount,
            status=PAID_RULE.status(balance=balance, later_charges=later),
        )
        lines.append((month, 1, line))
    lines.sort(key=lambda entry: (entry[0], entry[1]))
    return tuple(line for _month, _order, line in lines)
