"""A campus for the manual's journeys: the real parts, on one hand-stepped clock.

Virtual meters answer DL/T 645-2007 over TCP; the head-end sweeps their bus and carries out the
relay orders; the web app (kiosk API, bank endpoints) is called over HTTP in-process; the SMS
worker sends through the simulated GSM modem's AT commands; the bank is the simulated bank,
its debits answered by signed callbacks to the web app; the scheduled jobs run as they do in
every process. The test moves the world on and the parts act, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeBankGateway
from tests.integration.headend.campus import PLAN, SharedClock
from tests.integration.web.console.helpers import create_operators, log_in
from tests.integration.web.kiosk_client import KioskAuth, pay, register_kiosk
from tests.integration.web.portal_fixtures import Portal, csrf_of

from wattbook import bootstrap
from wattbook.adapters import bank as bank_adapter
from wattbook.adapters import db, meters
from wattbook.adapters.passwords import Argon2Hasher
from wattbook.application import queries
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus, load_buses
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.application.notifications.send_pending_sms import send_pending_sms
from wattbook.application.queries import activity_ports as ap
from wattbook.application.scheduled_jobs import scheduled_jobs
from wattbook.dlt645 import simulator
from wattbook.domain import accounts, payments
from wattbook.domain.values import (
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    MeterNumber,
    Money,
    RegisterSet,
)
from wattbook.interfaces.web import create_app
from wattbook.settings import Settings, WebSettings

BANK_SECRET = "journey-bank-secret"  # noqa: S105 - a test key
HEATER_W = 3_000
FIRST = 51600000001


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    """A household of the campus."""

    number: str
    holder: str
    phone: str
    opening_fen: int
    heater_w: int = HEATER_W


def residents(*openings_fen: int, heater_w: int = HEATER_W) -> tuple[Resident, ...]:
    """Return one resident per opening balance, meters numbered from 051600000001, each with
    a heater of ``heater_w``."""
    names = ("王建国", "李秀英", "张伟", "刘芳", "陈敏")
    return tuple(
        Resident(
            number=f"{FIRST + index:012d}",
            holder=names[index % len(names)],
            phone=f"1380013{index:04d}",
            opening_fen=fen,
            heater_w=heater_w,
        )
        for index, fen in enumerate(openings_fen)
    )


@dataclass(frozen=True, slots=True)
class PortalVisit:
    """A resident's browser, logged in to the portal."""

    browser: httpx.AsyncClient

    async def page(self, path: str = "") -> str:
        """Return the text of a portal page (``""`` is the home page), tags stripped."""
        answer = await self.browser.get(f"/portal{path}")
        assert answer.status_code == 200, (path, answer.status_code)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))


@dataclass(frozen=True, slots=True)
class StaffVisit:
    """An operator's browser, logged in to the console, and its form token."""

    browser: httpx.AsyncClient
    token: str

    async def post(self, path: str, **form: str) -> httpx.Response:
        """Post a console form (with the token); return the answer."""
        return await self.browser.post(f"/console{path}", data={**form, "csrf_token": self.token})


class World:
    """The campus, its database, the head-end, the web app, the modem and the bank."""

    def __init__(
        self,
        *,
        engine: Engine,
        campus: simulator.Campus,
        clock: SharedClock,
        web: httpx.AsyncClient,
        kiosk: httpx.AsyncClient,
        texts: list[Any],
        sender: Any,
        app: Any,
    ) -> None:
        self.app = app
        self.engine = engine
        self.campus = campus
        self.clock = clock
        self.web = web
        self.kiosk = kiosk
        self.texts = texts
        self.sender = sender
        self.uow_factory = db.unit_of_work_factory(engine)
        self.reader_factory = db.reader_factory(engine)
        self.bank_gateway = FakeBankGateway()
        self.bank = bank_adapter.SimulatedBank(
            secret=BANK_SECRET.encode(),
            cards={},
            agreements={},
            delay_s=0,
            now=clock.now,
        )
        self.headend: Headend | None = None
        self._answered: set[str] = set()
        self._kiosk_sequence = 1

    # ------------------------------------------------------------------ the world moves on

    async def step(self, delta: dt.timedelta, *, sweeps: int = 2) -> None:
        """Move the world on by ``delta``; run the jobs, the bank, the sweeps and the modem.

        The second sweep carries out at once the relay orders the first one's readings gave,
        as the running head-end does within a second.
        """
        assert self.headend is not None
        self.clock.advance(delta)
        for job in scheduled_jobs(
            uow_factory=self.uow_factory, clock=self.clock, bank_gateway=self.bank_gateway
        ):
            await job.run()
        await self.answer_debits()
        for _ in range(sweeps):
            await self.headend.dispatch_commands()
            await self.headend.sweep()
        await send_pending_sms(uow_factory=self.uow_factory, clock=self.clock, sender=self.sender)

    async def until(self, check: Any, *, step: dt.timedelta, limit: int = 200) -> int:
        """Step until ``check()`` holds; return how many steps it took."""
        for count in range(1, limit + 1):
            await self.step(step)
            if check():
                return count
        raise AssertionError(f"not reached after {limit} steps of {step}")

    # ------------------------------------------------------------------ the bank

    async def sign_agreement(
        self, resident: Resident, *, threshold_fen: int, amount_fen: int, card_yuan: int
    ) -> None:
        """The resident signs an auto top-up agreement at the bank; the bank tells wattbook."""
        token = f"CARD-{resident.number}"
        agreement = payments.Agreement(
            agreement_number=f"AG-{resident.number}",
            holder=resident.holder,
            id_number_masked=payments.mask_id_number("110101197001010011"),
            card_token=token,
            card_masked="6217 **** **** 0001",
            phone=resident.phone,
            account_numbers=(AccountNumber(value=resident.number),),
            threshold=Money(fen=threshold_fen),
            amount=Money(fen=amount_fen),
            signed_on=self.clock.now().astimezone(SHANGHAI).date(),
        )
        self.bank.cards[token] = bank_adapter.SimulatedCard(balance=Money(fen=card_yuan * 100))
        self.bank.agreements[agreement.agreement_number] = token
        body = bank_adapter.encode_agreement(agreement)
        answer = await self.web.post(
            "/bank/agreements",
            content=body,
            headers={bank_adapter.SIGNATURE_HEADER: bank_adapter.sign(BANK_SECRET.encode(), body)},
        )
        answer.raise_for_status()

    async def answer_debits(self) -> None:
        """The bank debits the cards it was asked to and calls wattbook back, signed."""
        for request in self.bank_gateway.requests:
            if request.debit_id in self._answered:
                continue
            self._answered.add(request.debit_id)
            callback = self.bank.debit(request)
            body = bank_adapter.encode_callback(callback)
            answer = await self.web.post(
                "/bank/callbacks",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    bank_adapter.SIGNATURE_HEADER: bank_adapter.sign(BANK_SECRET.encode(), body),
                },
            )
            answer.raise_for_status()

    # ------------------------------------------------------------------ the kiosk

    async def pay_at_kiosk(self, number: str, *notes_fen: int) -> dict[str, Any]:
        """Pay notes at kiosk K01 through its signed API; return the receipt view."""
        receipt = await pay(self.kiosk, number, *notes_fen, first_sequence=self._kiosk_sequence)
        self._kiosk_sequence += len(notes_fen)
        return receipt

    # ------------------------------------------------------------------ the portal

    @contextlib.asynccontextmanager
    async def portal(self, resident: Resident) -> AsyncIterator[PortalVisit]:
        """Yield the resident logged in to the portal (number, holder, captcha) in a browser
        of their own."""
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://campus.test"
        ) as browser:
            portal = Portal(app=self.app, client=browser)
            answer = await portal.login(resident.number, resident.holder)
            assert answer.status_code == 303, answer.text[:500]
            if answer.headers["location"].endswith("/portal/code"):
                # The one-time code comes by SMS, through the outbox and the modem.
                await send_pending_sms(
                    uow_factory=self.uow_factory, clock=self.clock, sender=self.sender
                )
                code = re.findall(r"\d{6}", self.texts_to(resident)[-1])[0]
                form = await browser.get("/portal/code")
                answer = await browser.post(
                    "/portal/code", data={"csrf_token": csrf_of(form.text), "code": code}
                )
                assert answer.status_code == 303, answer.text[:500]
            yield PortalVisit(browser=browser)

    # ------------------------------------------------------------------ the console

    @contextlib.asynccontextmanager
    async def console(self, login: str) -> AsyncIterator[StaffVisit]:
        """Yield an operator (``admin``, ``cashier``, ``engineer``, ``viewer``) logged in to
        the staff console in a browser of their own."""
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://campus.test"
        ) as browser:
            token = await log_in(browser, login)
            yield StaffVisit(browser=browser, token=token)

    # ------------------------------------------------------------------ what is seen

    async def feed(self, since: dt.datetime) -> list[ap.ActivityItem]:
        """Return what the demo's feed shows of everything since ``since``."""
        feed = queries.ActivityFeed(
            reader=db.SqlActivityReader(self.engine),
            since_at=since,
            overlap=dt.timedelta(0),
        )
        return list(await feed.poll(now=self.clock.now()))

    async def statements_check(self, *months: str) -> queries.StatementCheck:
        """Return the month-end statements of ``months`` against the journal."""
        return await queries.check_statements(
            reader_factory=self.reader_factory,
            statements=db.SqlStatementReader(self.engine),
            activity=db.SqlActivityReader(self.engine),
            months=[BillingMonth.parse(month) for month in months],
        )

    def meter(self, number: str) -> simulator.VirtualMeter:
        return self.campus.meter(number)

    def rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))

    def balance_fen(self, number: str) -> int:
        return int(
            self.rows(
                "SELECT b.balance_fen FROM balances b JOIN accounts a ON a.id = b.account_id "
                "WHERE a.account_number = :n",
                n=number,
            )[0][0]
        )

    def charged_since(self, number: str, receipt_number: str) -> int:
        """Return the fen charged to the account after the payment with this receipt."""
        return -int(
            self.rows(
                "SELECT COALESCE(SUM(e.amount_fen), 0) FROM ledger_entries e "
                "JOIN accounts a ON a.id = e.account_id WHERE a.account_number = :n "
                "AND e.kind = 'CHARGE' AND e.id > (SELECT entry_id FROM payments "
                "WHERE receipt_number = :r)",
                n=number,
                r=receipt_number,
            )[0][0]
        )

    def texts_to(self, resident: Resident) -> list[str]:
        """Return the texts the modem accepted for the resident's phone, oldest first."""
        return [t.text for t in self.texts if t.number.endswith(resident.phone)]

    def relay_commands(self, number: str) -> list[tuple[str, str, str]]:
        return [
            (row[0], row[1], row[2])
            for row in self.rows(
                "SELECT c.action, c.reason, c.status FROM relay_commands c "
                "JOIN accounts a ON a.id = c.account_id WHERE a.account_number = :n "
                "ORDER BY c.id",
                n=number,
            )
        ]


async def _open(world: World, people: Sequence[Resident]) -> None:
    for resident in people:
        meter = world.campus.meter(resident.number)
        if resident.heater_w:
            meter.set_extra_load(watts=resident.heater_w)
        shown = meter.registers()
        number = AccountNumber(value=resident.number)
        await open_account(
            uow=world.uow_factory(),
            clock=world.clock,
            number=number,
            holder=accounts.Holder(name=resident.holder),
            phone=accounts.PhoneNumber(digits=resident.phone),
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=Money(fen=resident.opening_fen),
        )
        await install_meter(
            uow=world.uow_factory(),
            clock=world.clock,
            number=number,
            meter_number=MeterNumber(value=resident.number),
            bus="bus-1",
            initial=RegisterSet(
                total_wh=shown.total_wh // 10 * 10,
                sharp_wh=shown.sharp_wh // 10 * 10,
                peak_wh=shown.peak_wh // 10 * 10,
                flat_wh=shown.flat_wh // 10 * 10,
                valley_wh=shown.valley_wh // 10 * 10,
            ),
        )


@contextlib.asynccontextmanager
async def world(
    engine: Engine, people: Sequence[Resident], *, start: dt.datetime
) -> AsyncIterator[World]:
    """Yield the campus of ``people`` on ``engine``, its world at ``start``."""
    time_source = simulator.ManualTimeSource(start_at=start.astimezone(dt.UTC))
    clock = SharedClock(time_source)
    spec = simulator.CampusSpec(
        buses=(
            simulator.BusSpec(
                name="bus-1",
                host="127.0.0.1",
                port=0,
                meters=simulator.meter_specs(
                    [p.number for p in people],
                    seed=5,
                    history_months=2,
                    drift_ppm_max=0,
                    clock_offset_s_max=0,
                ),
                baud=None,
                answer_delay_s=0.0,
            ),
        ),
        seed=5,
    )
    campus = simulator.Campus(spec=spec, time_source=time_source)
    modem, modem_url = await bootstrap.start_modem_simulator()
    texts: list[Any] = []
    modem.state.listener = texts.append
    sender = bootstrap.build_sms_sender(
        Settings(database_url="sqlite://", sms_sender="modem", modem_device=modem_url)
    )
    runtime = bootstrap.WebRuntime(
        storage=bootstrap.Storage(
            engine=engine,
            uow_factory=db.unit_of_work_factory(engine),
            reader_factory=db.reader_factory(engine),
            clock=clock,
        ),
        web=WebSettings(bank_secret=BANK_SECRET, allowed_hosts=("campus.test",)),
        bank=bootstrap.BankLink(gateway=FakeBankGateway(), secret=BANK_SECRET.encode()),
        receipt_font=None,
        password_hasher=Argon2Hasher(fast=True),
    )
    await create_operators(runtime)
    app = create_app(runtime, background=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            campus.serving() as endpoints,
            httpx.AsyncClient(transport=transport, base_url="http://campus.test") as web,
        ):
            place = World(
                engine=engine,
                campus=campus,
                clock=clock,
                web=web,
                kiosk=web,
                texts=texts,
                sender=sender,
                app=app,
            )
            secret = await register_kiosk(place.uow_factory, clock, "K01")
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://campus.test",
                auth=KioskAuth("K01", secret, bootstrap.system_clock().now),
            ) as kiosk:
                place.kiosk = kiosk
                await _open(place, people)
                endpoint = endpoints[0]
                await configure_bus(
                    uow=place.uow_factory(),
                    bus=hp.BusConfig(
                        name="bus-1",
                        url=f"tcp://{endpoint.host}:{endpoint.port}",
                        baud=19200,
                        response_timeout=dt.timedelta(milliseconds=60),
                        meters=tuple(
                            hp.BusMeter(meter_number=MeterNumber(value=p.number), plan=PLAN)
                            for p in people
                        ),
                    ),
                )
                buses = await load_buses(uow=place.uow_factory())
                headend = Headend(
                    buses=buses,
                    gateway_factory=meters.Dlt645GatewayFactory(clock=clock),
                    sink=InProcessCore(uow_factory=place.uow_factory, clock=clock),
                    uow_factory=place.uow_factory,
                    clock=clock,
                )
                async with headend.opened():
                    place.headend = headend
                    yield place
    finally:
        await app.state.batcher.close()
        await sender.close()
        await modem.close()
