"""The note acceptor (bill validator) as the kiosk's agent sees it.

A note acceptor validates each note, holds a genuine one in escrow, and then stacks it (keeps
it) or returns it, as told. Counterfeits and unreadable notes it rejects itself. The agent
journals each escrowed note on the server first and stacks it only on the server's 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from wattbook.domain.values import Money


class AcceptorEventKind(StrEnum):
    """What the acceptor reports."""

    ESCROW = "ESCROW"  # a genuine note waits in escrow: stack it or return it
    REJECTED = "REJECTED"  # the acceptor refused a note itself (counterfeit, unreadable)
    # The device gave the note in escrow back by itself, unasked: its escrow timer ran out,
    # the resident pulled it, or it reset. ``amount`` is that note.
    RETURNED = "RETURNED"
    # Something staff must look at (``detail`` says what): events missed while nobody was
    # listening, a note stacked without the host's approval, a device reset, a jam, fraud.
    FAULT = "FAULT"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptorEvent:
    """One event of the acceptor; ``amount`` is set for a note in escrow or returned."""

    kind: AcceptorEventKind
    amount: Money | None = None
    # For a fault: a short code (EVENTS_MISSED, UNASKED_STACK, DEVICE_RESET, ...) and words.
    code: str = ""
    detail: str = ""


class AcceptorUnavailable(Exception):
    """The acceptor does not answer, or answered something wattbook cannot read."""


class NoteNotInEscrow(Exception):
    """The note to stack is no longer in escrow: the device returned it (escrow timeout)."""


class NoteAcceptor(Protocol):
    """A note acceptor: the simulated one, or a device on a serial port (ccTalk)."""

    async def next_event(self) -> AcceptorEvent:
        """Wait for the acceptor's next event.

        :raises AcceptorUnavailable: if the device stops answering.
        """
        ...

    async def stack(self) -> None:
        """Keep the note in escrow (the server journalled it).

        :raises NoteNotInEscrow: if the device returned the note meanwhile (it reports
            RETURNED for it too).
        :raises AcceptorUnavailable: if the device does not answer.
        """
        ...

    async def return_note(self) -> None:
        """Give the note in escrow back to the resident (nothing if it is already back)."""
        ...

    async def set_enabled(self, enabled: bool) -> None:
        """Take notes, or refuse them at the slot (inhibit)."""
        ...

    async def close(self) -> None:
        """Release the device."""
        ...
