"""A simulated note acceptor: notes come from the agent's /acceptor panel.

It stands in for the physical device: a note "inserted" on the panel goes to escrow (or is
rejected, for the counterfeit button), and the panel shows what became of it. One note is in
escrow at a time, as in a real acceptor; notes inserted meanwhile wait in the slot. The
panel's escrow-timeout button gives the note in escrow back unasked, as a real device does
when its escrow timer runs out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from wattbook.application.payments.acceptor_ports import (
    AcceptorEvent,
    AcceptorEventKind,
    NoteNotInEscrow,
)
from wattbook.domain.values import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedNote:
    """A note put into the simulated slot: a genuine amount, or a counterfeit."""

    amount: Money
    genuine: bool = True


SLOT_SIZE = 100


class SimulatedAcceptor:
    """A note acceptor driven by :meth:`insert` (the panel's buttons)."""

    def __init__(self) -> None:
        self._slot: deque[SimulatedNote] = deque()
        self._unasked: deque[AcceptorEvent] = deque()
        self._changed = asyncio.Event()
        self.enabled = True
        self.stacked: list[Money] = []
        self.returned: list[Money] = []
        self._escrow: Money | None = None

    @property
    def escrow(self) -> Money | None:
        """Return the note in escrow, if any."""
        return self._escrow

    def insert(self, note: SimulatedNote) -> bool:
        """Put a note into the slot; return False if the slot is full."""
        if len(self._slot) >= SLOT_SIZE:
            return False
        self._slot.append(note)
        self._changed.set()
        return True

    def time_out_escrow(self) -> Money | None:
        """Give the note in escrow back unasked (its escrow timer ran out); return it."""
        note = self._escrow
        if note is not None:
            self.returned.append(note)
            self._escrow = None
            self._unasked.append(AcceptorEvent(kind=AcceptorEventKind.RETURNED, amount=note))
            self._changed.set()
        return note

    async def next_event(self) -> AcceptorEvent:
        """Wait for the next event: a note to escrow or rejected, or a note given back."""
        while True:
            if self._unasked:
                return self._unasked.popleft()
            if self._escrow is None and self._slot:
                note = self._slot.popleft()
                if not note.genuine:
                    return AcceptorEvent(kind=AcceptorEventKind.REJECTED, amount=note.amount)
                self._escrow = note.amount
                return AcceptorEvent(kind=AcceptorEventKind.ESCROW, amount=note.amount)
            self._changed.clear()
            await self._changed.wait()

    async def stack(self) -> None:
        """Keep the note in escrow.

        :raises NoteNotInEscrow: if it was given back meanwhile.
        """
        if self._escrow is None:
            raise NoteNotInEscrow("no note is in escrow")
        self.stacked.append(self._escrow)
        self._escrow = None
        self._changed.set()

    async def return_note(self) -> None:
        """Give the note in escrow back."""
        if self._escrow is not None:
            self.returned.append(self._escrow)
        self._escrow = None
        self._changed.set()

    async def set_enabled(self, enabled: bool) -> None:
        """Record whether notes are taken (the panel shows it)."""
        self.enabled = enabled

    async def close(self) -> None:
        """Nothing to release."""
