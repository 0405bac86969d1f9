"""`wattbook demo`: the whole system on this machine, on SQLite, with a simulated campus.

One process runs it all: buses of virtual DDZY102 meters on TCP (like serial-to-TCP servers), a
fresh SQLite database with a household on every meter, the head-end polling every bus over
DL/T 645-2007, charging each reading against the household's prepaid balance and carrying out
the prepaid rules' trips and closes, the SMS worker sending through a simulated GSM modem, and
the web app (kiosk, bank endpoint) on localhost. Kiosk K01 is registered and its agent
runs as its own process, as on a kiosk PC, with a simulated note acceptor. The
simulated world runs faster than real time (``--speed``), and the core keeps the same
accelerated time, so a day passes in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from wattbook import bootstrap
from wattbook.application import queries
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as headend_ports
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.application.payments import kiosk_devices
from wattbook.application.staff import operators
from wattbook.application.staff import ports as staff_ports
from wattbook.dlt645 import simulator
from wattbook.domain import accounts, staff
from wattbook.domain.alarms import Alarm
from wattbook.domain.values import SHANGHAI, AccountNumber, MeterNumber, Money, RegisterSet
from wattbook.settings import Settings

FIRST_ADDRESS = 51600000001  # 051600000001, the campus's first meter number
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN_NAMES = (
    "建国",
    "秀英",
    "伟",
    "芳",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
)
BUILDINGS = "甲乙丙丁"
# The households that start under the warning line also run a heater: 80 fen lasts about half
# an hour of simulated time, so the demo shows an arrears cut early.
HEAVY_LOAD_W = 3_000
# How many open alarms the screen lists (newest first); the count says how many there are.
_ALARMS_SHOWN = 8


class SimulatedClock:
    """The core's clock in the demo: the simulated world's accelerated time (aware, UTC)."""

    def __init__(self, source: simulator.TimeSource) -> None:
        self._source = source

    def now(self) -> dt.datetime:
        """Return the simulated world's time now."""
        return self._source.now()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Household:
    """A demo household: who lives behind a meter, and what they start with."""

    number: str
    holder: str
    phone: str | None
    address: str
    opening_fen: int
    heavy_load: bool = False


def households(addresses: Sequence[str]) -> list[Household]:
    """Return a believable household for each meter, some of them short of money on purpose.

    The first meter's household on each bus has 5 fen left and a heater on
    (``HEAVY_LOAD_W``): it gets its text and warning cut at installation and is cut for
    arrears at its first reading, minutes into the demo (B4-B6). The third is just above the
    low-balance line (B4 soon), the fifth below it and near the warning cut (B5), the seventh
    starts under the warning line with a heater and runs into arrears (B6); every sixth has no
    mobile number on file (N2).
    """
    result = []
    for index, address in enumerate(addresses):
        surname = SURNAMES[index % len(SURNAMES)]
        given = GIVEN_NAMES[(index * 3 + index // len(GIVEN_NAMES)) % len(GIVEN_NAMES)]
        building = f"{BUILDINGS[index // 24 % 4]}{index // 6 % 4 + 1}"
        room = f"{index % 6 // 2 + 1}-{(index % 6 % 2 + 1) + (index // 2 % 6 + 1) * 100}"
        opening = {0: 5, 2: 1_200, 4: 300, 6: 80}.get(index % 8, 5_000 + (index * 3_731) % 25_000)
        result.append(
            Household(
                number=address,
                holder=f"{surname}{given}",
                phone=None if index % 6 == 5 else f"138{(int(address) * 7919) % 10**8:08d}",
                address=f"{building}-{room}",
                opening_fen=opening,
                heavy_load=index % 8 in (0, 6),
            )
        )
    return result


def demo_start(text: str) -> dt.datetime:
    """Return when the simulated world starts: ``now``, an ISO time, or ``auto``.

    ``auto`` is now on a weekday, else 08:00 on the next Monday, so the first minutes of a demo
    show cuts as well as their B7 hold (the rules still decide every holiday themselves).

    :raises ValueError: if the text is none of those.
    """
    now = bootstrap.system_clock().now()
    if text == "now":
        return now
    if text != "auto":
        start = dt.datetime.fromisoformat(text)
        return start if start.tzinfo else start.replace(tzinfo=SHANGHAI)
    local = now.astimezone(SHANGHAI)
    if local.weekday() < 5:
        return now
    monday = local.date() + dt.timedelta(days=7 - local.weekday())
    return dt.datetime.combine(monday, dt.time(8), tzinfo=SHANGHAI)


def campus_spec(
    *, buses: int, meters_per_bus: int, baud: int, port_base: int, seed: int
) -> simulator.CampusSpec:
    """Return the demo campus: ``buses`` buses of ``meters_per_bus`` meters, numbered on."""
    specs = []
    number = FIRST_ADDRESS
    for index in range(buses):
        addresses = [f"{number + i:012d}" for i in range(meters_per_bus)]
        number += meters_per_bus
        specs.append(
            simulator.BusSpec(
                name=f"bus-{index + 1}",
                host="127.0.0.1",
                port=port_base + index if port_base else 0,
                meters=simulator.meter_specs(addresses, seed=seed),
                baud=baud,
            )
        )
    return simulator.CampusSpec(buses=tuple(specs), seed=seed)


def _pad(text: str, width: int) -> str:
    """Return ``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    columns = sum(2 if ord(char) > 0x2E7F else 1 for char in text)
    return text + " " * max(0, width - columns)


class _Accepted(Protocol):
    @property
    def number(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclasses.dataclass(slots=True)
class Screen:
    """What the demo shows: the campus, the balances, the texts sent."""

    campus: simulator.Campus
    homes: list[Household]
    web_url: str
    texts: list[str] = dataclasses.field(default_factory=list)

    def on_sms(self, message: _Accepted) -> None:
        """Remember a text the simulated modem accepted."""
        self.texts.append(f"{message.number}: {message.text}")

    def render(
        self,
        glances: Sequence[queries.AccountGlance],
        open_alarms: Sequence[Alarm] = (),
    ) -> str:
        """Return the screen as text."""
        first = self.campus.meter(self.homes[0].number)
        meter_time = first.meter_time().isoformat(sep=" ", timespec="minutes")
        lines = [
            f"wattbook demo - simulated campus, meter time {meter_time}  |  web: {self.web_url}",
            "",
            f"{'account':<13} {'holder':<6} {'address':<10} {'balance':>9} {'total kWh':>10} "
            f"{'kW':>6}  {_pad('power', 9)} alarms",
        ]
        by_number = {str(g.number): g for g in glances}
        for home in self.homes:
            meter = self.campus.meter(home.number)
            glance = by_number.get(home.number)
            balance = glance.balance.yuan() if glance else "-"
            alarms = ",".join(a.value for a in glance.open_alarms) if glance else ""
            registers = meter.registers()
            # Whole watts, cut like the meter's own display: no rounding mode to choose.
            power_kw = Decimal(meter.measurements().active_power_mw // 1000).scaleb(-3)
            lines.append(
                f"{home.number:<13} {_pad(home.holder, 6)} {_pad(home.address, 10)} {balance:>9} "
                f"{Decimal(registers.total_wh // 10).scaleb(-2):>10} {power_kw:>6}  "
                f"{_pad('通电 on' if meter.relay_closed else '断电 OFF', 9)} {alarms}"
            )
        if open_alarms:
            lines.append("")
            lines.append(f"ALARMS for staff ({len(open_alarms)} open, newest first):")
            lines.extend(
                f"  ! {alarm.kind.value} {alarm.subject}: {alarm.detail}"
                for alarm in open_alarms[:_ALARMS_SHOWN]
            )
        lines.append("")
        lines.append(f"SMS sent through the simulated GSM modem ({len(self.texts)}):")
        lines.extend(f"  {text}" for text in self.texts[-5:])
        return "\n".join(lines)


async def seed(
    *,
    storage: bootstrap.Storage,
    clock: SimulatedClock,
    campus: simulator.Campus,
    spec: simulator.CampusSpec,
    endpoints: Sequence[simulator.Endpoint],
    homes: list[Household],
    database_url: str,
) -> None:
    """Open an account for every household, install its meter, and configure the buses."""
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
    for bus_spec, endpoint in zip(spec.buses, endpoints, strict=True):
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


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo until interrupted or ``--duration`` has passed."""
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "demo.sqlite3"
    for stale in data_dir.glob("demo.sqlite3*"):
        stale.unlink()
    database_url = f"sqlite:///{database}"
    settings = Settings(database_url=database_url)
    bootstrap.migrate(settings)

    time_source = simulator.AcceleratedTimeSource(speed=args.speed, start_at=demo_start(args.start))
    clock = SimulatedClock(time_source)
    spec = campus_spec(
        buses=args.buses,
        meters_per_bus=args.meters,
        baud=args.baud,
        port_base=args.port_base,
        seed=args.seed,
    )
    campus = simulator.Campus(spec=spec, time_source=time_source)
    homes = households([m.address for bus in spec.buses for m in bus.meters])
    for home in homes:
        if home.heavy_load:
            campus.meter(home.number).set_extra_load(watts=HEAVY_LOAD_W)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    storage = bootstrap.build_storage(settings)
    screen = Screen(campus=campus, homes=homes, web_url="")
    tasks: list[asyncio.Task[Any]] = []
    async with campus.serving() as endpoints:
        await seed(
            storage=storage,
            clock=clock,
            campus=campus,
            spec=spec,
            endpoints=endpoints,
            homes=homes,
            database_url=database_url,
        )
        modem, modem_url = await bootstrap.start_modem_simulator(listener=screen.on_sms)
        headend = await bootstrap.build_headend(database_url=database_url, clock=clock)
        # The web app comes through the loader the entry point gave (ADR 10), not an import.
        web = await args.load_web().start_web_server(
            settings=settings, clock=clock, host="127.0.0.1", port=args.web_port, background=False
        )
        # The same scheduled jobs as `headend run` and `serve`, on the demo's fast clock.
        jobs = bootstrap.build_scheduled_jobs(
            storage=storage,
            clock=clock,
            settings=dataclasses.replace(settings, sms_sender="modem", modem_device=modem_url),
            bank_gateway=web.runtime.bank.gateway,
        )
        agent, (web_url, panel_url) = await _start_kiosk_agent(
            storage=storage, clock=clock, data_dir=data_dir, server=web.url, port=_agent_port(args)
        )
        screen.web_url = web_url
        console_password = await _demo_administrator(storage=storage, clock=clock)
        tasks = [
            asyncio.create_task(headend.headend.run(stop)),
            asyncio.create_task(jobs.run(stop, speed=args.speed)),
        ]
        bus_url = f"tcp://{endpoints[0].host}:{endpoints[0].port}"
        print(
            f"wattbook demo: {len(homes)} households on {len(endpoints)} simulated RS-485 "
            f"bus(es), time x{args.speed}, database {database}\n"
            f"  kiosk (自助缴费):  {web_url}\n"
            f"  note acceptor:    {panel_url}   (the kiosk's simulated acceptor)\n"
            f"  residents' portal: {web.url}/portal   (log in as {homes[0].number}"
            f" {homes[0].holder}; the captcha is on the page)\n"
            f"  staff console:     {web.url}/console   (login {DEMO_ADMIN}, "
            f"password {console_password})\n"
            f"  read a meter:     wattbook meter read --bus {bus_url} --address {homes[0].number}\n"
            "Ctrl-C stops.\n",
            flush=True,
        )
        try:
            deadline = loop.time() + args.duration if args.duration else None
            while not stop.is_set():
                timeout = args.refresh
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=timeout)
                glances = await queries.account_glances(
                    uow=storage.uow_factory(),
                    accounts=[
                        (AccountNumber(value=h.number), MeterNumber(value=h.number)) for h in homes
                    ],
                )
                open_alarms = await list_alarms(uow=storage.uow_factory())
                print(screen.render(glances, open_alarms), "\n", flush=True)
                failed = [t for t in tasks if t.done()]
                if failed:
                    for task in failed:
                        task.result()  # a crashed part must end the demo loudly
                if deadline is not None and loop.time() >= deadline:
                    break
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _stop_process(agent)
            await web.stop()
            await modem.close()
            headend.close()
            storage.close()
    return 0


def _agent_port(args: argparse.Namespace) -> int:
    """Return the kiosk agent's port: as given, else 8400, or any free one beside --web-port 0."""
    if args.kiosk_port is not None:
        return int(args.kiosk_port)
    return 0 if args.web_port == 0 else 8400


# The demo's administrator: a new random password each run, printed with the URLs.
DEMO_ADMIN = "demo.admin"


async def _demo_administrator(*, storage: bootstrap.Storage, clock: SimulatedClock) -> str:
    """Create (or reset) the demo's console administrator and return its new password."""
    password = secrets.token_urlsafe(12)
    hasher = bootstrap.password_hasher(fast=True)
    try:
        await operators.create_operator(
            uow=storage.uow_factory(),
            clock=clock,
            hasher=hasher,
            login=DEMO_ADMIN,
            name="Demo administrator",
            role=staff.Role.ADMINISTRATOR,
            password=password,
            by="wattbook demo",
            channel="CLI",
        )
    except staff_ports.DuplicateOperator:
        await operators.reset_password(
            uow=storage.uow_factory(),
            clock=clock,
            hasher=hasher,
            login=DEMO_ADMIN,
            password=password,
            by="wattbook demo",
        )
    return password


async def _start_kiosk_agent(
    *,
    storage: bootstrap.Storage,
    clock: SimulatedClock,
    data_dir: Path,
    server: str,
    port: int,
) -> tuple[asyncio.subprocess.Process, tuple[str, str]]:
    """Register kiosk K01 and start its agent as its own process (as on a kiosk PC).

    Return the process and the URLs of the kiosk screen and the acceptor panel.

    :raises OSError: if the agent does not start.
    """
    secret_file = data_dir / "K01.secret"
    secret_file.unlink(missing_ok=True)
    _kiosk, secret = await kiosk_devices.register_kiosk(
        uow=storage.uow_factory(), clock=clock, kiosk_id="K01", by="wattbook demo"
    )
    descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secret + "\n")
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
