"""A simulated note acceptor: notes come from the agent's /acceptor panel (issue 16).

It stands in for the physical device: a note "inserted" on the panel goes to escrow (or is
rejected, for the counterfeit button), and the panel shows what became of it. One note is in
escrow at a time, as in a real acceptor; notes inserted meanwhile wait in the slot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from wattbook.application.acceptor_ports import AcceptorEvent, AcceptorEventKind
from wattbook.domain.values import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedNote:
    """A note put into the simulated slot: a genuine amount, or a counterfeit."""

    amount: Money
    genuine: bool = True


class SimulatedAcceptor:
    """A note acceptor driven by :meth:`insert` (the panel's buttons)."""

    def __init__(self) -> None:
        self._slot: asyncio.Queue[SimulatedNote] = asyncio.Queue(maxsize=100)
        self._decided = asyncio.Event()
        self._decided.set()
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
        try:
            self._slot.put_nowait(note)
        except asyncio.QueueFull:
            return False
        return True

    async def next_event(self) -> AcceptorEvent:
        """Wait for the next note; a genuine one goes to escrow, a counterfeit is rejected."""
        await self._decided.wait()
        note = await self._slot.get()
        if not note.genuine:
            return AcceptorEvent(kind=AcceptorEventKind.REJECTED, amount=note.amount)
        self._decided.clear()
        self._escrow = note.amount
        return AcceptorEvent(kind=AcceptorEventKind.ESCROW, amount=note.amount)

    async def stack(self) -> None:
        """Keep the note in escrow."""
        if self._escrow is not None:
            self.stacked.append(self._escrow)
        self._escrow = None
        self._decided.set()

    async def return_note(self) -> None:
        """Give the note in escrow back."""
        if self._escrow is not None:
            self.returned.append(self._escrow)
        self._escrow = None
        self._decided.set()

    async def set_enabled(self, enabled: bool) -> None:
        """Record whether notes are taken (the panel shows it)."""
        self.enabled = enabled

    async def close(self) -> None:
        """Nothing to release."""
