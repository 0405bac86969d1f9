"""List the API tokens (``wattbook api token list``): names, scopes, state, never secrets."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.api import ports as api_ports


async def list_api_tokens(*, uow: ports.UnitOfWork) -> tuple[api_ports.ApiToken, ...]:
    """Return every token, oldest first, revoked ones too."""
    async with uow:
        return await uow.api_tokens.tokens()
