"""Unit tests of wattbook.domain.ledger."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.domain import ledger
from wattbook.domain.values import SHANGHAI, AccountNumber, Money

NUMBER = AccountNumber(value="051600001234")
AT = datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI)


def entry(
    kind: ledger.EntryKind, fen: int, reference: str = "R1", reverses: str | None = None
) -> ledger.Entry:
    return ledger.Entry(
        account_number=NUMBER,
        reference=reference,
        kind=kind,
        amount=Money(fen=fen),
        at=AT,
        reverses=reverses,
    )


class TestEntry:
    @pytest.mark.parametrize(
        ("kind", "fen"),
        [
            (ledger.EntryKind.TOP_UP, 0),
            (ledger.EntryKind.TOP_UP, -1),
            (ledger.EntryKind.MIGRATION_CREDIT, -1),
            (ledger.EntryKind.CHARGE, 1),
            (ledger.EntryKind.CHARGE, 0),
            (ledger.EntryKind.OPENING_BALANCE, 0),
            (ledger.EntryKind.ADJUSTMENT, 0),
        ],
    )
    def test_refuses_the_wrong_sign(self, kind: ledger.EntryKind, fen: int) -> None:
        with pytest.raises(ledger.SignRuleViolated):
            entry(kind, fen)

    @pytest.mark.parametrize(
        ("kind", "fen"),
        [
            (ledger.EntryKind.TOP_UP, 1),
            (ledger.EntryKind.MIGRATION_CREDIT, 1),
            (ledger.EntryKind.CHARGE, -1),
            (ledger.EntryKind.OPENING_BALANCE, -1),
            (ledger.EntryKind.OPENING_BALANCE, 1),
            (ledger.EntryKind.ADJUSTMENT, -1),
        ],
    )
    def test_accepts_the_right_sign(self, kind: ledger.EntryKind, fen: int) -> None:
        assert entry(kind, fen).amount == Money(fen=fen)

    def test_only_a_correction_names_what_it_reverses(self) -> None:
        with pytest.raises(ValueError, match="CORRECTION"):
            entry(ledger.EntryKind.TOP_UP, 100, reverses="R0")
        with pytest.raises(ValueError, match="CORRECTION"):
            entry(ledger.EntryKind.CORRECTION, -100)

    def test_needs_an_aware_time_and_a_reference(self) -> None:
        with pytest.raises(ValueError, match="reference"):
            entry(ledger.EntryKind.TOP_UP, 100, reference=" ")


class TestJournal:
    def test_posting_returns_the_new_balance(self) -> None:
        journal = ledger.Journal(account_number=NUMBER)

        first = journal.post(entry(ledger.EntryKind.TOP_UP, 5000, "TOPUP-1"))
        second = first.journal.post(entry(ledger.EntryKind.CHARGE, -264, "CHARGE-1"))

        assert first.balance == Money(fen=5000)
        assert second.balance == Money(fen=4736) == ledger.balance_of(second.journal.entries)

    def test_refuses_a_reference_twice(self) -> None:
        journal = (
            ledger.Journal(account_number=NUMBER)
            .post(entry(ledger.EntryKind.TOP_UP, 5000, "K-1"))
            .journal
        )

        with pytest.raises(ledger.DuplicateReference):
            journal.post(entry(ledger.EntryKind.TOP_UP, 5000, "K-1"))

    def test_refuses_another_accounts_entry(self) -> None:
        other = ledger.Entry(
            account_number=AccountNumber(value="051600000001"),
            reference="X",
            kind=ledger.EntryKind.TOP_UP,
            amount=Money(fen=1),
            at=AT,
        )

        with pytest.raises(ledger.WrongAccount):
            ledger.Journal(account_number=NUMBER).post(other)

    def test_reverses_a_mistaken_top_up_without_editing_it(self) -> None:
        mistaken = entry(ledger.EntryKind.TOP_UP, 10_000, "K-1")
        journal = ledger.Journal(account_number=NUMBER).post(mistaken).journal

        posted = journal.post(
            ledger.reversal(entry=mistaken, reference="COR-1", at=AT, note="P4 receipt 0001")
        )

        assert posted.balance == Money.zero()
        assert posted.journal.entries[0] == mistaken
        assert posted.journal.entries[1].kind is ledger.EntryKind.CORRECTION

    def test_refuses_reversing_twice(self) -> None:
        mistaken = entry(ledger.EntryKind.TOP_UP, 10_000, "K-1")
        journal = ledger.Journal(account_number=NUMBER).post(mistaken).journal
        journal = journal.post(ledger.reversal(entry=mistaken, reference="COR-1", at=AT)).journal

        with pytest.raises(ledger.AlreadyReversed):
            journal.post(ledger.reversal(entry=mistaken, reference="COR-2", at=AT))

    def test_refuses_reversing_an_unknown_entry_or_a_different_amount(self) -> None:
        journal = (
            ledger.Journal(account_number=NUMBER)
            .post(entry(ledger.EntryKind.TOP_UP, 100, "K-1"))
            .journal
        )

        with pytest.raises(ledger.UnknownEntry):
            journal.post(entry(ledger.EntryKind.CORRECTION, -100, "COR-1", reverses="K-9"))
        with pytest.raises(ledger.SignRuleViolated):
            journal.post(entry(ledger.EntryKind.CORRECTION, -50, "COR-1", reverses="K-1"))

    def test_refuses_reversing_a_correction(self) -> None:
        correction = entry(ledger.EntryKind.CORRECTION, -100, "COR-1", reverses="K-1")

        with pytest.raises(ledger.CannotReverse):
            ledger.reversal(entry=correction, reference="COR-2", at=AT)


_ENTRIES = st.one_of(
    st.tuples(st.just(ledger.EntryKind.TOP_UP), st.integers(1, 10**7)),
    st.tuples(st.just(ledger.EntryKind.CHARGE), st.integers(-(10**6), -1)),
    st.tuples(st.just(ledger.EntryKind.ADJUSTMENT), st.integers(-(10**6), 10**6).filter(bool)),
    st.tuples(st.just(ledger.EntryKind.MIGRATION_CREDIT), st.integers(1, 10**5)),
)


class TestBalanceProperty:
    @given(st.lists(_ENTRIES, max_size=60), st.integers(-(10**5), 10**5).filter(bool))
    def test_balance_equals_the_sum_of_the_journal(
        self, entries: list[tuple[ledger.EntryKind, int]], opening_fen: int
    ) -> None:
        opened = ledger.Journal(account_number=NUMBER).post(
            entry(ledger.EntryKind.OPENING_BALANCE, opening_fen, "OPEN")
        )
        journal, balance = opened.journal, opened.balance

        for index, (kind, fen) in enumerate(entries):
            posted = journal.post(entry(kind, fen, f"E{index}"))
            assert posted.balance == ledger.post(balance=balance, entry=posted.journal.entries[-1])
            journal, balance = posted.journal, posted.balance

        assert balance == ledger.balance_of(journal.entries) == journal.balance
        assert balance.fen == opening_fen + sum(fen for _kind, fen in entries)
