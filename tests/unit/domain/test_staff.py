"""Roles and permissions, lock-out, session expiry, password strength, the audit record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wattbook.domain import staff

AT = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)


class TestPermissions:
    def test_an_administrator_may_do_everything(self) -> None:
        assert all(staff.may(staff.Role.ADMINISTRATOR, p) for p in staff.Permission)

    def test_a_cashier_takes_money_but_changes_no_setting_or_relay(self) -> None:
        assert staff.may(staff.Role.CASHIER, staff.Permission.TAKE_PAYMENT)
        assert not staff.may(staff.Role.CASHIER, staff.Permission.CHANGE_SETTINGS)
        assert not staff.may(staff.Role.CASHIER, staff.Permission.OPERATE_RELAY)
        assert not staff.may(staff.Role.CASHIER, staff.Permission.MANAGE_OPERATORS)

    def test_an_engineer_operates_relays_but_takes_no_money(self) -> None:
        assert staff.may(staff.Role.ENGINEER, staff.Permission.OPERATE_RELAY)
        assert not staff.may(staff.Role.ENGINEER, staff.Permission.TAKE_PAYMENT)

    def test_a_viewer_only_views(self) -> None:
        assert staff.permissions_of(staff.Role.VIEWER) == {
            staff.Permission.VIEW,
            staff.Permission.READ_REPORTS,
        }


class TestLockOut:
    def test_locks_after_the_last_allowed_failure(self) -> None:
        state = staff.LoginState()
        for _ in range(staff.LOCKOUT_ATTEMPTS - 1):
            state = staff.failed_login(state, at=AT)
        assert not staff.is_locked(state, at=AT)

        state = staff.failed_login(state, at=AT)

        assert staff.is_locked(state, at=AT)
        assert not staff.is_locked(state, at=AT + staff.LOCKOUT_PERIOD)

    def test_counts_afresh_after_the_lock_ran_out(self) -> None:
        state = staff.LoginState(failures=5, locked_until_at=AT)

        state = staff.failed_login(state, at=AT + timedelta(seconds=1))

        assert state.failures == 1
        assert not staff.is_locked(state, at=AT + timedelta(seconds=1))


class TestSessionExpiry:
    def test_expires_when_idle_too_long(self) -> None:
        last = AT + timedelta(hours=1)
        assert not staff.session_expired(
            created_at=AT, last_seen_at=last, at=last + timedelta(minutes=29)
        )
        assert staff.session_expired(
            created_at=AT, last_seen_at=last, at=last + staff.SESSION_IDLE_LIMIT
        )

    def test_expires_after_a_working_day_however_busy(self) -> None:
        end = AT + staff.SESSION_LIFETIME
        assert staff.session_expired(created_at=AT, last_seen_at=end, at=end)


class TestPasswords:
    @pytest.mark.parametrize("password", ["short1A", "aaaaaaaaaaaa", "xx-wang.li-xx"])
    def test_refuses_weak_ones(self, password: str) -> None:
        with pytest.raises(staff.WeakPassword):
            staff.check_password_strength(password, login="wang.li")

    def test_accepts_a_long_varied_one(self) -> None:
        staff.check_password_strength("correct horse 42", login="wang.li")

    @pytest.mark.parametrize("login", ["A", "1abc", "wang li", "x" * 40])
    def test_refuses_bad_login_names(self, login: str) -> None:
        with pytest.raises(ValueError, match="login name"):
            staff.check_login_name(login)


class TestAuditRecord:
    def test_refuses_a_naive_time_and_an_undotted_action(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            staff.AuditRecord(at=AT.replace(tzinfo=None), actor="a", action="x.y", target="t")
        with pytest.raises(ValueError, match="dotted"):
            staff.AuditRecord(at=AT, actor="a", action="Changed", target="t")

    def test_change_shows_only_what_differs(self) -> None:
        before, after = staff.audit_change(
            {"phone": "138", "address": "A"}, {"phone": "139", "address": "A"}
        )
        assert (before, after) == ("phone=138", "phone=139")
