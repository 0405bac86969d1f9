"""What every area's repository shares: the worker base class, chunking, upserts, registers."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db._metadata import REGISTERS
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.application.accounts import ports as account_ports
from wattbook.domain.values import (
    AccountNumber,
    RegisterSet,
)

T = TypeVar("T")

# Bound parameters per statement stay well under SQLite's limit (32766) and PostgreSQL's.
_CHUNK = 900


class Worker(abc.ABC):
    """Hand blocking calls on the unit of work's connection to a thread.

    It also remembers, for one unit of work, what a batch looked up once and needs again:
    account ids (an account's id never changes), the installation id of each meter read
    (forgotten when an installation changes) and the prepaid state rows as loaded (so that
    only changed states are written back).
    """

    def __init__(self) -> None:
        self.account_id_cache: dict[str, int] = {}
        self.installation_id_cache: dict[str, int] = {}
        self.loaded_states: dict[int, tuple[Any, ...]] = {}

    @abc.abstractmethod
    def conn(self) -> Connection:
        """Return the open connection."""

    @abc.abstractmethod
    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run ``function(*args)`` off the event loop and return its result."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Commit the unit of work's transaction and give its connection back (called inside
        a ``run``, so that the commit costs no hand-off of its own)."""

    def forget(self) -> None:
        """Drop what was remembered (at the end of a unit of work)."""
        self.account_id_cache.clear()
        self.installation_id_cache.clear()
        self.loaded_states.clear()

    def account_ids(self, numbers: Collection[AccountNumber]) -> dict[str, int]:
        """Return the ids of the accounts that exist among ``numbers``, by number."""
        cache = self.account_id_cache
        wanted = {str(number) for number in numbers}
        missing = wanted - cache.keys()
        if missing:
            cache.update(_account_ids(self.conn(), [AccountNumber(value=m) for m in missing]))
        return {number: cache[number] for number in wanted if number in cache}


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _registers(row: Any, prefix: str = "") -> RegisterSet:
    return RegisterSet(
        total_wh=row[f"{prefix}total_wh"],
        sharp_wh=row[f"{prefix}sharp_wh"],
        peak_wh=row[f"{prefix}peak_wh"],
        flat_wh=row[f"{prefix}flat_wh"],
        valley_wh=row[f"{prefix}valley_wh"],
    )


def _register_values(registers: RegisterSet, prefix: str = "") -> dict[str, int]:
    return {
        f"{prefix}{name}": value
        for name, value in zip(REGISTERS, registers.as_tuple(), strict=True)
    }


def upsert(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
    fill_in: Sequence[str] = (),
) -> None:
    """Insert rows, or on a key conflict add to ``add`` columns and overwrite ``replace`` ones.

    ``fill_in`` columns take the new value only where the stored one is NULL (an end seen
    later).

    Both SQLite (3.24+) and PostgreSQL speak ``INSERT ... ON CONFLICT DO UPDATE``.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    statement: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in add}
    updates.update({name: statement.excluded[name] for name in replace})
    updates.update(
        {name: sa.func.coalesce(table.c[name], statement.excluded[name]) for name in fill_in}
    )
    if updates:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    connection.execute(statement, list(rows))


def insert_ignoring_duplicates(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
) -> None:
    """Insert rows, skipping those whose key exists already (re-deliveries)."""
    upsert(connection, table, rows, keys=keys)


def _account_ids(connection: Connection, numbers: Collection[AccountNumber]) -> dict[str, int]:
    wanted = sorted({str(number) for number in numbers})
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        query = sa.select(accounts_t.accounts.c.account_number, accounts_t.accounts.c.id).where(
            accounts_t.accounts.c.account_number.in_(chunk)
        )
        found.update({str(number): int(id_) for number, id_ in connection.execute(query)})
    return found


def _account_id(connection: Connection, number: AccountNumber) -> int:
    found = _account_ids(connection, (number,))
    if str(number) not in found:
        raise account_ports.UnknownAccount(str(number))
    return found[str(number)]
