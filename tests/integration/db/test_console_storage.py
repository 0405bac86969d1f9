"""What the console reads and writes, the same on the fake, SQLite and PostgreSQL: operators,
the audit log (append-only in SQL), account search, the cash-up, the meter overview, the
prepaid policy from a date."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local
from tests.integration.db.databases import BACKENDS, Templates

from wattbook.adapters import db
from wattbook.application import ports
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as hp
from wattbook.application.headend.dispatch_relay_commands import order_relay
from wattbook.application.payments.cash_up import cash_up
from wattbook.application.payments.corrections import refund_top_up
from wattbook.application.payments.counter import pay_at_counter
from wattbook.application.prepaid.set_prepaid_settings import set_prepaid_settings
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import accounts, payments, staff
from wattbook.domain.values import AccountNumber, Energy, MeterNumber, Money, RegisterSet

Factory = Callable[[], ports.UnitOfWork]
AT = local(2025, 6, 10, 9)
NUMBER = AccountNumber(value="051600000001")
OTHER = AccountNumber(value="051600000002")
ZERO = RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0)


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


async def _open(storage: Factory, clock: FakeClock) -> None:
    for number, name, phone in ((NUMBER, "张三丰", "13800138000"), (OTHER, "李四", None)):
        await open_account(
            uow=storage(),
            clock=clock,
            number=number,
            holder=accounts.Holder(name=name),
            phone=accounts.PhoneNumber(digits=phone) if phone else None,
            address=accounts.Address(text=f"丙6-1-80{number.value[-1]}"),
        )


def _record(action: str, target: str, *, minutes: int = 0) -> staff.AuditRecord:
    return staff.AuditRecord(
        at=AT + timedelta(minutes=minutes), actor="li.na", action=action, target=target
    )


class TestOperatorsAndAudit:
    async def test_an_operator_round_trips_and_a_taken_login_is_refused(
        self, storage: Factory
    ) -> None:
        stored = staff_ports.StoredOperator(
            operator=staff.Operator(login="li.na", name="李娜", role=staff.Role.CASHIER),
            password_hash="hash",  # noqa: S106
            login_state=staff.LoginState(failures=2, locked_until_at=AT),
            created_at=AT,
        )
        async with storage() as uow:
            await uow.staff.add_operator(stored)
            await uow.commit()

        async with storage() as uow:
            found = await uow.staff.operator("li.na")
            with pytest.raises(staff_ports.DuplicateOperator):
                await uow.staff.add_operator(stored)

        assert found == stored

    async def test_the_audit_log_is_searched_newest_first_by_words_who_what_and_when(
        self, storage: Factory
    ) -> None:
        async with storage() as uow:
            await uow.staff.append_audit(
                (
                    _record("accounts.phone.changed", "051600000001"),
                    _record("payments.counter.top-up", "051600000002", minutes=5),
                    _record("payments.counter.top-up", "051600000001", minutes=10),
                )
            )
            await uow.commit()

        async with storage() as uow:
            by_text = await uow.staff.search_audit(staff_ports.AuditQuery(text="000001"))
            by_action = await uow.staff.search_audit(staff_ports.AuditQuery(action="top-up"))
            by_time = await uow.staff.search_audit(
                staff_ports.AuditQuery(
                    from_at=AT + timedelta(minutes=5), to_at=AT + timedelta(minutes=6)
                )
            )
            by_nobody = await uow.staff.search_audit(staff_ports.AuditQuery(actor="nobody"))
            wildcard = await uow.staff.search_audit(staff_ports.AuditQuery(text="%"))

        assert [s.record.at for s in by_text] == [
            AT + timedelta(minutes=10),
            AT,
        ]
        assert [s.record.target for s in by_action] == ["051600000001", "051600000002"]
        assert [s.record.target for s in by_time] == ["051600000002"]
        assert by_nobody == ()
        assert wildcard == ()


class TestAccountSearch:
    async def test_finds_by_number_holder_address_or_phone(self, storage: Factory) -> None:
        await _open(storage, FakeClock(AT))

        async with storage() as uow:
            by_number = await uow.accounts.search("00002", limit=10)
            by_holder = await uow.accounts.search("三丰", limit=10)
            by_address = await uow.accounts.search("丙6-1", limit=10)
            by_phone = await uow.accounts.search("138001", limit=10)
            limited = await uow.accounts.search("0516", limit=1)

        assert [a.number for a in by_number] == [OTHER]
        assert [a.number for a in by_holder] == [NUMBER]
        assert [a.number for a in by_address] == [NUMBER, OTHER]
        assert [a.number for a in by_phone] == [NUMBER]
        assert [a.number for a in limited] == [NUMBER]


class TestCashUp:
    async def test_adds_up_per_operator_and_channel_against_the_journal(
        self, storage: Factory
    ) -> None:
        clock = FakeClock(AT)
        await _open(storage, clock)
        for operator, fen, reference in (("li.na", 10_000, "a"), ("wang", 5_000, "b")):
            await pay_at_counter(
                uow=storage(),
                clock=clock,
                number=NUMBER,
                amount=Money(fen=fen),
                operator=operator,
                reference=reference,
            )
        async with storage() as uow:
            receipt = (await uow.payments.history(NUMBER, first_date=None, last_date=None))[-1]
        await refund_top_up(
            uow=storage(),
            clock=clock,
            receipt_number=str(receipt.receipt_number),
            operator="li.na",
            identity=payments.IdentityShown(document_type="身份证", number_masked="110***1234"),
            reason="多充",
        )

        found = await cash_up(uow=storage(), day=AT.date())  # type: ignore[arg-type]

        assert found.balanced
        assert found.total == Money(fen=10_000)
        assert found.journal_total == Money(fen=10_000)
        assert found.counter_cash() == {"li.na": Money(fen=5_000), "wang": Money(fen=5_000)}
        assert found.by_channel() == {payments.Channel.COUNTER: Money(fen=10_000)}
        next_day = await cash_up(uow=storage(), day=AT.date() + timedelta(days=1))  # type: ignore[arg-type]
        assert (next_day.lines, next_day.total) == ((), Money(fen=0))


class TestMeterOverview:
    async def test_shows_each_installed_meter_with_its_last_command(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _open(storage, clock)
        await install_meter(
            uow=storage(),
            clock=clock,
            number=NUMBER,
            meter_number=MeterNumber(value=str(NUMBER)),
            bus="bus-1",
            initial=ZERO,
        )
        await order_relay(
            uow=storage(),
            clock=clock,
            meter=MeterNumber(value=str(NUMBER)),
            operation=hp.RelayOperation.TRIP,
            ordered_by="wang.gong",
            reason="检修",
        )

        async with storage() as uow:
            found = await uow.headend.meter_overview(since=AT - timedelta(days=7))

        assert len(found) == 1
        meter = found[0]
        assert (meter.account_number, meter.holder, meter.bus) == (NUMBER, "张三丰", "bus-1")
        assert (meter.last_command, meter.last_command_status) == ("TRIP", "PENDING")
        assert (meter.read_at, meter.relay_open, meter.attempts) == (None, None, 0)


class TestPrepaidPolicy:
    async def test_a_new_policy_applies_from_its_date_and_keeps_the_rest(
        self, storage: Factory
    ) -> None:
        clock = FakeClock(AT)
        start = AT.date() + timedelta(days=1)

        before, after = await set_prepaid_settings(
            uow=storage(),
            clock=clock,
            effective_from=start,  # type: ignore[arg-type]
            low_balance_energy=Energy(wh=25_000),
            warning_cut_energy=Energy(wh=4_000),
            reclose_delay=timedelta(minutes=3),
        )

        async with storage() as uow:
            today = await uow.prepaid.settings(on=AT.date())  # type: ignore[arg-type]
            then = await uow.prepaid.settings(on=start)  # type: ignore[arg-type]
        assert today == before
        assert then == after
        assert then.holiday_rule is before.holiday_rule
        assert then.reclose_delay == timedelta(minutes=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sql_audit_log_refuses_update_and_delete(
    backend: str, tmp_path: Path, database_templates: Templates
) -> None:
    with database_templates.migrated(backend, tmp_path) as engine:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor, action, target, before, after, detail,"
                    " channel) VALUES (:at, 'a', 'x.y', 't', '', '', '', 'CONSOLE')"
                ),
                {"at": AT},
            )
        for statement in ("UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text(statement))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT actor FROM audit_log")).scalars().all() == [
                "a"
            ]
