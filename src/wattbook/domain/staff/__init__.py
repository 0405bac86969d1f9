"""Staff (A1-A4): operators, their roles and permissions, lock-out, sessions, the audit record.

Pure rules: who may do what, when a login is locked out, when a session has expired. The
console asks these functions; storage keeps what they decide.
"""

from wattbook.domain.staff._access import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    may,
    permissions_of,
)
from wattbook.domain.staff._audit import AuditRecord, audit_change
from wattbook.domain.staff._login import (
    LOCKOUT_ATTEMPTS,
    LOCKOUT_PERIOD,
    MIN_PASSWORD_LENGTH,
    SESSION_IDLE_LIMIT,
    SESSION_LIFETIME,
    LoginState,
    Operator,
    WeakPassword,
    check_login_name,
    check_password_strength,
    failed_login,
    is_locked,
    session_expired,
)

__all__ = [
    "LOCKOUT_ATTEMPTS",
    "LOCKOUT_PERIOD",
    "MIN_PASSWORD_LENGTH",
    "ROLE_PERMISSIONS",
    "SESSION_IDLE_LIMIT",
    "SESSION_LIFETIME",
    "AuditRecord",
    "LoginState",
    "Operator",
    "Permission",
    "Role",
    "WeakPassword",
    "audit_change",
    "check_login_name",
    "check_password_strength",
    "failed_login",
    "is_locked",
    "may",
    "permissions_of",
    "session_expired",
]
