"""The broker seam: what a head-end hands the core through a durable broker, and back (ADR 20).

When the head-end runs apart from the core (``wattbook headend run --broker``), what it
collected leaves as one of the :data:`Collected` messages, published on its own subject; the
core's ingest workers (``wattbook ingest run --broker``) take them in batches and write them
through the same use cases the in-process head-end calls. Relay orders travel the other way:
the core publishes each due command on its bus's work-queue subject, the head-end that drives
the bus carries it out and publishes a :class:`RelayDone`.

Every message may arrive more than once (a publish retried after a lost acknowledgement, a
delivery whose acknowledgement was lost): the broker drops a duplicate publish inside its
dedupe window, and the database makes the rest harmless (readings are unique by meter and
meter time, events by meter, kind and time, a relay outcome is recorded only for the attempt
it answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import RelayCommand


class BrokerUnavailable(Exception):
    """The broker could not take a message now (and no local spool could either)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingsCollected:
    """A batch of readings a head-end collected."""

    headend: str
    readings: tuple[metering.Reading, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitCollected:
    """One meter visit's events, status, settlement and clock check."""

    headend: str
    collection: hp.MeterCollection


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunicationCollected:
    """The outcomes of a bus's visits, for the per-day counts and no-communication alarms."""

    headend: str
    bus: str
    outcomes: tuple[hp.CommunicationOutcome, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayDone:
    """What happened on the bus to a relay order: the command as ordered (its attempts before
    this one), the outcome, and the meter's plan (its attempts and back-off)."""

    headend: str
    bus: str
    command: RelayCommand
    outcome: hp.RelayOutcome
    plan: hp.PollPlan


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolReplayed:
    """A head-end was cut off from the broker and kept what it collected in its local spool.

    Published when it reached the broker again and handed the spool over: from
    ``first_at`` to ``last_at`` it spooled ``spooled`` messages and could not keep
    ``refused`` (the spool was full; those stayed in the head-end's memory, or, for readings,
    are covered by the meter's cumulative registers on its next reading).
    """

    headend: str
    first_at: datetime
    last_at: datetime
    replayed_at: datetime
    spooled: int
    refused: int


Collected = ReadingsCollected | VisitCollected | CommunicationCollected | RelayDone | SpoolReplayed


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayOrder:
    """A due relay command for the head-end that drives ``bus``."""

    bus: str
    command: RelayCommand


T_co = TypeVar("T_co", covariant=True)


class Delivery(Protocol, Generic[T_co]):
    """One message taken from the broker; it comes back unless acknowledged."""

    @property
    def item(self) -> T_co:
        """Return what the message carries."""
        ...

    @property
    def delivered(self) -> int:
        """Return how often the broker has handed this message out (1 the first time)."""
        ...

    async def ack(self) -> None:
        """Tell the broker the message is done with: it is not delivered again."""
        ...

    async def retry(self, *, delay_s: float) -> None:
        """Hand the message back, to be delivered again after ``delay_s``."""
        ...


class CollectionPublisher(Protocol):
    """The head-end's side: publish what it collected, in the order it calls."""

    @property
    def headend(self) -> str:
        """Return this head-end's name (its subject)."""
        ...

    async def publish(self, item: Collected) -> None:
        """Publish one message; return once the broker (or the local spool) holds it.

        :raises BrokerUnavailable: if neither could take it.
        """
        ...


class RelayOrderSource(Protocol):
    """The head-end's side: the relay orders for the buses it drives."""

    async def fetch_orders(
        self, bus: str, *, batch: int, timeout_s: float
    ) -> Sequence[Delivery[RelayOrder]]:
        """Return up to ``batch`` orders for ``bus`` (none after ``timeout_s``).

        :raises BrokerUnavailable: if the broker cannot be reached.
        """
        ...


class CollectedSource(Protocol):
    """The core's side: take what the head-ends published, shared among ingest workers."""

    async def fetch_collected(
        self, *, batch: int, timeout_s: float
    ) -> Sequence[Delivery[Collected]]:
        """Return up to ``batch`` messages (none after ``timeout_s``).

        :raises BrokerUnavailable: if the broker cannot be reached.
        """
        ...


class RelayOrderPublisher(Protocol):
    """The core's side: hand a due relay command to the head-end that drives its bus."""

    async def publish_order(self, order: RelayOrder) -> None:
        """Publish the order; return once the broker holds it.

        :raises BrokerUnavailable: if the broker cannot take it.
        """
        ...
