"""A simulated ccTalk bill validator on a pseudo-terminal, for the driver's tests.

It answers on the pty's master side; the driver opens the slave path with pyserial exactly as
it opens /dev/ttyUSB0. Like a single-wire bus, it echoes every byte the host sends before its
reply. Its framing is written here independently of the driver, so the two check each other.
Commands: 254 poll, 245 category, 157 bill id, 231 inhibits, 228 master inhibit, 159 events,
154 route bill. One note is held in escrow at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = 1
CN_NOTES = {1: "CN0001A", 2: "CN0005A", 3: "CN0010A", 4: "CN0020A", 5: "CN0050A", 6: "CN0100A"}


def frame(destination: int, source: int, header: int, data: bytes = b"") -> bytes:
    body = bytes([destination, len(data), source, header]) + data
    return body + bytes([(256 - sum(body) % 256) % 256])


@dataclass
class CcTalkPeer:
    """The device's state; the test drives it (insert, time out, reset) and reads it."""

    address: int = 40
    category: str = "Bill Validator"
    bill_ids: dict[int, str] = field(default_factory=lambda: dict(CN_NOTES))
    counter: int = 0
    results: list[tuple[int, int]] = field(default_factory=list)  # newest first
    inhibit_mask: int = 0
    master_enabled: bool = False
    escrow: int | None = None
    stacked: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    garble: int = 0  # replies still to send with a bad checksum
    silent: bool = False
    echo: bool = True
    requests: list[int] = field(default_factory=list)  # headers received
    on_request: Callable[[int], None] | None = None
    _buffer: bytes = b""
    _master: int = -1
    _slave: int = -1

    # ---------------------------------------------------------------- the device's side

    def event(self, result_a: int, result_b: int) -> None:
        self.counter = 1 if self.counter == 255 else self.counter + 1
        self.results.insert(0, (result_a, result_b))
        del self.results[5:]

    def insert(self, channel: int) -> bool:
        """A resident inserts a note the device reads as ``channel``; return if it is held."""
        if self.escrow is not None:
            return False
        if not self.master_enabled:
            self.event(0, 0)  # master inhibit active
            return False
        if not self.inhibit_mask >> (channel - 1) & 1:
            self.event(0, 4)  # inhibited bill
            return False
        self.escrow = channel
        self.event(channel, 1)
        return True

    def reject(self) -> None:
        """A counterfeit: the device refuses it itself."""
        self.event(0, 2)

    def time_out_escrow(self) -> None:
        """The escrow timer runs out: the note goes back to the resident unasked."""
        if self.escrow is not None:
            self.returned.append(self.escrow)
            self.escrow = None
            self.event(0, 1)

    def stack_unasked(self, channel: int) -> None:
        """A note goes straight to the stacker (a device set to no-escrow)."""
        self.stacked.append(channel)
        self.event(channel, 0)

    def power_cycle(self) -> None:
        self.counter = 0
        self.results.clear()
        self.escrow = None
        self.inhibit_mask = 0
        self.master_enabled = False

    def answer(self, header: int, data: bytes) -> bytes | None:
        """Return the reply's data to a command, or None for no reply."""
        if header == 254:
            return b""
        if header == 245:
            return self.category.encode("ascii")
        if header == 157 and len(data) == 1:
            return self.bill_ids.get(data[0], "\x00" * 7).encode("ascii")
        if header == 231 and len(data) == 2:
            self.inhibit_mask = data[0] | data[1] << 8
            return b""
        if header == 228 and len(data) == 1:
            self.master_enabled = bool(data[0] & 1)
            return b""
        if header == 159:
            pairs = self.results + [(0, 0)] * (5 - len(self.results))
            return bytes([self.counter]) + bytes(b for pair in pairs for b in pair)
        if header == 154 and len(data) == 1:
            if self.escrow is None:
                return bytes([254])
            channel, self.escrow = self.escrow, None
            if data[0] == 1:
                self.stacked.append(channel)
                self.event(channel, 0)
            else:
                self.returned.append(channel)
                self.event(0, 1)
            return b""
        return None

    # ---------------------------------------------------------------- the wire

    def serve_pty(self) -> str:
        """Open a pseudo-terminal, answer on its master side and return the slave's path."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        return os.ttyname(self._slave)

    def _readable(self) -> None:
        try:
            self._buffer += os.read(self._master, 4096)
        except OSError:
            return
        while len(self._buffer) >= 2 and len(self._buffer) >= self._buffer[1] + 5:
            size = self._buffer[1] + 5
            raw, self._buffer = self._buffer[:size], self._buffer[size:]
            self._handle(raw)

    def _handle(self, raw: bytes) -> None:
        if self.echo:
            os.write(self._master, raw)
        if sum(raw) % 256 or raw[0] != self.address or raw[2] != HOST:
            return
        header, data = raw[3], raw[4:-1]
        self.requests.append(header)
        if self.on_request is not None:
            self.on_request(header)
        if self.silent:
            return
        reply_data = self.answer(header, data)
        reply = frame(HOST, self.address, 5 if reply_data is None else 0, reply_data or b"")
        if self.garble:
            self.garble -= 1
            reply = reply[:-1] + bytes([(reply[-1] + 1) % 256])
        os.write(self._master, reply)

    def close(self) -> None:
        if self._master >= 0:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
