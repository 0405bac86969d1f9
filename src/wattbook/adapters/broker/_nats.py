"""The broker seam over NATS JetStream (``nats-py``): streams, subjects, consumers (ADR 20).

Two streams, both file-stored work queues (a message is gone once acknowledged):

- ``WATTBOOK_COLLECTED`` on ``wattbook.collected.<head-end>``: what each head-end collected.
  One durable pull consumer, ``ingest``, shared by every ingest worker.
- ``WATTBOOK_RELAY`` on ``wattbook.relay.<bus>.<command id>``: relay orders, one subject per
  command holding at most one message (a republished order replaces the one before). One
  durable pull consumer per bus, ``relay-<bus>``, taken by the head-end that drives the bus.

Names are made subject-safe by :func:`token`. Every message carries ``Nats-Msg-Id``, its
content id (``_codec.encode``); the streams drop a duplicate id inside ``DUPLICATE_WINDOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from wattbook.adapters.broker import _codec
from wattbook.adapters.broker._spool import Spool, Spooled, SpoolFull
from wattbook.application.headend import broker_ports as bp

logger = logging.getLogger(__name__)

COLLECTED_STREAM = "WATTBOOK_COLLECTED"
COLLECTED_PREFIX = "wattbook.collected"
RELAY_STREAM = "WATTBOOK_RELAY"
RELAY_PREFIX = "wattbook.relay"
INGEST_CONSUMER = "ingest"
# A duplicate publish (same Nats-Msg-Id) inside this window is dropped by the stream.
DUPLICATE_WINDOW = timedelta(minutes=10)
# A delivery not acknowledged in this time is handed out again (a worker killed mid-batch).
ACK_WAIT = timedelta(seconds=30)
# How long a publish waits for the stream's acknowledgement before it is spooled.
PUBLISH_TIMEOUT_S = 2.0
# How many deliveries the ingest consumer lets be out at once, over all workers.
MAX_ACK_PENDING = 20_000

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

_T = TypeVar("_T")


def token(name: str) -> str:
    """Return ``name`` as one subject token: letters, digits, ``_`` and ``-`` kept, every
    other byte of its UTF-8 as ``=XX``."""
    if not name:
        raise ValueError("a subject token needs a name")
    return "".join(
        char if char in _SAFE else "".join(f"={byte:02X}" for byte in char.encode())
        for char in name
    )


def collected_subject(headend: str) -> str:
    """Return the subject a head-end publishes its collections on."""
    return f"{COLLECTED_PREFIX}.{token(headend)}"


def relay_subject(bus: str, command_id: int) -> str:
    """Return the subject of one relay command's order."""
    return f"{RELAY_PREFIX}.{token(bus)}.{command_id}"


async def connect(url: str, *, name: str) -> Client:
    """Connect to NATS; the client reconnects by itself for as long as it lives.

    :raises bp.BrokerUnavailable: if the server cannot be reached now.
    """
    try:
        client = await nats.connect(
            servers=[url],
            name=name,
            allow_reconnect=True,
            # The first connection gives up after a second try (an unlimited count would
            # make it wait for ever); once connected, the client reconnects without limit.
            max_reconnect_attempts=1,
            reconnect_time_wait=1,
            connect_timeout=2,
            error_cb=_log_error,
            disconnected_cb=_log_disconnected,
            reconnected_cb=_log_reconnected,
        )
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise bp.BrokerUnavailable(f"NATS at {url}: {exc or type(exc).__name__}") from exc
    client.options["max_reconnect_attempts"] = -1
    return client


async def _log_error(error: Exception) -> None:
    logger.warning("NATS: %s", error or type(error).__name__)


async def _log_disconnected() -> None:
    logger.warning("NATS: disconnected; reconnecting")


async def _log_reconnected() -> None:
    logger.info("NATS: reconnected")


async def ensure_streams(js: JetStreamContext) -> None:
    """Create the two streams if they do not exist (an existing stream is left as it is)."""
    window = DUPLICATE_WINDOW.total_seconds()
    wanted = (
        api.StreamConfig(
            name=COLLECTED_STREAM,
            subjects=[f"{COLLECTED_PREFIX}.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.NEW,
            duplicate_window=window,
        ),
        api.StreamConfig(
            name=RELAY_STREAM,
            subjects=[f"{RELAY_PREFIX}.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            max_msgs_per_subject=1,
            duplicate_window=window,
        ),
    )
    for name, config in zip((COLLECTED_STREAM, RELAY_STREAM), wanted, strict=True):
        try:
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                # Another process created it in between.
                await js.stream_info(name)


class _Delivery(Generic[_T]):
    """A JetStream message with what it carries."""

    def __init__(self, msg: Msg, item: _T) -> None:
        self._msg = msg
        self._item = item

    @property
    def item(self) -> _T:
        return self._item

    @property
    def delivered(self) -> int:
        return int(self._msg.metadata.num_delivered or 1)

    async def ack(self) -> None:
        # An acknowledgement that is lost only means the message comes again: harmless.
        try:
            await self._msg.ack()
        except Exception as exc:
            logger.warning("NATS: acknowledgement lost (%s); the message comes again", exc)

    async def retry(self, *, delay_s: float) -> None:
        try:
            await self._msg.nak(delay=delay_s)
        except Exception as exc:
            logger.warning("NATS: negative acknowledgement lost (%s)", exc)


async def _decoded(msgs: Sequence[Msg], wanted: tuple[type[Any], ...]) -> list[_Delivery[Any]]:
    found: list[_Delivery[Any]] = []
    for msg in msgs:
        try:
            item = _codec.decode(msg.data)
            if not isinstance(item, wanted):
                raise _codec.UndecodableMessage(f"{type(item).__name__} on {msg.subject}")
        except _codec.UndecodableMessage as exc:
            # Never delivered again: it would fail the same way. Kept in the log, whole.
            logger.error(
                "NATS: message on %s refused: %s; message: %r", msg.subject, exc, msg.data[:2000]
            )
            with contextlib.suppress(Exception):
                await msg.term()
            continue
        found.append(_Delivery(msg, item))
    return found


async def _fetch(sub: JetStreamContext.PullSubscription, batch: int, timeout_s: float) -> list[Msg]:
    try:
        return list(await sub.fetch(batch, timeout=timeout_s))
    except (nats.errors.TimeoutError, TimeoutError):
        return []
    except (nats.errors.Error, OSError) as exc:
        raise bp.BrokerUnavailable(f"NATS: {exc or type(exc).__name__}") from exc


_COLLECTED = (
    bp.ReadingsCollected,
    bp.VisitCollected,
    bp.CommunicationCollected,
    bp.RelayDone,
    bp.SpoolReplayed,
)


class HeadendLink:
    """A head-end's link to the broker: publish collections (through the spool when the
    broker is away) and take its buses' relay orders.

    Implements ``CollectionPublisher`` and ``RelayOrderSource``. Open it with
    :func:`open_headend_link`.
    """

    def __init__(
        self,
        *,
        url: str,
        headend: str,
        spool: Spool,
        now: Callable[[], datetime],
    ) -> None:
        self.url = url
        self._headend = headend
        self.subject = collected_subject(headend)
        self.spool = spool
        self._now = now
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._relay_subs: dict[str, JetStreamContext.PullSubscription] = {}
        self._lock = asyncio.Lock()
        self._spooling = False
        if spool.pending():
            # Left by an earlier run that could not hand it over.
            left = len(spool.read())
            spool.first_at = spool.last_at = now()
            spool.spooled = left
            logger.warning("spool %s holds %d messages from an earlier run", spool.path, left)

    @property
    def headend(self) -> str:
        """Return this head-end's name."""
        return self._headend

    @property
    def connected(self) -> bool:
        """Test whether the client is connected now."""
        return self._client is not None and self._client.is_connected and self._js is not None

    async def start(self) -> None:
        """Connect if the broker can be reached (otherwise :meth:`keep_up` tries again)."""
        try:
            client = await connect(self.url, name=f"wattbook-headend-{self._headend}")
        except bp.BrokerUnavailable as exc:
            logger.warning("head-end %s: %s; collecting into the spool", self._headend, exc)
            return
        js = client.jetstream(timeout=PUBLISH_TIMEOUT_S)
        try:
            await ensure_streams(js)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            logger.warning("head-end %s: streams not ready: %s", self._headend, exc)
            await client.close()
            return
        self._client, self._js = client, js

    async def close(self) -> None:
        """Close the connection (what is spooled stays in the file)."""
        if self._client is not None:
            await _close(self._client)
        self._client = self._js = None
        self._relay_subs.clear()

    async def publish(self, item: bp.Collected) -> None:
        """Publish one collection; spool it when the broker is away.

        :raises bp.BrokerUnavailable: if the broker is away and the spool is full.
        """
        payload, msg_id = _codec.encode(item)
        async with self._lock:
            if self.connected and not self.spool.pending():
                try:
                    await self._publish(self.subject, payload, msg_id)
                except bp.BrokerUnavailable as exc:
                    logger.warning("head-end %s: %s", self._headend, exc)
                else:
                    return
            try:
                self.spool.append(Spooled(self.subject, msg_id, payload), at=self._now())
            except SpoolFull as exc:
                raise bp.BrokerUnavailable(f"broker away and {exc}") from exc
            if not self._spooling:
                self._spooling = True
                logger.warning(
                    "head-end %s: the broker at %s cannot be reached; keeping collections in "
                    "the spool %s",
                    self._headend,
                    self.url,
                    self.spool.path,
                )

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        js = self._js
        if js is None:
            raise bp.BrokerUnavailable("not connected")
        try:
            await js.publish(
                subject, payload, timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": msg_id}
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise bp.BrokerUnavailable(
                f"publish on {subject}: {exc or type(exc).__name__}"
            ) from exc

    async def hand_over_spool(self) -> int:
        """If connected, publish what waits in the spool, then the episode's notice; return
        how many spooled messages went."""
        if not self.connected:
            return 0
        async with self._lock:
            sent = 0
            if self.spool.pending():
                try:
                    sent = await self.spool.replay(
                        lambda m: self._publish(m.subject, m.payload, m.msg_id)
                    )
                except bp.BrokerUnavailable as exc:
                    logger.warning("head-end %s: spool replay cut short: %s", self._headend, exc)
                    return sent
            episode = self.spool.take_episode()
            if episode is None:
                return sent
            first, last, spooled, refused = episode
            notice = bp.SpoolReplayed(
                headend=self._headend,
                first_at=first,
                last_at=last,
                replayed_at=self._now(),
                spooled=spooled,
                refused=refused,
            )
            payload, msg_id = _codec.encode(notice)
            try:
                await self._publish(self.subject, payload, msg_id)
            except bp.BrokerUnavailable:
                self.spool.append(Spooled(self.subject, msg_id, payload), at=self._now())
            self._spooling = False
            logger.warning(
                "head-end %s: reached the broker again; handed over %d spooled messages "
                "(%d could not be spooled) kept from %s to %s",
                self._headend,
                spooled,
                refused,
                first.isoformat(),
                last.isoformat(),
            )
            return sent

    async def keep_up(self, stop: asyncio.Event, *, every_s: float = 1.0) -> None:
        """Until ``stop``: connect if not connected, and hand the spool over when possible."""
        while not stop.is_set():
            try:
                if self._client is None:
                    await self.start()
                await self.hand_over_spool()
            except Exception:
                logger.exception("head-end %s: broker upkeep failed", self._headend)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def fetch_orders(
        self, bus: str, *, batch: int, timeout_s: float
    ) -> Sequence[bp.Delivery[bp.RelayOrder]]:
        """Return up to ``batch`` relay orders for ``bus``.

        :raises bp.BrokerUnavailable: if the broker cannot be reached.
        """
        if not self.connected or self._js is None:
            raise bp.BrokerUnavailable("not connected")
        sub = self._relay_subs.get(bus)
        if sub is None:
            durable = f"relay-{token(bus)}"
            try:
                sub = await self._js.pull_subscribe(
                    f"{RELAY_PREFIX}.{token(bus)}.>",
                    durable=durable,
                    stream=RELAY_STREAM,
                    config=api.ConsumerConfig(ack_wait=ACK_WAIT.total_seconds(), max_deliver=-1),
                )
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                raise bp.BrokerUnavailable(f"relay consumer {durable}: {exc}") from exc
            self._relay_subs[bus] = sub
        msgs = await _fetch(sub, batch, timeout_s)
        return await _decoded(msgs, (bp.RelayOrder,))


class CoreLink:
    """The core's link: take collections through the shared ``ingest`` consumer, and publish
    relay orders. Implements ``CollectedSource`` and ``RelayOrderPublisher``."""

    def __init__(self, *, client: Client, js: JetStreamContext) -> None:
        self._client = client
        self._js = js
        self._sub: JetStreamContext.PullSubscription | None = None

    async def fetch_collected(
        self, *, batch: int, timeout_s: float
    ) -> Sequence[bp.Delivery[bp.Collected]]:
        """Return up to ``batch`` collections.

        :raises bp.BrokerUnavailable: if the broker cannot be reached.
        """
        if self._sub is None:
            try:
                self._sub = await self._js.pull_subscribe(
                    f"{COLLECTED_PREFIX}.>",
                    durable=INGEST_CONSUMER,
                    stream=COLLECTED_STREAM,
                    config=api.ConsumerConfig(
                        ack_wait=ACK_WAIT.total_seconds(),
                        max_deliver=-1,
                        max_ack_pending=MAX_ACK_PENDING,
                    ),
                )
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                raise bp.BrokerUnavailable(f"ingest consumer: {exc}") from exc
        msgs = await _fetch(self._sub, batch, timeout_s)
        return await _decoded(msgs, _COLLECTED)

    async def publish_order(self, order: bp.RelayOrder) -> None:
        """Publish a relay order on its command's subject.

        :raises bp.BrokerUnavailable: if the broker cannot take it.
        """
        payload, msg_id = _codec.encode(order)
        subject = relay_subject(order.bus, order.command.id)
        try:
            await self._js.publish(
                subject, payload, timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": msg_id}
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise bp.BrokerUnavailable(f"publish on {subject}: {exc}") from exc


@contextlib.asynccontextmanager
async def open_headend_link(
    url: str,
    *,
    headend: str,
    spool_path: Path,
    now: Callable[[], datetime],
    spool_max_bytes: int | None = None,
) -> AsyncIterator[HeadendLink]:
    """Open a head-end's link (connected if the broker can be reached now); close it on exit.

    The publishing API in full (``bench/scale.py`` uses it too)::

        async with open_headend_link(url, headend="site-a", spool_path=path, now=clock.now) as link:
            await link.publish(ReadingsCollected(headend="site-a", bus="b1", readings=...))
    """
    spool = (
        Spool(spool_path)
        if spool_max_bytes is None
        else Spool(spool_path, max_bytes=spool_max_bytes)
    )
    link = HeadendLink(url=url, headend=headend, spool=spool, now=now)
    await link.start()
    try:
        yield link
    finally:
        await link.close()


@contextlib.asynccontextmanager
async def open_core_link(url: str, *, name: str = "wattbook-ingest") -> AsyncIterator[CoreLink]:
    """Connect the core (retrying until the broker answers is the caller's choice).

    :raises bp.BrokerUnavailable: if the broker cannot be reached now.
    """
    client = await connect(url, name=name)
    js = client.jetstream(timeout=PUBLISH_TIMEOUT_S)
    try:
        await ensure_streams(js)
        yield CoreLink(client=client, js=js)
    finally:
        await _close(client)


async def _close(client: Client) -> None:
    # Acknowledgements sent go out first; a drain would wait for the pull requests' inboxes.
    with contextlib.suppress(Exception):
        await client.flush(timeout=2)
    with contextlib.suppress(Exception):
        await client.close()
