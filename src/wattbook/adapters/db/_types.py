"""Column types for aware UTC datetimes and exact unit prices (CONVENTIONS §4, §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PRICE_SCALE = 10_000  # prices are stored as integer yuan/kWh x 10^4


class NaiveDatetime(ValueError):
    """A datetime without a time zone was about to be stored."""


class InexactPrice(ValueError):
    """A price has more decimal places than the column keeps."""


class UtcDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; read them back aware, in UTC.

    PostgreSQL keeps them in ``timestamptz``. SQLite has no time zones, so the value is
    stored as naive UTC text and UTC is re-attached on read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC for storage.

        :raises NaiveDatetime: if ``value`` has no time zone.
        """
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"refusing to store naive datetime {value.isoformat()}")
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def price_to_column(price: Decimal) -> int:
    """Return ``price`` (yuan/kWh) as the stored integer price x 10^4.

    :raises InexactPrice: if ``price`` has more than four decimal places.
    """
    scaled = price * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise InexactPrice(f"price {price} has more than 4 decimal places")
    return int(scaled)


def price_from_column(value: int) -> Decimal:
    """Return the stored integer price x 10^4 as a Decimal in yuan/kWh (4 places)."""
    return Decimal(value).scaleb(-4)


class PriceColumn(TypeDecorator[Decimal]):
    """Store an exact unit price in yuan/kWh as BIGINT price x 10^4.

    SQLite has no exact decimal type, so a NUMERIC column would round-trip through float.
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        """Scale the price to an integer.

        :raises InexactPrice: if the price has more than four decimal places.
        """
        if value is None:
            return None
        return price_to_column(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Return the stored integer as a Decimal price."""
        if value is None:
            return None
        return price_from_column(int(value))
