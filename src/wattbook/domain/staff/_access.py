"""Roles and what each may do: the one table every console route is checked against (A1-A4)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    """An operator's role; stored as the code."""

    ADMINISTRATOR = "ADMINISTRATOR"
    CASHIER = "CASHIER"
    ENGINEER = "ENGINEER"
    VIEWER = "VIEWER"


class Permission(StrEnum):
    """One kind of staff action. Every console route names exactly one."""

    VIEW = "VIEW"  # read accounts, meters, alarms, the counter's day
    TAKE_PAYMENT = "TAKE_PAYMENT"  # top-ups, reprints, kiosk receipt exchange
    CORRECT_PAYMENT = "CORRECT_PAYMENT"  # move or refund a mistaken top-up (P4)
    CASH_UP = "CASH_UP"  # the daily cash-up
    EDIT_CUSTOMER = "EDIT_CUSTOMER"  # open an account, change holder, phone, address (A2)
    INSTALL_METER = "INSTALL_METER"  # install or replace a meter (B8)
    READ_METER = "READ_METER"  # read a meter now
    OPERATE_RELAY = "OPERATE_RELAY"  # trip, close (A1)
    KEEP_POWER = "KEEP_POWER"  # keep-power and emergency power-back (A3)
    HANDLE_ALARM = "HANDLE_ALARM"  # acknowledge, resolve
    CHANGE_SETTINGS = "CHANGE_SETTINGS"  # price, thresholds, counter hours, holidays
    MANAGE_OPERATORS = "MANAGE_OPERATORS"  # create, disable, unlock operators
    READ_AUDIT = "READ_AUDIT"  # search the audit log
    READ_REPORTS = "READ_REPORTS"  # the reports


_EVERYTHING = frozenset(Permission)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: _EVERYTHING,
    Role.CASHIER: frozenset(
        {
            Permission.VIEW,
            Permission.TAKE_PAYMENT,
            Permission.CORRECT_PAYMENT,
            Permission.CASH_UP,
            Permission.EDIT_CUSTOMER,
            Permission.READ_REPORTS,
        }
    ),
    Role.ENGINEER: frozenset(
        {
            Permission.VIEW,
            Permission.INSTALL_METER,
            Permission.READ_METER,
            Permission.OPERATE_RELAY,
            Permission.KEEP_POWER,
            Permission.HANDLE_ALARM,
            Permission.READ_REPORTS,
        }
    ),
    Role.VIEWER: frozenset({Permission.VIEW, Permission.READ_REPORTS}),
}


def permissions_of(role: Role) -> frozenset[Permission]:
    """Return what ``role`` may do."""
    return ROLE_PERMISSIONS[role]


def may(role: Role, permission: Permission) -> bool:
    """Test whether an operator in ``role`` may take an action needing ``permission``."""
    return permission in ROLE_PERMISSIONS[role]
