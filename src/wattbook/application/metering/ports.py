"""The set-based ingest's port: plain readings charged by the storage in a few statements.

The companion of :mod:`wattbook.application.ports` (whose unit of work carries the
:class:`IngestRepository`). ``record_readings`` decides in Python what makes a reading plain
(one month, one flat tariff version, the limits of plausibility, the prepaid threshold) and
hands the storage those decisions as numbers; the storage applies them to every reading of a
batch at once and charges the plain ones exactly as the per-reading domain path would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.domain import billing, metering, prepaid
from wattbook.domain.values import AccountNumber, ChargeRounding


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeSlot:
    """Where a reading taken at one meter time is charged if its interval is plain.

    The slot is the stretch of time, ending at ``meter_time_at``, that lies in one local billing
    month and one flat tariff version: a reading is plain only if its baseline is at or after
    ``window_start_at``. ``energy_cap_wh`` is the largest cumulative energy whose price the
    storage may compute in 64-bit integers.
    """

    meter_time_at: datetime
    meter_time_us: int
    window_start_at: datetime
    month: str
    tariff_key: str
    price_scaled: int
    energy_cap_wh: int
    usage_day: date


@dataclass(frozen=True, slots=True, kw_only=True)
class PlausibilityBound:
    """``metering.PlausibilityLimits`` as integers: a jump is plausible iff it is at most
    ``slack_wh`` or ``(jump - slack_wh - 1) * rate_denominator < rate_numerator * elapsed_us``.

    Jumps above ``max_jump_wh`` or intervals above ``max_elapsed_us`` are left to the domain
    (their products would not fit in 64 bits); so are period registers that miss the total by
    more than ``tou_tolerance_wh`` (the domain raises an alarm for them).
    """

    slack_wh: int
    rate_numerator: int
    rate_denominator: int
    max_jump_wh: int
    max_elapsed_us: int
    tou_tolerance_wh: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainBatch:
    """Readings that may be plain, at most one per meter, each with the slot of its meter time.

    ``low_balance_below_fen``: a charged account whose new balance is below it, or whose rule
    state is not at rest, needs the prepaid rules; None means every charged account does.
    ``rounding`` is the domain's charge rounding (values.CHARGE_ROUNDING): the storage builds
    its fen arithmetic from its divisor and offset, never from literals of its own. ``whole``
    says that these are every reading of the unit of work: if all of them are plain and no
    charged account needs the rules, nothing is left to do but commit.
    """

    readings: tuple[metering.Reading, ...]
    slot_of: tuple[int, ...]
    slots: tuple[ChargeSlot, ...]
    bound: PlausibilityBound
    low_balance_below_fen: int | None
    posted_at: datetime
    rounding: ChargeRounding
    whole: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainCharge:
    """What the storage did with one plain reading (``index`` into ``PlainBatch.readings``).

    ``posting_fen`` is what was taken from the balance (0: nothing was posted);
    ``charged_fen`` and ``energy_wh`` are the key's new cumulative totals; ``balance_fen`` is
    the balance afterwards; ``needs_rules`` says whether the prepaid rules must look at it.
    """

    index: int
    account_number: AccountNumber
    posting_fen: int
    charged_fen: int
    energy_wh: int
    balance_fen: int
    needs_rules: bool


class PlainPlanner(Protocol):
    """The application's decision, made with the tariffs and the prepaid policy in force:
    which readings may be plain, and the numbers the storage applies (None: no candidate)."""

    def __call__(
        self, tariffs: billing.TariffHistory, settings: prepaid.PrepaidSettings
    ) -> PlainBatch | None:
        """Return the batch of candidates (pure: it is called wherever the storage runs)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainOutcome:
    """What ``record_plain`` read, planned and did; ``committed``: the unit of work is
    committed and its connection given back (the storage may do that only for a whole batch
    that left nothing to do; a storage that never does it is correct too)."""

    tariffs: billing.TariffHistory
    batch: PlainBatch | None
    charges: tuple[PlainCharge, ...]
    committed: bool


class IngestRepository(Protocol):
    """Charge plain readings in a few set-based statements."""

    async def record_plain(self, plan: PlainPlanner, *, settings_on: date) -> PlainOutcome:
        """Read the tariffs and the prepaid policy in force on ``settings_on``, ask ``plan``
        for the batch, then store, charge and aggregate its readings that are plain, all in
        one call to the storage (one hand-off to a database thread, ADR 17). If the batch is
        ``whole``, every reading of it was plain and no charged account needs the rules, the
        storage may commit the unit of work in the same call (``PlainOutcome.committed``).

        A reading is plain if its meter is installed on an account now, it is newer than the
        baseline, which lies in its slot's window, no register is below the baseline, the
        period registers add up to the total within the tolerance, the jump is plausible and
        the new cumulative charge is not below what was charged. For each plain reading it
        stores the reading (ACCEPTED), moves the baseline, upserts the key's charge total and
        energy, posts the CHARGE entry (none for a zero posting) with its deterministic
        reference, updates the cached balance and adds the usage aggregates. Readings that are
        not plain are left untouched and not returned.

        :raises ledger.DuplicateReference: if a posting's reference is already in the journal.
        """
        ...


class UsageRepository(Protocol):
    """Usage aggregates by local day, month and year (Q5)."""

    async def add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        """Add consumption to the aggregates of the local day each interval ended in."""
        ...
