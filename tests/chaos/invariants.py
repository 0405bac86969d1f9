"""The invariants of the shared ARCHITECTURE.md, checked on a database after a chaos run.

Each check returns a list of violations, one sentence each; an empty list means it holds. The
ledger's own rules (a balance equals the sum of its journal, a bank debit credited at most
once) are not re-implemented here: :func:`ledger` runs the same reconciliation as
``wattbook ledger reconcile`` (``application.billing.reconcile``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

import sqlalchemy as sa

from wattbook import bootstrap
from wattbook.application.billing.reconcile import reconcile_ledger
from wattbook.domain.values import round_half_up
from wattbook.settings import Settings

# The seeded flat tariff, yuan per kWh x 10^4 (the campus uses the first annual tier only).
PRICE_E4 = 5283


def rows(url: str, query: str, **params: object) -> list[sa.Row[tuple[object, ...]]]:
    """Return the rows of one query on the database at ``url``."""
    storage = bootstrap.build_storage(Settings(database_url=url))
    try:
        with storage.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))
    finally:
        storage.close()


async def ledger(url: str) -> list[str]:
    """Return where the ledger breaks: a balance unlike its journal, a payment credited twice."""
    storage = bootstrap.build_storage(Settings(database_url=url))
    try:
        report = await reconcile_ledger(uow=storage.reader_factory())
        with storage.engine.connect() as connection:
            twice = list(
                connection.execute(
                    sa.text(
                        "SELECT channel, channel_reference, COUNT(*) FROM payments"
                        " GROUP BY channel, channel_reference HAVING COUNT(*) > 1"
                    )
                )
            )
    finally:
        storage.close()
    found = [
        f"balance of {d.account_number} is {d.cached.yuan()}, its journal {d.journal.yuan()}"
        for d in report.balances
    ]
    found += [f"bank debit {m.debit_id} ({m.serial}): {m.kind} {m.detail}" for m in report.debits]
    found += [f"{channel} payment {ref} credited {n} times" for channel, ref, n in twice]
    return found


def expected_charge_fen(used_wh: int) -> int:
    """Return the charge for ``used_wh`` at the seeded tariff, rounded once from the total."""
    return round_half_up(Fraction(used_wh * PRICE_E4, 100_000))


def charges(
    url: str, *, opening_fen: int | Mapping[str, int], initial_wh: Mapping[str, int]
) -> list[str]:
    """Return the meters whose energy was not charged exactly once.

    Each account opened with ``opening_fen`` (one for all, or by account) and its meter
    installed at ``initial_wh``; its balance must now be the opening less the charge for its
    last reading's total.
    """
    found = []
    for number, initial in initial_wh.items():
        opening = opening_fen if isinstance(opening_fen, int) else opening_fen[number]
        (last,) = rows(
            url,
            "SELECT MAX(r.total_wh) FROM readings r JOIN meter_installations i"
            " ON i.id = r.installation_id WHERE i.meter_number = :n",
            n=number,
        )[0]
        (balance,) = rows(
            url,
            "SELECT b.balance_fen FROM balances b JOIN accounts a ON a.id = b.account_id"
            " WHERE a.account_number = :n",
            n=number,
        )[0]
        used = int(last if last is not None else initial) - initial
        want = opening - expected_charge_fen(used)
        if int(balance) != want:
            found.append(
                f"{number}: balance {balance} fen after {used} Wh, expected {want} fen"
                " (energy charged twice or not at all)"
            )
    return found


def no_cuts(url: str, *, numbers: Iterable[str], relays_closed: Mapping[str, bool]) -> list[str]:
    """Return the wrong cuts: a funded account with a trip ordered, or its relay found open."""
    funded = set(numbers)
    trips = rows(
        url,
        "SELECT a.account_number, c.reason FROM relay_commands c"
        " JOIN accounts a ON a.id = c.account_id WHERE c.action = 'TRIP'",
    )
    found = [f"{n}: trip ordered ({reason}) on a funded account" for n, reason in trips]
    found += [f"{n}: relay open on a funded account" for n in funded if not relays_closed[n]]
    return [line for line in found if line.split(":")[0] in funded]
