"""The kiosk's use cases on the fakes (P2). Kept apart: the kiosk API is being reworked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.application.world import World

from wattbook.application.payments import kiosk
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money

TRANSACTION = "K01-aaaa0001"


async def start(world: World, account: AccountNumber) -> None:
    await kiosk.enter_kiosk_account(
        uow=world.uow(),
        clock=world.clock,
        transaction_id=TRANSACTION,
        kiosk_id="K01",
        number=account,
    )
    await kiosk.confirm_kiosk_details(
        uow=world.uow(), clock=world.clock, transaction_id=TRANSACTION
    )


async def note(world: World, sequence: int, fen: int) -> kiosk.KioskView:
    return await kiosk.insert_kiosk_note(
        uow=world.uow(),
        clock=world.clock,
        transaction_id=TRANSACTION,
        sequence=sequence,
        amount=Money(fen=fen),
    )


class TestKioskSession:
    async def test_credits_the_notes_once_on_confirmation(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        await start(world, account)
        await note(world, 1, 10_000)
        await note(world, 2, 500)

        view = await kiosk.confirm_kiosk_total(
            uow=world.uow(), clock=world.clock, transaction_id=TRANSACTION
        )

        assert view.receipt is not None
        assert view.receipt.payment.amount == Money(fen=10_500)
        assert world.balance_fen(account) == 10_500

    async def test_a_note_replayed_with_another_amount_is_refused(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        await start(world, account)
        await note(world, 1, 10_000)

        with pytest.raises(payments.NoteConflict):
            await note(world, 1, 5_000)

        session = await kiosk.kiosk_session(uow=world.uow(), transaction_id=TRANSACTION)
        assert [n.amount.fen for n in session.session.notes] == [10_000]

    async def test_an_unknown_account_opens_no_session(self) -> None:
        world = World()

        with pytest.raises(Exception, match="051600000009"):
            await kiosk.enter_kiosk_account(
                uow=world.uow(),
                clock=world.clock,
                transaction_id=TRANSACTION,
                kiosk_id="K01",
                number=AccountNumber(value="051600000009"),
            )

        assert world.db.tables.kiosk_sessions == {}


class TestRecoverKioskSessions:
    async def test_credits_the_notes_of_a_session_left_open(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        await start(world, account)
        await note(world, 1, 2_000)
        world.clock.advance(timedelta(hours=1))

        recovered = await kiosk.recover_kiosk_sessions(uow_factory=world.db, clock=world.clock)

        assert [r.payment.amount.fen for r in recovered.credited] == [2_000]
        assert world.balance_fen(account) == 2_000

    async def test_leaves_a_session_still_in_use_alone(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        await start(world, account)
        await note(world, 1, 2_000)

        recovered = await kiosk.recover_kiosk_sessions(uow_factory=world.db, clock=world.clock)

        assert (recovered.credited, recovered.abandoned) == ((), ())
        assert world.balance_fen(account) == 0
