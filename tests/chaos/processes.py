"""kill -9 of real processes at random moments, and a database restart mid-batch.

Each *trial* is one fault: a ``kill -9`` of `wattbook headend run`, `wattbook serve` or
`wattbook sms worker` at a random moment (during start-up, mid-sweep, mid-request, mid-send),
or, on PostgreSQL, every connection of the run's database dropped under a running head-end
and under a running web process taking kiosk notes and bank callbacks
(:func:`tests.chaos.databases.terminate_backends`). After every head-end kill the ledger is
reconciled; after every run the whole set of invariants is checked.

The live campus (:func:`_live_campus`) runs on the system clock, as the processes do: its
meters draw about 5 kW each, all accounts are funded but the last two, which start at a
balance of 0 and must end cut, with every relay command confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import random
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import IO

import httpx
from tests.chaos import databases, invariants
from tests.integration.headend.campus import Site, bus_spec
from tests.integration.web.kiosk_client import KioskAuth
from tests.integration.web.server import Server, free_port
from tests.integration.web.test_crash_injection import bank_stream, kiosk_stream, prepare

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.adapters.clock import SystemClock
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.notifications.ports import NotificationKind, SmsRequest
from wattbook.application.payments import kiosk
from wattbook.dlt645 import simulator
from wattbook.domain import accounts, ledger
from wattbook.domain.values import AccountNumber, MeterNumber, Money, Price
from wattbook.settings import Settings

WATTBOOK = (sys.executable, "-m", "wattbook")
PROCESS_KINDS = ("headend", "web", "sms", "db-restart")
OPENING_FEN = 10_000
ARREARS = 2  # the last meters of a live campus start at a balance of 0: they must be cut
START_TIMEOUT_S = 120.0
# Collection every 2 s, so that a kill lands mid-batch more often than not.
FAST_PLAN = hp.PollPlan(
    energy_every=dt.timedelta(seconds=2),
    status_every=dt.timedelta(seconds=2),
    clock_every=dt.timedelta(days=1),
    no_communication_after=3,
)


@dataclasses.dataclass(slots=True, kw_only=True)
class ProcessRun:
    """One run of trials of one fault on one backend, and what it found."""

    kind: str
    backend: str
    trials: int = 0
    violations: list[str] = dataclasses.field(default_factory=list)
    figures: dict[str, int] = dataclasses.field(default_factory=dict)


Process = asyncio.subprocess.Process
# Every process a run started: whatever happens to the run, none outlives it (_reaped).
_LIVE: set[Process] = set()


async def _spawn(argv: tuple[str, ...], *, env: dict[str, str], log: IO[bytes]) -> Process:
    process = await asyncio.create_subprocess_exec(
        *WATTBOOK, *argv, env={**os.environ, **env}, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    _LIVE.add(process)
    return process


@contextlib.asynccontextmanager
async def _reaped() -> AsyncIterator[None]:
    """Kill -9 whatever process the block started and left running, even if it fails."""
    try:
        yield
    finally:
        for process in list(_LIVE):
            await _kill9(process)
            _LIVE.discard(process)


async def _kill9(process: Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


async def _stop(process: Process, *, timeout_s: float = 20.0) -> int:
    """Stop a process as an operator would (SIGTERM), kill -9 it if it does not stop."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            await _kill9(process)
            return -9
    return int(process.returncode or 0)


# ---------------------------------------------------------------- head-end and its database


@contextlib.asynccontextmanager
async def _live_campus(url: str, *, meters: int) -> AsyncIterator[Site]:
    """Serve a campus on the system clock, with its accounts and buses stored at ``url``."""
    numbers = [f"0516{bus:02d}{n:06d}" for bus in (1, 2) for n in range(1, meters // 2 + 1)]
    specs = [bus_spec(f"bus-{b}", [n for n in numbers if n[4:6] == f"{b:02d}"]) for b in (1, 2)]
    campus = simulator.Campus.from_spec(simulator.CampusSpec(buses=tuple(specs), seed=5))
    engine = db.create_engine(url)
    try:
        async with campus.serving():
            for number in numbers:  # about 5 kW a household: 10 Wh every 7 s
                campus.meter(number).set_extra_load(watts=5_000)
            # The site only asks its clock for now(): here the system's, as the processes'.
            place = Site(engine, campus, SystemClock())  # type: ignore[arg-type]
            await place.open_accounts(opening_fen=OPENING_FEN)
            for number in numbers[-ARREARS:]:  # these run out of money at the first charge
                async with place.uow_factory() as uow:
                    await uow.ledger.post(
                        [
                            ledger.Entry(
                                account_number=AccountNumber(value=number),
                                reference=f"chaos-spent-{number}",
                                kind=ledger.EntryKind.ADJUSTMENT,
                                amount=Money(fen=-OPENING_FEN),
                                at=SystemClock().now(),
                            )
                        ]
                    )
                    await uow.commit()
            for bus, endpoint in zip(campus.spec.buses, campus.endpoints, strict=True):
                await configure_bus(
                    uow=place.uow_factory(),
                    bus=hp.BusConfig(
                        name=bus.name,
                        url=f"tcp://{endpoint.host}:{endpoint.port}",
                        baud=19200,
                        response_timeout=dt.timedelta(milliseconds=200),
                        meters=tuple(
                            hp.BusMeter(meter_number=MeterNumber(value=m.address), plan=FAST_PLAN)
                            for m in bus.meters
                        ),
                    ),
                )
            yield place
    finally:
        engine.dispose()


def _headend(url: str, log: IO[bytes]) -> asyncio.Future[Process]:
    argv = ("headend", "--database-url", url, "run", "--no-jobs", "--status-every", "3600")
    return asyncio.ensure_future(_spawn(argv, env={}, log=log))


async def _readings_after(
    url: str, at: dt.datetime, numbers: list[str], *, within_s: float
) -> bool:
    """Wait until every meter has a reading received after ``at``; return whether it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        fresh = await asyncio.to_thread(
            invariants.rows,
            url,
            "SELECT COUNT(DISTINCT i.meter_number) FROM readings r JOIN meter_installations i"
            " ON i.id = r.installation_id WHERE r.received_at > :at",
            at=at,
        )
        if int(fresh[0][0]) == len(numbers):
            return True
        await asyncio.sleep(0.5)
    return False


def _undone(url: str) -> int:
    return int(
        invariants.rows(
            url,
            "SELECT COUNT(*) FROM relay_commands WHERE status NOT IN"
            " ('CONFIRMED', 'FAILED', 'CANCELLED') AND not_before_at <= :now",
            now=SystemClock().now(),
        )[0][0]
    )


def _cut_and_done(url: str, place: Site) -> bool:
    """Test whether every account in arrears is cut and no due relay command is left undone.

    A kill between sending an order and recording it must not lose the order (C4).
    """
    arrears = list(place.initial)[-ARREARS:]
    return all(not place.campus.meter(n).relay_closed for n in arrears) and _undone(url) == 0


async def _campus_checks(
    url: str, place: Site, *, covers_opened: int, cover_meter: str
) -> list[str]:
    numbers = list(place.initial)
    funded, arrears = numbers[:-ARREARS], numbers[-ARREARS:]
    found = invariants.charges(
        url,
        opening_fen={n: 0 if n in arrears else OPENING_FEN for n in numbers},
        initial_wh={n: place.initial[n].total_wh for n in numbers},
    )
    found += invariants.no_cuts(
        url,
        numbers=funded,
        relays_closed={n: place.campus.meter(n).relay_closed for n in funded},
    )
    if not _cut_and_done(url, place):
        found += [
            f"{n}: in arrears, relay {'closed' if place.campus.meter(n).relay_closed else 'open'},"
            f" {_undone(url)} relay command(s) due and not done a minute on"
            for n in arrears
        ]
    failed = invariants.rows(
        url, "SELECT id, last_error FROM relay_commands WHERE status = 'FAILED'"
    )
    found += [f"relay command {i} failed: {error}" for i, error in failed]
    stored = invariants.rows(
        url,
        "SELECT COUNT(*) FROM meter_events WHERE meter_number = :n AND kind = 'METER_COVER_OPENED'",
        n=cover_meter,
    )[0][0]
    # Every opening is stored, or staff were told it was lost: the meter keeps its last
    # hp.RECORDS_KEPT records, and when several head-ends in a row die before reading them (a
    # loaded machine starts each one slowly) older records are overwritten on the meter. The
    # head-end then sees the opening counter moved further than the records it found and
    # raises EVENT_RECORDS_LOST with the number: silence about a lost opening is the violation.
    told = sum(
        _records_lost(detail, hp.MeterEventKind.METER_COVER_OPENED)
        for (detail,) in invariants.rows(
            url,
            "SELECT detail FROM alarms WHERE kind = 'EVENT_RECORDS_LOST' AND subject = :n",
            n=cover_meter,
        )
    )
    if int(stored) + told != covers_opened:
        found.append(
            f"{cover_meter}: {stored} cover-open event(s) stored and {told} reported lost,"
            f" of {covers_opened}"
        )
    return found


def _records_lost(detail: str, kind: hp.MeterEventKind) -> int:
    """Return the records of ``kind`` an EVENT_RECORDS_LOST alarm's detail says were lost."""
    found = re.match(rf"{kind.value}: (\d+) record", detail)
    return int(found.group(1)) if found else 0


async def headend_kills(
    *,
    backend: str,
    url: str,
    trials: int,
    rng: random.Random,
    log: IO[bytes],
    meters: int = 8,
    window_s: float = 4.0,
) -> ProcessRun:
    """kill -9 the head-end ``trials`` times at random moments, then let it catch up."""
    run = ProcessRun(kind="headend", backend=backend)
    async with _reaped(), _live_campus(url, meters=meters) as place:
        numbers = list(place.initial)
        cover_meter, covers = numbers[0], 0
        # A first head-end learns the meter's opening counter before any kill, so that every
        # opening after it is either read or counted as lost (on first contact a counter is
        # the meter's history, not a loss).
        process = await _headend(url, log)
        known = await _wait(
            lambda: bool(
                invariants.rows(
                    url,
                    "SELECT COUNT(*) FROM meter_event_counts"
                    " WHERE meter_number = :n AND kind = 'METER_COVER_OPENED'",
                    n=cover_meter,
                )[0][0]
            ),
            within_s=60,
        )
        if await _stop(process) != 0 or not known:
            run.violations.append("the first head-end did not learn the opening counter in 60 s")
        for trial in range(trials):
            process = await _headend(url, log)
            # From inside start-up to several sweeps in: a kill lands anywhere.
            await asyncio.sleep(rng.uniform(0.3, window_s))
            if trial % 3 == 0:  # a meter event for the next head-end to pick up
                place.campus.meter(cover_meter).open_cover()
                place.campus.meter(cover_meter).close_cover()
                covers += 1
            await _kill9(process)
            run.trials += 1
            run.violations += [f"after kill {trial + 1}: {v}" for v in await invariants.ledger(url)]
        restarted_at = SystemClock().now()
        process = await _headend(url, log)
        caught_up = await _readings_after(url, restarted_at, numbers, within_s=60)
        await _wait(lambda: _cut_and_done(url, place), within_s=60)
        code = await _stop(process)
        if not caught_up:
            run.violations.append("the head-end restarted but did not read every meter in 60 s")
        if code != 0:
            run.violations.append(f"the head-end exited {code} on SIGTERM after the kills")
        run.violations += await _campus_checks(
            url, place, covers_opened=covers, cover_meter=cover_meter
        )
        run.violations += await invariants.ledger(url)
    return run


async def database_restarts(
    *,
    backend: str,
    url: str,
    trials: int,
    rng: random.Random,
    log: IO[bytes],
    meters: int = 8,
    window_s: float = 2.5,
) -> ProcessRun:
    """Drop the database's connections under a running head-end ``trials`` times.

    PostgreSQL only: on SQLite the head-end is the database's writer, and killing the writer
    process is :func:`headend_kills`.
    """
    run = ProcessRun(kind="db-restart", backend=backend)
    async with _reaped(), _live_campus(url, meters=meters) as place:
        numbers = list(place.initial)
        process = await _headend(url, log)
        crashes = dropped = 0
        await _readings_after(url, SystemClock().now(), numbers, within_s=30)
        for _ in range(trials):
            await asyncio.sleep(rng.uniform(0.2, window_s))
            dropped += await asyncio.to_thread(databases.terminate_backends, url)
            run.trials += 1
            if process.returncode is not None:  # a crash, not a recovery: note it, go on
                crashes += 1
                process = await _headend(url, log)
        after = SystemClock().now()
        if not await _readings_after(url, after, numbers, within_s=60):
            run.violations.append("collection did not resume within 60 s of the last restart")
        await _wait(lambda: _cut_and_done(url, place), within_s=60)
        if process.returncode is not None:
            crashes += 1
        code = await _stop(process)
        if crashes:
            run.violations.append(f"the head-end exited {crashes} time(s) on a database restart")
        if code != 0:
            run.violations.append(f"the head-end exited {code} on SIGTERM")
        run.figures["connections_dropped"] = dropped
        run.violations += await _campus_checks(url, place, covers_opened=0, cover_meter=numbers[0])
        run.violations += await invariants.ledger(url)
    return run


# ---------------------------------------------------------------- the web process


async def web_kills(
    *,
    backend: str,
    folder: Path,
    trials: int,
    rng: random.Random,
    log_path: Path,
    sessions: int = 8,
    restart_database: bool = False,
) -> ProcessRun:
    """kill -9 `wattbook serve` while kiosk notes and bank callbacks stream in.

    With ``restart_database`` (PostgreSQL), the server is left running and its database's
    connections are dropped instead, in the middle of the callback batches.

    Rounds of ``tests/integration/web/test_crash_injection``'s streams (each on a fresh
    database: ``sessions`` kiosk sessions and as many bank debits' callbacks, each replayed
    once) run until ``trials`` kills are made; the clients retry every step until it is
    acknowledged, as a real kiosk and bank do.
    """
    run = ProcessRun(kind="web", backend=backend)
    run.figures.update(notes=0, callbacks=0)
    while run.trials < trials:
        with databases.database(backend, folder) as url:
            debits, secret = await asyncio.to_thread(prepare, url)
            server = Server(
                url,
                free_port(),
                log_path,
                env={"WATTBOOK_KIOSK_LOOKUPS_PER_MINUTE": "6000"},
            )
            notes: dict[str, list[int]] = {}
            serials: set[str] = set()
            done = asyncio.Event()
            try:  # stop() also ends a server that failed to start
                await asyncio.to_thread(server.start, timeout_s=START_TIMEOUT_S)
                auth = KioskAuth("K01", secret, bootstrap.system_clock().now)
                async with (
                    httpx.AsyncClient(base_url=server.base, timeout=5) as client,
                    httpx.AsyncClient(base_url=server.base, timeout=5, auth=auth) as kiosk_client,
                ):
                    killing = asyncio.create_task(
                        _fault_server(
                            server,
                            rng,
                            done,
                            limit=trials - run.trials,
                            restart_database=restart_database,
                        )
                    )
                    await asyncio.gather(
                        kiosk_stream(
                            kiosk_client, random.Random(rng.random()), notes, sessions=sessions
                        ),
                        bank_stream(
                            client, random.Random(rng.random()), debits[:sessions], serials
                        ),
                    )
                    done.set()
                    run.trials += await killing
            finally:
                await asyncio.to_thread(server.stop)
            run.figures["notes"] += sum(map(len, notes.values()))
            run.figures["callbacks"] += len(serials)
            run.violations += await _payment_checks(url, notes, serials, sessions)
    return run


async def _fault_server(
    server: Server, rng: random.Random, done: asyncio.Event, *, limit: int, restart_database: bool
) -> int:
    faults = 0
    while faults < limit and not done.is_set():
        await asyncio.sleep(rng.uniform(0.05, 0.5))
        faults += 1
        if restart_database:
            await asyncio.to_thread(databases.terminate_backends, server.url)
            continue
        server.kill()
        # Two cores shared by many processes: give a restart time before calling it a crash
        # loop (Server.start raises RuntimeError then, and the run fails).
        await asyncio.to_thread(server.start, timeout_s=START_TIMEOUT_S)
    return faults


async def _payment_checks(
    url: str, notes: dict[str, list[int]], serials: set[str], debits: int
) -> list[str]:
    storage = bootstrap.build_storage(Settings(database_url=url))
    try:  # the kiosk sessions left open by a kill are credited by recovery, as in production
        await kiosk.recover_kiosk_sessions(
            uow_factory=storage.uow_factory, clock=storage.clock, idle_for=dt.timedelta(0)
        )
    finally:
        storage.close()
    found = await invariants.ledger(url)
    credited = {
        str(ref): int(fen)
        for ref, fen in invariants.rows(
            url, "SELECT channel_reference, amount_fen FROM payments WHERE channel = 'KIOSK'"
        )
    }
    for txn, fens in notes.items():
        if credited.get(txn, 0) != sum(fens):
            found.append(f"kiosk {txn}: notes {sum(fens)} fen accepted, {credited.get(txn)} paid")
    bank = {
        str(s)
        for (s,) in invariants.rows(
            url, "SELECT channel_reference FROM payments WHERE channel = 'BANK_AUTO'"
        )
    }
    found += [f"bank callback {s} acknowledged but not credited" for s in serials - bank]
    if len(bank) > debits:
        found.append(f"{len(bank)} bank credits for {debits} debits")
    return found


# ---------------------------------------------------------------- the SMS worker

SMS_ACCOUNTS = 40
PRICE = Price(yuan_per_kwh=Decimal("0.5283"))


async def _sms_accounts(url: str) -> list[AccountNumber]:
    storage = bootstrap.build_storage(Settings(database_url=url))
    numbers = [AccountNumber(value=f"0516099{n:05d}") for n in range(1, SMS_ACCOUNTS + 1)]
    try:
        for index, number in enumerate(numbers):
            await open_account(
                uow=storage.uow_factory(),
                clock=storage.clock,
                number=number,
                holder=accounts.Holder(name="住户"),
                phone=accounts.PhoneNumber(digits=f"139{index:08d}"),
                address=accounts.Address(text="丙6-1-801"),
                opening_balance=Money(fen=OPENING_FEN),
            )
    finally:
        storage.close()
    return numbers


async def _enqueue(url: str, requests: list[SmsRequest]) -> None:
    storage = bootstrap.build_storage(Settings(database_url=url))
    try:
        async with storage.uow_factory() as uow:
            await uow.sms.enqueue(requests, at=storage.clock.now())
            await uow.commit()
    finally:
        storage.close()


async def sms_kills(
    *,
    backend: str,
    url: str,
    trials: int,
    rng: random.Random,
    log: IO[bytes],
    window_s: float = 2.5,
) -> ProcessRun:
    """kill -9 `wattbook sms worker` mid-send; every queued text must reach the modem once."""
    run = ProcessRun(kind="sms", backend=backend)
    delivered: dict[str, int] = {}

    def heard(message: object) -> None:
        text = str(getattr(message, "text", ""))
        delivered[text] = delivered.get(text, 0) + 1

    numbers = await _sms_accounts(url)
    modem, where = await bootstrap.start_modem_simulator(listener=heard)
    env = {"WATTBOOK_SMS_SENDER": "modem", "WATTBOOK_MODEM": where}
    argv = ("sms", "worker", "--database-url", url, "--idle", "0.1")
    queued = 0
    drained = False
    try:
        async with _reaped():
            for _ in range(trials):
                # Unique balances make unique texts: the modem's log tells each message apart.
                batch = [
                    SmsRequest(
                        account_number=numbers[(queued + i) % len(numbers)],
                        kind=NotificationKind.POWER_RESTORED,
                        balance=Money(fen=100_000 + queued + i),
                        price=PRICE,
                    )
                    for i in range(4)
                ]
                await _enqueue(url, batch)
                queued += len(batch)
                process = await _spawn(argv, env=env, log=log)
                await asyncio.sleep(rng.uniform(0.2, window_s))
                await _kill9(process)
                run.trials += 1
            process = await _spawn(argv, env=env, log=log)
            drained = await _wait(lambda: _pending(url) == 0, within_s=60)
            await _stop(process)
    finally:
        await modem.close()
    if not drained:
        run.violations.append(f"{_pending(url)} text(s) still pending 60 s after the last kill")
    statuses = invariants.rows(url, "SELECT status, COUNT(*) FROM sms_outbox GROUP BY status")
    for status, count in statuses:
        if status not in ("SENT", "CONFIRMED"):
            run.violations.append(f"{count} text(s) ended {status}")
    balances = {f"{(100_000 + i) // 100}.{(100_000 + i) % 100:02d}" for i in range(queued)}
    heard_once = sum(1 for b in balances if any(b in text for text in delivered))
    if heard_once != queued:
        run.violations.append(f"{queued - heard_once} of {queued} text(s) never reached the modem")
    resent = sum(delivered.values()) - len(delivered)
    if resent:  # parts go through the modem's storage so that a restart sends each once
        run.violations.append(f"{resent} text(s) reached the modem twice")
    run.figures.update(texts=queued, resent=resent, delivered=len(delivered))
    return run


def _pending(url: str) -> int:
    return int(
        invariants.rows(url, "SELECT COUNT(*) FROM sms_outbox WHERE status = 'PENDING'")[0][0]
    )


async def _wait(condition: Callable[[], bool], *, within_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if await asyncio.to_thread(condition):
            return True
        await asyncio.sleep(0.3)
    return False
