"""The meter gateway's bus arbiter: one request at a time, urgent ones before waiting polls."""

from __future__ import annotations

import asyncio

import pytest

from wattbook.adapters.meters._gateway import _Arbiter


async def hold(arbiter: _Arbiter, name: str, order: list[str], *, urgent: bool) -> None:
    async with arbiter.turn(urgent=urgent):
        order.append(name)
        await asyncio.sleep(0)  # hold the bus across a turn of the loop


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_free_bus_is_taken_at_once() -> None:
    arbiter = _Arbiter()

    async with arbiter.turn(urgent=False):
        inside = True

    assert inside


async def test_one_holder_at_a_time_urgent_waiters_first_each_line_in_order() -> None:
    arbiter = _Arbiter()
    order: list[str] = []
    await arbiter.acquire(urgent=False)
    waiters = [
        asyncio.create_task(hold(arbiter, "poll-1", order, urgent=False)),
        asyncio.create_task(hold(arbiter, "poll-2", order, urgent=False)),
        asyncio.create_task(hold(arbiter, "relay-1", order, urgent=True)),
        asyncio.create_task(hold(arbiter, "relay-2", order, urgent=True)),
    ]
    await settle()
    assert order == []  # the bus is held

    arbiter.release()
    await asyncio.gather(*waiters)

    assert order == ["relay-1", "relay-2", "poll-1", "poll-2"]


async def test_a_poll_does_not_jump_an_urgent_waiter_when_the_bus_frees() -> None:
    arbiter = _Arbiter()
    order: list[str] = []
    await arbiter.acquire(urgent=False)
    relay = asyncio.create_task(hold(arbiter, "relay", order, urgent=True))
    await settle()

    arbiter.release()
    poll = asyncio.create_task(hold(arbiter, "poll", order, urgent=False))
    await asyncio.gather(relay, poll)

    assert order == ["relay", "poll"]


async def test_a_waiter_cancelled_in_line_is_skipped() -> None:
    arbiter = _Arbiter()
    order: list[str] = []
    await arbiter.acquire(urgent=False)
    gone = asyncio.create_task(hold(arbiter, "gone", order, urgent=True))
    kept = asyncio.create_task(hold(arbiter, "kept", order, urgent=False))
    await settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone

    arbiter.release()
    await kept

    assert order == ["kept"]
    async with arbiter.turn(urgent=False):  # and the bus is free again afterwards
        order.append("after")
    assert order == ["kept", "after"]


async def test_a_waiter_cancelled_after_being_handed_the_bus_passes_it_on() -> None:
    arbiter = _Arbiter()
    order: list[str] = []
    await arbiter.acquire(urgent=False)
    handed = asyncio.create_task(hold(arbiter, "handed", order, urgent=False))
    nxt = asyncio.create_task(hold(arbiter, "next", order, urgent=False))
    await settle()

    arbiter.release()  # the bus is handed to the first waiter, which has not run yet
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await nxt

    assert order == ["next"]


async def test_an_error_inside_the_turn_frees_the_bus() -> None:
    arbiter = _Arbiter()

    with pytest.raises(RuntimeError):
        async with arbiter.turn(urgent=True):
            raise RuntimeError("the meter failed")

    async with arbiter.turn(urgent=False):
        freed = True
    assert freed
