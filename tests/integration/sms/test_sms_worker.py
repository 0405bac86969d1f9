"""The SMS outbox worker against the modem simulator, on both engines (issue 6, B4, N1, N2).

A "crash" is a BaseException raised inside the sender at a chosen moment: it escapes the use
case as a killed process would, leaving the database as the last commit left it and the
simulated modem (a separate object, like the real device) as it was. A "restart" is what a
fresh worker does: ``recover_sms_claims``, ``sweep_sms_storage``, then ``send_pending_sms``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from enum import Enum

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.adapters.sms import LogSender, ModemSender, ModemSimulator
from wattbook.application.accounts.open_account import open_account
from wattbook.application.notifications.ports import (
    DeliveryOutcome,
    NotificationKind,
    OutgoingSms,
    SmsRequest,
    SmsSender,
    SmsStorage,
    StoredPartState,
)
from wattbook.application.notifications.send_pending_sms import (
    SmsRunReport,
    recover_sms_claims,
    send_pending_sms,
    sweep_sms_storage,
)
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money, Price

PRICE = Price(yuan_per_kwh=Decimal("0.5283"))
LOW_BALANCE_TEXT = (
    "【水电中心】户号051600001234电费余额9.43元，约可用17.84度电，请及时充值，以免停电。"
)
# The text of ``top_up_failed``'s message: two parts.
LONG_TEXT = (
    "【水电中心】户号051600001234银行代扣充值50.00元未成功，当前余额0.00元。"
    "余额不足时将停止供电，请检查银行卡余额及状态，或到水电售卖窗口、自助缴费机缴费。"
)


class ProcessDied(BaseException):
    """The worker process was killed here."""


class CrashingSender:
    """Delegate to a real sender, sending directly; die before or after it takes a part."""

    storage: SmsStorage | None = None

    def __init__(self, inner: SmsSender, *, reference: int, part: int, after_modem: bool) -> None:
        self.inner = inner
        self.reference = reference
        self.part = part
        self.after_modem = after_modem
        self.name = inner.name

    def part_count(self, text: str) -> int:
        return self.inner.part_count(text)

    async def check(self) -> None:
        await self.inner.check()

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        chosen = (message.reference, part) == (self.reference, self.part)
        if chosen and not self.after_modem:
            raise ProcessDied
        reference = await self.inner.send_part(message, part=part)
        if chosen:
            raise ProcessDied
        return reference


class Step(Enum):
    """The moments around the modem's storage a worker can die at."""

    AFTER_WRITE = "after CMGW, before the index is recorded"
    BEFORE_SEND = "after the index is recorded, before CMSS"
    AFTER_SEND = "after CMSS, before the send is recorded"
    BEFORE_DELETE = "after the send is recorded, before CMGD"


class CrashingStorage:
    """A modem sender through its storage that dies at one step of one part."""

    def __init__(self, inner: ModemSender, *, reference: int, part: int, step: Step) -> None:
        self.inner = inner
        self.reference = reference
        self.part = part
        self.step = step
        self.name = inner.name
        self._parts: dict[int, tuple[int, int]] = {}  # storage index -> (outbox id, part)

    @property
    def storage(self) -> SmsStorage:
        return self

    def _chosen(self, index: int, step: Step) -> bool:
        return self.step is step and self._parts.get(index) == (self.reference, self.part)

    def part_count(self, text: str) -> int:
        return self.inner.part_count(text)

    async def check(self) -> None:
        await self.inner.check()

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        raise AssertionError("a storage sender sends nothing directly")

    async def store_part(self, message: OutgoingSms, *, part: int) -> int:
        index = await self.inner.store_part(message, part=part)
        self._parts[index] = (message.reference, part)
        if self._chosen(index, Step.AFTER_WRITE):
            raise ProcessDied
        return index

    async def send_stored(self, index: int) -> str:
        if self._chosen(index, Step.BEFORE_SEND):
            raise ProcessDied
        reference = await self.inner.send_stored(index)
        if self._chosen(index, Step.AFTER_SEND):
            raise ProcessDied
        return reference

    async def stored_state(self, message: OutgoingSms, *, part: int, index: int) -> StoredPartState:
        return await self.inner.stored_state(message, part=part, index=index)

    async def discard(self, index: int) -> None:
        if self._chosen(index, Step.BEFORE_DELETE):
            raise ProcessDied
        await self.inner.discard(index)

    async def stored(self) -> tuple[int, ...]:
        return await self.inner.stored()


@pytest.fixture
async def simulator() -> AsyncIterator[ModemSimulator]:
    simulator = ModemSimulator()
    yield simulator
    await simulator.close()


@pytest.fixture
async def sender(simulator: ModemSimulator) -> AsyncIterator[ModemSender]:
    sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)
    yield sender
    await sender.close()


@pytest.fixture
async def direct(simulator: ModemSimulator) -> AsyncIterator[ModemSender]:
    """A modem sender for a modem without storage: parts go out with AT+CMGS."""
    sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0, storage=False)
    yield sender
    await sender.close()


class Outbox:
    """Drive the worker on a fake clock and look at the rows it leaves."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.uow_factory = db.unit_of_work_factory(engine)

    async def open(self, number: str, phone: str | None) -> AccountNumber:
        account = AccountNumber(value=number)
        await open_account(
            uow=self.uow_factory(),
            clock=self.clock,
            number=account,
            holder=accounts.Holder(name="李四"),
            phone=None if phone is None else accounts.PhoneNumber(digits=phone),
            address=accounts.Address(text="丙6-1-802"),
            # Enough money that opening the account queues no low-balance SMS of its own.
            opening_balance=Money(fen=100_000),
            migration_energy=None,
        )
        return account

    async def enqueue(self, *requests: SmsRequest) -> int:
        async with self.uow_factory() as uow:
            added = await uow.sms.enqueue(requests, at=self.clock.now())
            await uow.commit()
        return added

    async def run(self, sender: SmsSender) -> object:
        return await send_pending_sms(uow_factory=self.uow_factory, clock=self.clock, sender=sender)

    async def die(self, sender: CrashingSender | CrashingStorage) -> None:
        """Run a worker that must die on ``sender``'s chosen part."""
        with pytest.raises(ProcessDied):
            await self.run(sender)

    async def restart(self, sender: SmsSender) -> object:
        await recover_sms_claims(uow_factory=self.uow_factory, clock=self.clock)
        await sweep_sms_storage(uow_factory=self.uow_factory, sender=sender)
        return await self.run(sender)

    async def first_worker_run(self, sender: ModemSender | LogSender) -> SmsRunReport:
        """Start the in-process worker on this outbox; stop it after its first run's report."""
        storage = bootstrap.Storage(
            engine=self.engine,
            uow_factory=self.uow_factory,
            reader_factory=db.reader_factory(self.engine),
            clock=self.clock,
        )
        worker = bootstrap.build_sms_worker(storage=storage, sender=sender, clock=self.clock)
        stop = asyncio.Event()
        reports: list[SmsRunReport] = []

        def on_run(report: SmsRunReport) -> None:
            reports.append(report)
            stop.set()

        await asyncio.wait_for(worker.run(stop, idle_s=0.01, on_run=on_run), timeout=10)
        return reports[0]

    def refs(self) -> list[str]:
        with self.engine.connect() as connection:
            found = connection.execute(sa.text("SELECT message_refs FROM sms_outbox ORDER BY id"))
            return [str(refs) for refs in found.scalars()]

    def rows(self) -> list[tuple[int, str, int, int, str | None]]:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.text(
                    "SELECT id, status, attempts, parts_sent, last_error FROM sms_outbox "
                    "ORDER BY id"
                )
            )
            return [tuple(row) for row in found]  # type: ignore[misc]

    def statuses(self) -> list[str]:
        return [status for _id, status, *_rest in self.rows()]

    async def outcomes(self, message_id: int) -> list[DeliveryOutcome | None]:
        async with self.uow_factory() as uow:
            return [d.outcome for d in await uow.sms.deliveries(message_id)]

    def set_policy(self, **values: object) -> None:
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"UPDATE sms_policies SET {assignments}"), values)  # noqa: S608


def low_balance(number: AccountNumber, fen: int = 943, **extra: object) -> SmsRequest:
    return SmsRequest(
        account_number=number,
        kind=NotificationKind.LOW_BALANCE,
        balance=Money(fen=fen),
        price=PRICE,
        **extra,  # type: ignore[arg-type]
    )


def top_up_done(number: AccountNumber, serial: str) -> SmsRequest:
    return SmsRequest(
        account_number=number,
        kind=NotificationKind.AUTO_TOP_UP_SUCCEEDED,
        balance=Money(fen=10943),
        price=PRICE,
        amount=Money(fen=10000),
        dedup_key=f"BANK_AUTO:{serial}",
    )


def top_up_failed(
    number: AccountNumber, *, balance_fen: int = 0, amount_fen: int = 5000
) -> SmsRequest:
    return SmsRequest(
        account_number=number,
        kind=NotificationKind.AUTO_TOP_UP_FAILED,
        balance=Money(fen=balance_fen),
        price=PRICE,
        amount=Money(fen=amount_fen),
    )


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(engine, FakeClock(local(2025, 6, 10, 9)))


class TestLowBalanceJourney:
    async def test_reading_to_handset_in_chinese(
        self, engine: Engine, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(5):
            await home.use(4000)  # 20 kWh: 943 fen left, less than 20 kWh worth (B4)

        report = await send_pending_sms(
            uow_factory=db.unit_of_work_factory(engine), clock=home.clock, sender=sender
        )

        assert report.sent == (1,)
        assert simulator.state.texts() == [LOW_BALANCE_TEXT]
        (accepted,) = simulator.state.accepted
        assert accepted.number == "+8613800138000"
        assert accepted.decoded is not None
        assert accepted.decoded.coding == 0x08


class TestSendPendingSms:
    async def test_records_the_modem_reference_and_the_delivery(
        self, outbox: Outbox, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))

        await outbox.run(sender)

        assert outbox.rows() == [(1, "SENT", 1, 1, None)]
        assert await outbox.outcomes(1) == [DeliveryOutcome.SENT]

    async def test_sends_a_long_message_in_joined_parts(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(top_up_failed(number, balance_fen=-1234, amount_fen=30000))

        await outbox.run(sender)

        assert outbox.rows() == [(1, "SENT", 1, 2, None)]
        assert len(simulator.state.accepted) == 2
        assert simulator.state.texts() == [
            "【水电中心】户号051600001234银行代扣充值300.00元未成功，当前余额-12.34元。"
            "余额不足时将停止供电，请检查银行卡余额及状态，或到水电售卖窗口、自助缴费机缴费。"
        ]

    async def test_retries_with_back_off_then_records_failure(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.fail_next_sends(38, 42, 38, 38, 38)

        await outbox.run(sender)
        for delay_s in (60, 120, 240, 480):  # the seeded back-off: 60 s, doubling
            outbox.clock.advance(timedelta(seconds=delay_s))
            await outbox.run(sender)
        outbox.clock.advance(timedelta(hours=1))
        await outbox.run(sender)

        assert outbox.rows() == [(1, "FAILED", 5, 0, "CMS_38: +CMS ERROR: 38")]
        assert await outbox.outcomes(1) == [DeliveryOutcome.RETRY] * 4 + [DeliveryOutcome.FAILED]
        assert simulator.state.accepted == []
        assert simulator.state.storage == {}  # each refused copy was deleted

    async def test_retries_a_full_storage_then_records_failure(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.storage_capacity = 0  # +CMS ERROR: 322 to every AT+CMGW

        await outbox.run(sender)
        for delay_s in (60, 120, 240, 480):
            outbox.clock.advance(timedelta(seconds=delay_s))
            await outbox.run(sender)

        assert outbox.rows() == [(1, "FAILED", 5, 0, "CMS_322: +CMS ERROR: 322")]
        assert await outbox.outcomes(1) == [DeliveryOutcome.RETRY] * 4 + [DeliveryOutcome.FAILED]
        assert simulator.state.accepted == []

    async def test_sends_once_the_full_storage_has_room(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.storage_capacity = 0
        await outbox.run(sender)

        simulator.state.storage_capacity = 30
        outbox.clock.advance(timedelta(seconds=60))
        await outbox.run(sender)

        assert outbox.rows() == [(1, "SENT", 2, 1, None)]
        assert simulator.state.texts() == [LOW_BALANCE_TEXT]

    async def test_waits_out_the_back_off(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.fail_next_sends(38)
        await outbox.run(sender)

        outbox.clock.advance(timedelta(seconds=59))
        early = await outbox.run(sender)
        outbox.clock.advance(timedelta(seconds=1))
        due = await outbox.run(sender)

        assert early.sent == ()  # type: ignore[attr-defined]
        assert due.sent == (1,)  # type: ignore[attr-defined]
        assert simulator.state.texts() == [LOW_BALANCE_TEXT]

    async def test_fails_a_refused_number_at_once(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.fail_next_sends(1)  # unassigned number

        await outbox.run(sender)

        assert outbox.statuses() == ["FAILED"]

    async def test_touches_nothing_while_the_modem_has_no_sim(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.sim_inserted = False

        report = await outbox.run(sender)
        simulator.state.sim_inserted = True
        later = await outbox.run(sender)

        assert report.sender_unavailable is not None  # type: ignore[attr-defined]
        assert later.sent == (1,)  # type: ignore[attr-defined]
        assert outbox.rows() == [(1, "SENT", 1, 1, None)]

    async def test_retries_when_the_network_drops_during_a_send(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        simulator.state.fail_next_sends(331)  # no network service, after the check passed

        report = await outbox.run(sender)

        assert report.sender_unavailable == "+CMS ERROR: 331"  # type: ignore[attr-defined]
        assert outbox.rows() == [(1, "PENDING", 1, 0, "UNAVAILABLE: +CMS ERROR: 331")]
        assert simulator.state.storage == {}  # refused, so never sent: its copy is deleted

    async def test_caps_messages_per_phone_per_local_day(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        outbox.set_policy(daily_cap_per_phone=2)
        number = await outbox.open("051600001234", "13800138000")
        for serial in ("A", "B", "C"):
            await outbox.enqueue(top_up_done(number, serial))

        today = await outbox.run(sender)
        outbox.clock.set(local(2025, 6, 10, 23, 59))
        still_today = await outbox.run(sender)
        outbox.clock.set(local(2025, 6, 11, 0, 0))
        tomorrow = await outbox.run(sender)

        assert (today.sent, today.deferred) == ((1, 2), (3,))  # type: ignore[attr-defined]
        assert still_today.sent == ()  # type: ignore[attr-defined]
        assert tomorrow.sent == (3,)  # type: ignore[attr-defined]
        assert len(simulator.state.accepted) == 3

    async def test_queues_a_deduplicated_message_once(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")

        first = await outbox.enqueue(top_up_done(number, "20250610-0001"))
        again = await outbox.enqueue(top_up_done(number, "20250610-0001"))
        await outbox.run(sender)

        assert (first, again) == (1, 0)
        assert len(simulator.state.accepted) == 1

    async def test_sends_only_the_newest_low_balance_figure(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number, 1000), low_balance(number, 943))

        report = await outbox.run(sender)

        assert (report.cancelled, report.sent) == ((1,), (2,))  # type: ignore[attr-defined]
        assert outbox.rows()[0] == (1, "CANCELLED", 0, 0, "SUPERSEDED_BY:2")
        assert simulator.state.texts() == [LOW_BALANCE_TEXT]


class TestModemStopsAnswering:
    @pytest.mark.parametrize(
        ("storage", "rule", "status", "texts"),
        [
            # Through the storage the late send is found "STO SENT": recorded, not resent.
            (True, "RESEND", "SENT", 1),
            (True, "FAIL", "SENT", 1),
            # Sent directly, only the in-doubt rule can settle it.
            (False, "RESEND", "SENT", 2),
            (False, "FAIL", "FAILED", 1),
        ],
    )
    async def test_settles_the_timed_out_send(
        self,
        outbox: Outbox,
        simulator: ModemSimulator,
        storage: bool,
        rule: str,
        status: str,
        texts: int,
    ) -> None:
        outbox.set_policy(in_doubt=rule)
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        url = await simulator.serve_tcp()
        slow = ModemSender.for_url(url, timeout_s=2.0, send_timeout_s=0.2, storage=storage)
        simulator.state.send_delay_s = 0.5  # the modem sends, but answers too late

        await outbox.run(slow)
        for _ in range(100):  # the late modem does send it, after the driver gave up
            if simulator.state.accepted:
                break
            await asyncio.sleep(0.02)
        simulator.state.send_delay_s = 0.0
        outbox.clock.advance(timedelta(minutes=1))
        await outbox.run(slow)
        await slow.close()

        assert outbox.statuses() == [status]
        assert len(simulator.state.texts()) == texts
        assert (await outbox.outcomes(1))[0] == (
            DeliveryOutcome.RETRY if storage or rule == "RESEND" else DeliveryOutcome.FAILED
        )
        assert simulator.state.storage == {}


class TestNoPhone:
    async def test_fails_the_message_and_lists_the_account_for_the_counter(
        self, outbox: Outbox, sender: ModemSender
    ) -> None:
        silent = await outbox.open("051600000001", None)
        reachable = await outbox.open("051600000002", "13800138000")
        await outbox.enqueue(low_balance(silent), low_balance(reachable))

        await outbox.run(sender)
        async with outbox.uow_factory() as uow:
            listed = await uow.sms.without_phone(after=None, limit=10)

        assert outbox.statuses() == ["FAILED", "SENT"]
        assert [(a.account_number.value, a.unsent) for a in listed] == [("051600000001", 1)]


class TestRestartDuringDirectSending:
    async def test_between_messages_loses_none_and_repeats_none(
        self, outbox: Outbox, simulator: ModemSimulator, direct: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        for serial in ("A", "B", "C"):
            await outbox.enqueue(top_up_done(number, serial))

        # message 1 sent; died claiming into message 2
        await outbox.die(CrashingSender(direct, reference=2, part=0, after_modem=False))
        await outbox.restart(direct)

        assert outbox.statuses() == ["SENT", "SENT", "SENT"]
        assert len(simulator.state.accepted) == 3
        assert await outbox.outcomes(2) == [DeliveryOutcome.INTERRUPTED, DeliveryOutcome.SENT]

    @pytest.mark.parametrize(
        ("part", "after_modem", "sequences"),
        [
            # Died before the second part: it resumes after its last recorded part.
            (1, False, [1, 2]),
            # Died after the modem took the first part: it goes out twice with the same
            # reference, and the handset keeps one.
            (0, True, [1, 1, 2]),
        ],
        ids=["resumes-after-the-last-recorded-part", "a-duplicated-part-joins-once"],
    )
    async def test_a_long_message_joins_once_on_the_handset(
        self,
        outbox: Outbox,
        simulator: ModemSimulator,
        direct: ModemSender,
        part: int,
        after_modem: bool,
        sequences: list[int],
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(top_up_failed(number))

        await outbox.die(CrashingSender(direct, reference=1, part=part, after_modem=after_modem))
        await outbox.restart(direct)

        sent = [m.decoded.concatenation.sequence for m in simulator.state.accepted]  # type: ignore[union-attr]
        assert sent == sequences
        assert outbox.rows() == [(1, "SENT", 2, 2, None)]
        assert len(simulator.state.texts()) == 1

    async def test_resends_the_part_in_doubt_by_default_without_storage(
        self, outbox: Outbox, simulator: ModemSimulator, direct: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))

        # The modem took it; the database never heard.
        await outbox.die(CrashingSender(direct, reference=1, part=0, after_modem=True))
        await outbox.restart(direct)

        # At least once: the in-doubt part went out again rather than risk losing it.
        assert simulator.state.texts() == [LOW_BALANCE_TEXT, LOW_BALANCE_TEXT]
        assert outbox.rows() == [(1, "SENT", 2, 1, None)]
        assert await outbox.outcomes(1) == [DeliveryOutcome.INTERRUPTED, DeliveryOutcome.SENT]

    async def test_fails_the_message_in_doubt_when_the_policy_says_at_most_once(
        self, outbox: Outbox, simulator: ModemSimulator, direct: ModemSender
    ) -> None:
        outbox.set_policy(in_doubt="FAIL")
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))

        await outbox.die(CrashingSender(direct, reference=1, part=0, after_modem=True))
        await outbox.restart(direct)

        assert simulator.state.texts() == [LOW_BALANCE_TEXT]
        (row,) = outbox.rows()
        assert row[:4] == (1, "FAILED", 1, 0)
        assert row[4] is not None
        assert row[4].startswith("IN_DOUBT")


class TestRestartThroughTheModemStorage:
    @pytest.mark.parametrize("part", [0, 1])
    @pytest.mark.parametrize("step", list(Step), ids=lambda step: step.name)
    async def test_each_part_arrives_once_and_is_recorded_once(
        self,
        outbox: Outbox,
        simulator: ModemSimulator,
        sender: ModemSender,
        step: Step,
        part: int,
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(top_up_failed(number), top_up_done(number, "A"))

        await outbox.die(CrashingStorage(sender, reference=1, part=part, step=step))
        await sender.close()  # the dead worker's connection goes with it
        await outbox.restart(sender)

        accepted = simulator.state.accepted
        long_parts = [m.decoded for m in accepted if m.decoded and m.decoded.concatenation]
        assert sorted(d.concatenation.sequence for d in long_parts) == [1, 2]  # type: ignore[union-attr]
        assert all(d.coding == 0x08 for d in long_parts)  # UCS-2: the Chinese decoded intact
        assert len(accepted) == 3
        assert simulator.state.texts()[0] == LONG_TEXT
        # Died before deleting the last part's copy, the message was already recorded SENT.
        finished = step is Step.BEFORE_DELETE and part == 1
        attempts = 1 if finished else 2
        assert outbox.rows() == [(1, "SENT", attempts, 2, None), (2, "SENT", 1, 1, None)]
        assert [len(refs.split(",")) for refs in outbox.refs()] == [2, 1]
        assert await outbox.outcomes(1) == (
            [DeliveryOutcome.SENT]
            if finished
            else [DeliveryOutcome.INTERRUPTED, DeliveryOutcome.SENT]
        )
        assert simulator.state.storage == {}  # nothing left behind, orphans swept

    async def test_records_a_part_the_modem_sent_without_sending_it_again(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.AFTER_SEND))
        stored_before = simulator.state.stored_statuses()

        await outbox.restart(sender)

        assert stored_before == {1: "STO SENT"}
        assert simulator.state.texts() == [LOW_BALANCE_TEXT]
        assert outbox.refs() == ["STORED-1"]  # the modem's reference was lost with the worker
        assert simulator.state.storage == {}

    async def test_sweeps_only_the_copies_the_outbox_does_not_know(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        received = simulator.state.receive(number="+8613900139000", text="Hello")
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.AFTER_WRITE))

        await recover_sms_claims(uow_factory=outbox.uow_factory, clock=outbox.clock)
        swept = await sweep_sms_storage(uow_factory=outbox.uow_factory, sender=sender)

        assert swept == (2,)  # the unrecorded "STO UNSENT" copy, never sent
        assert simulator.state.stored_statuses() == {received: "REC READ"}
        assert simulator.state.accepted == []

    @pytest.mark.parametrize(
        ("rule", "status", "texts"), [("RESEND", "SENT", 1), ("FAIL", "FAILED", 0)]
    )
    async def test_falls_back_to_the_in_doubt_rule_when_the_storage_was_wiped(
        self,
        outbox: Outbox,
        simulator: ModemSimulator,
        sender: ModemSender,
        rule: str,
        status: str,
        texts: int,
    ) -> None:
        outbox.set_policy(in_doubt=rule)
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.BEFORE_SEND))
        simulator.state.wipe_storage()  # e.g. the SIM was swapped while the worker was down

        await outbox.restart(sender)

        assert outbox.statuses() == [status]
        assert len(simulator.state.texts()) == texts
        if rule == "FAIL":
            assert (outbox.rows()[0][4] or "").startswith("IN_DOUBT: part 1 is gone")

    async def test_a_wiped_storage_after_the_send_still_sends_twice_under_resend(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.AFTER_SEND))
        simulator.state.wipe_storage()

        await outbox.restart(sender)

        # The limit of exactly-once (ADR 8): with the storage gone nobody can tell.
        assert simulator.state.texts() == [LOW_BALANCE_TEXT, LOW_BALANCE_TEXT]
        assert outbox.statuses() == ["SENT"]

    async def test_a_low_balance_part_in_storage_is_not_superseded(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number, 1000))
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.AFTER_SEND))
        await outbox.enqueue(low_balance(number, 943))

        await outbox.restart(sender)

        # Message 1 went out before the crash: it is recorded SENT, not cancelled as stale.
        assert outbox.statuses() == ["SENT", "SENT"]
        assert len(simulator.state.accepted) == 2


class TestInProcessWorker:
    async def test_recovers_then_sends_until_stopped(self, outbox: Outbox) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        log = LogSender()
        await outbox.die(CrashingSender(log, reference=1, part=0, after_modem=False))

        report = await outbox.first_worker_run(log)

        assert report.sent == (1,)
        assert [(m.reference, m.phone, m.text) for m in log.sent] == [
            ("LOG-1", "13800138000", LOW_BALANCE_TEXT)
        ]

    async def test_sweeps_the_modem_storage_at_start(
        self, outbox: Outbox, simulator: ModemSimulator, sender: ModemSender
    ) -> None:
        number = await outbox.open("051600001234", "13800138000")
        await outbox.enqueue(low_balance(number))
        # leaves an unrecorded "STO UNSENT" copy at index 1
        await outbox.die(CrashingStorage(sender, reference=1, part=0, step=Step.AFTER_WRITE))

        await outbox.first_worker_run(sender)

        assert simulator.state.texts() == [LOW_BALANCE_TEXT]
        assert outbox.statuses() == ["SENT"]
        assert simulator.state.storage == {}
