"""Find the token a request carries and check that it has the scope the call needs."""

from __future__ import annotations

from wattbook.application import read_ports
from wattbook.application.api import ports as api_ports


async def authenticate_api_token(
    *, uow: read_ports.ReadOnlyUnitOfWork, secret: str, scope: api_ports.Scope
) -> api_ports.ApiToken:
    """Return the active token for ``secret`` if it has ``scope``.

    The lookup is by the secret's hash, read-only, so it never waits for a writer.

    :raises InvalidToken: if the token is malformed, unknown or revoked.
    :raises MissingScope: if it lacks ``scope``.
    """
    if not secret.startswith(api_ports.TOKEN_PREFIX) or len(secret) > 200:
        raise api_ports.InvalidToken("the token is not a wattbook API token")
    async with uow:
        token = await uow.api_tokens.token_by_hash(api_ports.token_hash(secret))
    if token is None or not token.active:
        raise api_ports.InvalidToken("the token is unknown or revoked")
    if scope not in token.scopes:
        raise api_ports.MissingScope(scope)
    return token
