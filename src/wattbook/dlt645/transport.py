"""Byte pipes to a DL/T 645 bus: TCP, serial ports, file descriptors and an in-memory loopback.

A :class:`Transport` moves raw bytes and knows nothing about frames. Reading returns whatever
has arrived so far (or ``b""`` when the timeout passes first), because a half-duplex master
must decide for itself when a reply is complete: the frame parser says so, not the pipe.

Every concrete transport keeps received bytes in its own inbox, fed by an asyncio protocol,
instead of wrapping :class:`asyncio.StreamReader`: :meth:`Transport.discard_input` must drop
stale bytes synchronously before a request goes out, and a StreamReader offers no public way to
do that. TCP uses the event loop's sockets and serial ports use pyserial-asyncio's transport
(the layer beneath its ``open_serial_connection``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import serial
import serial_asyncio

from wattbook.dlt645.errors import TransportError

logger = logging.getLogger(__name__)

# pyserial lets termios.error (not an OSError) escape when the kernel refuses a line setting.
_PORT_ERRORS: tuple[type[Exception], ...]
try:
    import termios
except ImportError:  # pragma: no cover - not POSIX; pyserial-asyncio needs POSIX anyway
    _PORT_ERRORS = (OSError, ValueError)
else:
    _PORT_ERRORS = (OSError, ValueError, termios.error)

# One byte on an RS-485 line set to 8E1: start bit, 8 data bits, even parity, stop bit.
BITS_PER_BYTE = 11

DEFAULT_BAUD = 2400
DEFAULT_PARITY = "E"
DEFAULT_BYTESIZE = 8
DEFAULT_STOPBITS = 1
DEFAULT_CONNECT_TIMEOUT_S = 5.0

_PARITIES = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}
_BYTESIZES = {5, 6, 7, 8}
_STOPBITS = {"1": 1, "1.5": 1.5, "2": 2}
_READ_CHUNK = 4096
# Closing waits this long for the loop to report the connection gone, so nothing leaks.
_CLOSE_WAIT_S = 2.0


def wire_time_s(*, byte_count: int, baud: int) -> float:
    """Return how long ``byte_count`` bytes take on a line at ``baud`` (11 bits per byte).

    :raises TransportError: if ``baud`` is not positive.
    """
    if baud <= 0:
        raise TransportError(f"baud rate must be positive, not {baud}")
    return byte_count * BITS_PER_BYTE / baud


class Transport(abc.ABC):
    """One byte pipe to a bus; a single user at a time (the client and server serialise).

    Use it as an async context manager, or call :meth:`open` and :meth:`close`.
    """

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Return a short text naming the pipe for logs and errors (a URL where one exists)."""

    @property
    @abc.abstractmethod
    def baud(self) -> int | None:
        """Return the line speed behind this pipe, or None where it is unknown or irrelevant."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Test whether the pipe is open and has not been dropped."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the pipe; do nothing if it is already open.

        :raises TransportError: if it cannot be opened.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the pipe; do nothing if it is closed already."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send ``data``.

        :raises TransportError: if the pipe is closed or has dropped.
        """

    @abc.abstractmethod
    async def read(self, *, timeout: float) -> bytes:
        """Return the bytes that have arrived, waiting up to ``timeout`` seconds for the first.

        Return ``b""`` if nothing arrived in time.

        :raises TransportError: if the pipe is closed or the peer has gone (after any bytes
            that arrived before that have been returned).
        """

    @abc.abstractmethod
    def discard_input(self) -> int:
        """Drop bytes received but not read yet, and return how many were dropped."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class _Inbox:
    """Bytes received but not read yet, and why the pipe closed (once it has).

    One reader waits at a time (the client and server serialise): it waits on a future and a
    timer handle of the event loop, not on ``asyncio.wait_for``, which wraps each wait in a
    task of its own, at a cost that showed in the head-end's profile at a thousand buses.
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self.closed_reason: str | None = None

    def put(self, data: bytes) -> None:
        self._data += data
        self._wake()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def discard(self) -> int:
        count = len(self._data)
        self._data.clear()
        return count

    async def get(self, *, timeout: float) -> bytes:
        if not self._data:
            if self.closed_reason is not None:
                raise TransportError(self.closed_reason)
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            # A zero timeout still lets the loop poll once: bytes already in the socket that
            # arrived while this task was not scheduled are read before the timer fires.
            timer = loop.call_later(max(timeout, 0.0), _time_up, waiter)
            self._waiter = waiter
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._data:
                if self.closed_reason is None:
                    return b""  # the time was up
                raise TransportError(self.closed_reason)
        data = bytes(self._data)
        self._data.clear()
        return data


def _time_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _InboxProtocol(asyncio.Protocol):
    """Feed an inbox from an asyncio transport and track write flow control."""

    def __init__(self, inbox: _Inbox, description: str) -> None:
        self._inbox = inbox
        self._description = description
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.lost = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self._inbox.put(data)

    def eof_received(self) -> bool | None:
        self._inbox.close(f"{self._description}: the peer closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        detail = f": {exc}" if exc is not None else ""
        self._inbox.close(f"{self._description}: connection lost{detail}")
        self._can_write.set()
        self.lost.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def wait_writable(self) -> None:
        await self._can_write.wait()


class _ProtocolTransport(Transport):
    """A transport backed by an asyncio transport/protocol pair (sockets, serial ports)."""

    def __init__(self) -> None:
        self._inbox = _Inbox()
        self._inbox.close("not open")
        self._protocol: _InboxProtocol | None = None
        self._pipe: asyncio.BaseTransport | None = None

    @property
    def is_open(self) -> bool:
        return self._pipe is not None and self._inbox.closed_reason is None

    def _attach(self, inbox: _Inbox, pipe: asyncio.BaseTransport, protocol: _InboxProtocol) -> None:
        self._inbox = inbox
        self._pipe = pipe
        self._protocol = protocol

    async def close(self) -> None:
        pipe, protocol = self._pipe, self._protocol
        self._pipe = None
        self._protocol = None
        self._inbox.close(f"{self.description}: closed")
        if pipe is None or protocol is None:
            return
        pipe.close()
        # Wait for connection_lost so the socket or port is really released on return.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.lost.wait(), _CLOSE_WAIT_S)

    async def write(self, data: bytes) -> None:
        pipe, protocol = self._pipe, self._protocol
        if pipe is None or protocol is None or self._inbox.closed_reason is not None:
            raise TransportError(self._inbox.closed_reason or f"{self.description}: not open")
        # Duck-typed: uvloop's transports write but are not asyncio.WriteTransport subclasses.
        write = getattr(pipe, "write", None)
        if not callable(write):
            raise TransportError(f"{self.description}: cannot write")
        write(bytes(data))
        await protocol.wait_writable()

    async def read(self, *, timeout: float) -> bytes:
        return await self._inbox.get(timeout=timeout)

    def discard_input(self) -> int:
        return self._inbox.discard()


class TcpTransport(_ProtocolTransport):
    """A TCP connection, typically to a serial-to-Ethernet server in front of an RS-485 bus.

    ``baud`` is the line speed of the bus behind the server, if known; it only lets the client
    allow for the time the request spends on the wire. A dropped connection makes reads and
    writes raise :class:`TransportError`; :meth:`open` then connects again.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        baud: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        if not 0 < port < 65536:
            raise TransportError(f"TCP port must be 1-65535, not {port}")
        self._host = host
        self._port = port
        self._baud = baud
        self._connect_timeout = connect_timeout

    @property
    def description(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"tcp://{host}:{self._port}"

    @property
    def baud(self) -> int | None:
        return self._baud

    async def open(self) -> None:
        if self.is_open:
            return
        await self.close()  # release a dropped connection before reconnecting
        loop = asyncio.get_running_loop()
        inbox = _Inbox()
        description = self.description
        try:
            pipe, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _InboxProtocol(inbox, description), self._host, self._port
                ),
                self._connect_timeout,
            )
        except TimeoutError:
            raise TransportError(
                f"{description}: no connection within {self._connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise TransportError(f"{description}: cannot connect: {exc}") from exc
        self._attach(inbox, pipe, protocol)
        logger.debug("opened %s", description)


class SerialTransport(_ProtocolTransport):
    """A local serial port (a USB-RS485 adapter), 2400 baud 8E1 unless told otherwise.

    :raises TransportError: on construction, if a line setting is invalid.
    """

    def __init__(
        self,
        *,
        port: str,
        baud: int = DEFAULT_BAUD,
        parity: str = DEFAULT_PARITY,
        bytesize: int = DEFAULT_BYTESIZE,
        stopbits: float = DEFAULT_STOPBITS,
    ) -> None:
        super().__init__()
        if not port:
            raise TransportError("serial port name is empty")
        if baud <= 0:
            raise TransportError(f"baud rate must be positive, not {baud}")
        if parity.upper() not in _PARITIES:
            raise TransportError(f"parity must be one of {''.join(_PARITIES)}, not {parity!r}")
        if bytesize not in _BYTESIZES:
            raise TransportError(f"bytesize must be 5, 6, 7 or 8, not {bytesize}")
        if stopbits not in _STOPBITS.values():
            raise TransportError(f"stopbits must be 1, 1.5 or 2, not {stopbits}")
        self._port = port
        self._baud = baud
        self._parity = parity.upper()
        self._bytesize = bytesize
        self._stopbits = stopbits

    @property
    def description(self) -> str:
        # serial:///dev/ttyUSB0 or serial://COM3, so the text parses back to the same settings.
        return (
            f"serial://{self._port}?baud={self._baud}&parity={self._parity}"
            f"&bytesize={self._bytesize}&stopbits={self._stopbits:g}"
        )

    @property
    def baud(self) -> int:
        return self._baud

    async def open(self) -> None:
        if self.is_open:
            return
        await self.close()
        loop = asyncio.get_running_loop()
        inbox = _Inbox()
        description = self.description
        try:
            port = serial.Serial(
                port=self._port,
                baudrate=self._baud,
                parity=_PARITIES[self._parity],
                bytesize=self._bytesize,
                stopbits=self._stopbits,
                timeout=0,
                write_timeout=0,
            )
        except _PORT_ERRORS as exc:
            raise TransportError(f"{description}: cannot open: {exc}") from exc
        # A reply still in the adapter's buffer from before we opened is not ours to read.
        port.reset_input_buffer()
        pipe, protocol = await serial_asyncio.connection_for_serial(
            loop, lambda: _InboxProtocol(inbox, description), port
        )
        self._attach(inbox, pipe, protocol)
        logger.debug("opened %s", description)


class FdTransport(Transport):
    """A pipe over an open, non-blocking file descriptor, e.g. the master side of a pty.

    The simulator serves a virtual serial port this way: field tools open the pty's slave
    device as if it were a USB adapter. The caller owns the descriptor and closes it.
    """

    def __init__(self, *, fd: int, description: str, baud: int | None = None) -> None:
        self._fd = fd
        self._description = description
        self._baud = baud
        self._inbox = _Inbox()
        self._inbox.close("not open")
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def description(self) -> str:
        return self._description

    @property
    def baud(self) -> int | None:
        return self._baud

    @property
    def is_open(self) -> bool:
        return self._loop is not None and self._inbox.closed_reason is None

    async def open(self) -> None:
        if self.is_open:
            return
        await self.close()
        self._loop = asyncio.get_running_loop()
        self._inbox = _Inbox()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            # A pty master reads EIO once nobody holds the slave side open any more.
            self._stop_reading(f"{self._description}: {exc}")
            return
        if not data:
            self._stop_reading(f"{self._description}: end of file")
            return
        self._inbox.put(data)

    def _stop_reading(self, reason: str) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._inbox.close(reason)

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        self._inbox.close(f"{self._description}: closed")

    async def write(self, data: bytes) -> None:
        if not self.is_open:
            raise TransportError(self._inbox.closed_reason or f"{self._description}: not open")
        view = memoryview(bytes(data))
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.001)  # the kernel buffer is full; let the reader drain it
                continue
            except OSError as exc:
                raise TransportError(f"{self._description}: write failed: {exc}") from exc
            view = view[written:]

    async def read(self, *, timeout: float) -> bytes:
        return await self._inbox.get(timeout=timeout)

    def discard_input(self) -> int:
        return self._inbox.discard()


class LoopbackTransport(Transport):
    """One end of an in-memory pipe made by :func:`loopback_pair`; it starts open.

    With ``echo`` the end also hears its own writes, as a half-duplex USB adapter does.
    """

    def __init__(self, *, name: str, baud: int | None, echo: bool) -> None:
        self._name = name
        self._baud = baud
        self._echo = echo
        self._inbox = _Inbox()
        self._peer: LoopbackTransport | None = None

    @property
    def description(self) -> str:
        return f"loop://{self._name}"

    @property
    def baud(self) -> int | None:
        return self._baud

    @property
    def is_open(self) -> bool:
        return self._inbox.closed_reason is None

    async def open(self) -> None:
        if not self.is_open:
            raise TransportError(f"{self.description}: a closed loopback cannot be reopened")

    async def close(self) -> None:
        if not self.is_open:
            return
        self._inbox.close(f"{self.description}: closed")
        if self._peer is not None:
            self._peer._inbox.close(f"{self._peer.description}: the peer closed the pipe")

    async def write(self, data: bytes) -> None:
        if not self.is_open:
            raise TransportError(self._inbox.closed_reason or f"{self.description}: closed")
        if self._peer is None:
            raise TransportError(f"{self.description}: no peer")
        data = bytes(data)
        if self._echo:
            self._inbox.put(data)
        self._peer._inbox.put(data)

    async def read(self, *, timeout: float) -> bytes:
        return await self._inbox.get(timeout=timeout)

    def discard_input(self) -> int:
        return self._inbox.discard()


def loopback_pair(
    *, baud: int | None = None, echo: bool = False
) -> tuple[LoopbackTransport, LoopbackTransport]:
    """Return two connected in-memory transports: what one writes, the other reads.

    ``baud`` is only reported (the pipe itself is instant); ``echo`` makes each end hear its
    own writes too, like a half-duplex adapter.
    """
    master = LoopbackTransport(name="master", baud=baud, echo=echo)
    slave = LoopbackTransport(name="slave", baud=baud, echo=echo)
    master._peer = slave
    slave._peer = master
    return master, slave


async def start_tcp_server(
    *,
    host: str,
    port: int,
    on_connection: Callable[[Transport], Awaitable[None]],
    baud: int | None = None,
) -> asyncio.Server:
    """Start listening and run ``on_connection`` with a transport for each accepted client.

    The transport is open when ``on_connection`` starts and is closed when it returns.

    :raises TransportError: if the address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    handlers: set[asyncio.Task[None]] = set()

    def make_protocol() -> _InboxProtocol:
        inbox = _Inbox()
        accepted = _AcceptedTransport(inbox=inbox, baud=baud)
        protocol = _AcceptingProtocol(inbox, accepted, on_connection, handlers)
        return protocol

    try:
        return await loop.create_server(make_protocol, host, port)
    except OSError as exc:
        raise TransportError(f"cannot listen on {host}:{port}: {exc}") from exc


class _AcceptedTransport(_ProtocolTransport):
    """The server side of one accepted TCP connection."""

    def __init__(self, *, inbox: _Inbox, baud: int | None) -> None:
        super().__init__()
        self._accepted_inbox = inbox
        self._baud = baud
        self._peer_name = "tcp client"

    @property
    def description(self) -> str:
        return self._peer_name

    @property
    def baud(self) -> int | None:
        return self._baud

    def bind(self, pipe: asyncio.BaseTransport, protocol: _InboxProtocol) -> None:
        peer = pipe.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer_name = f"tcp client {peer[0]}:{peer[1]}"
        self._attach(self._accepted_inbox, pipe, protocol)

    async def open(self) -> None:
        if not self.is_open:
            raise TransportError(f"{self.description}: an accepted connection cannot be reopened")


class _AcceptingProtocol(_InboxProtocol):
    """Start a handler task for an accepted connection and close it when the handler ends."""

    def __init__(
        self,
        inbox: _Inbox,
        accepted: _AcceptedTransport,
        on_connection: Callable[[Transport], Awaitable[None]],
        handlers: set[asyncio.Task[None]],
    ) -> None:
        super().__init__(inbox, "tcp client")
        self._accepted = accepted
        self._on_connection = on_connection
        self._handlers = handlers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._accepted.bind(transport, self)
        self._description = self._accepted.description
        task = asyncio.get_running_loop().create_task(self._serve())
        # The loop keeps only weak references to tasks; hold ours until it finishes.
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(self) -> None:
        try:
            await self._on_connection(self._accepted)
        except Exception:
            logger.exception("Unable to serve %s", self._accepted.description)
        finally:
            await self._accepted.close()


def transport_from_url(url: str) -> Transport:
    """Return an unopened transport for ``tcp://HOST:PORT`` or ``serial:///dev/PORT?...``.

    Serial query settings (all optional): ``baud`` (2400), ``parity`` N/E/O/M/S (E),
    ``bytesize`` 5-8 (8), ``stopbits`` 1/1.5/2 (1). A TCP URL may give ``baud``, the line speed
    of the bus behind the serial-to-Ethernet server, and ``connect_timeout`` in seconds.

    :raises TransportError: if the URL is malformed or names an unknown scheme or setting.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise TransportError(f"malformed transport URL {url!r}: {exc}") from exc
    settings: dict[str, str] = {}
    for key, values in query.items():
        if len(values) != 1:
            raise TransportError(f"setting {key!r} given {len(values)} times in {url!r}")
        settings[key] = values[0]
    scheme = parts.scheme.lower()
    if scheme == "tcp":
        return _tcp_from_url(url, parts, settings)
    if scheme == "serial":
        return _serial_from_url(url, parts, settings)
    raise TransportError(
        f"unsupported transport URL {url!r}: use tcp://HOST:PORT or serial:///dev/PORT?baud=2400"
    )


def _int_setting(url: str, settings: dict[str, str], key: str, default: int) -> int:
    text = settings.pop(key, None)
    if text is None:
        return default
    try:
        return int(text, 10)
    except ValueError:
        raise TransportError(f"{key} must be a whole number, not {text!r}, in {url!r}") from None


def _reject_leftovers(url: str, settings: dict[str, str], known: str) -> None:
    if settings:
        raise TransportError(
            f"unknown setting(s) {', '.join(sorted(settings))} in {url!r}; known: {known}"
        )


def _tcp_from_url(
    url: str, parts: urllib.parse.SplitResult, settings: dict[str, str]
) -> TcpTransport:
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise TransportError(f"bad port in {url!r}: {exc}") from exc
    if not host or port is None:
        raise TransportError(f"TCP transport URL needs a host and a port: {url!r}")
    if parts.path not in ("", "/") or parts.fragment or parts.username:
        raise TransportError(f"TCP transport URL must be tcp://HOST:PORT, not {url!r}")
    baud_text = settings.get("baud")
    baud = _int_setting(url, settings, "baud", 0) if baud_text is not None else None
    timeout_text = settings.pop("connect_timeout", None)
    connect_timeout = DEFAULT_CONNECT_TIMEOUT_S
    if timeout_text is not None:
        try:
            connect_timeout = float(timeout_text)
        except ValueError:
            raise TransportError(f"connect_timeout must be seconds, not {timeout_text!r}") from None
        if not connect_timeout > 0:
            raise TransportError(f"connect_timeout must be positive, not {timeout_text!r}")
    _reject_leftovers(url, settings, "baud, connect_timeout")
    if baud is not None and baud <= 0:
        raise TransportError(f"baud rate must be positive in {url!r}")
    return TcpTransport(host=host, port=port, baud=baud, connect_timeout=connect_timeout)


def _serial_from_url(
    url: str, parts: urllib.parse.SplitResult, settings: dict[str, str]
) -> SerialTransport:
    # serial:///dev/ttyUSB0 puts the device in the path; serial://COM3 puts it in the netloc.
    port = parts.netloc + parts.path
    if not port or parts.fragment:
        raise TransportError(
            f"serial transport URL needs a device, e.g. serial:///dev/ttyUSB0: {url!r}"
        )
    baud = _int_setting(url, settings, "baud", DEFAULT_BAUD)
    bytesize = _int_setting(url, settings, "bytesize", DEFAULT_BYTESIZE)
    parity = settings.pop("parity", DEFAULT_PARITY)
    stopbits_text = settings.pop("stopbits", str(DEFAULT_STOPBITS))
    _reject_leftovers(url, settings, "baud, parity, bytesize, stopbits")
    if stopbits_text not in _STOPBITS:
        raise TransportError(f"stopbits must be 1, 1.5 or 2, not {stopbits_text!r}, in {url!r}")
    return SerialTransport(
        port=port,
        baud=baud,
        parity=parity,
        bytesize=bytesize,
        stopbits=_STOPBITS[stopbits_text],
    )
