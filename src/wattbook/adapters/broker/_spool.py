"""The head-end's local spool: what it could not publish, kept in a file until it can.

One line of JSON per message (its subject, its id, its bytes as text), appended and synced
before :meth:`Spool.append` returns, so a head-end killed meanwhile loses nothing it was told
was kept. The file is bounded (``max_bytes``): a message that would pass the bound is refused,
and the caller keeps it (the head-end's poller keeps unsent readings in memory, and a meter's
cumulative registers cover any reading that is never sent). Replay hands the lines over in
order and removes the file once all are published; a replay cut short leaves the rest, in
order, to be tried again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class SpoolFull(Exception):
    """The spool is at its bound: the message was not kept."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """One message waiting in the spool."""

    subject: str
    msg_id: str
    payload: bytes


class Spool:
    """A bounded append-only file of messages waiting for the broker."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("the spool's bound is at least one byte")
        self.path = path
        self.max_bytes = max_bytes
        # Since when, and how much, was spooled and refused since the last full replay.
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self.spooled = 0
        self.refused = 0

    def size(self) -> int:
        """Return the file's size in bytes (0 if there is none)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def pending(self) -> bool:
        """Test whether messages wait in the spool (a head-end restarted finds them too)."""
        return self.size() > 0

    def append(self, message: Spooled, *, at: datetime) -> None:
        """Keep one message, synced to disk.

        :raises SpoolFull: if it would pass the bound.
        """
        line = (
            json.dumps(
                {"s": message.subject, "id": message.msg_id, "p": message.payload.decode()},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        ).encode()
        if self.size() + len(line) > self.max_bytes:
            self.refused += 1
            self._mark(at)
            raise SpoolFull(f"the spool {self.path} holds {self.size()} of {self.max_bytes} bytes")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
        self.spooled += 1
        self._mark(at)

    def _mark(self, at: datetime) -> None:
        if self.first_at is None:
            self.first_at = at
        self.last_at = at

    def read(self) -> list[Spooled]:
        """Return the messages waiting, oldest first (a torn last line is skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        found: list[Spooled] = []
        for number, line in enumerate(lines, start=1):
            try:
                item = json.loads(line)
                found.append(Spooled(item["s"], item["id"], item["p"].encode()))
            except (ValueError, KeyError, TypeError):
                # Only a write cut by a crash can leave this: that message was never kept.
                logger.warning("spool %s line %d is torn; skipped", self.path, number)
        return found

    async def replay(self, publish: Callable[[Spooled], Awaitable[None]]) -> int:
        """Publish the waiting messages in order; return how many went.

        Stops at the first that fails (the exception goes on), keeping it and the rest.
        """
        waiting = self.read()
        sent = 0
        try:
            for message in waiting:
                await publish(message)
                sent += 1
        finally:
            self._keep(waiting[sent:])
        return sent

    def _keep(self, rest: list[Spooled]) -> None:
        if not rest:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        with temporary.open("wb") as file:
            for message in rest:
                line = json.dumps(
                    {"s": message.subject, "id": message.msg_id, "p": message.payload.decode()},
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
                file.write(line.encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)

    def take_episode(self) -> tuple[datetime, datetime, int, int] | None:
        """Return (first, last, spooled, refused) since the last call, and start counting anew;
        None if nothing was spooled or refused."""
        if self.first_at is None or self.last_at is None:
            return None
        episode = (self.first_at, self.last_at, self.spooled, self.refused)
        self.first_at = self.last_at = None
        self.spooled = self.refused = 0
        return episode
