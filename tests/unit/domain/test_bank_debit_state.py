"""The bank debit state machine (issue 16): at most one credit, whatever the callbacks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money

NOW = datetime(2025, 6, 10, 9, tzinfo=SHANGHAI)
DEBIT = payments.DebitRequest(
    debit_id="D20250610051600001234",
    agreement_number="A1",
    account_number=AccountNumber(value="051600001234"),
    amount=Money(fen=5000),
    day=date(2025, 6, 10),
)
STATUSES = [s for s in payments.DebitStatus if s is not payments.DebitStatus.REQUESTED]

callbacks = st.builds(
    lambda serial, status, minutes: payments.BankCallback(
        serial=serial,
        debit_id=DEBIT.debit_id,
        status=status,
        amount=DEBIT.amount,
        at=NOW - timedelta(minutes=minutes),
    ),
    serial=st.sampled_from(["S1", "S2", "S3"]),
    status=st.sampled_from(STATUSES),
    minutes=st.integers(min_value=0, max_value=60),
)


def run(sequence: list[payments.BankCallback]) -> tuple[payments.DebitHistory, list[str]]:
    history = payments.DebitHistory(status=payments.DebitStatus.REQUESTED)
    credited: list[str] = []
    for callback in sequence:
        try:
            transition = payments.settle(debit=DEBIT, history=history, callback=callback, now=NOW)
        except payments.CallbackConflict:
            continue
        if transition.credits:
            credited.append(callback.serial)
        history = transition.history
    return history, credited


class TestBankDebitStateMachine:
    @given(st.lists(callbacks, max_size=12).flatmap(lambda xs: st.permutations(xs + xs)))
    def test_credits_at_most_once_and_agrees_with_the_credits(
        self, sequence: list[payments.BankCallback]
    ) -> None:
        history, credited = run(sequence)

        assert len(credited) <= 1
        assert (history.status is payments.DebitStatus.SUCCEEDED) == bool(credited)
        assert history.credited_serial == (credited[0] if credited else None)
        succeeded = any(c.status is payments.DebitStatus.SUCCEEDED for c in sequence)
        assert bool(credited) == succeeded

    def test_the_issue_16_sequence_credits_once(self) -> None:
        failure = payments.BankCallback(
            serial="SAME-1",
            debit_id=DEBIT.debit_id,
            status=payments.DebitStatus.INSUFFICIENT_FUNDS,
            amount=DEBIT.amount,
            at=NOW,
        )
        success = payments.BankCallback(
            serial="SAME-1",
            debit_id=DEBIT.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=DEBIT.amount,
            at=NOW,
        )
        other = payments.BankCallback(
            serial="SAME-2",
            debit_id=DEBIT.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=DEBIT.amount,
            at=NOW,
        )

        history, credited = run([failure, success, other])

        assert credited == ["SAME-1"]
        assert history.status is payments.DebitStatus.SUCCEEDED
        with pytest.raises(payments.CallbackConflict):
            payments.settle(debit=DEBIT, history=history, callback=other, now=NOW)

    @pytest.mark.parametrize("year", [1999, 2999])
    def test_refuses_callbacks_dated_far_from_now(self, year: int) -> None:
        callback = payments.BankCallback(
            serial="S1",
            debit_id=DEBIT.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=DEBIT.amount,
            at=NOW.replace(year=year),
        )

        with pytest.raises(payments.CallbackOutsideWindow):
            payments.settle(
                debit=DEBIT,
                history=payments.DebitHistory(status=payments.DebitStatus.REQUESTED),
                callback=callback,
                now=NOW,
            )
