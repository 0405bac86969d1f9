"""Composition root: build the adapters from the settings and hand them to the use cases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.engine import url as sa_url

from wattbook.adapters import acceptors, bank, broker, db, meters, sms
from wattbook.adapters.clock import SystemClock
from wattbook.application import ports, queries, read_ports
from wattbook.application.accounts.import_households import ImportReport
from wattbook.application.accounts.import_households import (
    import_households as import_households_use_case,
)
from wattbook.application.api import ports as api_ports
from wattbook.application.api.create_token import (
    create_api_token as create_api_token_use_case,
)
from wattbook.application.api.list_tokens import list_api_tokens as list_api_tokens_use_case
from wattbook.application.api.revoke_token import (
    revoke_api_token as revoke_api_token_use_case,
)
from wattbook.application.billing import ports as billing_ports
from wattbook.application.headend.broker_ingest import INGEST_BATCH, IngestWorker
from wattbook.application.headend.broker_sink import BrokerSink
from wattbook.application.headend.configure_bus import configure_bus, load_buses
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.application.headend.ports import BusConfig
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.application.keep_partitions import MONTHS_AHEAD, PartitionCheck
from wattbook.application.keep_partitions import keep_partitions as run_keep_partitions
from wattbook.application.notifications.ports import AccountWithoutPhone, FailedSms
from wattbook.application.notifications.send_pending_sms import SmsRunReport, run_sms_worker
from wattbook.application.payments import acceptor_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments.kiosk import KIOSK_IDLE_LIMIT
from wattbook.application.prepaid.calendar_ports import CalendarChange
from wattbook.application.prepaid.import_holiday_schedule import import_holiday_schedule
from wattbook.application.prepaid.read_calendar import CalendarYear, read_calendar_year
from wattbook.application.prepaid.set_calendar_day import set_calendar_day
from wattbook.application.queries import activity_ports
from wattbook.application.queries.resident_ports import ResidentReader
from wattbook.application.scheduled_jobs import (
    SMS_IDLE,
    ScheduledJob,
    run_scheduled_jobs,
    scheduled_jobs,
)
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import payments
from wattbook.domain.alarms import Alarm, AlarmScope
from wattbook.domain.values import AccountNumber, Money
from wattbook.settings import Settings, WebSettings

T = TypeVar("T")

# The database could not take more work in time (every worker busy): the web answers 503.
DatabaseBusy = db.DatabaseBusy
# A health check found the database unreachable, too slow, or too busy (``problem`` says which).
DatabaseUnavailable = db.DatabaseUnavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    """The database engine and what the use cases need of it.

    ``uow_factory`` makes units of work that may write; ``reader_factory`` makes read-only
    ones for queries, which on SQLite never wait for the writer.
    """

    engine: Engine
    uow_factory: Callable[[], ports.UnitOfWork]
    reader_factory: Callable[[], read_ports.ReadOnlyUnitOfWork]
    clock: ports.Clock

    @classmethod
    def on(cls, engine: Engine, *, clock: ports.Clock | None = None) -> Storage:
        """Return the storage on an engine made by ``db.create_engine``."""
        return cls(
            engine=engine,
            uow_factory=db.unit_of_work_factory(engine),
            reader_factory=db.reader_factory(engine),
            clock=clock if clock is not None else SystemClock(),
        )

    @property
    def report_factory(self) -> Callable[[], read_ports.ReportingUnitOfWork]:
        """Return a factory of read-only units of work that also read the set-based reports
        and the API's feeds."""
        return db.reader_factory(self.engine)

    @property
    def month_end_factory(self) -> Callable[[], billing_ports.MonthEndUnitOfWork]:
        """Return a factory of month-end units of work (they also write the statements)."""
        return db.month_end_factory(self.engine)

    @property
    def resident_reader(self) -> ResidentReader:
        """Return the residents' portal's reader (one household per call, read-only)."""
        return db.SqlResidentReader(self.engine)

    async def in_one_hand_off(self, use_case: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Return ``await use_case()`` run on one database worker from begin to end.

        For the money paths: a use case whose only await is its one writing unit of work
        runs it with one hand-off to the database's threads instead of one per statement.

        :raises DatabaseBusy: if no worker came free in time.
        :raises db.HandOffSuspended: if the use case awaited anything else (rolled back).
        """
        return await db.run_in_one_hand_off(self.engine, use_case)

    async def check(self, *, timeout_s: float = db.PING_TIMEOUT_S) -> None:
        """Check that the database answers a query through the same workers as the use cases.

        :raises DatabaseUnavailable: if it does not within ``timeout_s``.
        """
        await db.ping(self.engine, timeout_s=timeout_s)

    def close(self) -> None:
        """Release the engine's connections and stop its worker threads."""
        self.engine.dispose()


def _engine(settings: Settings) -> Engine:
    return db.create_engine(
        settings.database_url,
        workers=settings.db_workers,
        queue_timeout_s=settings.db_queue_timeout_s,
    )


def _with_url(database_url: str | None) -> Settings:
    """Return the environment's settings, with ``database_url`` instead if given."""
    settings = Settings.from_environment()
    if database_url is None:
        return settings
    return dataclasses.replace(settings, database_url=database_url)


def build_storage(settings: Settings | None = None) -> Storage:
    """Return the storage for the configured database (not migrated: see ``migrate``).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    return Storage.on(_engine(resolved))


# ---------------------------------------------------------------- the database, checked first


class DatabaseProblem(Exception):
    """The configured database cannot be used; the message says why in one sentence."""


class BadDatabaseSetting(DatabaseProblem):
    """The database URL (or a migration target) is malformed, unsupported or names no folder."""


class DatabaseUnreachable(DatabaseProblem):
    """The database server or file cannot be reached or opened."""


class DatabaseNotMigrated(DatabaseProblem):
    """The database was never migrated, or is at another schema than this version's."""


def _shown(url: str) -> str:
    """Return ``url`` as it may be shown: without its password."""
    try:
        return sa_url.make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return repr(url)


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def database_problem(error: BaseException, *, url: str | None = None) -> DatabaseProblem | None:
    """Return what ``error`` means for the person who configured the database, or None.

    None means the error is not about the database setting, its reachability or its schema
    (a bug, say), and must be treated as unexpected.
    """
    where = f" {_shown(url)}" if url else ""
    if isinstance(error, DatabaseProblem):
        return error
    if isinstance(error, db.InvalidDatabaseUrl):
        return BadDatabaseSetting(str(error))
    if isinstance(error, db.UnsupportedDatabase | sa_exc.NoSuchModuleError):
        return BadDatabaseSetting(f"cannot use the database URL{where}: {error}")
    if isinstance(error, sa_exc.ArgumentError):
        return BadDatabaseSetting(f"malformed database URL{where}: {_first_line(error)}")
    if isinstance(error, db.UnknownRevision):
        return BadDatabaseSetting(str(error))
    if isinstance(error, sa_exc.DBAPIError):
        text = _first_line(error)
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            return DatabaseNotMigrated(
                f"the database{where} lacks a table ({text}): run `wattbook migrate` first"
            )
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return DatabaseUnreachable(f"cannot reach the database{where}: {text}")
    return None


def check_database(settings: Settings | None = None) -> str:
    """Return the schema revision of the configured database once it proves usable.

    Nothing is created or changed: a SQLite file that does not exist is reported, not made.

    :raises BadDatabaseSetting: if the URL is malformed or names an unsupported backend.
    :raises DatabaseUnreachable: if the server or the file cannot be reached or opened.
    :raises DatabaseNotMigrated: if the database was never migrated or is not at this
        version's newest revision.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    url = resolved.database_url
    try:
        path = db.sqlite_path(url)
        if path is not None and not path.is_file():
            raise DatabaseNotMigrated(
                f"there is no database at {path}: run `wattbook migrate` first (or check "
                "WATTBOOK_DATABASE_URL / --database-url)"
            )
        engine = db.create_engine(url, read_only=True, **_connect_timeout(url))
        try:
            current = db.current_revision(engine)
        finally:
            engine.dispose()
    except Exception as error:
        problem = database_problem(error, url=url)
        if problem is None:
            raise
        raise problem from error
    head = db.head_revision()
    if current is None:
        raise DatabaseNotMigrated(
            f"the database {_shown(url)} was never migrated: run `wattbook migrate` first"
        )
    if current != head:
        if db.is_shipped_revision(current):
            raise DatabaseNotMigrated(
                f"the database {_shown(url)} is at revision {current}, this version needs "
                f"{head}: run `wattbook migrate` first"
            )
        raise DatabaseNotMigrated(
            f"the database {_shown(url)} is at revision {current}, which this version of "
            "wattbook does not know: a newer wattbook migrated it"
        )
    return current


def _connect_timeout(url: str) -> dict[str, Any]:
    # A server that does not answer must not hang a command: psycopg waits forever by default.
    if db.normalise_url(url).get_backend_name() == "postgresql":
        return {"connect_args": {"connect_timeout": DATABASE_CONNECT_TIMEOUT_S}}
    return {}


DATABASE_CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """What ``migrate`` did: the database (no password), its revision, a folder it made."""

    url: str
    revision: str | None
    created_folder: Path | None = None


def migrate(
    settings: Settings | None = None, *, revision: str = "head", create_folder: bool = False
) -> Migration:
    """Migrate the configured database to ``revision``.

    A SQLite file is created if missing, but its folder only with ``create_folder``: a
    missing folder is as often a mistyped path as a new install.

    :raises BadDatabaseSetting: if the URL is malformed or unsupported, the SQLite file's
        folder is missing (without ``create_folder``), or ``revision`` is unknown.
    :raises DatabaseUnreachable: if the server or the file cannot be reached or opened.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    url = resolved.database_url
    created: Path | None = None
    try:
        path = db.sqlite_path(url)
        if path is not None and not path.parent.is_dir():
            if not create_folder:
                raise BadDatabaseSetting(
                    f"the folder {path.parent} for the SQLite database does not exist: create "
                    "it, or pass --create-folder"
                )
            path.parent.mkdir(parents=True)
            created = path.parent
        engine = db.create_engine(url, **_connect_timeout(url))
        try:
            db.upgrade(engine, revision=revision)
            return Migration(
                url=engine.url.render_as_string(hide_password=True),
                revision=db.current_revision(engine),
                created_folder=created,
            )
        finally:
            engine.dispose()
    except Exception as error:
        problem = database_problem(error, url=url)
        if problem is None:
            raise
        raise problem from error


# ---------------------------------------------------------------- head-end


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadendRuntime:
    """A head-end built for one database: run it with ``await runtime.run(stop)``.

    With a broker (``link``), what it collects is published, relay orders come from the
    broker, and the link keeps itself connected and hands its spool over while it runs.
    """

    headend: Headend
    storage: Storage
    link: broker.HeadendLink | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run the head-end (and the broker link's upkeep) until ``stop`` is set."""
        if self.link is None:
            await self.headend.run(stop)
            return
        upkeep = asyncio.create_task(self.link.keep_up(stop))
        try:
            await self.headend.run(stop)
        finally:
            stop.set()
            await upkeep
            # What the pollers handed over last may still sit in the spool: try once more.
            await self.link.hand_over_spool()

    def close(self) -> None:
        """Release the database engine."""
        self.storage.close()

    async def aclose(self) -> None:
        """Close the broker link (what is spooled stays in its file) and the database."""
        if self.link is not None:
            await self.link.close()
        self.storage.close()


async def build_headend(
    *,
    database_url: str | None = None,
    buses: Collection[str] | None = None,
    clock: ports.Clock | None = None,
    relay_password: str | None = None,
    relay_password_level: int = 0x02,
    security_master_key: bytes | None = None,
    command_poll_s: float = 1.0,
    broker_url: str | None = None,
    headend_name: str | None = None,
    spool_path: Path | None = None,
    spool_max_bytes: int | None = None,
) -> HeadendRuntime:
    """Return the head-end for a database and its configured buses (all, or those named).

    The database must be migrated. Readings and events go to the core in this process
    (``InProcessCore``), or, with ``broker_url``, are published on the head-end's subject
    (``headend_name``; kept in ``spool_path`` while the broker is away) and relay orders come
    from the broker (ADR 20). Relay orders are signed with the plain password, or through the
    (simulated) security module when ``security_master_key`` is given. ``wattbook headend``
    and ``wattbook demo`` both start the head-end through here.

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    storage = build_storage(_with_url(database_url))
    link: broker.HeadendLink | None = None
    if broker_url is not None:
        name = headend_name or socket.gethostname()
        link = broker.HeadendLink(
            url=broker_url,
            headend=name,
            spool=broker.Spool(
                spool_path or Path(f"wattbook-spool-{broker.token(name)}.jsonl"),
                **({} if spool_max_bytes is None else {"max_bytes": spool_max_bytes}),
            ),
            now=(clock if clock is not None else storage.clock).now,
        )
        await link.start()
    used_clock = clock if clock is not None else storage.clock
    configured = await load_buses(uow=storage.uow_factory(), names=buses)
    factory = meters.Dlt645GatewayFactory(
        clock=used_clock,
        authoriser=meters.relay_authoriser(
            password=relay_password, level=relay_password_level, master_key=security_master_key
        ),
    )
    headend = Headend(
        buses=configured,
        gateway_factory=factory,
        sink=(
            InProcessCore(uow_factory=storage.uow_factory, clock=used_clock)
            if link is None
            else BrokerSink(link)
        ),
        uow_factory=storage.uow_factory,
        clock=used_clock,
        command_poll_s=command_poll_s,
        orders=link,
    )
    return HeadendRuntime(headend=headend, storage=storage, link=link)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestRuntime:
    """An ingest worker: what head-ends publish, written to one database (ADR 20)."""

    worker: IngestWorker
    storage: Storage


@contextlib.asynccontextmanager
async def ingest_worker(
    *, broker_url: str, database_url: str | None = None, batch: int = INGEST_BATCH
) -> AsyncIterator[IngestRuntime]:
    """Connect to the broker and the database; yield the worker, close both on exit.

    :raises broker_ports.BrokerUnavailable: if the broker cannot be reached.
    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    storage = build_storage(_with_url(database_url))
    try:
        async with broker.open_core_link(broker_url) as link:
            yield IngestRuntime(
                worker=IngestWorker(
                    source=link,
                    orders=link,
                    uow_factory=storage.uow_factory,
                    clock=storage.clock,
                    batch=batch,
                ),
                storage=storage,
            )
    finally:
        storage.close()


async def add_bus(*, bus: BusConfig, database_url: str | None = None) -> None:
    """Store a bus and its meters in the configured database (``wattbook headend add-bus``).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    storage = build_storage(_with_url(database_url))
    try:
        await configure_bus(uow=storage.uow_factory(), bus=bus)
    finally:
        storage.close()


# ---------------------------------------------------------------- payments and the web

# PDF receipts need a font with Chinese glyphs; these are Debian's (.ci/run installs the first).
RECEIPT_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
BankMessageRejected = (bank.InvalidSignature, bank.MalformedMessage)


@dataclass(frozen=True, slots=True, kw_only=True)
class BankLink:
    """The bank as the web app sees it: the gateway out, signed messages in."""

    gateway: payment_ports.BankGateway
    secret: bytes | None

    def _secret(self) -> bytes:
        if self.secret is None:
            raise bank.InvalidSignature("no bank secret configured (WATTBOOK_BANK_SECRET)")
        return self.secret

    def read_callback(self, body: bytes, signature: str | None) -> payments.BankCallback:
        """Return the callback in a signed body.

        :raises bank.InvalidSignature: if the signature is wrong or no secret is configured.
        :raises bank.MalformedMessage: if the body is not a callback.
        """
        return bank.decode_callback(self._secret(), body, signature)

    def read_agreement(self, body: bytes, signature: str | None) -> payments.Agreement:
        """Return the agreement in a signed notice.

        :raises bank.InvalidSignature: if the signature is wrong or no secret is configured.
        :raises bank.MalformedMessage: if the body is not an agreement.
        :raises payments.InvalidAgreement: if it breaks the agreement rules.
        """
        return bank.decode_agreement(self._secret(), body, signature)

    def read_cancellation(self, body: bytes, signature: str | None) -> tuple[str, date]:
        """Return the agreement number and the date of a signed cancellation.

        :raises bank.InvalidSignature: if the signature is wrong or no secret is configured.
        :raises bank.MalformedMessage: if the body is not a cancellation.
        """
        return bank.decode_cancellation(self._secret(), body, signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebRuntime:
    """Everything `wattbook serve` (and later `wattbook demo`) hands to the web app.

    ``wall_clock`` is the real time, for request freshness and rate limits: in the demo the
    business clock runs fast, but a kiosk signs its requests with the time of day.
    """

    storage: Storage
    web: WebSettings
    bank: BankLink
    receipt_font: Path | None
    wall_clock: ports.Clock = dataclasses.field(default_factory=SystemClock)
    password_hasher: staff_ports.PasswordHasher = dataclasses.field(
        default_factory=lambda: password_hasher()
    )

    @property
    def kiosk_caps(self) -> payments.KioskCaps:
        """Return the most one kiosk session takes, as the web settings say."""
        return payments.KioskCaps(
            max_total=Money(fen=self.web.kiosk_session_max_yuan * 100),
            max_notes=self.web.kiosk_session_max_notes,
        )

    @property
    def uow_factory(self) -> Callable[[], ports.UnitOfWork]:
        """Return the unit-of-work factory."""
        return self.storage.uow_factory

    @property
    def reader_factory(self) -> Callable[[], read_ports.ReadOnlyUnitOfWork]:
        """Return the read-only unit-of-work factory (for queries)."""
        return self.storage.reader_factory

    @property
    def clock(self) -> ports.Clock:
        """Return the clock."""
        return self.storage.clock

    def close(self) -> None:
        """Release the database engine."""
        self.storage.close()


def find_receipt_font(configured: str | None) -> Path | None:
    """Return the font for PDF receipts: the configured one, else the first Debian one found."""
    for candidate in (configured, *RECEIPT_FONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build_web(
    settings: Settings | None = None,
    web: WebSettings | None = None,
    *,
    clock: ports.Clock | None = None,
) -> WebRuntime:
    """Return what the web app needs for the configured database and bank (not migrated).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = web if web is not None else WebSettings.from_environment()
    storage = build_storage(settings)
    if clock is not None:
        storage = dataclasses.replace(storage, clock=clock)
    secret = None if resolved.bank_secret is None else resolved.bank_secret.encode()
    return WebRuntime(
        storage=storage,
        web=resolved,
        bank=BankLink(gateway=build_bank_gateway(resolved), secret=secret),
        receipt_font=find_receipt_font(resolved.receipt_font),
    )


def build_bank_gateway(web: WebSettings) -> payment_ports.BankGateway:
    """Return the bank gateway the web settings name, or one that refuses (no bank set up)."""
    secret = None if web.bank_secret is None else web.bank_secret.encode()
    if web.bank_url and secret:
        return bank.HttpBankGateway(
            base_url=web.bank_url, secret=secret, callback_url=web.callback_url
        )
    return bank.NoBankGateway()


def bound_to(runtime: WebRuntime, *, host: str, port: int) -> WebRuntime:
    """Return ``runtime`` as served on ``host:port``, the address actually listened on.

    The bank is then told to call back there (a port asked as 0 is the one the system
    picked), unless ``WATTBOOK_PUBLIC_URL`` names the address the bank must use.
    """
    web = dataclasses.replace(runtime.web, host=host, port=port)
    gateway = runtime.bank.gateway
    if isinstance(gateway, bank.HttpBankGateway):
        gateway = gateway.with_callback_url(web.callback_url)
    return dataclasses.replace(
        runtime, web=web, bank=BankLink(gateway=gateway, secret=runtime.bank.secret)
    )


class RunningWeb(Protocol):
    """A web app serving in this event loop (what ``WebInterface.start_web_server`` returns)."""

    @property
    def url(self) -> str:
        """Return the address it serves on, e.g. ``http://127.0.0.1:8000``."""
        ...

    @property
    def runtime(self) -> WebRuntime:
        """Return what it was built with."""
        ...

    async def stop(self) -> None:
        """Stop serving and release the database engine."""
        ...


class WebInterface(Protocol):
    """What the web interface offers the processes that serve it (``serve``, the demo).

    The command line does not import the web interface, and this layer may not (it sits
    below the interfaces): the process's entry point, ``wattbook.__main__``, which sits
    outside the layers, hands the command line a loader of it. So FastAPI, Jinja2 and the
    PDF library load only in the commands that serve.
    """

    @property
    def CannotListen(self) -> type[OSError]:  # noqa: N802 - the exception class it raises
        """Return the error raised when the host and port cannot be listened on."""
        ...

    async def serve(
        self,
        runtime: WebRuntime,
        *,
        host: str | None = None,
        port: int | None = None,
        stop: asyncio.Event | None = None,
        background: bool = True,
        with_sms: bool = False,
        on_listening: Callable[[str], None] | None = None,
    ) -> None:
        """Serve the app until ``stop`` is set (or forever); port 0 picks a free port.

        :raises CannotListen: if it cannot listen on the host and port.
        """
        ...

    async def start_web_server(
        self,
        *,
        settings: Settings | None = None,
        clock: ports.Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        background: bool = True,
        web: WebSettings | None = None,
    ) -> RunningWeb:
        """Start the app in this event loop and return it once it serves; ``web`` instead of
        the environment's web settings (the demo's bank).

        :raises CannotListen: if it cannot listen on the host and port.
        """
        ...


WebLoader = Callable[[], WebInterface]


def read_bank_statement(text: str) -> tuple[payments.StatementLine, ...]:
    """Return the lines of the bank's daily statement file.

    :raises bank.MalformedMessage: if the file is malformed.
    """
    return bank.decode_statement(text)


def build_bank_simulator(
    *,
    secret: str,
    cards: dict[str, tuple[Money, bool]],
    agreements: dict[str, str],
    delay_s: float,
    duplicate_rate: float,
    seed: int | None = None,
    now: Callable[[], datetime] | None = None,
) -> bank.SimulatedBank:
    """Return a simulated bank (``wattbook bank-sim``) with cards (balance, closed) by token."""
    return bank.SimulatedBank(
        secret=secret.encode(),
        cards={
            token: bank.SimulatedCard(balance=balance, closed=closed)
            for token, (balance, closed) in cards.items()
        },
        agreements=agreements,
        delay_s=delay_s,
        duplicate_rate=duplicate_rate,
        seed=seed,
        now=now,
    )


async def push_agreement_to(
    *, wattbook_url: str, secret: str, agreement: payments.Agreement
) -> int:
    """Send a signed agreement notice to a wattbook server, as the bank does; return the status."""
    return await bank.push_agreement(
        wattbook_url=wattbook_url, secret=secret.encode(), agreement=agreement
    )


# ---------------------------------------------------------------------------- SMS


def build_sms_sender(settings: Settings | None = None) -> sms.ModemSender | sms.LogSender:
    """Return the SMS sender the settings name: the GSM modem, or the log (demo)."""
    resolved = settings if settings is not None else Settings.from_environment()
    if resolved.sms_sender == "modem":
        return sms.ModemSender.for_url(
            resolved.modem_device,
            baud=resolved.modem_baud,
            pdu_mode=resolved.modem_pdu_mode,
            storage=resolved.modem_storage,
        )
    return sms.LogSender()


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsWorker:
    """The SMS outbox worker: run it as ``wattbook sms worker`` or inside another process."""

    storage: Storage
    sender: sms.ModemSender | sms.LogSender
    clock: ports.Clock

    async def run(
        self,
        stop: asyncio.Event,
        *,
        idle_s: float = 5.0,
        unavailable_s: float = 30.0,
        on_run: Callable[[SmsRunReport], None] | None = None,
    ) -> None:
        """Recover interrupted messages, then send until ``stop`` is set; close the sender."""
        try:
            await run_sms_worker(
                uow_factory=self.storage.uow_factory,
                clock=self.clock,
                sender=self.sender,
                stop=stop,
                idle_s=idle_s,
                unavailable_s=unavailable_s,
                on_run=on_run,
            )
        finally:
            await self.sender.close()


def build_sms_worker(
    settings: Settings | None = None,
    *,
    storage: Storage | None = None,
    sender: sms.ModemSender | sms.LogSender | None = None,
    clock: ports.Clock | None = None,
) -> SmsWorker:
    """Return the SMS worker on ``storage`` (or the configured database) with its sender.

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    used_storage = storage if storage is not None else build_storage(resolved)
    return SmsWorker(
        storage=used_storage,
        sender=sender if sender is not None else build_sms_sender(resolved),
        clock=clock if clock is not None else used_storage.clock,
    )


async def accounts_without_phone(
    *, settings: Settings | None = None, after: str | None = None, limit: int = 1000
) -> tuple[AccountWithoutPhone, ...]:
    """Return open accounts with no phone number on file (N2), for ``wattbook sms no-phone``.

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    :raises InvalidAccountNumber: if ``after`` is not a 12-digit account number.
    """
    storage = build_storage(settings)
    try:
        return await queries.accounts_without_phone(
            uow=storage.reader_factory(),
            after=None if after is None else AccountNumber(value=after),
            limit=limit,
        )
    finally:
        storage.close()


async def failed_sms(
    *, settings: Settings | None = None, days: int = 7, limit: int = 1000
) -> tuple[FailedSms, ...]:
    """Return the SMS that failed in the last ``days`` days (``wattbook sms failed``).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    storage = build_storage(settings)
    try:
        since = storage.clock.now() - timedelta(days=days)
        return await queries.failed_sms(uow=storage.reader_factory(), since=since, limit=limit)
    finally:
        storage.close()


async def start_modem_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    pty: bool = False,
    sim_inserted: bool = True,
    registration: int = 1,
    fail_codes: Collection[int] = (),
    listener: Callable[[sms.AcceptedMessage], None] | None = None,
) -> tuple[sms.ModemSimulator, str]:
    """Start a simulated GSM modem; return it and where it answers (URL or pty device)."""
    state = sms.ModemState(sim_inserted=sim_inserted, registration=registration, listener=listener)
    state.fail_next_sends(*fail_codes)
    simulator = sms.ModemSimulator(state)
    where = simulator.serve_pty() if pty else await simulator.serve_tcp(host=host, port=port)
    return simulator, where


def system_clock() -> ports.Clock:
    """Return the system clock (for interfaces that need today's date)."""
    return SystemClock()


def password_hasher(*, fast: bool = False) -> staff_ports.PasswordHasher:
    """Return the staff password hasher (argon2id).

    ``fast`` is for the demo's throw-away administrator, made while its clock runs 60 times
    faster than the wall: the hash costs a millisecond, and the first log-in rehashes it with
    the full parameters.
    """
    from wattbook.adapters.passwords import Argon2Hasher

    return Argon2Hasher(fast=fast)


# ------------------------------------------------------------ kiosk agent


class InvalidAcceptor(ValueError):
    """The acceptor named is not one wattbook drives (``simulated``, ``cctalk:DEVICE``)."""


def check_acceptor_spec(spec: str) -> str:
    """Return ``spec`` if it names an acceptor wattbook drives (the one parser of specs).

    ``simulated``, or ``cctalk:DEVICE[?address=N&baud=N]`` (address 2-255, default 40; baud
    9600 by default).

    :raises InvalidAcceptor: with a one-line reason otherwise.
    """
    if spec == "simulated":
        return spec
    if spec.startswith("cctalk:"):
        try:
            acceptors.parse_spec(spec)
        except acceptors.InvalidCcTalkSpec as error:
            raise InvalidAcceptor(f"bad ccTalk acceptor: {error}") from None
        return spec
    raise InvalidAcceptor(
        f"unknown acceptor {spec!r}: use 'simulated' or 'cctalk:DEVICE[?address=40&baud=9600]'"
    )


def build_note_acceptor(spec: str) -> acceptor_ports.NoteAcceptor:
    """Return the note acceptor ``spec`` names: ``simulated`` or ``cctalk:/dev/ttyUSB0``.

    :raises InvalidAcceptor: if the spec names none of those.
    :raises OSError: if the ccTalk serial port cannot be opened.
    """
    if check_acceptor_spec(spec) == "simulated":
        return acceptors.SimulatedAcceptor()
    return acceptors.CcTalkAcceptor(acceptors.parse_spec(spec))


SimulatedAcceptor = acceptors.SimulatedAcceptor
SimulatedNote = acceptors.SimulatedNote


# ------------------------------------------------------------------- scheduled jobs


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledJobs:
    """The jobs of ``application.scheduled_jobs`` built for one database, with the SMS worker."""

    jobs: tuple[ScheduledJob, ...]
    sms_worker: SmsWorker | None

    async def run(self, stop: asyncio.Event, *, speed: float = 1.0) -> None:
        """Run every job (and the SMS worker) until ``stop`` is set; ``speed`` > 1 for the demo."""
        workers = []
        if self.sms_worker is not None:
            worker = self.sms_worker
            idle_s = max(SMS_IDLE.total_seconds() / speed, 0.5)

            async def send(stop: asyncio.Event) -> None:
                await worker.run(stop, idle_s=idle_s)

            workers.append(send)
        await run_scheduled_jobs(self.jobs, stop, speed=speed, workers=workers)


def build_scheduled_jobs(
    *,
    storage: Storage,
    clock: ports.Clock | None = None,
    settings: Settings | None = None,
    web: WebSettings | None = None,
    bank_gateway: payment_ports.BankGateway | None = None,
    sms_worker: SmsWorker | None = None,
    with_sms: bool = True,
    kiosk_idle: timedelta = KIOSK_IDLE_LIMIT,
) -> ScheduledJobs:
    """Return the scheduled jobs on ``storage``: the one list ``headend run``, ``serve`` and the
    demo all run. The bank and the SMS sender come from the settings unless given."""
    used_clock = clock if clock is not None else storage.clock
    resolved = settings if settings is not None else Settings.from_environment()
    gateway = (
        bank_gateway
        if bank_gateway is not None
        else build_bank_gateway(web if web is not None else WebSettings.from_environment())
    )
    worker = sms_worker
    if worker is None and with_sms:
        worker = build_sms_worker(resolved, storage=storage, clock=used_clock)
    return ScheduledJobs(
        jobs=scheduled_jobs(
            uow_factory=storage.uow_factory,
            clock=used_clock,
            bank_gateway=gateway,
            kiosk_idle=kiosk_idle,
            partitions=db.SqlPartitionKeeper(storage.engine),
        ),
        sms_worker=worker if with_sms else None,
    )


# ---------------------------------------------------------------- partitions


async def keep_partitions(*, storage: Storage, months_ahead: int = MONTHS_AHEAD) -> PartitionCheck:
    """Make the monthly partitions ahead and alarm for a missing one (``wattbook partitions
    ensure``; the scheduled job does the same every hour).

    :raises ValueError: if ``months_ahead`` is below 1.
    """
    return await run_keep_partitions(
        keeper=db.SqlPartitionKeeper(storage.engine),
        uow=storage.uow_factory(),
        clock=storage.clock,
        months_ahead=months_ahead,
    )


# ---------------------------------------------------------------- holiday calendar


async def calendar_year(*, settings: Settings | None = None, year: int) -> CalendarYear:
    """Return a year of the holiday calendar (``wattbook calendar show``).

    :raises InvalidCalendarChange: if the year is out of range.
    """
    storage = build_storage(settings)
    try:
        return await read_calendar_year(uow=storage.reader_factory(), year=year)
    finally:
        storage.close()


async def set_day(
    *, settings: Settings | None = None, day: date, working: bool, by: str, note: str = ""
) -> CalendarChange | None:
    """Set one calendar day (``wattbook calendar set``).

    :raises InvalidCalendarChange: on bad input; nothing is written.
    """
    storage = build_storage(settings)
    try:
        return await set_calendar_day(
            uow=storage.uow_factory(),
            clock=storage.clock,
            day=day,
            working=working,
            by=by,
            note=note,
        )
    finally:
        storage.close()


async def import_schedule(
    *, settings: Settings | None = None, text: str, by: str, note: str = ""
) -> tuple[int, tuple[CalendarChange, ...]]:
    """Import a year's official schedule from CSV text (``wattbook calendar import``).

    :raises InvalidHolidaySchedule: if any row is bad; nothing is written.
    :raises InvalidCalendarChange: if ``by`` is blank; nothing is written.
    """
    storage = build_storage(settings)
    try:
        return await import_holiday_schedule(
            uow=storage.uow_factory(), clock=storage.clock, text=text, by=by, note=note
        )
    finally:
        storage.close()


async def alarms(
    *, settings: Settings | None = None, open_only: bool = True, scope: AlarmScope | None = None
) -> tuple[Alarm, ...]:
    """Return the alarms (of one scope, or every kind), newest first (``wattbook alarms``)."""
    storage = build_storage(settings)
    try:
        return await list_alarms(uow=storage.reader_factory(), open_only=open_only, scope=scope)
    finally:
        storage.close()


# ------------------------------------------------------------------- the campus's activity


def activity_reader(storage: Storage) -> activity_ports.ActivityReader:
    """Return the reader of what just happened on the campus (the demo's feed)."""
    return db.SqlActivityReader(storage.engine)


def statement_reader(storage: Storage) -> billing_ports.StatementReader:
    """Return the set-based reader of month-end statements."""
    return db.SqlStatementReader(storage.engine)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningBank:
    """A simulated bank serving in this event loop (the demo's)."""

    url: str
    bank: bank.SimulatedBank
    _stop: Callable[[], Any]

    async def stop(self) -> None:
        """Stop serving."""
        await self._stop()


async def start_bank_simulator(
    *, simulator: bank.SimulatedBank, host: str = "127.0.0.1", port: int = 0
) -> RunningBank:
    """Serve a simulated bank (``build_bank_simulator``) in this event loop; port 0: any free.

    :raises OSError: if it cannot listen on the host and port.
    """
    import socket

    import uvicorn

    listener = socket.create_server((host, port))
    bound = int(listener.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(simulator.app, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        listener.close()
        raise OSError(f"the simulated bank on {host}:{bound} stopped at start")

    async def stop() -> None:
        server.should_exit = True
        await task
        listener.close()

    return RunningBank(url=f"http://{host}:{bound}", bank=simulator, _stop=stop)


# ---------------------------------------------------------------- the JSON API's tokens


async def create_api_token(
    *, settings: Settings | None = None, name: str, scopes: Collection[str], by: str
) -> api_ports.NewToken:
    """Make an API token (``wattbook api token create``); its secret is in the answer once.

    :raises InvalidTokenRequest: if the name, scopes or ``by`` are not usable.
    """
    storage = build_storage(settings)
    try:
        return await create_api_token_use_case(
            uow=storage.uow_factory(), clock=storage.clock, name=name, scopes=scopes, by=by
        )
    finally:
        storage.close()


async def list_api_tokens(*, settings: Settings | None = None) -> tuple[api_ports.ApiToken, ...]:
    """Return every API token, oldest first (``wattbook api token list``)."""
    storage = build_storage(settings)
    try:
        return await list_api_tokens_use_case(uow=storage.uow_factory())
    finally:
        storage.close()


async def revoke_api_token(
    *, settings: Settings | None = None, token_id: int, by: str
) -> api_ports.ApiToken:
    """Revoke an API token (``wattbook api token revoke``).

    :raises UnknownToken: if there is no such token.
    """
    storage = build_storage(settings)
    try:
        return await revoke_api_token_use_case(
            uow=storage.uow_factory(), clock=storage.clock, token_id=token_id, by=by
        )
    finally:
        storage.close()


# ---------------------------------------------------------------- migration from the old system


async def import_households(
    *,
    settings: Settings | None = None,
    rows: Sequence[tuple[int, Sequence[str]]],
    by: str,
    note: str = "",
) -> ImportReport:
    """Open every household of a file's rows, or none (``wattbook import households``).

    :raises InvalidHouseholdFile: listing every bad row; nothing is written.
    """
    storage = build_storage(settings)
    try:
        return await import_households_use_case(
            uow=storage.uow_factory(), clock=storage.clock, rows=rows, by=by, note=note
        )
    finally:
        storage.close()
