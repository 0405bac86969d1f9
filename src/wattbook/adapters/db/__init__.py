"""Storage: SQLAlchemy Core tables, repositories, the unit of work and the migrations.

One package per business area (``accounts``, ``metering``, ``billing``, ``prepaid``,
``payments``, ``headend``, ``notifications``, ``alarms``, ``staff``) holds its tables
(``_tables``) and its repository; the tables all sit on the one ``metadata`` (``_metadata``).
"""

from wattbook.adapters.db import (  # noqa: F401  (each area declares its tables on metadata)
    accounts,
    alarms,
    api,
    billing,
    headend,
    metering,
    notifications,
    payments,
    prepaid,
    staff,
)
from wattbook.adapters.db._activity import SqlActivityReader
from wattbook.adapters.db._engine import (
    SQLITE_BEGIN_OPTION,
    SQLITE_BUSY_TIMEOUT_MS,
    InvalidDatabaseUrl,
    UnsupportedDatabase,
    create_engine,
    normalise_url,
    sqlite_path,
)
from wattbook.adapters.db._metadata import metadata
from wattbook.adapters.db._migrate import (
    UnknownRevision,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    is_shipped_revision,
    upgrade,
)
from wattbook.adapters.db._partitions import (
    LEDGER_KEYS,
    PARTITIONED,
    SqlPartitionKeeper,
    comparison_filter,
    default_partition_name,
    ensure_month_partitions,
    is_partitioned,
    missing_month_partitions,
    partition_name,
)
from wattbook.adapters.db._residents import SqlResidentReader
from wattbook.adapters.db._statements import SqlStatementReader
from wattbook.adapters.db._types import (
    InexactPrice,
    NaiveDatetime,
    PriceColumn,
    UtcDateTime,
    price_from_column,
    price_to_column,
)
from wattbook.adapters.db._uow import (
    PING_TIMEOUT_S,
    DatabaseUnavailable,
    HandOffSuspended,
    SqlMonthEndUnitOfWork,
    SqlReadOnlyUnitOfWork,
    SqlUnitOfWork,
    UnitOfWorkNotEntered,
    WriteRefused,
    month_end_factory,
    ping,
    reader_factory,
    run_in_one_hand_off,
    unit_of_work_factory,
)
from wattbook.adapters.db._workers import (
    DEFAULT_QUEUE_TIMEOUT_S,
    DEFAULT_WORKERS,
    MAX_QUEUE_TIMEOUT_S,
    MAX_WORKERS,
    DatabaseBusy,
    WorkerLimits,
)
from wattbook.adapters.db.accounts import _tables as _accounts_tables  # noqa: F401
from wattbook.adapters.db.alarms import _tables as _alarms_tables  # noqa: F401
from wattbook.adapters.db.api import _tables as _api_tables  # noqa: F401
from wattbook.adapters.db.billing import _tables as _billing_tables  # noqa: F401
from wattbook.adapters.db.headend import _tables as _headend_tables  # noqa: F401
from wattbook.adapters.db.metering import _tables as _metering_tables  # noqa: F401
from wattbook.adapters.db.notifications import _tables as _notifications_tables  # noqa: F401
from wattbook.adapters.db.payments import _tables as _payments_tables  # noqa: F401
from wattbook.adapters.db.prepaid import _tables as _prepaid_tables  # noqa: F401

__all__ = [
    "DEFAULT_QUEUE_TIMEOUT_S",
    "DEFAULT_WORKERS",
    "LEDGER_KEYS",
    "MAX_QUEUE_TIMEOUT_S",
    "MAX_WORKERS",
    "PARTITIONED",
    "PING_TIMEOUT_S",
    "SQLITE_BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "DatabaseBusy",
    "DatabaseUnavailable",
    "HandOffSuspended",
    "InexactPrice",
    "InvalidDatabaseUrl",
    "NaiveDatetime",
    "PriceColumn",
    "SqlActivityReader",
    "SqlMonthEndUnitOfWork",
    "SqlPartitionKeeper",
    "SqlReadOnlyUnitOfWork",
    "SqlResidentReader",
    "SqlStatementReader",
    "SqlUnitOfWork",
    "UnitOfWorkNotEntered",
    "UnknownRevision",
    "UnsupportedDatabase",
    "UtcDateTime",
    "WorkerLimits",
    "WriteRefused",
    "alembic_config",
    "comparison_filter",
    "create_engine",
    "current_revision",
    "default_partition_name",
    "downgrade",
    "ensure_month_partitions",
    "head_revision",
    "is_partitioned",
    "is_shipped_revision",
    "metadata",
    "missing_month_partitions",
    "month_end_factory",
    "normalise_url",
    "partition_name",
    "ping",
    "price_from_column",
    "price_to_column",
    "reader_factory",
    "run_in_one_hand_off",
    "sqlite_path",
    "unit_of_work_factory",
    "upgrade",
]
