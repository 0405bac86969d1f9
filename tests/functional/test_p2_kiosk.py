"""P2: the kiosk session, every note journalled, recovery after a crash, B6 close after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application.payments import kiosk
from wattbook.domain import payments
from wattbook.domain.values import Money


class TestP2Kiosk:
    async def test_credits_the_notes_and_returns_a_receipt(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 14, 22)))  # kiosks work any day

        await home.open()
        view = await home.at_kiosk(10000, 5000, 1000, 100, transaction_id="K01-aaaa0001")

        assert view.session.state is payments.KioskState.CREDITED
        assert view.receipt is not None
        assert str(view.receipt.payment.receipt_number) == "KS20250614000001"
        assert view.receipt.payment.amount == Money(fen=16100)
        assert view.receipt.address == "丙6-1-801"
        assert home.balance_fen() == home.journal_fen() == 16100

    async def test_shows_the_details_before_notes_go_in(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open(opening=Money(fen=1234))
        await home.kiosk()
        await kiosk.open_kiosk_session(
            uow=home.uow(), clock=home.clock, kiosk_id="K01", make_id=lambda: "K01-bbbb0001"
        )

        view = await kiosk.enter_kiosk_account(
            uow=home.uow(),
            clock=home.clock,
            kiosk_id="K01",
            transaction_id="K01-bbbb0001",
            number=home.number,
        )

        assert (view.holder_masked, view.address, view.balance) == (
            "张*",
            "丙6-1-801",
            Money(fen=1234),
        )
        assert view.session.state is payments.KioskState.CONFIRMING_DETAILS

    async def test_a_note_sent_twice_is_journalled_once(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-cccc0001")
        for _ in range(3):
            await home.note(5000, sequence=1)

        view = await kiosk.confirm_kiosk_total(
            uow=home.uow(), clock=home.clock, kiosk_id="K01", transaction_id="K01-cccc0001"
        )
        again = await kiosk.confirm_kiosk_total(
            uow=home.uow(), clock=home.clock, kiosk_id="K01", transaction_id="K01-cccc0001"
        )

        assert view.session.total == Money(fen=5000)
        assert again.receipt is not None
        assert view.receipt is not None
        assert again.receipt.payment.receipt_number == view.receipt.payment.receipt_number
        assert home.balance_fen() == 5000
        with pytest.raises(payments.NoteConflict):
            await home.note(100, sequence=1)
        with pytest.raises(payments.KioskStepRefused):
            await home.note(100, sequence=2)

    async def test_refuses_a_counterfeit_denomination(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()

        with pytest.raises(payments.InvalidNote):
            await home.at_kiosk(3000, transaction_id="K01-dddd0001")

    async def test_recovery_credits_an_interrupted_session_once(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-eeee0001")
        await home.note(2000)
        await home.kiosk("K02")
        await kiosk.open_kiosk_session(
            uow=home.uow(), clock=home.clock, kiosk_id="K02", make_id=lambda: "K02-eeee0002"
        )
        early = await kiosk.recover_kiosk_sessions(uow_factory=home.uow, clock=home.clock)
        home.clock.advance(timedelta(minutes=6))

        recovery = await kiosk.recover_kiosk_sessions(uow_factory=home.uow, clock=home.clock)
        again = await kiosk.recover_kiosk_sessions(uow_factory=home.uow, clock=home.clock)

        assert early.credited == ()
        assert [r.payment.amount for r in recovery.credited] == [Money(fen=2000)]
        assert recovery.abandoned == ("K02-eeee0002",)
        assert again.credited == again.abandoned == ()
        assert home.balance_fen() == home.journal_fen() == 2000
        with pytest.raises(payments.KioskStepRefused):
            await home.note(100)

    async def test_notes_cannot_be_abandoned(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-ffff0001")
        await home.note(100)

        with pytest.raises(payments.KioskStepRefused):
            await kiosk.abandon_kiosk_session(
                uow=home.uow(), clock=home.clock, kiosk_id="K01", transaction_id="K01-ffff0001"
            )


class TestIssue16KioskDevices:
    """Kiosks are devices with credentials: server-made ids, acceptor sequences, caps."""

    async def test_the_server_makes_unguessable_session_ids(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk()

        ids = [
            (
                await kiosk.open_kiosk_session(uow=home.uow(), clock=home.clock, kiosk_id="K01")
            ).session.transaction_id
            for _ in range(3)
        ]

        assert len(set(ids)) == 3
        for made in ids:
            assert made.startswith("KS")
            assert len(made) == 34  # "KS" + 24 random bytes: 192 bits
            assert "K01" not in made
        # At most one session per kiosk is open: each new one ended the one before.
        assert home.rows("SELECT count(*) FROM kiosk_sessions WHERE state <> 'ABANDONED'") == [(1,)]

    async def test_a_session_is_invisible_to_other_kiosks(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-hhhh0001")
        await home.kiosk("K02")

        with pytest.raises(kiosk.UnknownSession):
            await kiosk.kiosk_session(uow=home.uow(), kiosk_id="K02", transaction_id="K01-hhhh0001")
        with pytest.raises(kiosk.UnknownSession):
            await kiosk.confirm_kiosk_total(
                uow=home.uow(), clock=home.clock, kiosk_id="K02", transaction_id="K01-hhhh0001"
            )
        with pytest.raises(payments.KioskStepRefused):
            await home.note(10000, kiosk_id="K02")

    async def test_a_lower_or_conflicting_acceptor_sequence_is_refused(
        self, engine: Engine
    ) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-iiii0001")
        await home.note(1000, sequence=7)

        repeated = await home.note(1000, sequence=7)
        with pytest.raises(payments.NoteConflict):
            await home.note(500, sequence=7)
        with pytest.raises(payments.NoteConflict):
            await home.note(1000, sequence=6)

        assert repeated.session.total == Money(fen=1000)
        assert (await home.kiosk()).last_acceptor_sequence == 7

    async def test_a_session_takes_at_most_its_caps(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-jjjj0001")
        caps = payments.KioskCaps(max_total=Money(fen=20000), max_notes=3)

        await home.note(10000, caps=caps)
        await home.note(5000, caps=caps)
        with pytest.raises(payments.KioskCapReached):
            await home.note(10000, caps=caps)  # 250 yuan > 200
        await home.note(100, caps=caps)
        with pytest.raises(payments.KioskCapReached):
            await home.note(100, caps=caps)  # a fourth note

        view = await kiosk.confirm_kiosk_total(
            uow=home.uow(), clock=home.clock, kiosk_id="K01", transaction_id="K01-jjjj0001"
        )
        assert view.session.total == Money(fen=15100)
        assert home.balance_fen() == 15100

    async def test_the_default_cap_is_2000_yuan(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-kkkk0001")
        for _ in range(20):
            await home.note(10000)

        with pytest.raises(payments.KioskCapReached):
            await home.note(100)

        assert home.rows("SELECT count(*) FROM kiosk_notes") == [(20,)]

    async def test_a_new_session_credits_notes_left_in_the_last_one(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open()
        await home.kiosk_ready("K01-llll0001")
        await home.note(2000)

        await kiosk.open_kiosk_session(uow=home.uow(), clock=home.clock, kiosk_id="K01")

        assert home.balance_fen() == home.journal_fen() == 2000
        assert home.rows(
            "SELECT state, recovered FROM kiosk_sessions WHERE transaction_id = 'K01-llll0001'"
        ) == [("CREDITED", True)]


class TestB6CloseAfterTopUp:
    async def test_a_kiosk_top_up_queues_the_close_with_the_money(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=300))
        await home.use(8000)  # 423 fen: -123, tripped

        await home.at_kiosk(500, transaction_id="K01-gggg0001")

        assert home.relay() == [("TRIP", "ARREARS"), ("CLOSE", "ARREARS_CLEARED")]
        assert home.balance_fen() == home.journal_fen() == 377

    async def test_a_counter_top_up_that_leaves_arrears_does_not_close(
        self, engine: Engine
    ) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=300))
        await home.use(8000)
        home.clock.set(local(2025, 6, 10, 9))

        await home.at_counter(100)

        assert home.relay() == [("TRIP", "ARREARS")]
