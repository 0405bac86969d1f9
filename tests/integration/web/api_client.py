"""What the JSON API's tests share: a campus with accounts, and tokens with scopes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.reports.campus import load

from wattbook.adapters import db
from wattbook.application.api.create_token import create_api_token
from wattbook.application.api.revoke_token import revoke_api_token

HOUSEHOLDS = "account_number,holder,phone,address,bus,opening_balance\n" + "".join(
    f"0516000060{n:02d},户主{n},138001380{n:02d},2栋{n:03d},bus-1,{n}.00\n" for n in range(1, 8)
)


async def campus(engine: Engine, clock: FakeClock) -> None:
    """Open seven households, numbered 051600006001 to 051600006007."""
    await load(engine, clock, HOUSEHOLDS)


async def token(
    engine: Engine, clock: FakeClock, scopes: Sequence[str] = ("all",), *, revoked: bool = False
) -> str:
    """Return a new token's secret (revoked at once if asked)."""
    made = await create_api_token(
        uow=db.SqlUnitOfWork(engine), clock=clock, name="campus card", scopes=scopes, by="admin"
    )
    if revoked:
        await revoke_api_token(
            uow=db.SqlUnitOfWork(engine), clock=clock, token_id=made.token.id, by="admin"
        )
    return made.secret


def bearer(secret: str) -> dict[str, str]:
    """Return the Authorization header carrying the token."""
    return {"Authorization": f"Bearer {secret}"}
