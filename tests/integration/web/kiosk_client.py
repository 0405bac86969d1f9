"""A test driver for the signed kiosk API (issue 16): register a kiosk, sign its requests.

Reusable wherever a test talks to the kiosk API as a kiosk's agent does::

    secret = await register_kiosk(uow_factory, clock, "K01")
    client = httpx.AsyncClient(..., auth=KioskAuth("K01", secret, wall_clock))
    view = (await client.post("/kiosk/api/sessions")).json()
    await client.post(NOTES, json=note(1, 10000))
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any

import httpx

from wattbook.application import ports
from wattbook.application.payments import kiosk_devices
from wattbook.domain import payments

SESSIONS = "/kiosk/api/sessions"
NOTES = "/kiosk/api/acceptor/notes"
POSITION = "/kiosk/api/acceptor"


class KioskAuth(httpx.Auth):
    """Sign each request as kiosk ``kiosk_id``, dated by ``now`` (a clock's ``now``)."""

    requires_request_body = True

    def __init__(self, kiosk_id: str, secret: str, now: Callable[[], datetime]) -> None:
        self.kiosk_id = kiosk_id
        self.secret = secret
        self.now = now

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = payments.kiosk_headers(
            kiosk_id=self.kiosk_id,
            secret=self.secret,
            method=request.method,
            target=request.url.raw_path.decode("ascii"),
            at=self.now(),
            body=request.content,
        )
        request.headers.update(headers)
        yield request


async def register_kiosk(
    uow_factory: Callable[[], ports.UnitOfWork], clock: ports.Clock, kiosk_id: str = "K01"
) -> str:
    """Register ``kiosk_id`` and return its secret."""
    _kiosk, secret = await kiosk_devices.register_kiosk(
        uow=uow_factory(), clock=clock, kiosk_id=kiosk_id, by="test"
    )
    return secret


def note(sequence: int, amount_fen: int) -> dict[str, Any]:
    """Return the body of an acceptor note event."""
    return {"acceptor_sequence": sequence, "amount_fen": amount_fen}


async def pay(
    client: httpx.AsyncClient, account_number: str, *notes_fen: int, first_sequence: int
) -> dict[str, Any]:
    """Walk one session through the signed API (as screen and acceptor); return the receipt
    view. Note sequences start at ``first_sequence``."""
    view = (await client.post(SESSIONS)).json()
    base = f"{SESSIONS}/{view['transaction_id']}"
    await client.post(f"{base}/account", json={"account_number": account_number})
    await client.post(f"{base}/details-confirmed")
    for offset, fen in enumerate(notes_fen):
        answer = await client.post(NOTES, json=note(first_sequence + offset, fen))
        answer.raise_for_status()
    done = await client.post(f"{base}/confirm")
    done.raise_for_status()
    result: dict[str, Any] = done.json()
    return result
