"""Run the kiosk agent: its local web server for the screen and the acceptor relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

import httpx
import uvicorn

from wattbook import bootstrap
from wattbook.interfaces.kiosk._agent import KioskAgent

logger = logging.getLogger(__name__)


class AcceptorDeviceUnavailable(OSError):
    """The note acceptor's device (its serial port) cannot be opened."""


async def _first_sync(agent: KioskAgent, stop: asyncio.Event) -> None:
    # The server may start after the agent (a kiosk PC boots faster): keep asking.
    delay = 0.2
    while not stop.is_set():
        try:
            await agent.sync_sequence()
            return
        except httpx.HTTPError:
            logger.warning("Unable to reach the server; retrying in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)


async def run_agent(
    *,
    kiosk_id: str,
    secret: str,
    server_url: str,
    host: str,
    port: int,
    acceptor: str,
    stop: asyncio.Event,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the kiosk screen on ``host:port`` and relay the acceptor until ``stop`` is set.

    :raises bootstrap.InvalidAcceptor: if ``acceptor`` names no acceptor wattbook drives.
    :raises ServerRefusedAgent: if the server refuses the kiosk's credential.
    :raises AcceptorDeviceUnavailable: if the acceptor's device cannot be opened.
    :raises OSError: if the port cannot be listened on.
    """
    try:
        device = bootstrap.build_note_acceptor(acceptor)
    except OSError as error:
        raise AcceptorDeviceUnavailable(
            f"cannot open the note acceptor {acceptor}: {error}"
        ) from error
    agent = KioskAgent(
        kiosk_id=kiosk_id,
        secret=secret,
        server_url=server_url,
        acceptor=device,
        clock=bootstrap.system_clock(),
    )
    panel = device if isinstance(device, bootstrap.SimulatedAcceptor) else None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family)
    except OSError:
        await agent.close()
        raise
    bound_port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        agent.app(panel=panel),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await _first_sync(agent, stop)
        if on_listening is not None:
            base = f"http://{host}:{bound_port}"
            on_listening(f"{base}/kiosk" + (f" {base}/acceptor" if panel is not None else ""))
        relay = asyncio.create_task(agent.run_acceptor(stop))
        await stop.wait()
        await relay
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await agent.close()
