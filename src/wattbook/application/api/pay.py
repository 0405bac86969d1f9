"""Take a payment through the JSON API, once per Idempotency-Key.

The campus system that calls is a counter of its own (its cashiers take the cash), so the
money goes through the counter's own use case (P1: the counter's hours hold, the receipt is a
counter receipt, the operator is ``api:<token name>``). Two guards keep a retry from paying
twice: the first answer to each (token, key) is kept and a replay gets it back, and the
payment's channel reference is derived from the token and key, so even two first requests
racing each other credit once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from wattbook.application import ports
from wattbook.application.api import ports as api_ports
from wattbook.application.payments.counter import pay_at_counter
from wattbook.application.payments.ports import Receipt
from wattbook.domain.values import AccountNumber, Money


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiAnswer:
    """The answer to give: the first one kept for the key, and whether this was a replay."""

    answer: api_ports.IdempotentAnswer
    replayed: bool


def check_idempotency_key(key: str | None) -> str:
    """Return the key if it is 1-100 visible ASCII characters.

    :raises InvalidIdempotencyKey: if it is missing or malformed.
    """
    if key is None or not api_ports.IDEMPOTENCY_KEY.fullmatch(key):
        raise api_ports.InvalidIdempotencyKey(
            "a call that changes money needs an Idempotency-Key header: 1-100 visible ASCII "
            "characters, new for each payment (a UUID will do)"
        )
    return key


def _channel_reference(token: api_ports.ApiToken, key: str) -> str:
    digest = hashlib.sha256(f"{token.id}:{key}".encode()).hexdigest()
    return f"API:{digest[:40]}"


async def pay_through_api(
    *,
    uow_factory: ports.UnitOfWorkFactory,
    clock: ports.Clock,
    token: api_ports.ApiToken,
    idempotency_key: str | None,
    request_sha256: str,
    number: AccountNumber,
    amount: Money,
    render: Callable[[Receipt], tuple[int, str]],
) -> ApiAnswer:
    """Credit ``amount`` to the account once for this key and return the answer to give.

    ``render`` turns the receipt into the status and JSON body to answer (and to keep).
    Failures are not kept: nothing changed, so the caller may retry with the same key.

    :raises InvalidIdempotencyKey: if the key is missing or malformed.
    :raises IdempotencyConflict: if the key was used for a different request.
    :raises MissingScope: if the token lacks the payments scope.
    :raises payments.CounterClosed: outside the counter's hours.
    :raises UnknownAccount: if there is no such account.
    :raises ledger.SignRuleViolated: if the amount is not positive.
    """
    key = check_idempotency_key(idempotency_key)
    if api_ports.Scope.PAYMENTS not in token.scopes:
        raise api_ports.MissingScope(api_ports.Scope.PAYMENTS)
    async with uow_factory() as uow:
        kept = await uow.api_tokens.answer(token.id, key)
    if kept is not None:
        if kept.request_sha256 != request_sha256:
            raise api_ports.IdempotencyConflict(
                "this Idempotency-Key was used for a different request"
            )
        return ApiAnswer(answer=kept, replayed=True)
    receipt = await pay_at_counter(
        uow=uow_factory(),
        clock=clock,
        number=number,
        amount=amount,
        operator=f"api:{token.name}",
        reference=_channel_reference(token, key),
    )
    status_code, body = render(receipt)
    answer = api_ports.IdempotentAnswer(
        request_sha256=request_sha256, status_code=status_code, body=body
    )
    async with uow_factory() as uow:
        first = await uow.api_tokens.keep_answer(token.id, key, answer, at=clock.now())
        await uow.commit()
    if first.request_sha256 != request_sha256:
        raise api_ports.IdempotencyConflict("this Idempotency-Key was used for a different request")
    return ApiAnswer(answer=first, replayed=first != answer)
