"""The journal in the database: constraints, references, and balance = sum of entries."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.domain import accounts, ledger
from wattbook.domain.values import AccountNumber, Money

AT = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)
_serials = itertools.count(100_000_000_000)


async def _open(engine: Engine, number: str) -> AccountNumber:
    account_number = AccountNumber(value=number)
    async with db.SqlUnitOfWork(engine) as uow:
        await uow.accounts.add(
            accounts.open_account(
                number=account_number,
                holder=accounts.Holder(name="李四"),
                phone=None,
                address=accounts.Address(text="丙6-1-801"),
                at=AT,
            )
        )
        await uow.commit()
    return account_number


def _entry(number: AccountNumber, reference: str, kind: ledger.EntryKind, fen: int) -> ledger.Entry:
    return ledger.Entry(
        account_number=number, reference=reference, kind=kind, amount=Money(fen=fen), at=AT
    )


class TestLedgerConstraints:
    @pytest.mark.parametrize(
        ("kind", "fen"),
        [("CHARGE", 5), ("TOP_UP", -5), ("MIGRATION_CREDIT", -1), ("ADJUSTMENT", 0)],
    )
    async def test_database_refuses_a_wrong_sign(self, engine: Engine, kind: str, fen: int) -> None:
        await _open(engine, "051600000001")

        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            connection.execute(
                db.metadata.tables["ledger_entries"]
                .insert()
                .values(
                    account_id=1,
                    reference="X",
                    kind=kind,
                    amount_fen=fen,
                    at=AT,
                    balance_after_fen=0,
                )
            )

    async def test_a_reference_posts_once(self, engine: Engine) -> None:
        number = await _open(engine, "051600000001")
        entry = _entry(number, "KIOSK:1", ledger.EntryKind.TOP_UP, 500)
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.ledger.post((entry,))
            await uow.commit()

        async with db.SqlUnitOfWork(engine) as uow:
            with pytest.raises(ledger.DuplicateReference):
                await uow.ledger.post((entry,))

    async def test_uncommitted_posting_leaves_no_trace(self, engine: Engine) -> None:
        number = await _open(engine, "051600000001")

        async with db.SqlUnitOfWork(engine) as uow:
            await uow.ledger.post((_entry(number, "KIOSK:1", ledger.EntryKind.TOP_UP, 500),))
        async with db.SqlUnitOfWork(engine) as uow:
            balances = await uow.ledger.balances((number,))

        assert balances == {number: Money.zero()}


_operations = st.lists(
    st.tuples(
        st.sampled_from(
            [ledger.EntryKind.TOP_UP, ledger.EntryKind.CHARGE, ledger.EntryKind.ADJUSTMENT]
        ),
        st.integers(min_value=1, max_value=1_000_000),
        st.integers(min_value=0, max_value=2),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


class TestBalanceEqualsJournal:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(operations=_operations)
    async def test_after_random_postings(
        self, engine: Engine, operations: list[tuple[ledger.EntryKind, int, int, bool]]
    ) -> None:
        # Examples share the test's database: fresh accounts and references for each one.
        numbers = [await _open(engine, f"{next(_serials):012d}") for _ in range(3)]
        expected = 0
        for kind, fen, which, commit in operations:
            signed = -fen if kind is ledger.EntryKind.CHARGE else fen
            async with db.SqlUnitOfWork(engine) as uow:
                await uow.ledger.post(
                    (_entry(numbers[which], f"P:{next(_serials)}", kind, signed),)
                )
                if commit:
                    await uow.commit()
                    expected += signed

        async with db.SqlUnitOfWork(engine) as uow:
            differences = await uow.ledger.reconcile()
            total = sum(f.fen for f in (await uow.ledger.balances(numbers)).values())

        assert differences == ()
        assert total == expected
