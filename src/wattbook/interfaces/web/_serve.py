"""Run the web app with uvicorn in the current event loop (``wattbook serve``, the demo)."""

from __future__ import annotations

import asyncio

import uvicorn

from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web._app import create_app


async def serve(
    runtime: WebRuntime,
    *,
    host: str | None = None,
    port: int | None = None,
    stop: asyncio.Event | None = None,
    background: bool = True,
) -> None:
    """Serve the app until ``stop`` is set (or forever); the demo starts it as a task."""
    config = uvicorn.Config(
        create_app(runtime, background=background),
        host=host or runtime.web.host,
        port=port if port is not None else runtime.web.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    if stop is None:
        await server.serve()
        return
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task
