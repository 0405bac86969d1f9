"""The head-end's collection sink when a broker stands between it and the core (ADR 20)."""

from __future__ import annotations

from collections.abc import Sequence

from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import RelayCommand


class BrokerSink:
    """Publish what the head-end collected instead of storing it: a :class:`CollectionSink`.

    Relay commands that reach this head-end came through the broker, rechecked by the core
    when it published them, so :meth:`recheck_relay_command` only says yes.
    """

    def __init__(self, publisher: bp.CollectionPublisher) -> None:
        self.publisher = publisher

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        """Publish a batch of readings as one message."""
        await self.publisher.publish(
            bp.ReadingsCollected(headend=self.publisher.headend, readings=tuple(readings))
        )

    async def record_meter_events(self, collection: hp.MeterCollection) -> None:
        """Publish one visit's events, status, settlement and clock check."""
        await self.publisher.publish(
            bp.VisitCollected(headend=self.publisher.headend, collection=collection)
        )

    async def record_communication(
        self, bus: str, outcomes: Sequence[hp.CommunicationOutcome]
    ) -> None:
        """Publish a bus's visit outcomes."""
        await self.publisher.publish(
            bp.CommunicationCollected(
                headend=self.publisher.headend, bus=bus, outcomes=tuple(outcomes)
            )
        )

    async def recheck_relay_command(self, command: RelayCommand) -> bool:
        """Say yes: the core rechecked the command when it published the order."""
        return True

    async def record_relay_outcome(
        self, bus: str, command: RelayCommand, outcome: hp.RelayOutcome, plan: hp.PollPlan
    ) -> None:
        """Publish what happened on the bus to the order."""
        await self.publisher.publish(
            bp.RelayDone(
                headend=self.publisher.headend,
                bus=bus,
                command=command,
                outcome=outcome,
                plan=plan,
            )
        )
