"""What just happened on the campus, read straight from every area's tables by time.

Like the month-end read (``_statements``), this reader sits beside the areas' repositories: it
reads relay commands, the SMS outbox, payments, alarms, meter events, the rules' held cuts and
the journal in one read-only transaction, a few indexed queries, for the demo's feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db._uow import SqlReadOnlyUnitOfWork
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.alarms import _tables as alarms_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.adapters.db.metering import _tables as metering_t
from wattbook.adapters.db.notifications import _tables as notifications_t
from wattbook.adapters.db.payments import _tables as payments_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.queries import activity_ports as ap
from wattbook.domain.values import AccountNumber, Money

_DONE = ("CONFIRMED", "SENT", "FAILED")


def _number(value: str | None) -> AccountNumber | None:
    return None if value is None else AccountNumber(value=value)


class SqlActivityReader:
    """Read the campus's activity from the tables (SQLite and PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def happenings(self, *, since_at: datetime, now: datetime) -> tuple[ap.ActivityItem, ...]:
        """Return what happened from ``since_at`` on, oldest first (see the port)."""
        async with SqlReadOnlyUnitOfWork(self._engine) as uow:
            return await uow.call(lambda connection: _happenings(connection, since_at, now))

    async def readings_charged(
        self, *, after_entry_id: int, after_reading_id: int
    ) -> ap.ReadingsCharged:
        """Return the readings and charges after the two positions (see the port)."""
        async with SqlReadOnlyUnitOfWork(self._engine) as uow:
            return await uow.call(
                lambda connection: _readings_charged(connection, after_entry_id, after_reading_id)
            )

    async def journal_charges(self) -> Mapping[AccountNumber, Money]:
        """Return each account's sum of energy charges in the journal."""
        async with SqlReadOnlyUnitOfWork(self._engine) as uow:
            return await uow.call(_journal_charges)


def _happenings(
    connection: Connection, since_at: datetime, now: datetime
) -> tuple[ap.ActivityItem, ...]:
    a = accounts_t.accounts
    items: list[ap.ActivityItem] = []
    row: Any
    rc = headend_t.relay_commands
    for row in connection.execute(
        sa.select(
            rc.c.id,
            a.c.account_number,
            rc.c.meter_number,
            rc.c.action,
            rc.c.reason,
            rc.c.status,
            rc.c.done_at,
            rc.c.ordered_by,
            rc.c.last_error,
        )
        .join(a, a.c.id == rc.c.account_id)
        .where(rc.c.done_at >= since_at, rc.c.status.in_(_DONE))
    ):
        if row.status == "FAILED":
            kind = ap.ActivityKind.RELAY_FAILED
        elif row.action in ("TRIP", "KEEP_POWER_OFF"):
            kind = ap.ActivityKind.RELAY_TRIPPED
        else:
            kind = ap.ActivityKind.RELAY_CLOSED
        items.append(
            ap.ActivityItem(
                kind=kind,
                key=f"relay:{row.id}",
                at=row.done_at,
                account_number=_number(row.account_number),
                subject=row.meter_number or "",
                code=row.reason,
                detail=row.last_error or row.ordered_by or "" if row.status == "FAILED" else "",
            )
        )
    so = notifications_t.sms_outbox
    for row in connection.execute(
        sa.select(
            so.c.id, a.c.account_number, so.c.kind, so.c.done_at, so.c.balance_fen, so.c.amount_fen
        )
        .join(a, a.c.id == so.c.account_id)
        .where(so.c.done_at >= since_at, so.c.status == "SENT")
    ):
        items.append(
            ap.ActivityItem(
                kind=ap.ActivityKind.SMS_SENT,
                key=f"sms:{row.id}",
                at=row.done_at,
                account_number=_number(row.account_number),
                code=row.kind,
                amount=None if row.amount_fen is None else Money(fen=row.amount_fen),
            )
        )
    p = payments_t.payments
    for row in connection.execute(
        sa.select(
            p.c.id,
            a.c.account_number,
            p.c.channel,
            p.c.kind,
            p.c.amount_fen,
            p.c.balance_after_fen,
            p.c.at,
            p.c.receipt_number,
        )
        .join(a, a.c.id == p.c.account_id)
        .where(p.c.at >= since_at)
    ):
        items.append(
            ap.ActivityItem(
                kind=ap.ActivityKind.PAYMENT,
                key=f"payment:{row.id}",
                at=row.at,
                account_number=_number(row.account_number),
                subject=row.receipt_number,
                code=f"{row.channel}/{row.kind}",
                amount=Money(fen=row.amount_fen),
                detail=Money(fen=row.balance_after_fen).yuan(),
            )
        )
    al = alarms_t.alarms
    for row in connection.execute(
        sa.select(
            al.c.id, al.c.kind, al.c.subject, al.c.raised_at, al.c.ended_at, al.c.detail
        ).where(sa.or_(al.c.raised_at >= since_at, al.c.ended_at >= since_at))
    ):
        if row.raised_at >= since_at:
            items.append(
                ap.ActivityItem(
                    kind=ap.ActivityKind.ALARM_RAISED,
                    key=f"alarm:{row.id}",
                    at=row.raised_at,
                    subject=row.subject,
                    code=row.kind,
                    detail=row.detail,
                )
            )
        if row.ended_at is not None and row.ended_at >= since_at:
            items.append(
                ap.ActivityItem(
                    kind=ap.ActivityKind.ALARM_ENDED,
                    key=f"alarm-ended:{row.id}",
                    at=max(row.ended_at, row.raised_at),
                    subject=row.subject,
                    code=row.kind,
                )
            )
    # Events a meter stored while it could not be reached (M6, C3): they happened before its
    # no-communication alarm ended and were filed after, once it answered again.
    me = headend_t.meter_events
    stored = (
        sa.select(
            me.c.meter_number,
            sa.func.count().label("events"),
            sa.func.min(me.c.occurred_at).label("first_at"),
            sa.func.max(me.c.recorded_at).label("filed_at"),
            sa.func.max(me.c.id).label("last_id"),
        )
        .join(
            al,
            sa.and_(
                al.c.kind == "NO_COMMUNICATION",
                al.c.meter_number == me.c.meter_number,
                al.c.ended_at.is_not(None),
                me.c.occurred_at < al.c.ended_at,
                me.c.recorded_at >= al.c.ended_at,
            ),
        )
        .where(me.c.recorded_at >= since_at)
        .group_by(me.c.meter_number)
    )
    for row in connection.execute(stored):
        items.append(
            ap.ActivityItem(
                kind=ap.ActivityKind.STORED_EVENTS_FILED,
                key=f"events:{row.meter_number}:{row.last_id}",
                at=row.filed_at,
                subject=row.meter_number,
                count=int(row.events),
                detail=row.first_at.isoformat(),
            )
        )
    ps, b = prepaid_t.prepaid_states, billing_t.balances
    for row in connection.execute(
        sa.select(a.c.account_number, ps.c.re_evaluate_at, b.c.balance_fen, b.c.updated_at)
        .join(a, a.c.id == ps.c.account_id)
        .join(b, b.c.account_id == ps.c.account_id)
        .where(ps.c.re_evaluate_at > now, b.c.updated_at >= since_at)
    ):
        items.append(
            ap.ActivityItem(
                kind=ap.ActivityKind.CUT_HELD,
                key=f"{ap.HELD_KEY_PREFIX}{row.account_number}:{row.re_evaluate_at.isoformat()}",
                at=row.updated_at,
                account_number=_number(row.account_number),
                code=row.re_evaluate_at.isoformat(),
                amount=Money(fen=row.balance_fen),
            )
        )
    items.sort(key=lambda item: item.at)
    return tuple(items)


def _readings_charged(
    connection: Connection, after_entry_id: int, after_reading_id: int
) -> ap.ReadingsCharged:
    r, le = metering_t.readings, billing_t.ledger_entries
    readings, last_reading = connection.execute(
        sa.select(sa.func.count(), sa.func.max(r.c.id)).where(r.c.id > after_reading_id)
    ).one()
    charged, accounts, last_entry = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(le.c.amount_fen), 0),
            sa.func.count(sa.distinct(le.c.account_id)),
            sa.func.max(le.c.id),
        ).where(le.c.id > after_entry_id, le.c.kind == "CHARGE")
    ).one()
    if last_entry is None:
        last_entry = connection.execute(sa.select(sa.func.max(le.c.id))).scalar()
    return ap.ReadingsCharged(
        readings=int(readings),
        accounts=int(accounts),
        charged=Money(fen=-int(charged)),
        last_entry_id=int(last_entry or after_entry_id),
        last_reading_id=int(last_reading or after_reading_id),
    )


def _journal_charges(connection: Connection) -> dict[AccountNumber, Money]:
    a, le = accounts_t.accounts, billing_t.ledger_entries
    rows = connection.execute(
        sa.select(a.c.account_number, sa.func.sum(le.c.amount_fen))
        .join(a, a.c.id == le.c.account_id)
        .where(le.c.kind == "CHARGE")
        .group_by(a.c.account_number)
    )
    return {AccountNumber(value=number): Money(fen=int(total)) for number, total in rows}
