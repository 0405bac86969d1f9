"""List the alarms staff must see, every kind in one list (``wattbook alarms``, the console)."""

from __future__ import annotations

from collections.abc import Collection

from wattbook.application import read_ports
from wattbook.domain.alarms import Alarm, AlarmKind, AlarmScope


async def list_alarms(
    *,
    uow: read_ports.ReadOnlyUnitOfWork,
    open_only: bool = True,
    subject: str | None = None,
    scope: AlarmScope | None = None,
    kinds: Collection[AlarmKind] | None = None,
    limit: int | None = None,
) -> tuple[Alarm, ...]:
    """Return the alarms (the open ones by default), newest first, filtered as asked."""
    async with uow:
        return await uow.alarms.alarms(
            open_only=open_only, subject=subject, scope=scope, kinds=kinds, limit=limit
        )
