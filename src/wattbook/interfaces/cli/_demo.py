"""`wattbook demo`: the whole system on this machine, on SQLite, with a campus that lives.

One process runs it all: buses of virtual DDZY102 meters on TCP (like serial-to-TCP servers), a
SQLite database with a household on every meter, the head-end polling every bus over
DL/T 645-2007, charging each reading against the household's prepaid balance and carrying out
the prepaid rules' trips and closes, the scheduled jobs (held cuts, bank auto top-up, kiosk
recovery), the SMS worker sending through a simulated GSM modem, a simulated bank, and the web
app on localhost. Kiosk K01 is registered and its agent runs as its own process, as on a kiosk
PC, with a simulated note acceptor. The simulated world runs faster than real time
(``--speed``), and the core keeps the same accelerated time, so a day passes in minutes.

The campus is scripted (``_demo_campus``) so that every rule fires in the first minutes, and
the screen (``_demo_screen``) shows a feed of what happened. The folder (``--data-dir``) keeps
the database, the meters' state and the script's progress: Ctrl-C stops, the next start goes
on, ``--fresh`` starts over. Only one demo runs in a folder at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from wattbook import bootstrap
from wattbook.application import queries
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as headend_ports
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.application.payments import kiosk_devices
from wattbook.application.prepaid.read_calendar import next_holiday_eve
from wattbook.application.staff import operators
from wattbook.application.staff import ports as staff_ports
from wattbook.dlt645 import simulator
from wattbook.domain import accounts, payments, staff
from wattbook.domain.values import (
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    MeterNumber,
    Money,
    RegisterSet,
    local_date,
)
from wattbook.interfaces.cli import _demo_campus as campus_script
from wattbook.interfaces.cli._demo_args import DAYS_SPEED
from wattbook.interfaces.cli._demo_campus import Action, Household, Role, Step
from wattbook.interfaces.cli._demo_screen import Campus, Feed, Screen
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import Settings, WebSettings

logger = logging.getLogger(__name__)

DATABASE = "demo.sqlite3"
STATE = "demo.json"
CAMPUS_STATE = "campus.json"
LOCK = "demo.lock"
KIOSK_SECRET_FILE = "K01.secret"  # noqa: S105 - the file's name, not a secret
# How far back (in real seconds, times the speed) each read of the feed looks again, for
# records committed a little after the time they carry.
FEED_OVERLAP_S = 5
FEED_EVERY_S = 1.0


class DemoAlreadyRunning(Exception):
    """Another demo runs in the folder: nothing was touched."""


@dataclasses.dataclass(slots=True, kw_only=True)
class DemoState:
    """What the folder remembers: the campus's shape, when its world began, the script's
    progress. Stored as ``demo.json`` beside the database."""

    started_at: dt.datetime
    buses: int
    meters: int
    seed: int
    holiday_at: dt.datetime | None
    done: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> str:
        """Return the state as JSON text."""
        return json.dumps(
            {
                "started_at": self.started_at.isoformat(),
                "buses": self.buses,
                "meters": self.meters,
                "seed": self.seed,
                "holiday_at": None if self.holiday_at is None else self.holiday_at.isoformat(),
                "done": self.done,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> DemoState:
        """Return the state in JSON text.

        :raises ValueError: if the text is not a demo state.
        """
        try:
            raw = json.loads(text)
            holiday = raw["holiday_at"]
            return cls(
                started_at=dt.datetime.fromisoformat(raw["started_at"]),
                buses=int(raw["buses"]),
                meters=int(raw["meters"]),
                seed=int(raw["seed"]),
                holiday_at=None if holiday is None else dt.datetime.fromisoformat(holiday),
                done=[str(name) for name in raw["done"]],
            )
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a demo state: {error}") from error


class SimulatedClock:
    """The core's clock in the demo: the simulated world's accelerated time (aware, UTC)."""

    def __init__(self, source: simulator.TimeSource) -> None:
        self._source = source

    def now(self) -> dt.datetime:
        """Return the simulated world's time now."""
        return self._source.now()


def parse_start(text: str) -> dt.datetime | None:
    """Return the start (UTC) ``--start`` names: None for ``auto``, now, or an ISO time
    (local if it names no zone).

    :raises ValueError: if the text is none of those.
    """
    if text == "auto":
        return None
    if text == "now":
        return bootstrap.system_clock().now()
    start = dt.datetime.fromisoformat(text)
    # The world's clock, the core's clock, gives UTC (CONVENTIONS 6).
    return (start if start.tzinfo else start.replace(tzinfo=SHANGHAI)).astimezone(dt.UTC)


def campus_spec(
    *, buses: int, meters_per_bus: int, baud: int, port_base: int, seed: int
) -> simulator.CampusSpec:
    """Return the demo campus: ``buses`` buses of ``meters_per_bus`` meters, numbered on."""
    specs = []
    number = campus_script.FIRST_ADDRESS
    for index in range(buses):
        addresses = [f"{number + i:012d}" for i in range(meters_per_bus)]
        number += meters_per_bus
        specs.append(
            simulator.BusSpec(
                name=f"bus-{index + 1}",
                host="127.0.0.1",
                port=port_base + index if port_base else 0,
                # Two months of history: the meters hold last month's and the month before's
                # freezes (M2), and 200 of them are made in a few seconds.
                meters=simulator.meter_specs(addresses, seed=seed, history_months=2),
                baud=baud,
            )
        )
    return simulator.CampusSpec(buses=tuple(specs), seed=seed)


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the folder's lock while the block runs.

    :raises DemoAlreadyRunning: if another demo holds it (nothing is touched then).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK
    with open(path, "a+", encoding="ascii") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "?"
            raise DemoAlreadyRunning(
                f"a demo is already running in {data_dir} (process {holder}): stop it "
                "(Ctrl-C) or give another --data-dir"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        try:
            yield
        finally:
            file.seek(0)
            file.truncate()
            fcntl.flock(file, fcntl.LOCK_UN)


def _wipe(data_dir: Path) -> None:
    for name in (STATE, CAMPUS_STATE, KIOSK_SECRET_FILE):
        (data_dir / name).unlink(missing_ok=True)
    for stale in data_dir.glob(f"{DATABASE}*"):
        stale.unlink()


async def _first_state(
    args: argparse.Namespace, storage: bootstrap.Storage, start: dt.datetime | None
) -> DemoState:
    """Return the state of a new campus: when its world starts and when its holiday begins."""
    today = local_date(bootstrap.system_clock().now())
    eve = await next_holiday_eve(uow=storage.uow_factory(), on_or_after=today)
    started_at = start if start is not None else campus_script.auto_start(eve, today)
    holiday_eve = await next_holiday_eve(
        uow=storage.uow_factory(), on_or_after=local_date(started_at)
    )
    holiday_at = None
    if holiday_eve is not None:
        holiday_at = dt.datetime.combine(
            holiday_eve + dt.timedelta(days=1), dt.time(0), tzinfo=SHANGHAI
        ).astimezone(dt.UTC)
    return DemoState(
        started_at=started_at,
        buses=args.buses,
        meters=args.meters,
        seed=args.seed,
        holiday_at=holiday_at,
    )


async def seed(
    *,
    storage: bootstrap.Storage,
    clock: SimulatedClock,
    campus: simulator.Campus,
    spec: simulator.CampusSpec,
    homes: Sequence[Household],
) -> None:
    """Open an account for every household and install its meter."""
    for home in homes:
        number = AccountNumber(value=home.number)
        await open_account(
            uow=storage.uow_factory(),
            clock=clock,
            number=number,
            holder=accounts.Holder(name=home.holder),
            phone=None if home.phone is None else accounts.PhoneNumber(digits=home.phone),
            address=accounts.Address(text=home.address),
            opening_balance=Money(fen=home.opening_fen),
            note="demo household",
        )
    for bus_spec in spec.buses:
        for meter_spec in bus_spec.meters:
            shown = campus.meter(meter_spec.address).registers()
            await install_meter(
                uow=storage.uow_factory(),
                clock=clock,
                number=AccountNumber(value=meter_spec.address),
                meter_number=MeterNumber(value=meter_spec.address),
                bus=bus_spec.name,
                # The meter shows 0.01 kWh: charging starts from what it will report.
                initial=RegisterSet(
                    total_wh=shown.total_wh // 10 * 10,
                    sharp_wh=shown.sharp_wh // 10 * 10,
                    peak_wh=shown.peak_wh // 10 * 10,
                    flat_wh=shown.flat_wh // 10 * 10,
                    valley_wh=shown.valley_wh // 10 * 10,
                ),
            )


async def configure_buses(
    *,
    spec: simulator.CampusSpec,
    endpoints: Sequence[simulator.Endpoint],
    database_url: str,
) -> None:
    """Store every bus with where it answers now (a restart may serve it on another port)."""
    for bus_spec, endpoint in zip(spec.buses, endpoints, strict=True):
        await bootstrap.add_bus(
            database_url=database_url,
            bus=headend_ports.BusConfig(
                name=bus_spec.name,
                url=f"tcp://{endpoint.host}:{endpoint.port}",
                baud=endpoint.baud or 9600,
                meters=tuple(
                    headend_ports.BusMeter(meter_number=MeterNumber(value=m.address))
                    for m in bus_spec.meters
                ),
            ),
        )


def _bank_agreement(home: Household, signed_on: dt.date) -> payments.Agreement:
    return payments.Agreement(
        agreement_number=campus_script.BANK_AGREEMENT,
        holder=home.holder,
        id_number_masked=payments.mask_id_number("110101197001010011"),
        card_token=campus_script.BANK_CARD,
        card_masked="6217 **** **** 0001",
        phone=home.phone or "13800138000",
        account_numbers=(AccountNumber(value=home.number),),
        threshold=Money(fen=campus_script.BANK_THRESHOLD_FEN),
        amount=Money(fen=campus_script.BANK_AMOUNT_FEN),
        signed_on=signed_on,
    )


@dataclasses.dataclass(slots=True, kw_only=True)
class Script:
    """The script's steps, played on the simulated clock; progress saved after each."""

    steps: tuple[Step, ...]
    state: DemoState
    state_path: Path
    clock: SimulatedClock
    campus: simulator.Campus
    cast: dict[Role, Household]
    kiosk_url: str
    kiosk: asyncio.Lock
    feed: Feed
    pending_lines: list[str]

    def resume(self) -> None:
        """Put back what the folder's campus state does not hold: a silent meter's fault."""
        done = set(self.state.done)
        offline = self.cast.get(Role.OFFLINE)
        if offline is not None and "offline-silent" in done and "offline-back" not in done:
            self.campus.set_faults(offline.number, simulator.Faults(silent=1.0))

    async def play(self, stop: asyncio.Event) -> None:
        """Play the steps not done yet, each at its time, until the last or ``stop``."""
        for step in self.steps:
            if step.name in self.state.done or step.role not in self.cast:
                continue
            while not stop.is_set():
                left_s = (step.at - self.clock.now()).total_seconds()
                if left_s <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.2)
            if stop.is_set():
                return
            home = self.cast[step.role]
            self.pending_lines.append(self.feed.add_step(step, self.clock.now(), home))
            await self._perform(step, home)
            self.state.done.append(step.name)
            self.state_path.write_text(self.state.to_json(), encoding="utf-8")

    async def _perform(self, step: Step, home: Household) -> None:
        meter = self.campus.meter(home.number)
        action = step.action
        with contextlib.suppress(simulator.MeterStateConflict):
            if action is Action.GO_SILENT:
                self.campus.set_faults(home.number, simulator.Faults(silent=1.0))
            elif action is Action.COME_BACK:
                self.campus.set_faults(home.number, simulator.NO_FAULTS)
            elif action is Action.OPEN_COVER:
                meter.open_cover()
            elif action is Action.CLOSE_COVER:
                meter.close_cover()
            elif action is Action.POWER_DOWN:
                meter.power_down()
            elif action is Action.POWER_UP:
                meter.power_up()
            elif action is Action.HEATER_ON:
                meter.set_extra_load(watts=campus_script.HOLIDAY_HEATER_W)
            elif action is Action.KIOSK_TOP_UP:
                async with self.kiosk:
                    await kiosk_top_up(self.kiosk_url, home.number, campus_script.KIOSK_NOTES_YUAN)


# The rest of the campus pays too: a household under this balance goes to the kiosk within a
# day or so (a delay of its own), so a month of the demo is not a campus switched off.
PAY_BELOW_FEN = 500
KIOSK_NOTE_YUAN = 100
# The scripted households pay like the others once their story has been told.
CAST_PAYS_AFTER = dt.timedelta(hours=6)


def _pays_after(number: str) -> dt.timedelta:
    """Return how long after falling low the household pays: 2 to 30 hours, its own."""
    return dt.timedelta(hours=2 + int(number) * 2_654_435_761 % 29)


@dataclasses.dataclass(slots=True, kw_only=True)
class Residents:
    """The households: they pay at the kiosk some hours after running low (the scripted ones
    once the script's first hours are over)."""

    storage: bootstrap.Storage
    clock: SimulatedClock
    homes: Sequence[Household]
    kiosk_url: str
    kiosk: asyncio.Lock
    speed: int
    cast_from: dt.datetime
    cast: frozenset[str]
    _low_since: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)

    async def live(self, stop: asyncio.Event) -> None:
        """Look at the balances every simulated hour (every second at most) and pay."""
        wait_s = max(1.0, 3600 / self.speed)
        accounts = [
            (AccountNumber(value=h.number), MeterNumber(value=h.number)) for h in self.homes
        ]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)
            if stop.is_set():
                return
            now = self.clock.now()
            for glance in await queries.account_glances(
                uow=self.storage.reader_factory(), accounts=accounts
            ):
                number = str(glance.number)
                if glance.balance.fen < PAY_BELOW_FEN:
                    self._low_since.setdefault(number, now)
                else:
                    self._low_since.pop(number, None)
            due = [
                n
                for n, since in self._low_since.items()
                if now - since >= _pays_after(n) and (n not in self.cast or now >= self.cast_from)
            ]
            for number in due[:3]:
                notes = (KIOSK_NOTE_YUAN,) * (1 + int(number) % 3)
                try:
                    async with self.kiosk:
                        await kiosk_top_up(self.kiosk_url, number, notes)
                except KioskTopUpFailed as error:
                    logger.warning("A resident's kiosk top-up failed: %s", error)
                self._low_since.pop(number, None)


class KioskTopUpFailed(Exception):
    """The scripted kiosk top-up did not go through."""


async def kiosk_top_up(agent_url: str, number: str, notes_yuan: Sequence[int]) -> str:
    """Pay at the kiosk as a resident does, through its agent: start, type the account
    number, confirm the details, insert the notes at the (simulated) acceptor, confirm.
    Return the receipt number.

    :raises KioskTopUpFailed: if a screen refuses or the notes are not taken in time.
    """
    async with httpx.AsyncClient(base_url=agent_url, timeout=15) as client:
        try:
            view = (await client.post("/kiosk/api/sessions")).raise_for_status().json()
            base = f"/kiosk/api/sessions/{view['transaction_id']}"
            (
                await client.post(f"{base}/account", json={"account_number": number})
            ).raise_for_status()
            (await client.post(f"{base}/details-confirmed")).raise_for_status()
            for index, yuan in enumerate(notes_yuan, start=1):
                (await client.post("/acceptor/insert", json={"yuan": yuan})).raise_for_status()
                for _ in range(200):
                    view = (await client.get(base)).raise_for_status().json()
                    if len(view["notes"]) >= index:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise KioskTopUpFailed(f"the kiosk did not take note {index}")
            for _ in range(50):
                done = await client.post(f"{base}/confirm")
                if done.status_code != 503:  # notes in doubt: the agent asks to wait
                    break
                await asyncio.sleep(0.2)
            receipt = done.raise_for_status().json()["receipt"]
        except (httpx.HTTPError, KeyError, TypeError) as error:
            raise KioskTopUpFailed(f"the kiosk top-up failed: {error}") from error
    if not receipt:
        raise KioskTopUpFailed("the kiosk confirmed without a receipt")
    return str(receipt["number"])


async def _campus_now(
    *,
    storage: bootstrap.Storage,
    clock: SimulatedClock,
    campus: simulator.Campus,
    homes: Sequence[Household],
    cast: dict[Role, Household],
) -> Campus:
    glances = await queries.account_glances(
        uow=storage.reader_factory(),
        accounts=[(AccountNumber(value=h.number), MeterNumber(value=h.number)) for h in homes],
    )
    by_number = {str(g.number): g for g in glances}
    open_alarms = await list_alarms(uow=storage.uow_factory())
    meters = campus.meters
    return Campus(
        world_at=clock.now(),
        households=len(homes),
        power_off=sum(1 for meter in meters.values() if not meter.relay_closed),
        in_arrears=sum(1 for g in glances if g.balance.fen < 0),
        open_alarms=len(open_alarms),
        cast=tuple(
            (home, by_number.get(home.number), meters[home.number].relay_closed)
            for home in cast.values()
        ),
    )


def _months(first: dt.datetime, last: dt.datetime) -> tuple[BillingMonth, ...]:
    month = BillingMonth.of(first)
    end = BillingMonth.of(last)
    found = []
    while month <= end:
        found.append(month)
        month = month.next()
    return tuple(found)


async def run_demo(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run the demo until interrupted, ``--duration`` has passed or ``--days`` are lived.

    :raises DemoAlreadyRunning: if another demo runs in the folder.
    """
    data_dir = Path(args.data_dir)
    with exclusive(data_dir):
        if args.fresh:
            _wipe(data_dir)
        return await _run(args, data_dir, out if out is not None else sys.stdout)


async def _run(args: argparse.Namespace, data_dir: Path, out: IO[str]) -> int:
    database = data_dir / DATABASE
    database_url = f"sqlite:///{database}"
    settings = Settings(database_url=database_url)
    state_path = data_dir / STATE
    resumed = state_path.exists() and database.exists()
    if not resumed:
        _wipe(data_dir)  # a half-made folder (no state, or no database) starts over
    bootstrap.migrate(settings)
    storage = bootstrap.build_storage(settings)
    try:
        if resumed:
            state = DemoState.from_json(state_path.read_text(encoding="utf-8"))
        else:
            state = await _first_state(args, storage, parse_start(args.start))
        return await _live(args, data_dir, out, storage, settings, state, resumed=resumed)
    finally:
        storage.close()


async def _live(
    args: argparse.Namespace,
    data_dir: Path,
    out: IO[str],
    storage: bootstrap.Storage,
    settings: Settings,
    state: DemoState,
    *,
    resumed: bool,
) -> int:
    speed = args.speed or (DAYS_SPEED if args.days else 60)
    spec = campus_spec(
        buses=state.buses,
        meters_per_bus=state.meters,
        baud=args.baud,
        port_base=args.port_base,
        seed=state.seed,
    )
    campus_path = data_dir / CAMPUS_STATE
    saved: dict[str, simulator.MeterState] = {}
    world_at = state.started_at
    if resumed and campus_path.exists():
        world_at, saved = simulator.load_state(campus_path)
        world_at = world_at.astimezone(dt.UTC)
    time_source = simulator.AcceleratedTimeSource(speed=speed, start_at=world_at, held=True)
    clock = SimulatedClock(time_source)
    campus = simulator.Campus(
        spec=spec, time_source=time_source, states=saved, state_path=campus_path
    )
    homes = campus_script.households([m.address for bus in spec.buses for m in bus.meters])
    cast = campus_script.cast(homes)
    if not resumed:
        for home in homes:
            if home.heater_w:
                campus.meter(home.number).set_extra_load(watts=home.heater_w)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    end_at = world_at + dt.timedelta(days=args.days) if args.days else None

    tasks: list[asyncio.Task[Any]] = []
    async with campus.serving() as endpoints:
        if not resumed:
            print(
                f"wattbook demo: a new campus of {len(homes)} households in {data_dir}, "
                "setting up...",
                file=out,
                flush=True,
            )
            await seed(storage=storage, clock=clock, campus=campus, spec=spec, homes=homes)
        await configure_buses(spec=spec, endpoints=endpoints, database_url=settings.database_url)
        state_path = data_dir / STATE
        state_path.write_text(state.to_json(), encoding="utf-8")
        screen_lines: list[str] = []
        # A month at thousands of times real speed needs the day on each line.
        feed = Feed(homes={h.number: h for h in homes}, with_date=bool(args.days))
        modem, modem_url = await bootstrap.start_modem_simulator()
        bank_secret = secrets.token_hex(16)
        bank = await bootstrap.start_bank_simulator(
            simulator=bootstrap.build_bank_simulator(
                secret=bank_secret,
                cards={
                    campus_script.BANK_CARD: (Money(fen=campus_script.BANK_CARD_YUAN * 100), False)
                },
                agreements={campus_script.BANK_AGREEMENT: campus_script.BANK_CARD},
                delay_s=0.5,
                duplicate_rate=0.0,
                now=clock.now,
            )
        )
        web_settings = dataclasses.replace(
            WebSettings.from_environment(), bank_url=bank.url, bank_secret=bank_secret
        )
        headend = await bootstrap.build_headend(database_url=settings.database_url, clock=clock)
        web = None
        agent = None
        try:
            # The web app comes through the loader the entry point gave (ADR 10), not an import.
            web = await args.load_web().start_web_server(
                settings=settings,
                clock=clock,
                host="127.0.0.1",
                port=args.web_port,
                background=False,
                web=web_settings,
            )
            if not resumed and Role.BANK in cast:
                await bootstrap.push_agreement_to(
                    wattbook_url=web.url,
                    secret=bank_secret,
                    agreement=_bank_agreement(cast[Role.BANK], local_date(state.started_at)),
                )
            # The same scheduled jobs as `headend run` and `serve`, on the demo's fast clock.
            jobs = bootstrap.build_scheduled_jobs(
                storage=storage,
                clock=clock,
                settings=dataclasses.replace(settings, sms_sender="modem", modem_device=modem_url),
                bank_gateway=web.runtime.bank.gateway,
            )
            agent, (kiosk_url, panel_url) = await _start_kiosk_agent(
                storage=storage,
                clock=clock,
                data_dir=data_dir,
                server=web.url,
                port=_agent_port(args),
            )
            kiosk_lock = asyncio.Lock()  # one kiosk: one resident at a time
            script = Script(
                steps=campus_script.script(
                    started_at=state.started_at, holiday_at=state.holiday_at
                ),
                state=state,
                state_path=state_path,
                clock=clock,
                campus=campus,
                cast=cast,
                kiosk_url=kiosk_url.removesuffix("/kiosk"),
                kiosk=kiosk_lock,
                feed=feed,
                pending_lines=screen_lines,
            )
            script.resume()
            residents = Residents(
                storage=storage,
                clock=clock,
                homes=homes,
                kiosk_url=kiosk_url.removesuffix("/kiosk"),
                kiosk=kiosk_lock,
                speed=speed,
                cast_from=state.started_at + CAST_PAYS_AFTER,
                cast=frozenset(home.number for home in cast.values()),
            )
            logins = await _demo_operators(storage=storage, clock=clock)
            bus_url = f"tcp://{endpoints[0].host}:{endpoints[0].port}"
            first = homes[0]
            header = [
                f"wattbook demo: {len(homes)} households on {len(endpoints)} simulated RS-485 "
                f"bus(es), time x{speed}, "
                + ("resumed" if resumed else "new campus")
                + f" in {data_dir} (world time "
                f"{clock.now().astimezone(SHANGHAI):%Y-%m-%d %H:%M})",
                f"  kiosk (自助缴费):  {kiosk_url}",
                f"  note acceptor:    {panel_url}   (the kiosk's simulated acceptor)",
                f"  residents' portal: {web.url}/portal   (log in as {first.number} "
                f"{first.holder}; the captcha is on the page)",
                f"  staff console:     {web.url}/console   (one operator per role:)",
                *(
                    f"    {role.value.lower():<14} login {login}, password {password}"
                    for role, (login, password) in logins.items()
                ),
                f"  read a meter:     wattbook meter read --bus {bus_url} --address {first.number}",
                f"  bank (simulated): {bank.url}   (auto top-up agreement "
                f"{campus_script.BANK_AGREEMENT})",
                "Ctrl-C stops; the next start goes on from here (--fresh starts over).",
            ]
            screen = Screen(header=header, feed=feed, speed=speed, out=out)
            activity = queries.ActivityFeed(
                reader=bootstrap.activity_reader(storage),
                since_at=clock.now() - dt.timedelta(minutes=1),
                overlap=dt.timedelta(seconds=FEED_OVERLAP_S * speed),
                readings_every=dt.timedelta(seconds=args.refresh * speed),
            )
            time_source.release()
            tasks = [
                asyncio.create_task(headend.headend.run(stop), name="head-end"),
                asyncio.create_task(jobs.run(stop, speed=speed), name="scheduled jobs"),
                asyncio.create_task(script.play(stop), name="script"),
                asyncio.create_task(residents.live(stop), name="residents"),
            ]
            screen.start()
            try:
                await _follow(
                    args=args,
                    stop=stop,
                    tasks=tasks,
                    screen=screen,
                    activity=activity,
                    pending=screen_lines,
                    end_at=end_at,
                    snapshot=lambda: _campus_now(
                        storage=storage, clock=clock, campus=campus, homes=homes, cast=cast
                    ),
                    clock=clock,
                )
            finally:
                stop.set()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                screen.stop()
            code = int(Exit.OK)
            if end_at is not None:
                code = await _report_month_end(
                    storage=storage, first=state.started_at, last=clock.now(), out=out
                )
            print(
                f"Stopped at world time {clock.now().astimezone(SHANGHAI):%Y-%m-%d %H:%M}. "
                f"The campus is kept in {data_dir}: `wattbook demo --data-dir {data_dir}` "
                "goes on from here, --fresh starts over.",
                file=out,
                flush=True,
            )
            return code
        finally:
            stop.set()
            if agent is not None:
                await _stop_process(agent)
            if web is not None:
                await web.stop()
            await bank.stop()
            await modem.close()
            headend.close()


async def _follow(
    *,
    args: argparse.Namespace,
    stop: asyncio.Event,
    tasks: Sequence[asyncio.Task[Any]],
    screen: Screen,
    activity: queries.ActivityFeed,
    pending: list[str],
    end_at: dt.datetime | None,
    snapshot: Any,
    clock: SimulatedClock,
) -> None:
    """Read the feed every second and show it, until stopped, out of time or out of days."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.duration if args.duration else None
    next_status = loop.time()
    while not stop.is_set():
        timeout = FEED_EVERY_S
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=timeout)
        lines = [*pending]
        pending.clear()
        for item in await activity.poll(now=clock.now()):
            lines.append(screen.feed.add(item))
        campus = await snapshot() if screen.in_place or loop.time() >= next_status else None
        screen.show(lines, campus)
        if campus is not None and loop.time() >= next_status:
            screen.status(campus)
            next_status = loop.time() + args.refresh
        for task in tasks:
            if task.done():
                task.result()  # a crashed part must end the demo loudly
        if deadline is not None and loop.time() >= deadline:
            return
        if end_at is not None and clock.now() >= end_at:
            return


async def _report_month_end(
    *, storage: bootstrap.Storage, first: dt.datetime, last: dt.datetime, out: IO[str]
) -> int:
    """Print the month-end statements' totals against the journal; return the exit code."""
    check = await queries.check_statements(
        reader_factory=storage.reader_factory,
        statements=bootstrap.statement_reader(storage),
        activity=bootstrap.activity_reader(storage),
        months=_months(first, last),
    )
    months = ", ".join(str(month) for month in check.months)
    lines = [
        f"Month-end statements ({months}): {check.accounts} accounts, "
        f"{check.statements_total.yuan()} yuan charged; the journal's charges: "
        f"{check.journal_total.yuan()} yuan.",
        "  statements against the journal: "
        + ("reconciled" if not check.differences else f"{len(check.differences)} accounts differ"),
        "  every balance equals its journal: "
        + ("yes" if not check.ledger.balances else f"no, {len(check.ledger.balances)} differ"),
        "  bank debits credited once: "
        + ("yes" if not check.ledger.debits else f"no, {len(check.ledger.debits)} mismatches"),
    ]
    lines.extend(
        f"  ! {d.account_number}: statements {d.statements.yuan()}, journal {d.journal.yuan()}"
        for d in check.differences[:20]
    )
    print("\n".join(lines), file=out, flush=True)
    return Exit.OK if check else Exit.DIFFERENCES


def _agent_port(args: argparse.Namespace) -> int:
    """Return the kiosk agent's port: as given, else 8400, or any free one beside --web-port 0."""
    if args.kiosk_port is not None:
        return int(args.kiosk_port)
    return 0 if args.web_port == 0 else 8400


async def _kiosk_secret(*, storage: bootstrap.Storage, clock: SimulatedClock, path: Path) -> None:
    """Make sure kiosk K01 is registered and its secret is in ``path`` (kept across starts)."""
    if path.exists():
        return
    try:
        _kiosk, secret = await kiosk_devices.register_kiosk(
            uow=storage.uow_factory(), clock=clock, kiosk_id="K01", by="wattbook demo"
        )
    except kiosk_devices.KioskAlreadyRegistered:
        _kiosk, secret = await kiosk_devices.rotate_kiosk(
            uow=storage.uow_factory(), clock=clock, kiosk_id="K01", by="wattbook demo"
        )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secret + "\n")


# The demo's operators, one per role: a new random password each run, printed with the URLs.
DEMO_OPERATORS = {
    staff.Role.ADMINISTRATOR: ("demo.admin", "Demo administrator"),
    staff.Role.CASHIER: ("demo.cashier", "Demo cashier"),
    staff.Role.ENGINEER: ("demo.engineer", "Demo engineer"),
    staff.Role.VIEWER: ("demo.viewer", "Demo viewer"),
}
DEMO_ADMIN = DEMO_OPERATORS[staff.Role.ADMINISTRATOR][0]


async def _demo_operators(
    *, storage: bootstrap.Storage, clock: SimulatedClock
) -> dict[staff.Role, tuple[str, str]]:
    """Create (or reset) one console operator per role; return each role's login and its new
    password."""
    hasher = bootstrap.password_hasher(fast=True)
    logins = {}
    for role, (login, name) in DEMO_OPERATORS.items():
        password = secrets.token_urlsafe(12)
        try:
            await operators.create_operator(
                uow=storage.uow_factory(),
                clock=clock,
                hasher=hasher,
                login=login,
                name=name,
                role=role,
                password=password,
                by="wattbook demo",
                channel="CLI",
            )
        except staff_ports.DuplicateOperator:
            await operators.reset_password(
                uow=storage.uow_factory(),
                clock=clock,
                hasher=hasher,
                login=login,
                password=password,
                by="wattbook demo",
            )
        logins[role] = (login, password)
    return logins


async def _start_kiosk_agent(
    *,
    storage: bootstrap.Storage,
    clock: SimulatedClock,
    data_dir: Path,
    server: str,
    port: int,
) -> tuple[asyncio.subprocess.Process, tuple[str, str]]:
    """Start kiosk K01's agent as its own process (as on a kiosk PC), registering K01 first
    if needed. Return the process and the URLs of the kiosk screen and the acceptor panel.

    :raises OSError: if the agent does not start.
    """
    secret_file = data_dir / KIOSK_SECRET_FILE
    await _kiosk_secret(storage=storage, clock=clock, path=secret_file)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wattbook",
        "kiosk",
        "agent",
        "--kiosk",
        "K01",
        "--secret-file",
        str(secret_file),
        "--server",
        server,
        "--listen",
        f"127.0.0.1:{port}",
        "--acceptor",
        "simulated",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None  # noqa: S101 - asked for a pipe
    urls: list[str] = []
    try:
        while len(urls) < 2:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
            if not line:
                raise OSError("the kiosk agent stopped at start")
            urls.extend(word for word in line.split() if word.startswith("http://"))
    except (TimeoutError, OSError) as error:
        await _stop_process(process)
        raise OSError(f"the kiosk agent did not start: {error}") from error
    return process, (urls[0], urls[1])


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
