"""The kiosk's use cases on the fakes (P2, issue 16): devices, sessions, acceptor notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.application.world import World

from wattbook.application import alarm_ports
from wattbook.application.payments import kiosk, kiosk_devices
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money

CAPS = payments.DEFAULT_KIOSK_CAPS
SECRET = "s" * 43


async def registered(world: World, kiosk_id: str = "K01") -> None:
    await kiosk_devices.register_kiosk(
        uow=world.uow(),
        clock=world.clock,
        kiosk_id=kiosk_id,
        by="admin",
        make_secret=lambda: SECRET,
    )


async def kiosk_and_household() -> tuple[World, AccountNumber]:
    """Return a world with kiosk K01 registered and a household with nothing on its account."""
    world = World()
    await registered(world)
    return world, await world.household(1, opening_fen=0)


async def start(world: World, account: AccountNumber, kiosk_id: str = "K01") -> str:
    view = await kiosk.open_kiosk_session(uow=world.uow(), clock=world.clock, kiosk_id=kiosk_id)
    transaction = view.session.transaction_id
    await kiosk.enter_kiosk_account(
        uow=world.uow(),
        clock=world.clock,
        kiosk_id=kiosk_id,
        transaction_id=transaction,
        number=account,
    )
    await kiosk.confirm_kiosk_details(
        uow=world.uow(), clock=world.clock, kiosk_id=kiosk_id, transaction_id=transaction
    )
    return transaction


async def note(
    world: World, sequence: int, fen: int, caps: payments.KioskCaps = CAPS
) -> kiosk.KioskView:
    return await kiosk.accept_acceptor_note(
        uow=world.uow(),
        clock=world.clock,
        kiosk_id="K01",
        acceptor_sequence=sequence,
        amount=Money(fen=fen),
        caps=caps,
    )


class TestKioskDevices:
    async def test_a_registered_kiosk_signs_and_a_revoked_one_cannot(self) -> None:
        world = World()
        await registered(world)
        body = b"{}"
        headers = payments.kiosk_headers(
            kiosk_id="K01",
            secret=SECRET,
            method="POST",
            target="/kiosk/api/sessions",
            at=world.clock.now(),
            body=body,
        )
        request = payments.SignedRequest(
            kiosk_id="K01",
            timestamp=int(headers[payments.TIMESTAMP_HEADER]),
            signature=headers[payments.SIGNATURE_HEADER],
            method="POST",
            target="/kiosk/api/sessions",
            body=body,
        )

        found = await kiosk_devices.authenticate_kiosk(
            uow=world.uow(), request=request, now=world.clock.now()
        )
        await kiosk_devices.revoke_kiosk(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", by="admin"
        )

        assert found.kiosk_id == "K01"
        with pytest.raises(payments.KioskRevoked):
            await kiosk_devices.authenticate_kiosk(
                uow=world.uow(), request=request, now=world.clock.now()
            )

    async def test_an_id_is_registered_once(self) -> None:
        world = World()
        await registered(world)

        with pytest.raises(kiosk_devices.KioskAlreadyRegistered):
            await registered(world)

        assert list(world.db.tables.kiosks) == ["K01"]

    async def test_rotating_gives_a_new_secret_and_reinstates(self) -> None:
        world = World()
        await registered(world)
        await kiosk_devices.revoke_kiosk(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", by="admin"
        )

        rotated, secret = await kiosk_devices.rotate_kiosk(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", by="admin"
        )

        assert secret != SECRET
        assert rotated.revoked_at is None
        assert rotated.usable_secret() == secret


class TestKioskSession:
    async def test_credits_the_notes_once_on_confirmation(self) -> None:
        world, account = await kiosk_and_household()
        transaction = await start(world, account)
        await note(world, 1, 10_000)
        await note(world, 2, 500)

        view = await kiosk.confirm_kiosk_total(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", transaction_id=transaction
        )
        again = await kiosk.confirm_kiosk_total(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", transaction_id=transaction
        )

        assert view.receipt is not None
        assert view.receipt.payment.amount == Money(fen=10_500)
        assert again.receipt == view.receipt
        assert world.balance_fen(account) == 10_500

    async def test_a_note_replayed_with_another_amount_is_refused(self) -> None:
        world, account = await kiosk_and_household()
        transaction = await start(world, account)
        await note(world, 1, 10_000)
        replay = await note(world, 1, 10_000)

        with pytest.raises(payments.NoteConflict):
            await note(world, 1, 5_000)

        session = await kiosk.kiosk_session(
            uow=world.uow(), kiosk_id="K01", transaction_id=transaction
        )
        assert [n.amount.fen for n in replay.session.notes] == [10_000]
        assert [n.amount.fen for n in session.session.notes] == [10_000]

    async def test_a_note_past_the_cap_is_refused_and_the_session_keeps_the_rest(self) -> None:
        world, account = await kiosk_and_household()
        await start(world, account)
        caps = payments.KioskCaps(max_total=Money(fen=15_000), max_notes=50)
        await note(world, 1, 10_000, caps)

        with pytest.raises(payments.KioskCapReached):
            await note(world, 2, 10_000, caps)

        view = await note(world, 3, 5_000, caps)
        assert view.session.total == Money(fen=15_000)

    async def test_no_note_is_taken_without_a_session_taking_notes(self) -> None:
        world = World()
        await registered(world)

        with pytest.raises(payments.KioskStepRefused):
            await note(world, 1, 10_000)

    async def test_an_unknown_kiosk_opens_no_session(self) -> None:
        world = World()

        with pytest.raises(payments.UnknownKiosk):
            await kiosk.open_kiosk_session(uow=world.uow(), clock=world.clock, kiosk_id="K09")

        assert world.db.tables.kiosk_sessions == {}

    async def test_an_unknown_account_changes_nothing(self) -> None:
        world = World()
        await registered(world)
        view = await kiosk.open_kiosk_session(uow=world.uow(), clock=world.clock, kiosk_id="K01")

        with pytest.raises(Exception, match="051600000009"):
            await kiosk.enter_kiosk_account(
                uow=world.uow(),
                clock=world.clock,
                kiosk_id="K01",
                transaction_id=view.session.transaction_id,
                number=AccountNumber(value="051600000009"),
            )

        (row,) = world.db.tables.kiosk_sessions.values()
        assert row.session.account_number is None

    async def test_another_kiosks_session_is_unknown(self) -> None:
        world = World()
        await registered(world)
        await registered(world, "K02")
        account = await world.household(1, opening_fen=0)
        transaction = await start(world, account)

        with pytest.raises(kiosk.UnknownSession):
            await kiosk.kiosk_session(uow=world.uow(), kiosk_id="K02", transaction_id=transaction)

    async def test_a_new_session_credits_the_notes_left_in_the_last(self) -> None:
        world, account = await kiosk_and_household()
        await start(world, account)
        await note(world, 1, 2_000)

        await kiosk.open_kiosk_session(uow=world.uow(), clock=world.clock, kiosk_id="K01")

        assert world.balance_fen(account) == 2_000

    async def test_abandoning_before_any_note_credits_nothing(self) -> None:
        world, account = await kiosk_and_household()
        view = await kiosk.open_kiosk_session(uow=world.uow(), clock=world.clock, kiosk_id="K01")

        ended = await kiosk.abandon_kiosk_session(
            uow=world.uow(),
            clock=world.clock,
            kiosk_id="K01",
            transaction_id=view.session.transaction_id,
        )

        assert ended.session.state is payments.KioskState.ABANDONED
        assert world.balance_fen(account) == 0


class TestRecoverKioskSessions:
    async def test_credits_the_notes_of_a_session_left_open(self) -> None:
        world, account = await kiosk_and_household()
        await start(world, account)
        await note(world, 1, 2_000)
        world.clock.advance(timedelta(hours=1))

        recovered = await kiosk.recover_kiosk_sessions(uow_factory=world.db, clock=world.clock)

        assert [r.payment.amount.fen for r in recovered.credited] == [2_000]
        assert world.balance_fen(account) == 2_000

    async def test_leaves_a_session_still_in_use_alone(self) -> None:
        world, account = await kiosk_and_household()
        await start(world, account)
        await note(world, 1, 2_000)

        recovered = await kiosk.recover_kiosk_sessions(uow_factory=world.db, clock=world.clock)

        assert (recovered.credited, recovered.abandoned) == ((), ())
        assert world.balance_fen(account) == 0


class TestAcceptorReturnsAndFaults:
    async def test_a_returned_note_leaves_its_open_session(self) -> None:
        world, account = await kiosk_and_household()
        transaction = await start(world, account)
        await note(world, 1, 10_000)
        await note(world, 2, 5_000)

        done = await kiosk.return_acceptor_note(
            uow=world.uow(),
            clock=world.clock,
            kiosk_id="K01",
            acceptor_sequence=2,
            amount=Money(fen=5_000),
        )
        view = await kiosk.confirm_kiosk_total(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", transaction_id=transaction
        )

        assert done.outcome is kiosk.NoteReturnOutcome.REMOVED
        assert view.session.total == Money(fen=10_000)
        assert world.balance_fen(account) == 10_000

    async def test_a_note_returned_after_the_credit_raises_an_alarm(self) -> None:
        world, account = await kiosk_and_household()
        transaction = await start(world, account)
        await note(world, 1, 10_000)
        await kiosk.confirm_kiosk_total(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", transaction_id=transaction
        )

        done = await kiosk.return_acceptor_note(
            uow=world.uow(),
            clock=world.clock,
            kiosk_id="K01",
            acceptor_sequence=1,
            amount=Money(fen=10_000),
        )

        async with world.uow() as uow:
            alarms = await uow.alarms.alarms()
        assert done.outcome is kiosk.NoteReturnOutcome.ALARMED
        assert [a.kind for a in alarms] == [alarm_ports.AlarmKind.KIOSK_NOTE_RETURNED_CREDITED]
        assert world.balance_fen(account) == 10_000  # staff settle it: no silent reversal

    async def test_a_note_never_journalled_can_never_be_journalled_later(self) -> None:
        world, account = await kiosk_and_household()
        await start(world, account)

        done = await kiosk.return_acceptor_note(
            uow=world.uow(),
            clock=world.clock,
            kiosk_id="K01",
            acceptor_sequence=1,
            amount=Money(fen=10_000),
        )

        assert done.outcome is kiosk.NoteReturnOutcome.NOT_JOURNALLED
        with pytest.raises(payments.NoteConflict):
            await note(world, 1, 10_000)

    async def test_an_acceptor_fault_is_an_alarm(self) -> None:
        world = World()
        await registered(world)

        opened = await kiosk.report_acceptor_fault(
            uow=world.uow(), clock=world.clock, kiosk_id="K01", code="EVENTS_MISSED", detail="7"
        )

        async with world.uow() as uow:
            alarms = await uow.alarms.alarms()
        assert opened
        assert [(a.kind, a.subject) for a in alarms] == [
            (alarm_ports.AlarmKind.KIOSK_ACCEPTOR_FAULT, "K01/EVENTS_MISSED")
        ]
