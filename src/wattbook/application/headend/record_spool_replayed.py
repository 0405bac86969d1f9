"""Raise the alarm that a head-end was cut off from the broker and spooled (ADR 20)."""

from __future__ import annotations

from wattbook.application import alarm_ports, ports
from wattbook.application.headend import broker_ports as bp


async def record_spool_replayed(*, uow: ports.UnitOfWork, notice: bp.SpoolReplayed) -> bool:
    """Open the head-end's HEADEND_SPOOLED alarm (from when it began spooling); return whether
    one opened (an open one gets the new detail).

    Staff see that its collections reached the core late, and whether the spool ever filled
    (then readings waited in the head-end's memory, or were left to the meters' registers).
    """
    detail = (
        f"head-end {notice.headend} could not reach the broker from "
        f"{notice.first_at.isoformat()} to {notice.last_at.isoformat()}: {notice.spooled} "
        f"messages kept in its spool and handed over at {notice.replayed_at.isoformat()}"
    )
    if notice.refused:
        detail += f"; {notice.refused} could not be spooled (the spool was full)"
    async with uow:
        opened = await uow.alarms.raise_alarm(
            kind=alarm_ports.AlarmKind.HEADEND_SPOOLED,
            subject=notice.headend,
            detail=detail,
            at=notice.first_at,
        )
        await uow.commit()
    return opened
