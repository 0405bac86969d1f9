"""Composition root: build the adapters from the settings and hand them to the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from wattbook.adapters import db, sms
from wattbook.adapters.clock import SystemClock
from wattbook.application import ports, queries
from wattbook.application.send_pending_sms import SmsRunReport, run_sms_worker
from wattbook.application.sms_ports import AccountWithoutPhone
from wattbook.domain.values import AccountNumber
from wattbook.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    """The database engine and what the use cases need of it."""

    engine: Engine
    uow_factory: Callable[[], ports.UnitOfWork]
    clock: ports.Clock

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()


def build_storage(settings: Settings | None = None) -> Storage:
    """Return the storage for the configured database (not migrated: see ``migrate``).

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    engine = db.create_engine(resolved.database_url)
    return Storage(engine=engine, uow_factory=db.unit_of_work_factory(engine), clock=SystemClock())


def migrate(settings: Settings | None = None, *, revision: str = "head") -> tuple[str, str | None]:
    """Migrate the configured database to ``revision``; return its URL (no password) and revision.

    :raises db.UnsupportedDatabase: if the URL names an unsupported backend.
    """
    resolved = settings if settings is not None else Settings.from_environment()
    engine = db.create_engine(resolved.database_url)
    try:
        db.upgrade(engine, revision=revision)
        return engine.url.render_as_string(hide_password=True), db.current_revision(engine)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- SMS (issue 6)


def build_sms_sender(settings: Settings | None = None) -> sms.ModemSender | sms.LogSender:
    """Return the SMS sender the settings name: the GSM modem, or the log (demo)."""
    resolved = settings if settings is not None else Settings.from_environment()
    if resolved.sms_sender == "modem":
        return sms.ModemSender.for_url(
            resolved.modem_device, baud=resolved.modem_baud, pdu_mode=resolved.modem_pdu_mode
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
            uow=storage.uow_factory(),
            after=None if after is None else AccountNumber(value=after),
            limit=limit,
        )
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
