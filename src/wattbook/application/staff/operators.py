"""Operators (A1-A4): create one, change its role or lock, reset its password."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff


async def _audit(
    uow: ports.UnitOfWork, *, clock: ports.Clock, by: str, action: str, login: str, **kw: str
) -> None:
    await uow.staff.append_audit(
        (staff.AuditRecord(at=clock.now(), actor=by, action=action, target=login, **kw),)
    )


async def create_operator(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    hasher: staff_ports.PasswordHasher,
    login: str,
    name: str,
    role: staff.Role,
    password: str,
    by: str,
    channel: str = "CONSOLE",
) -> staff.Operator:
    """Create an operator who logs in with ``password``; ``by`` is who created it.

    :raises ValueError: if the login name or the name is not valid.
    :raises staff.WeakPassword: if the password is too weak.
    :raises staff_ports.DuplicateOperator: if the login name is taken.
    """
    staff.check_login_name(login)
    if not name.strip():
        raise ValueError("an operator has a name")
    staff.check_password_strength(password, login=login)
    operator = staff.Operator(login=login, name=name.strip(), role=role)
    password_hash = hasher.hash(password)
    async with uow:
        await uow.staff.add_operator(
            staff_ports.StoredOperator(
                operator=operator,
                password_hash=password_hash,
                login_state=staff.LoginState(),
                created_at=clock.now(),
            )
        )
        await uow.staff.append_audit(
            (
                staff.AuditRecord(
                    at=clock.now(),
                    actor=by,
                    action="staff.operator.created",
                    target=login,
                    after=f"name={operator.name}; role={role}",
                    channel=channel,
                ),
            )
        )
        await uow.commit()
    return operator


async def _stored(uow: ports.UnitOfWork, login: str) -> staff_ports.StoredOperator:
    stored = await uow.staff.operator(login)
    if stored is None:
        raise staff_ports.UnknownOperator(login)
    return stored


async def change_operator(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    login: str,
    role: staff.Role,
    active: bool,
    by: str,
) -> staff.Operator:
    """Change an operator's role, or disable or re-enable it.

    A disabled operator's console session stops at its next request.

    :raises staff_ports.UnknownOperator: if there is no such operator.
    :raises ValueError: if an administrator would demote or disable themself.
    """
    async with uow:
        stored = await _stored(uow, login)
        before = stored.operator
        if login == by and (role is not before.role or not active):
            raise ValueError("an administrator cannot demote or disable themself")
        after = staff.Operator(login=login, name=before.name, role=role, active=active)
        await uow.staff.save_operator(after)
        old, new = staff.audit_change(
            {"role": before.role, "active": before.active}, {"role": role, "active": active}
        )
        await _audit(
            uow,
            clock=clock,
            by=by,
            action="staff.operator.changed",
            login=login,
            before=old,
            after=new,
        )
        await uow.commit()
    return after


async def reset_password(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    hasher: staff_ports.PasswordHasher,
    login: str,
    password: str,
    by: str,
) -> None:
    """Set a new password for ``login``, and clear its lock-out.

    :raises staff_ports.UnknownOperator: if there is no such operator.
    :raises staff.WeakPassword: if the password is too weak.
    """
    staff.check_password_strength(password, login=login)
    password_hash = hasher.hash(password)
    async with uow:
        await _stored(uow, login)
        await uow.staff.set_password_hash(login, password_hash)
        await uow.staff.save_login_state(login, staff.LoginState())
        await _audit(uow, clock=clock, by=by, action="staff.password.reset", login=login)
        await uow.commit()


async def list_operators(*, uow: ports.UnitOfWork) -> tuple[staff_ports.StoredOperator, ...]:
    """Return every operator, by login name."""
    async with uow:
        return await uow.staff.operators()
