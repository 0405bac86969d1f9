"""The chaos suite's checks catch what they are there to catch (a check that cannot fail is
worth nothing): a balance unlike its journal, energy charged twice, a funded account cut."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.chaos import databases, invariants

from wattbook import bootstrap
from wattbook.application.accounts.open_account import open_account
from wattbook.domain import accounts, ledger
from wattbook.domain.values import AccountNumber, Money
from wattbook.settings import Settings

NUMBER = "051600000001"
AT = dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    with databases.database("sqlite", tmp_path) as found:
        storage = bootstrap.build_storage(Settings(database_url=found))
        try:
            await open_account(
                uow=storage.uow_factory(),
                clock=storage.clock,
                number=AccountNumber(value=NUMBER),
                holder=accounts.Holder(name="住户"),
                phone=None,
                address=accounts.Address(text="丙6-1-801"),
                opening_balance=Money(fen=10_000),
            )
        finally:
            storage.close()
        yield found


def _execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


class TestInvariants:
    async def test_a_sound_account_passes_every_check(self, url: str) -> None:
        assert await invariants.ledger(url) == []
        assert invariants.charges(url, opening_fen=10_000, initial_wh={NUMBER: 0}) == []
        assert invariants.no_cuts(url, numbers=[NUMBER], relays_closed={NUMBER: True}) == []

    async def test_a_cached_balance_unlike_its_journal_is_found(self, url: str) -> None:
        _execute(url, "UPDATE balances SET balance_fen = balance_fen + 1")

        (found,) = await invariants.ledger(url)

        assert found.startswith(f"balance of {NUMBER} is 100.01, its journal 100.00")

    async def test_a_charge_posted_twice_is_found_though_the_journal_agrees(self, url: str) -> None:
        storage = bootstrap.build_storage(Settings(database_url=url))
        try:
            async with storage.uow_factory() as uow:
                await uow.ledger.post(
                    [
                        ledger.Entry(
                            account_number=AccountNumber(value=NUMBER),
                            reference="chaos-charge-again",
                            kind=ledger.EntryKind.CHARGE,
                            amount=Money(fen=-5),
                            at=AT,
                        )
                    ]
                )
                await uow.commit()
        finally:
            storage.close()

        charged = invariants.charges(url, opening_fen=10_000, initial_wh={NUMBER: 0})

        assert await invariants.ledger(url) == []
        assert charged == [
            f"{NUMBER}: balance 9995 fen after 0 Wh, expected 10000 fen"
            " (energy charged twice or not at all)"
        ]

    async def test_a_trip_or_an_open_relay_on_a_funded_account_is_a_wrong_cut(
        self, url: str
    ) -> None:
        _execute(
            url,
            "INSERT INTO relay_commands (account_id, meter_number, action, reason,"
            " not_before_at, created_at, status) SELECT id, account_number, 'TRIP', 'ARREARS',"
            " '2025-03-10 04:00:00.000000', '2025-03-10 04:00:00.000000', 'PENDING'"
            " FROM accounts",
        )

        found = invariants.no_cuts(url, numbers=[NUMBER], relays_closed={NUMBER: False})

        assert found == [
            f"{NUMBER}: trip ordered (ARREARS) on a funded account",
            f"{NUMBER}: relay open on a funded account",
        ]

    def test_the_charge_is_rounded_once_from_the_total(self) -> None:
        # 10 Wh at 0.5283 yuan/kWh is 0.5283 fen: 1 fen once, not 1 fen per 10 Wh.
        assert invariants.expected_charge_fen(10) == 1
        assert invariants.expected_charge_fen(1_000) == 53
