"""Revoke an API token (``wattbook api token revoke``): it answers nothing from now on."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.api import ports as api_ports
from wattbook.domain import staff


async def revoke_api_token(
    *, uow: ports.UnitOfWork, clock: ports.Clock, token_id: int, by: str
) -> api_ports.ApiToken:
    """Revoke the token and return it, audited (A4); revoking a revoked token changes nothing.

    :raises UnknownToken: if there is no such token.
    :raises InvalidTokenRequest: if ``by`` is blank.
    """
    if not by.strip():
        raise api_ports.InvalidTokenRequest("say who revokes the token (--by)")
    now = clock.now()
    async with uow:
        token = await uow.api_tokens.revoke_token(token_id, at=now, by=by.strip())
        if token.revoked_at == now:
            await uow.staff.append_audit(
                (
                    staff.AuditRecord(
                        at=now,
                        actor=by.strip(),
                        action="api.token.revoked",
                        target=f"token {token.id}",
                        before="active",
                        after="revoked",
                        detail=token.name,
                        channel="CLI",
                    ),
                )
            )
        await uow.commit()
    return token
