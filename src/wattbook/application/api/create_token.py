"""Make an API token for one of the campus's other systems (``wattbook api token create``)."""

from __future__ import annotations

import secrets
from collections.abc import Collection

from wattbook.application import ports
from wattbook.application.api import ports as api_ports
from wattbook.domain import staff


def _scopes(token: api_ports.ApiToken) -> str:
    return ",".join(sorted(scope.value for scope in token.scopes))


async def create_api_token(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    name: str,
    scopes: Collection[str],
    by: str,
) -> api_ports.NewToken:
    """Make a token with these scopes; return it with its secret, shown this once.

    The token is audited (A4) in the same transaction: its name, scopes and first characters,
    never the secret.

    :raises InvalidTokenRequest: if the name or ``by`` is blank or too long, or a scope is
        unknown or none is given.
    """
    clean_name, clean_by = name.strip(), by.strip()
    if not clean_name or len(clean_name) > api_ports.MAX_NAME_LENGTH:
        raise api_ports.InvalidTokenRequest(
            f"name the system the token is for (1-{api_ports.MAX_NAME_LENGTH} characters)"
        )
    if not clean_by or len(clean_by) > api_ports.MAX_NAME_LENGTH:
        raise api_ports.InvalidTokenRequest("say who makes the token (--by)")
    wanted = api_ports.parse_scopes(scopes)
    secret = api_ports.TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with uow:
        token = await uow.api_tokens.add_token(
            name=clean_name,
            token_sha256=api_ports.token_hash(secret),
            prefix=secret[:12],
            scopes=wanted,
            at=clock.now(),
            by=clean_by,
        )
        await uow.staff.append_audit(
            (
                staff.AuditRecord(
                    at=token.created_at,
                    actor=clean_by,
                    action="api.token.created",
                    target=f"token {token.id}",
                    after=f"name={token.name} scopes={_scopes(token)} prefix={token.prefix}",
                    channel="CLI",
                ),
            )
        )
        await uow.commit()
    return api_ports.NewToken(token=token, secret=secret)
