"""A simulated bank for `wattbook bank-sim`: cards, debits, signed callbacks, statements.

It behaves like the bank can: callbacks come after a delay, sometimes twice, out of order,
and again until wattbook answers 2xx; cards run out of money or get closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from wattbook.adapters.bank._codec import (
    SIGNATURE_HEADER,
    InvalidSignature,
    MalformedMessage,
    decode_debit,
    encode_agreement,
    encode_callback,
    encode_statement,
    sign,
    verify,
)
from wattbook.domain import payments
from wattbook.domain.values import Money

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class SimulatedCard:
    """A card at the simulated bank."""

    balance: Money
    closed: bool = False


class SimulatedBank:
    """The simulated bank's state and its HTTP side (a Starlette app)."""

    def __init__(
        self,
        *,
        secret: bytes,
        cards: dict[str, SimulatedCard],
        agreements: dict[str, str],
        delay_s: float = 0.2,
        duplicate_rate: float = 0.0,
        seed: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.secret = secret
        # The bank's own clock dates its callbacks; tests and the demo pass the world's time.
        self._now = now if now is not None else (lambda: datetime.now(UTC))
        self.cards = cards
        self.agreements = agreements  # agreement number -> card token
        self.delay_s = delay_s
        self.duplicate_rate = duplicate_rate
        self._random = random.Random(seed)
        self._serial = 0
        self._seen: dict[str, payments.BankCallback] = {}
        self.statements: dict[date, list[payments.StatementLine]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/debits", self._debit, methods=["POST"]),
                Route("/statements/{day}", self._statement, methods=["GET"]),
            ]
        )

    def debit(self, debit: payments.DebitRequest) -> payments.BankCallback:
        """Debit the card behind the agreement (once per debit id) and return the outcome.

        :raises KeyError: if the agreement is unknown.
        """
        if debit.debit_id in self._seen:
            return self._seen[debit.debit_id]
        card = self.cards[self.agreements[debit.agreement_number]]
        if card.closed:
            status = payments.DebitStatus.CARD_CLOSED
        elif card.balance < debit.amount:
            status = payments.DebitStatus.INSUFFICIENT_FUNDS
        else:
            card.balance = card.balance - debit.amount
            status = payments.DebitStatus.SUCCEEDED
        self._serial += 1
        callback = payments.BankCallback(
            serial=f"SIM{self._serial:010d}",
            debit_id=debit.debit_id,
            status=status,
            amount=debit.amount,
            at=self._now(),
        )
        self._seen[debit.debit_id] = callback
        self.statements[debit.day].append(
            payments.StatementLine(
                serial=callback.serial,
                debit_id=debit.debit_id,
                account_number=debit.account_number,
                amount=debit.amount,
                status=status,
            )
        )
        return callback

    async def _debit(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify(self.secret, body, request.headers.get(SIGNATURE_HEADER))
            debit, callback_url = decode_debit(body)
        except InvalidSignature:
            return PlainTextResponse("bad signature", status_code=401)
        except MalformedMessage as error:
            return PlainTextResponse(str(error), status_code=400)
        try:
            callback = self.debit(debit)
        except KeyError:
            return PlainTextResponse("unknown agreement", status_code=404)
        copies = 2 if self._random.random() < self.duplicate_rate else 1
        for _ in range(copies):
            task = asyncio.create_task(self.deliver(callback, callback_url))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return PlainTextResponse("accepted", status_code=202)

    async def deliver(self, callback: payments.BankCallback, url: str) -> None:
        """Post the signed callback after a random delay, again until wattbook answers 2xx."""
        body = encode_callback(callback)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)}
        await asyncio.sleep(self._random.uniform(0, self.delay_s))
        backoff = 0.2
        async with httpx.AsyncClient(timeout=10) as client:
            for _attempt in range(20):
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post(url, content=body, headers=headers)
                    if response.status_code < 300:
                        return
                    if 400 <= response.status_code < 500:
                        logger.warning("wattbook refused %s: %s", callback.serial, response.text)
                        return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        logger.error("Unable to deliver callback %s", callback.serial)

    async def _statement(self, request: Request) -> Response:
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return PlainTextResponse("day is YYYY-MM-DD", status_code=400)
        return PlainTextResponse(encode_statement(self.statements.get(day, [])))


async def push_agreement(*, wattbook_url: str, secret: bytes, agreement: payments.Agreement) -> int:
    """Send a signed agreement notice to wattbook and return the HTTP status."""
    body = encode_agreement(agreement)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{wattbook_url.rstrip('/')}/bank/agreements",
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)},
        )
    return response.status_code
