"""The campus feed (what just happened) and the month-end check of statements against the
journal: the two reads ``wattbook demo`` is judged by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wattbook.application import read_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.application.billing.reconcile import LedgerReport, reconcile_ledger
from wattbook.application.queries import activity_ports as ap
from wattbook.application.queries._month_end import month_end_statements
from wattbook.domain.values import AccountNumber, BillingMonth, Money, require_aware


@dataclass(slots=True)
class ActivityFeed:
    """Follow the campus: each :meth:`poll` returns what happened since the last one, once.

    Records are read by their own times over a window that overlaps the previous read by
    ``overlap`` (a transaction may commit a little after the time it wrote), and reported once
    by key. Readings and charges are counted by journal and reading position instead, so none
    is counted twice, and summed over ``readings_every`` at least.
    """

    reader: ap.ActivityReader
    since_at: datetime
    overlap: timedelta
    readings_every: timedelta = timedelta(0)
    _readings_at: datetime | None = None
    _seen: dict[str, datetime] = field(default_factory=dict)
    _entry_id: int = -1
    _reading_id: int = -1

    async def poll(self, *, now: datetime) -> tuple[ap.ActivityItem, ...]:
        """Return what happened since the last poll (the first: since ``since_at``).

        :raises NaiveDatetime: if ``now`` is naive.
        """
        require_aware(now)
        window_start = self.since_at - self.overlap
        found = await self.reader.happenings(since_at=window_start, now=now)
        fresh = []
        for item in found:
            if item.key not in self._seen:
                self._seen[item.key] = item.at
                fresh.append(item)
        if self._entry_id < 0:
            # The first poll starts the count of readings from here: history is not news.
            first = await self.reader.readings_charged(after_entry_id=0, after_reading_id=0)
            self._entry_id, self._reading_id = first.last_entry_id, first.last_reading_id
            self._readings_at = now
        elif self._readings_at is None or now - self._readings_at >= self.readings_every:
            self._readings_at = now
            charged = await self.reader.readings_charged(
                after_entry_id=self._entry_id, after_reading_id=self._reading_id
            )
            self._entry_id, self._reading_id = charged.last_entry_id, charged.last_reading_id
            if charged.readings:
                fresh.append(
                    ap.ActivityItem(
                        kind=ap.ActivityKind.READINGS_CHARGED,
                        key=f"readings:{charged.last_reading_id}",
                        at=now,
                        amount=charged.charged,
                        count=charged.readings,
                        detail=str(charged.accounts),
                    )
                )
        # Keys older than any window still to come can be forgotten.
        forget_before = window_start - self.overlap
        # A held cut is reported once per hold, however long the hold lasts.
        for key in [
            key
            for key, at in self._seen.items()
            if at < forget_before and not key.startswith(ap.HELD_KEY_PREFIX)
        ]:
            del self._seen[key]
        self.since_at = max(self.since_at, now)
        fresh.sort(key=lambda item: item.at)
        return tuple(fresh)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementDifference:
    """An account whose month-end statements do not add up to its journal's charges."""

    account_number: AccountNumber
    statements: Money
    journal: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementCheck:
    """Month-end statements of some months against the journal, and the ledger's own check."""

    months: tuple[BillingMonth, ...]
    accounts: int
    statements_total: Money
    journal_total: Money
    differences: tuple[StatementDifference, ...]
    ledger: LedgerReport

    def __bool__(self) -> bool:
        """Return True when everything reconciles."""
        return not self.differences and not self.ledger


async def check_statements(
    *,
    reader_factory: read_ports.ReadOnlyUnitOfWorkFactory,
    statements: billing_ports.StatementReader,
    activity: ap.ActivityReader,
    months: Sequence[BillingMonth],
) -> StatementCheck:
    """Return whether the month-end statements of ``months`` (every month charges were posted
    in) add up, account by account, to the energy charges in the journal, and whether every
    balance equals its journal (B3; ARCHITECTURE's invariants).
    """
    async with reader_factory() as uow:
        tariffs = await uow.tariffs.history()
    by_statement: dict[AccountNumber, int] = {}
    for month in months:
        async for number, lines in month_end_statements(
            reader=statements, tariffs=tariffs, month=month
        ):
            by_statement[number] = by_statement.get(number, 0) + sum(
                line.amount.fen for line in lines
            )
    journal = {number: -fen.fen for number, fen in (await activity.journal_charges()).items()}
    differences = tuple(
        StatementDifference(
            account_number=number,
            statements=Money(fen=by_statement.get(number, 0)),
            journal=Money(fen=journal.get(number, 0)),
        )
        for number in sorted(set(by_statement) | {n for n, fen in journal.items() if fen})
        if by_statement.get(number, 0) != journal.get(number, 0)
    )
    ledger = await reconcile_ledger(uow=reader_factory())
    return StatementCheck(
        months=tuple(months),
        accounts=len(set(by_statement) | set(journal)),
        statements_total=Money(fen=sum(by_statement.values())),
        journal_total=Money(fen=sum(journal.values())),
        differences=differences,
        ledger=ledger,
    )
