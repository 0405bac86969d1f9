"""Month-end statements for every account (B3), page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator

from wattbook.application.billing import ports as billing_ports
from wattbook.domain import billing
from wattbook.domain.values import AccountNumber, BillingMonth


async def month_end_statements(
    *,
    reader: billing_ports.StatementReader,
    tariffs: billing.TariffHistory,
    month: BillingMonth,
    page_size: int = 20_000,
) -> AsyncIterator[tuple[AccountNumber, tuple[billing.StatementLine, ...]]]:
    """Yield each account charged in ``month`` with its statement lines for that month.

    Only ``month`` and later months are read: a month's paid status depends on the balance and
    the charges after it, never on earlier ones. B8 credit lines appear on the per-account
    statement (``monthly_statement``), not in this batch.
    """
    after: AccountNumber | None = None
    while True:
        page = await reader.page(month=month, after=after, limit=page_size)
        if not page:
            return
        for account in page:
            lines = billing.monthly_statement(
                totals=account.totals,
                tariffs=tariffs,
                migration_credits=(),
                balance=account.balance,
            )
            yield account.account_number, tuple(line for line in lines if line.month == month)
        after = page[-1].account_number
