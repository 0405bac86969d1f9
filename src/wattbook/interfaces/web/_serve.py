"""Run the web app with uvicorn in the current event loop (``wattbook serve``, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from wattbook import bootstrap
from wattbook.application import ports
from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web._app import create_app
from wattbook.settings import Settings, WebSettings


class CannotListen(OSError):
    """The web server could not listen on the host and port asked for."""


def _config(runtime: WebRuntime, *, background: bool, with_sms: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(runtime, background=background, with_sms=with_sms),
        log_level="warning",
        access_log=False,
        lifespan="on",
        # No banner naming the server software: it would tell an attacker what to try.
        server_header=False,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise CannotListen(f"cannot listen on {host}:{port}: {error}") from error


async def serve(
    runtime: WebRuntime,
    *,
    host: str | None = None,
    port: int | None = None,
    stop: asyncio.Event | None = None,
    background: bool = True,
    with_sms: bool = False,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the app until ``stop`` is set (or forever); port 0 picks a free port.

    With ``background`` it runs the scheduled jobs (and the SMS worker when ``with_sms``).

    The socket is bound first, so that the bank is told to call back on the port actually
    served (``WATTBOOK_PUBLIC_URL`` wins when set). ``on_listening`` hears the kiosk's URL.

    :raises CannotListen: if the port is taken or the host is not local.
    """
    listener = _listen(host or runtime.web.host, port if port is not None else runtime.web.port)
    bound_host, bound_port = listener.getsockname()[:2]
    runtime = bootstrap.bound_to(runtime, host=host or runtime.web.host, port=int(bound_port))
    config = _config(runtime, background=background, with_sms=with_sms)
    config.host, config.port = str(bound_host), int(bound_port)
    server = uvicorn.Server(config)
    if on_listening is not None:
        on_listening(f"http://{runtime.web.host}:{runtime.web.port}/kiosk")
    if stop is None:
        await server.serve(sockets=[listener])
        return
    task = asyncio.create_task(server.serve(sockets=[listener]))
    await stop.wait()
    server.should_exit = True
    await task


@dataclass(slots=True, kw_only=True)
class RunningWebServer:
    """A web app serving in this event loop: its URL, and how to stop it."""

    url: str
    runtime: WebRuntime
    _server: uvicorn.Server
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop serving and release the database engine."""
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.runtime.close()


async def start_web_server(
    *,
    settings: Settings | None = None,
    clock: ports.Clock | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    background: bool = True,
    web: WebSettings | None = None,
) -> RunningWebServer:
    """Start the web app in this event loop (for ``wattbook demo``); port 0 picks a free one.

    ``web`` replaces the environment's web settings (the demo links its simulated bank so).

    :raises CannotListen: if the port is taken or the host is not local.
    """
    listener = _listen(host, port)
    bound_port = int(listener.getsockname()[1])
    configured = web if web is not None else WebSettings.from_environment()
    runtime = bootstrap.build_web(
        settings, dataclasses.replace(configured, host=host, port=bound_port), clock=clock
    )
    server = uvicorn.Server(_config(runtime, background=background))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        runtime.close()
        raise CannotListen(f"the web server on {host}:{bound_port} stopped at start")
    return RunningWebServer(
        url=f"http://{host}:{bound_port}", runtime=runtime, _server=server, _task=task
    )
