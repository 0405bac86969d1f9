"""The console's route table as the tests read it (``console.route_table``)."""

from __future__ import annotations

import httpx

from wattbook.interfaces.web import console

ConsoleRoute = console.RouteEntry


def console_routes(client: httpx.AsyncClient) -> list[console.RouteEntry]:
    """Return the route table of the app behind an in-process client."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return list(console.route_table(transport.app))  # type: ignore[arg-type]
