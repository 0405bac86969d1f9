"""A household with a history, a portal app on it, and a resident logged in through httpx.

The captcha's answer is read from the app's session store: the tests stand where a
resident's eyes would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local
from tests.integration.web.conftest import SECRET, web_runtime

from wattbook.domain.values import Money
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

HOLDER = "张三"
NUMBER = "051600001234"
OTHER = "051600009999"
START = local(2024, 5, 1, 9)
OTHER_HOLDER = "李四"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """Return the CSRF token in a page's form."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def open_households(engine: Engine, clock: FakeClock) -> tuple[Household, Household]:
    """Open the resident's household and a neighbour's, with nothing else."""
    assert clock.now() == START, "the household starts on 1 May 2024"
    house = Household(engine, clock)
    await house.open(opening=Money(fen=5_000))
    other = Household(engine, clock, number=OTHER)
    await other.open(opening=Money(fen=90_000))
    return house, other


async def build_households(engine: Engine, clock: FakeClock) -> tuple[Household, Household]:
    """Open two households; give the first a year of use, top-ups, a cut and a restore."""
    house, other = await open_households(engine, clock)
    for day in range(0, 400, 4):
        # 3 kWh a day, 5 in summer; a reading every fourth day
        daily = 5_000 if 6 <= clock.now().month <= 8 else 3_000
        await house.use(4 * daily, over=timedelta(days=4))
        if day % 16 == 0:
            # about what a fortnight costs: in summer the balance runs into arrears
            await house.top_up(2_800)
        if day % 60 == 0:
            await other.use(1_000, over=timedelta(hours=1))
    # run the balance down to arrears, then pay it back
    while _balance_fen(engine, NUMBER) > -50:
        await house.use(20_000, over=timedelta(hours=2))
    clock.advance(timedelta(minutes=10))
    await house.top_up(5_000)
    clock.advance(timedelta(hours=1))
    # the head-end confirmed every command
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE relay_commands SET status = 'CONFIRMED', done_at = not_before_at "
                "WHERE status = 'PENDING'"
            )
        )
        connection.execute(sa.text("UPDATE prepaid_states SET relay = 'CLOSED'"))
    return house, other


def _balance_fen(engine: Engine, number: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text(
                    "SELECT balance_fen FROM balances JOIN accounts ON accounts.id = account_id"
                    " WHERE account_number = :number"
                ),
                {"number": number},
            ).scalar_one()
        )


@dataclass
class Portal:
    """The app, an httpx client on it, and the resident's account number."""

    app: FastAPI
    client: httpx.AsyncClient

    def captcha(self) -> str:
        portal = self.app.state.portal
        session = portal.sessions.get(
            self.client.cookies.get("wattbook_portal"), now=self.app.state.runtime.wall_clock.now()
        )
        assert session is not None
        return str(session.data["captcha"])

    async def login_form(self) -> str:
        answer = await self.client.get("/portal/login")
        assert answer.status_code == 200
        return csrf_of(answer.text)

    async def login(
        self, number: str, holder: str, *, captcha: str | None = None
    ) -> httpx.Response:
        token = await self.login_form()
        return await self.client.post(
            "/portal/login",
            data={
                "csrf_token": token,
                "account_number": number,
                "holder": holder,
                "captcha": self.captcha() if captcha is None else captcha,
            },
        )


def portal_app(engine: Engine, clock: FakeClock, *, sms_code: bool = False) -> FastAPI:
    """Return the web app with the portal's SMS code on or off."""
    web = WebSettings(bank_secret=SECRET, allowed_hosts=("kiosk.test",), portal_sms_code=sms_code)
    return create_app(web_runtime(engine, clock, web=web), background=False)
