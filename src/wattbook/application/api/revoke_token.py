"""Revoke an API token (``wattbook api token revoke``): it answers nothing from now on."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.api import ports as api_ports


async def revoke_api_token(
    *, uow: ports.UnitOfWork, clock: ports.Clock, token_id: int, by: str
) -> api_ports.ApiToken:
    """Revoke the token and return it; revoking a revoked token changes nothing.

    :raises UnknownToken: if there is no such token.
    :raises InvalidTokenRequest: if ``by`` is blank.
    """
    if not by.strip():
        raise api_ports.InvalidTokenRequest("say who revokes the token (--by)")
    async with uow:
        token = await uow.api_tokens.revoke_token(token_id, at=clock.now(), by=by.strip())
        await uow.commit()
    return token
