"""The fake unit of work and the SQL one agree on what the use cases rely on.

Every test here runs against ``tests.fakes.FakeDatabase`` and against the real storage
(SQLite, and PostgreSQL when configured) with the same assertions: commit and rollback,
unique keys and idempotency, orderings, the seeded policy, and a whole reading batch charged
through ``record_readings``. If the fake drifts from the SQL, one leg fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local
from tests.integration.db.databases import BACKENDS, Templates

from wattbook.adapters import db
from wattbook.application import alarm_ports as ap
from wattbook.application import ports
from wattbook.application.accounts import ports as account_ports
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.billing import ports as billing_ports
from wattbook.application.headend import ports as hp
from wattbook.application.metering.record_readings import record_readings
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import accounts, billing, ledger, metering, payments, prepaid
from wattbook.domain.headend import MeterEventKind, RelayOperation
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
)

Factory = Callable[[], ports.UnitOfWork]
AT = local(2025, 6, 10, 9)
NUMBER = AccountNumber(value="051600000001")
OTHER = AccountNumber(value="051600000002")
PRICE = Price(yuan_per_kwh=Decimal("0.5283"))


@pytest.fixture(params=[pytest.param("fake", id="fake"), *BACKENDS])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: Templates
) -> Iterator[Factory]:
    """Yield a unit-of-work factory over the fake, then over each real backend."""
    if request.param == "fake":
        yield FakeDatabase()
        return
    with database_templates.migrated(request.param, tmp_path) as engine:
        yield db.unit_of_work_factory(engine)


MonthEndFactory = Callable[[], billing_ports.MonthEndUnitOfWork]


@pytest.fixture(params=[pytest.param("fake", id="fake"), *BACKENDS])
def month_end_storage(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: Templates
) -> Iterator[MonthEndFactory]:
    """Yield a month-end unit-of-work factory over the fake, then over each real backend."""
    if request.param == "fake":
        yield FakeDatabase()
        return
    with database_templates.migrated(request.param, tmp_path) as engine:
        yield db.month_end_factory(engine)


def _account(
    number: AccountNumber = NUMBER, *, phone: str | None = "13800138000"
) -> accounts.Account:
    return accounts.open_account(
        number=number,
        holder=accounts.Holder(name="张三"),
        phone=None if phone is None else accounts.PhoneNumber(digits=phone),
        address=accounts.Address(text="丙6-1-801"),
        at=AT,
    )


def _top_up(reference: str, fen: int, number: AccountNumber = NUMBER) -> ledger.Entry:
    return ledger.Entry(
        account_number=number,
        reference=reference,
        kind=ledger.EntryKind.TOP_UP,
        amount=Money(fen=fen),
        at=AT,
    )


async def _open(storage: Factory, *numbers: AccountNumber) -> None:
    async with storage() as uow:
        for number in numbers or (NUMBER,):
            await uow.accounts.add(_account(number))
        await uow.commit()


class TestTransactions:
    async def test_nothing_is_visible_after_a_rollback(self, storage: Factory) -> None:
        async with storage() as uow:
            await uow.accounts.add(_account())
            await uow.ledger.post([_top_up("T1", 500)])

        async with storage() as uow:
            with pytest.raises(account_ports.UnknownAccount):
                await uow.accounts.get(NUMBER)
            assert await uow.ledger.get("T1") is None

    async def test_a_commit_is_visible_to_the_next_unit_of_work(self, storage: Factory) -> None:
        await _open(storage)

        async with storage() as uow:
            await uow.ledger.post([_top_up("T1", 500)])
            await uow.commit()
            await uow.ledger.post([_top_up("T2", 700)])
        async with storage() as uow:
            balances = await uow.ledger.balances([NUMBER, OTHER])

        assert balances == {NUMBER: Money(fen=500)}

    async def test_an_error_inside_rolls_everything_back(self, storage: Factory) -> None:
        await _open(storage)

        async def post_twice() -> None:
            async with storage() as uow:
                await uow.ledger.post([_top_up("T1", 500)])
                await uow.ledger.post([_top_up("T1", 500)])

        with pytest.raises(ledger.DuplicateReference):
            await post_twice()
        async with storage() as uow:
            assert await uow.ledger.balances([NUMBER]) == {NUMBER: Money(fen=0)}


class TestUniqueness:
    async def test_an_account_number_is_taken_once(self, storage: Factory) -> None:
        await _open(storage)

        async with storage() as uow:
            with pytest.raises(account_ports.DuplicateAccount):
                await uow.accounts.add(_account())

    async def test_a_reference_is_posted_once(self, storage: Factory) -> None:
        await _open(storage)
        async with storage() as uow:
            await uow.ledger.post([_top_up("T1", 500)])
            await uow.commit()

        async with storage() as uow:
            with pytest.raises(ledger.DuplicateReference):
                await uow.ledger.post([_top_up("T1", 500)])

    async def test_posting_to_an_unknown_account_fails(self, storage: Factory) -> None:
        async with storage() as uow:
            with pytest.raises(account_ports.UnknownAccount):
                await uow.ledger.post([_top_up("T1", 500)])

    async def test_a_channel_reference_is_paid_once_and_receipts_count_per_channel_and_day(
        self, storage: Factory
    ) -> None:
        await _open(storage)

        async with storage() as uow:
            await uow.ledger.post([_top_up("E1", 500), _top_up("E2", 300)])
            paid = await uow.payments.record(
                [
                    payment_ports.NewPayment(
                        entry_reference=reference,
                        channel=payments.Channel.COUNTER,
                        channel_reference=reference,
                        kind=payments.PaymentKind.TOP_UP,
                        operator="王五",
                    )
                    for reference in ("E1", "E2")
                ]
            )
            await uow.commit()
        async with storage() as uow:
            await uow.ledger.post([_top_up("E3", 100)])
            with pytest.raises(payments.DuplicatePayment):
                await uow.payments.record(
                    [
                        payment_ports.NewPayment(
                            entry_reference="E3",
                            channel=payments.Channel.COUNTER,
                            channel_reference="E1",
                            kind=payments.PaymentKind.TOP_UP,
                            operator="王五",
                        )
                    ]
                )
        async with storage() as uow:
            found = await uow.payments.by_channel_reference(payments.Channel.COUNTER, ["E2", "X"])

        assert [p.receipt_number.sequence for p in paid] == [1, 2]
        assert [(p.balance_before, p.balance_after) for p in paid] == [
            (Money(fen=0), Money(fen=500)),
            (Money(fen=500), Money(fen=800)),
        ]
        assert list(found) == ["E2"]
        assert found["E2"] == paid[1]

    async def test_an_sms_dedup_key_is_queued_once(self, storage: Factory) -> None:
        await _open(storage)
        request = sms_ports.SmsRequest(
            account_number=NUMBER,
            kind=sms_ports.NotificationKind.AUTO_TOP_UP_SUCCEEDED,
            balance=Money(fen=100),
            price=PRICE,
            dedup_key="SERIAL-1",
        )

        async with storage() as uow:
            first = await uow.sms.enqueue([request, request], at=AT)
            again = await uow.sms.enqueue([request], at=AT)
            due = await uow.sms.next_due(at=AT)

        assert (first, again) == (1, 0)
        assert due is not None
        assert (due.kind, str(due.phone), due.attempts) == (
            sms_ports.NotificationKind.AUTO_TOP_UP_SUCCEEDED,
            "13800138000",
            0,
        )

    async def test_a_system_alarm_is_open_once_per_kind_and_subject(self, storage: Factory) -> None:
        kind = ap.AlarmKind.BUS_UNREACHABLE

        async with storage() as uow:
            opened = [
                await uow.alarms.raise_alarm(kind=kind, subject="b1", detail="d1", at=AT),
                await uow.alarms.raise_alarm(kind=kind, subject="b1", detail="d2", at=AT),
                await uow.alarms.raise_alarm(
                    kind=kind, subject="b2", detail="", at=AT + timedelta(minutes=1)
                ),
            ]
            ended = await uow.alarms.end_alarm(kind=kind, subject="b2", at=AT)
            alarms = await uow.alarms.alarms(open_only=False)

        assert opened == [True, False, True]
        assert ended
        # Newest first; an alarm never ends before it started.
        assert [(a.subject, a.detail, a.ended_at) for a in alarms] == [
            ("b2", "", AT + timedelta(minutes=1)),
            ("b1", "d2", None),
        ]


class TestSeeds:
    async def test_the_policy_is_seeded_as_the_migrations_seed_it(self, storage: Factory) -> None:
        async with storage() as uow:
            seen = (
                await uow.tariffs.history(),
                await uow.prepaid.settings(on=AT.date()),
                await uow.sms.policy(on=AT.date()),
                await uow.payments.counter_hours(on=AT.date()),
                await uow.headend.buses(),
            )

        async with FakeDatabase()() as fake:
            expected = (
                await fake.tariffs.history(),
                prepaid.PrepaidSettings(),
                await fake.sms.policy(on=AT.date()),
                await fake.payments.counter_hours(on=AT.date()),
                (),
            )
        assert seen == expected


class TestOrderings:
    async def test_relay_commands_are_due_oldest_first_and_a_cancel_cancels_the_close(
        self, storage: Factory
    ) -> None:
        await _open(storage, NUMBER, OTHER)
        meters = {NUMBER: MeterNumber(value=str(NUMBER)), OTHER: MeterNumber(value=str(OTHER))}
        later = AT + timedelta(minutes=2)

        async with storage() as uow:
            await uow.outbox.add(
                [
                    prepaid.TripRelay(account_number=OTHER, reason=prepaid.TripReason.WARNING_CUT),
                    prepaid.CloseRelay(
                        account_number=OTHER,
                        reason=prepaid.CloseReason.WARNING_CUT_ENDED,
                        not_before_at=later,
                    ),
                    prepaid.TripRelay(account_number=NUMBER, reason=prepaid.TripReason.ARREARS),
                ],
                at=AT,
                phones={},
                meters=meters,
            )
            now_due = await uow.headend.due_relay_commands(at=AT, limit=10)
            await uow.outbox.add(
                [
                    prepaid.CancelScheduledClose(
                        account_number=OTHER, reason=prepaid.CloseReason.WARNING_CUT_ENDED
                    )
                ],
                at=AT,
                phones={},
                meters=meters,
            )
            after_cancel = await uow.headend.due_relay_commands(at=later, limit=10)

        assert [(c.account_number, c.operation) for c in now_due] == [
            (OTHER, RelayOperation.TRIP),
            (NUMBER, RelayOperation.TRIP),
        ]
        assert [c.operation for c in after_cancel] == [RelayOperation.TRIP] * 2

    async def test_re_delivered_readings_and_events_are_stored_once(self, storage: Factory) -> None:
        meter = MeterNumber(value=str(NUMBER))
        event = hp.MeterEvent(meter_number=meter, kind=MeterEventKind.POWER_DOWN, occurred_at=AT)
        ended = hp.MeterEvent(
            meter_number=meter,
            kind=MeterEventKind.POWER_DOWN,
            occurred_at=AT,
            ended_at=AT + timedelta(hours=1),
        )

        async with storage() as uow:
            counts = [
                await uow.headend.add_events([event], recorded_at=AT),
                await uow.headend.add_events([ended, event], recorded_at=AT),
            ]

        assert counts == [1, 0]


class TestRecordReadings:
    async def test_a_batch_charges_the_same_on_the_fake_and_on_sql(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        numbers = [AccountNumber(value=f"05160000000{n}") for n in range(1, 4)]
        for number in numbers:
            await open_account(
                uow=storage(),
                clock=clock,
                number=number,
                holder=accounts.Holder(name="张三"),
                phone=accounts.PhoneNumber(digits="13800138000"),
                address=accounts.Address(text="丙6-1-801"),
                opening_balance=Money(fen=2_000),
            )
            await install_meter(
                uow=storage(),
                clock=clock,
                number=number,
                meter_number=MeterNumber(value=str(number)),
                bus="fake-bus",
                initial=RegisterSet.zero(),
            )
        clock.advance(timedelta(hours=1))

        def reading(number: AccountNumber, wh: int) -> metering.Reading:
            return metering.Reading(
                meter_number=MeterNumber(value=str(number)),
                registers=RegisterSet(total_wh=wh, sharp_wh=0, peak_wh=0, flat_wh=wh, valley_wh=0),
                meter_time_at=clock.now(),
                received_at=clock.now(),
            )

        # One plain reading, one that empties the account past the warning line, one
        # implausible jump, and a meter that is on no account.
        report = await record_readings(
            uow=storage(),
            clock=clock,
            readings=[
                reading(numbers[0], 1_000),
                reading(numbers[1], 3_000),
                reading(numbers[2], 900_000),
                reading(AccountNumber(value="051699999999"), 5),
            ],
        )
        async with storage() as uow:
            balances = await uow.ledger.balances(numbers)
            differences = await uow.ledger.reconcile()
            commands = await uow.headend.due_relay_commands(at=clock.now(), limit=10)

        assert [(o.value, n) for o, n in report.outcomes] == [("ACCEPTED", 2), ("IMPLAUSIBLE", 1)]
        assert [str(m) for m in report.unknown_meters] == ["051699999999"]
        assert [e.amount.fen for e in report.entries] == [-53, -158]
        assert [balances[n].fen for n in numbers] == [1_947, 1_842, 2_000]
        assert differences == ()
        assert commands == ()


class TestPrepaidDue:
    async def test_earliest_due_first_whichever_instant_it_is(self, storage: Factory) -> None:
        # A warning close with no re-evaluation (NULL) sorted last on PostgreSQL and first on
        # SQLite; with a page limit it could wait behind many re-evaluations.
        third = AccountNumber(value="051600000003")
        await _open(storage, NUMBER, OTHER, third)
        async with storage() as uow:
            await uow.prepaid.save_states(
                {
                    NUMBER: (prepaid.RuleState(), AT - timedelta(minutes=5)),
                    OTHER: (
                        prepaid.RuleState(
                            warning_cut_done=True, warning_close_due_at=AT - timedelta(minutes=9)
                        ),
                        None,
                    ),
                    third: (
                        prepaid.RuleState(
                            warning_cut_done=True, warning_close_due_at=AT - timedelta(minutes=1)
                        ),
                        AT - timedelta(minutes=7),
                    ),
                }
            )
            await uow.commit()

        async with storage() as uow:
            first_two = await uow.prepaid.due(at=AT, limit=2)
            every = await uow.prepaid.due(at=AT, limit=10)

        assert first_two == (OTHER, third)
        assert every == (OTHER, third, NUMBER)


JUNE = BillingMonth(year=2025, month=6)
SEED_KEY = "RESIDENTIAL_LIGHTING@2000-01-01"
CREDITED = AccountNumber(value="051600000003")


def _total(month: BillingMonth, wh: int, fen: int) -> billing.ChargeTotal:
    key = billing.ChargeKey(tariff_key=SEED_KEY, month=month)
    return billing.ChargeTotal(key=key, energy_wh=(("ALL", wh),), charged=Money(fen=fen))


class TestMonthEndStatements:
    async def test_the_lines_the_run_and_the_sample_are_written_once_alike(
        self, month_end_storage: MonthEndFactory
    ) -> None:
        storage = month_end_storage
        credit = accounts.MigrationCredit(
            account_number=CREDITED,
            energy=Energy(wh=10_000),
            price=PRICE,
            amount=Money(fen=528),
            at=AT,
        )
        async with storage() as uow:
            for number in (NUMBER, OTHER, CREDITED):
                await uow.accounts.add(_account(number))
            await uow.ledger.post(
                [
                    _top_up("T1", 500),
                    ledger.Entry(
                        account_number=OTHER,
                        reference="A1",
                        kind=ledger.EntryKind.ADJUSTMENT,
                        amount=Money(fen=-300),
                        at=AT,
                    ),
                    ledger.Entry(
                        account_number=CREDITED,
                        reference="MIGRATION:1",
                        kind=ledger.EntryKind.MIGRATION_CREDIT,
                        amount=credit.amount,
                        at=AT,
                    ),
                ]
            )
            await uow.ledger.record_migration_credit(credit, reference="MIGRATION:1")
            await uow.charges.save(
                {
                    NUMBER: [_total(JUNE, 2_000, 106), _total(JUNE.next(), 1_000, 53)],
                    OTHER: [_total(JUNE, 1_000, 53)],
                }
            )
            await uow.commit()
        tariffs = [billing_ports.StatementTariff(tariff_key=SEED_KEY, item="照明", price=PRICE)]
        written_at = local(2025, 7, 2, 9)

        async with storage() as uow:
            run = await uow.statements.write(
                month=JUNE, tariffs=tariffs, rule=billing.PAID_RULE, written_at=written_at
            )
            again = await uow.statements.write(
                month=JUNE, tariffs=tariffs, rule=billing.PAID_RULE, written_at=written_at
            )
            sample = await uow.statements.sample(month=JUNE, size=5, seed=3)
            none = await uow.statements.sample(month=JUNE, size=0, seed=3)
            await uow.commit()
        async with storage() as uow:
            assert await uow.statements.run(JUNE) == run
            assert await uow.statements.run(JUNE.next()) is None
            first = await uow.statements.lines(month=JUNE, after=None, limit=2)
            rest = await uow.statements.lines(month=JUNE, after=OTHER, limit=2)

        assert run == billing_ports.MonthEndRun(
            month=JUNE,
            written_at=written_at,
            accounts=3,
            lines=3,
            amount=Money(fen=106 + 53 - 528),
            unpaid_lines=1,
        )
        assert again is None
        assert [number for number, _lines in first] == [NUMBER, OTHER]
        assert [number for number, _lines in rest] == [CREDITED]
        lines = dict(first + rest)
        paid, unpaid = billing.StatementStatus.PAID, billing.StatementStatus.UNPAID
        assert [
            (line.item, line.price, line.energy.wh, line.amount.fen, line.status)
            for number in (NUMBER, OTHER, CREDITED)
            for line in lines[number]
        ] == [
            ("照明", PRICE, 2_000, 106, paid),
            ("照明", PRICE, 1_000, 53, unpaid),
            (billing.ITEM_RESIDENTIAL_LIGHTING, PRICE, -10_000, -528, paid),
        ]
        by_number = {written.account_number: written for written in sample}
        assert set(by_number) == {NUMBER, OTHER, CREDITED}
        assert by_number[OTHER].balance == Money(fen=-300)
        assert len(by_number[NUMBER].totals) == 2
        assert [c.amount for c in by_number[CREDITED].credits] == [credit.amount]
        assert none == ()
