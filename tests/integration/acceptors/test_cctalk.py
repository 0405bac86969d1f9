"""The ccTalk bill validator driver against a simulated validator on a pty.

The peer (``cctalk_peer``) answers on the pty's master side, echoing each request as the
single-wire bus does; the driver opens the slave path with pyserial. No hardware here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from tests.integration.acceptors.cctalk_peer import CcTalkPeer
from tests.waiting import until

from wattbook.adapters import acceptors
from wattbook.application.payments.acceptor_ports import (
    AcceptorEvent,
    AcceptorEventKind,
    AcceptorUnavailable,
    NoteNotInEscrow,
)
from wattbook.domain.values import Money


@pytest.fixture
async def peer() -> AsyncIterator[CcTalkPeer]:
    device = CcTalkPeer()
    yield device
    device.close()


async def open_driver(peer: CcTalkPeer, **options: float) -> acceptors.CcTalkAcceptor:
    path = peer.serve_pty()
    spec = acceptors.parse_spec(f"cctalk:{path}?address={peer.address}")
    return acceptors.CcTalkAcceptor(spec, poll_interval_s=0.02, **options)  # type: ignore[arg-type]


@pytest.fixture
async def driver(peer: CcTalkPeer) -> AsyncIterator[acceptors.CcTalkAcceptor]:
    opened = await open_driver(peer)
    yield opened
    await opened.close()


async def started(driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer) -> None:
    """Let the driver set the device up and poll once after, with nothing happening."""

    def polled_after_set_up() -> bool:
        if 228 not in peer.requests:
            return False
        last_set_up = len(peer.requests) - 1 - peer.requests[::-1].index(228)
        return 159 in peer.requests[last_set_up:]

    waiting = asyncio.ensure_future(driver.next_event())
    await until(polled_after_set_up, "the driver sets the validator up")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def next_event(driver: acceptors.CcTalkAcceptor) -> AcceptorEvent:
    return await asyncio.wait_for(driver.next_event(), timeout=5)


class TestSetUp:
    async def test_learns_the_channels_and_enables_only_the_notes_it_maps(
        self, peer: CcTalkPeer
    ) -> None:
        peer.bill_ids[7] = "CN0002A"  # a 2 yuan note: not one the kiosk takes
        peer.bill_ids[8] = "HK0010A"  # another currency
        driver = await open_driver(peer)
        waiting = asyncio.ensure_future(driver.next_event())

        first = await asyncio.wait_for(waiting, 5)
        second = await next_event(driver)
        await driver.close()

        assert driver.channels == {
            1: Money(fen=100),
            2: Money(fen=500),
            3: Money(fen=1000),
            4: Money(fen=2000),
            5: Money(fen=5000),
            6: Money(fen=10000),
        }
        assert driver.refused_channels == {7: "CN0002A", 8: "HK0010A"}
        assert (first.kind, first.code) == (AcceptorEventKind.FAULT, "UNKNOWN_BILL_CODE")
        assert (second.kind, second.code) == (AcceptorEventKind.FAULT, "UNKNOWN_BILL_CODE")
        assert peer.inhibit_mask == 0b111111
        assert not peer.master_enabled  # closed: notes refused again

    async def test_a_coin_acceptor_is_not_taken_for_a_bill_validator(
        self, peer: CcTalkPeer
    ) -> None:
        peer.category = "Coin Acceptor"
        driver = await open_driver(peer)

        with pytest.raises(AcceptorUnavailable, match="not a bill validator"):
            await next_event(driver)
        await driver.close()

    async def test_a_note_left_in_escrow_by_an_earlier_run_is_returned_loudly(
        self, peer: CcTalkPeer
    ) -> None:
        peer.inhibit_mask, peer.master_enabled = 0xFFFF, True
        peer.insert(3)
        driver = await open_driver(peer)

        fault = await next_event(driver)
        await started(driver, peer)
        await driver.close()

        assert (fault.kind, fault.code) == (AcceptorEventKind.FAULT, "ESCROW_AT_START")
        assert peer.returned == [3]
        assert peer.stacked == []


class TestNotes:
    async def test_a_note_in_escrow_is_stacked(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(6)

        escrow = await next_event(driver)
        await driver.stack()
        peer.insert(3)
        after = await next_event(driver)

        assert escrow == AcceptorEvent(kind=AcceptorEventKind.ESCROW, amount=Money(fen=10000))
        assert peer.stacked == [6]
        # The "stacked" credit that confirms our own route is not a new note.
        assert after == AcceptorEvent(kind=AcceptorEventKind.ESCROW, amount=Money(fen=1000))

    async def test_a_note_in_escrow_is_returned(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(5)

        escrow = await next_event(driver)
        await driver.return_note()
        peer.reject()
        after = await next_event(driver)

        assert escrow.amount == Money(fen=5000)
        assert peer.returned == [5]
        assert peer.stacked == []
        # Our own return's "returned from escrow" status is not reported as unasked.
        assert after.kind is AcceptorEventKind.REJECTED

    async def test_a_rejected_note_is_reported(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.reject()

        event = await next_event(driver)

        assert (event.kind, event.code) == (AcceptorEventKind.REJECTED, "STATUS_2")

    async def test_inhibit_refuses_notes_at_the_slot(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)

        await driver.set_enabled(False)
        refused = peer.insert(6)
        await driver.set_enabled(True)
        taken = peer.insert(6)
        event = await next_event(driver)

        assert (refused, taken) == (False, True)
        assert event.kind is AcceptorEventKind.ESCROW

    async def test_the_device_returning_the_note_by_itself_is_reported(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(4)
        await next_event(driver)

        peer.time_out_escrow()
        returned = await next_event(driver)

        assert returned.kind is AcceptorEventKind.RETURNED
        assert (returned.amount, returned.code) == (Money(fen=2000), "ESCROW_TIMEOUT")
        with pytest.raises(NoteNotInEscrow):
            await driver.stack()
        assert peer.stacked == []

    async def test_stacking_a_note_the_device_already_gave_back_is_refused(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(4)
        await next_event(driver)
        peer.time_out_escrow()  # before the driver polled again

        with pytest.raises(NoteNotInEscrow):
            await driver.stack()
        assert peer.stacked == []

    async def test_a_note_stacked_without_approval_is_a_fault(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.stack_unasked(6)

        event = await next_event(driver)

        assert (event.kind, event.code, event.amount) == (
            AcceptorEventKind.FAULT,
            "UNASKED_STACK",
            Money(fen=10000),
        )


class TestTheBus:
    async def test_a_garbled_reply_is_asked_for_again(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(6)
        await next_event(driver)
        routes_before = peer.requests.count(154)

        peer.garble = 2  # two bad checksums, then a good reply: within the 3 attempts
        await driver.stack()

        assert peer.requests.count(154) - routes_before == 3
        assert peer.stacked == [6]

    async def test_a_silent_device_is_unavailable_within_a_bounded_time(
        self, peer: CcTalkPeer
    ) -> None:
        peer.silent = True
        driver = await open_driver(peer, reply_timeout_s=0.2)

        began = time.monotonic()
        with pytest.raises(AcceptorUnavailable, match="failed 3 times"):
            await next_event(driver)
        took = time.monotonic() - began
        await driver.close()

        assert took < 1.5
        assert peer.requests == [254, 254, 254]

    async def test_works_without_an_echo_too(self, peer: CcTalkPeer) -> None:
        peer.echo = False  # a two-wire interface does not echo
        driver = await open_driver(peer)
        await started(driver, peer)
        peer.insert(2)

        event = await next_event(driver)
        await driver.close()

        assert event.amount == Money(fen=500)


class TestEventCounter:
    async def test_missed_events_are_reported_loudly(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        # Seven events happen between two polls (no await between them): two are lost.
        for _ in range(7):
            peer.reject()

        first = await next_event(driver)
        rest = [await next_event(driver) for _ in range(5)]

        assert (first.kind, first.code) == (AcceptorEventKind.FAULT, "EVENTS_MISSED")
        assert "2 bill events were lost" in first.detail
        assert [event.kind for event in rest] == [AcceptorEventKind.REJECTED] * 5

    async def test_the_counter_wraps_from_255_to_1(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        peer.counter = 253
        await started(driver, peer)

        for _ in range(4):  # 254, 255, 1, 2
            peer.reject()
        events = [await next_event(driver) for _ in range(4)]

        assert peer.counter == 2
        assert [event.kind for event in events] == [AcceptorEventKind.REJECTED] * 4

    async def test_a_power_cycle_is_a_reset_and_the_device_is_set_up_again(
        self, driver: acceptors.CcTalkAcceptor, peer: CcTalkPeer
    ) -> None:
        await started(driver, peer)
        peer.insert(6)
        await next_event(driver)

        peer.power_cycle()
        reset = await next_event(driver)
        returned = await next_event(driver)
        peer.requests.clear()
        await started(driver, peer)
        peer.insert(1)
        after = await next_event(driver)

        assert (reset.kind, reset.code) == (AcceptorEventKind.FAULT, "DEVICE_RESET")
        assert (returned.kind, returned.amount) == (AcceptorEventKind.RETURNED, Money(fen=10000))
        assert peer.inhibit_mask == 0b111111
        assert peer.master_enabled
        assert after.amount == Money(fen=100)
