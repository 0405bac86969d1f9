"""The NATS JetStream adapter on a server of the test's own: publish, take, dedupe, spool,
relay orders."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from tests.integration.broker.nats_server import NatsServer, free_port, require_nats_server

from wattbook.adapters import broker
from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import RelayCommand, RelayOperation, RelayReason
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet

AT = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)
METER = MeterNumber(value="051600000001")


def _now() -> dt.datetime:
    return AT


def _readings(total_wh: int) -> bp.ReadingsCollected:
    return bp.ReadingsCollected(
        headend="site a",  # a space: the subject token is escaped
        readings=(
            metering.Reading(
                meter_number=METER,
                registers=RegisterSet(
                    total_wh=total_wh, sharp_wh=0, peak_wh=0, flat_wh=total_wh, valley_wh=0
                ),
                meter_time_at=AT,
                received_at=AT,
            ),
        ),
    )


def _command(attempts: int = 0) -> RelayCommand:
    return RelayCommand(
        id=7,
        account_number=AccountNumber(value="000000000001"),
        meter_number=METER,
        operation=RelayOperation.TRIP,
        reason=RelayReason.ARREARS,
        not_before_at=AT,
        attempts=attempts,
    )


async def _take_all(core: broker.CoreLink) -> list[bp.Collected]:
    taken: list[bp.Collected] = []
    while True:
        deliveries = await core.fetch_collected(batch=100, timeout_s=0.5)
        if not deliveries:
            return taken
        for delivery in deliveries:
            taken.append(delivery.item)
            await delivery.ack()


async def test_a_collection_published_twice_is_taken_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        broker.open_headend_link(
            nats_server.url, headend="site a", spool_path=tmp_path / "spool", now=_now
        ) as link,
        broker.open_core_link(nats_server.url) as core,
    ):
        assert link.connected
        await link.publish(_readings(1000))
        await link.publish(_readings(1000))  # the same content: the same Nats-Msg-Id
        await link.publish(_readings(1010))
        taken = await _take_all(core)
    assert taken == [_readings(1000), _readings(1010)]
    assert not (tmp_path / "spool").exists()


async def test_an_unacknowledged_delivery_comes_again_to_another_worker(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        broker.open_headend_link(
            nats_server.url, headend="h1", spool_path=tmp_path / "spool", now=_now
        ) as link,
        broker.open_core_link(nats_server.url) as first,
        broker.open_core_link(nats_server.url) as second,
    ):
        await link.publish(_readings(1000))
        (delivery,) = await first.fetch_collected(batch=10, timeout_s=1)
        await delivery.retry(delay_s=0)  # as a worker whose write failed
        (again,) = await second.fetch_collected(batch=10, timeout_s=2)
        assert again.item == delivery.item
        assert again.delivered == 2
        await again.ack()
        assert await _take_all(first) == []


async def test_a_head_end_cut_off_spools_and_hands_over_with_a_notice(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(tmp_path / "jetstream", port=free_port())  # not started yet
    spool = tmp_path / "spool.jsonl"
    async with broker.open_headend_link(
        server.url, headend="h1", spool_path=spool, now=_now
    ) as link:
        assert not link.connected
        await link.publish(_readings(1000))
        await link.publish(_readings(1010))
        assert len(link.spool.read()) == 2
        server.start()
        try:
            stop = asyncio.Event()
            upkeep = asyncio.create_task(link.keep_up(stop, every_s=0.1))
            async with broker.open_core_link(server.url) as core:
                taken: list[bp.Collected] = []
                while len(taken) < 3:
                    taken += await _take_all(core)
            stop.set()
            await upkeep
        finally:
            server.stop()
    assert taken[:2] == [_readings(1000), _readings(1010)]
    assert taken[2] == bp.SpoolReplayed(
        headend="h1", first_at=AT, last_at=AT, replayed_at=AT, spooled=2, refused=0
    )
    assert not spool.exists()


async def test_a_full_spool_refuses_and_says_so(tmp_path: Path) -> None:
    require_nats_server()
    url = f"nats://127.0.0.1:{free_port()}"  # nobody listens
    async with broker.open_headend_link(
        url, headend="h1", spool_path=tmp_path / "spool", now=_now, spool_max_bytes=600
    ) as link:
        await link.publish(_readings(1000))
        refused = None
        try:
            for total in range(1010, 1100, 10):
                await link.publish(_readings(total))
        except bp.BrokerUnavailable as exc:
            refused = exc
    assert refused is not None
    assert "spool" in str(refused)
    assert link.spool.refused == 1
    assert link.spool.size() <= 600


async def test_a_relay_order_reaches_its_bus_and_a_republished_one_replaces_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        broker.open_headend_link(
            nats_server.url, headend="h1", spool_path=tmp_path / "spool", now=_now
        ) as link,
        broker.open_core_link(nats_server.url) as core,
    ):
        await core.publish_order(bp.RelayOrder(bus="bus.1", command=_command()))
        await core.publish_order(bp.RelayOrder(bus="bus.1", command=_command(attempts=1)))
        await core.publish_order(bp.RelayOrder(bus="bus 2", command=_command()))
        (order,) = await link.fetch_orders("bus.1", batch=10, timeout_s=1)
        assert order.item == bp.RelayOrder(bus="bus.1", command=_command(attempts=1))
        await order.ack()
        assert await link.fetch_orders("bus.1", batch=10, timeout_s=0.3) == []
        (other,) = await link.fetch_orders("bus 2", batch=10, timeout_s=1)
        assert other.item.bus == "bus 2"


def test_a_relay_outcome_and_a_visit_survive_the_wire() -> None:
    done = bp.RelayDone(
        headend="h1",
        bus="b1",
        command=_command(attempts=2),
        outcome=hp.RelayOutcome(
            confirmed=False,
            status=None,
            error="NoResponse",
        ),
        plan=hp.PollPlan(relay_backoff=dt.timedelta(seconds=7, microseconds=5)),
    )
    payload, msg_id = broker.encode(done)
    assert broker.decode(payload) == done
    assert broker.encode(done)[1] == msg_id
    assert msg_id.startswith("relay-done-")
