"""Operators, log-in with lock-out, sessions, and audited units of work, on the fakes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from tests.fakes import FakeClock, FakeDatabase
from tests.fakes.passwords import FakePasswordHasher
from tests.unit.application.world import TUESDAY, World, meter_of

from wattbook.application.prepaid.set_prepaid_settings import set_prepaid_settings
from wattbook.application.staff import audit, operators, sessions
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff
from wattbook.domain.values import Energy, MeterNumber

AT = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)
PASSWORD = "counter window 7"  # noqa: S105 - a test password


async def _world() -> tuple[FakeDatabase, FakeClock, FakePasswordHasher]:
    db, clock, hasher = FakeDatabase(), FakeClock(AT), FakePasswordHasher()
    await operators.create_operator(
        uow=db(),
        clock=clock,
        hasher=hasher,
        login="li.na",
        name="李娜",
        role=staff.Role.CASHIER,
        password=PASSWORD,
        by="admin",
    )
    return db, clock, hasher


def _actions(db: FakeDatabase) -> list[str]:
    return [stored.record.action for stored in db.tables.audit_log]


class TestCreateOperator:
    async def test_stores_the_hash_not_the_password_and_audits_it(self) -> None:
        db, _, _ = await _world()

        stored = db.tables.operators["li.na"]

        assert stored.password_hash == f"fake${PASSWORD}"
        assert stored.operator.role is staff.Role.CASHIER
        assert _actions(db) == ["staff.operator.created"]
        assert db.tables.audit_log[0].record.actor == "admin"

    async def test_refuses_a_taken_login_and_writes_nothing(self) -> None:
        db, clock, hasher = await _world()

        with pytest.raises(staff_ports.DuplicateOperator):
            await operators.create_operator(
                uow=db(),
                clock=clock,
                hasher=hasher,
                login="li.na",
                name="Other",
                role=staff.Role.VIEWER,
                password=PASSWORD,
                by="admin",
            )

        assert _actions(db) == ["staff.operator.created"]

    async def test_refuses_a_weak_password(self) -> None:
        db, clock, hasher = FakeDatabase(), FakeClock(AT), FakePasswordHasher()

        with pytest.raises(staff.WeakPassword):
            await operators.create_operator(
                uow=db(),
                clock=clock,
                hasher=hasher,
                login="wang",
                name="王",
                role=staff.Role.VIEWER,
                password="123",  # noqa: S106
                by="admin",
            )

        assert db.tables.operators == {}


class TestLogIn:
    async def test_returns_the_operator_and_audits_it(self) -> None:
        db, clock, hasher = await _world()

        operator = await sessions.log_in(
            uow=db(), clock=clock, hasher=hasher, login="li.na", password=PASSWORD
        )

        assert operator.login == "li.na"
        assert _actions(db)[-1] == "staff.login.succeeded"

    async def test_locks_out_after_five_wrong_passwords_even_with_the_right_one(self) -> None:
        db, clock, hasher = await _world()
        for _ in range(staff.LOCKOUT_ATTEMPTS):
            with pytest.raises(sessions.LoginRefused):
                await sessions.log_in(
                    uow=db(),
                    clock=clock,
                    hasher=hasher,
                    login="li.na",
                    password="wrong one!!",  # noqa: S106
                )

        with pytest.raises(sessions.LoginRefused):
            await sessions.log_in(
                uow=db(), clock=clock, hasher=hasher, login="li.na", password=PASSWORD
            )

        assert _actions(db)[-1] == "staff.login.locked-out"
        clock.advance(staff.LOCKOUT_PERIOD)
        operator = await sessions.log_in(
            uow=db(), clock=clock, hasher=hasher, login="li.na", password=PASSWORD
        )
        assert operator.login == "li.na"
        assert db.tables.operators["li.na"].login_state == staff.LoginState()

    async def test_refuses_an_unknown_login_after_the_same_work(self) -> None:
        db, clock, hasher = await _world()
        before = hasher.hashed

        with pytest.raises(sessions.LoginRefused):
            await sessions.log_in(
                uow=db(), clock=clock, hasher=hasher, login="nobody", password=PASSWORD
            )

        assert hasher.hashed == before + 1

    async def test_rehashes_an_old_hash_at_login(self) -> None:
        db, clock, hasher = await _world()
        stored = db.tables.operators["li.na"]
        db.tables.operators["li.na"] = dataclasses.replace(stored, password_hash=f"old${PASSWORD}")

        await sessions.log_in(
            uow=db(), clock=clock, hasher=hasher, login="li.na", password=PASSWORD
        )

        assert db.tables.operators["li.na"].password_hash == f"fake${PASSWORD}"


class TestSessions:
    async def test_a_disabled_operator_has_no_session_any_more(self) -> None:
        db, clock, _ = await _world()
        assert (await sessions.session_operator(uow=db(), login="li.na")).login == "li.na"

        await operators.change_operator(
            uow=db(), clock=clock, login="li.na", role=staff.Role.CASHIER, active=False, by="admin"
        )

        with pytest.raises(sessions.SessionExpired):
            await sessions.session_operator(uow=db(), login="li.na")
        assert db.tables.audit_log[-1].record.before == "active=True"

    async def test_logout_is_audited(self) -> None:
        db, clock, _ = await _world()

        await sessions.log_out(uow=db(), clock=clock, login="li.na")

        assert _actions(db)[-1] == "staff.logout"


class TestAudited:
    async def test_writes_the_trail_with_the_actions_commit_only(self) -> None:
        db = FakeDatabase()
        record = staff.AuditRecord(at=AT, actor="li.na", action="x.done", target="t")
        trail = audit.AuditTrail(lambda: (record,))
        factory = audit.audited(db, trail)

        async with factory() as uow:
            pass  # left without committing: nothing done, nothing written
        assert db.tables.audit_log == []
        async with factory() as uow:
            await uow.commit()
            await uow.commit()

        assert [s.record for s in db.tables.audit_log] == [record]
        assert trail.written

    async def test_searches_newest_first(self) -> None:
        db, _, _ = await _world()
        await audit.record_action(
            uow=db(),
            records=(staff.AuditRecord(at=AT, actor="cli", action="metering.read", target="0516"),),
        )

        found = await audit.search_audit(uow=db(), query=staff_ports.AuditQuery(text="0516"))

        assert [s.record.action for s in found] == ["metering.read"]


class TestFieldAction:
    async def test_records_an_installed_meter_and_ignores_a_stranger(self) -> None:
        world = World()
        account = await world.household()

        installed = await audit.record_field_action(
            uow=world.uow(),
            clock=world.clock,
            meter=meter_of(account),
            action="headend.field.trip",
            by="wang.gong",
            outcome="confirmed",
        )
        stranger = await audit.record_field_action(
            uow=world.uow(),
            clock=world.clock,
            meter=MeterNumber(value="051699999999"),
            action="headend.field.trip",
            by="wang.gong",
            outcome="confirmed",
        )

        assert (installed, stranger) == (True, False)
        assert [(s.record.target, s.record.channel) for s in world.db.tables.audit_log] == [
            (str(account), "CLI")
        ]


class TestPrepaidSettings:
    @pytest.mark.parametrize(
        ("low_kwh", "warning_kwh", "delay_min", "days"),
        [(20, 25, 2, 1), (20, 5, 90, 1), (20, 5, 2, -1), (2000, 5, 2, 1)],
        ids=["warning-above-low", "delay-too-long", "in-the-past", "threshold-too-high"],
    )
    async def test_refuses_a_bad_policy_and_changes_nothing(
        self, low_kwh: int, warning_kwh: int, delay_min: int, days: int
    ) -> None:
        world = World()
        seeded = dict(world.db.tables.prepaid_policies)

        with pytest.raises(ValueError, match=r"\w"):
            await set_prepaid_settings(
                uow=world.uow(),
                clock=world.clock,
                effective_from=TUESDAY.date() + timedelta(days=days),
                low_balance_energy=Energy.from_kwh(low_kwh),
                warning_cut_energy=Energy.from_kwh(warning_kwh),
                reclose_delay=timedelta(minutes=delay_min),
            )

        assert world.db.tables.prepaid_policies == seeded
