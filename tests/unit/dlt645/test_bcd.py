"""BCD, signed BCD, fixed-point and address conversions: exact both ways."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.dlt645 import bcd
from wattbook.dlt645.errors import DataError


class TestUnsignedBcd:
    def test_is_low_byte_first(self) -> None:
        assert bcd.int_to_bcd(12345678, 4) == bytes.fromhex("78 56 34 12")

    @given(
        st.integers(min_value=1, max_value=8).flatmap(
            lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=100**n - 1))
        )
    )
    def test_round_trips(self, case: tuple[int, int]) -> None:
        length, value = case

        assert bcd.bcd_to_int(bcd.int_to_bcd(value, length)) == value

    @pytest.mark.parametrize("raw", [b"\x0a", b"\xa0", b"\x12\xff"])
    def test_refuses_nibbles_above_nine(self, raw: bytes) -> None:
        with pytest.raises(DataError):
            bcd.bcd_to_int(raw)

    def test_refuses_values_too_large_for_the_field(self) -> None:
        with pytest.raises(DataError):
            bcd.int_to_bcd(10000, 2)


class TestSignedBcd:
    def test_sign_is_bit_7_of_the_last_byte(self) -> None:
        assert bcd.int_to_signed_bcd(-1234, 3) == bytes.fromhex("34 12 80")

    @given(st.integers(min_value=-799999, max_value=799999))
    def test_round_trips(self, value: int) -> None:
        assert bcd.signed_bcd_to_int(bcd.int_to_signed_bcd(value, 3)) == value


class TestDecimal:
    @given(st.decimals(min_value=-799, max_value=799, places=3, allow_nan=False))
    def test_round_trips_exactly(self, value: Decimal) -> None:
        raw = bcd.encode_decimal(value, length=3, decimals=3, signed=True)

        assert bcd.decode_decimal(raw, decimals=3, signed=True) == value

    def test_refuses_to_drop_precision(self) -> None:
        with pytest.raises(DataError):
            bcd.encode_decimal(Decimal("1.005"), length=4, decimals=2)


class TestAddress:
    def test_label_to_wire_is_reversed_bcd(self) -> None:
        assert bcd.address_to_wire("051600001234") == bytes.fromhex("34 12 00 00 16 05")

    @given(st.text(alphabet="0123456789A", min_size=12, max_size=12))
    def test_round_trips(self, address: str) -> None:
        assert bcd.address_from_wire(bcd.address_to_wire(address)) == address

    @pytest.mark.parametrize("address", ["05160000123", "0516000012345", "05160000123B"])
    def test_refuses_malformed_labels(self, address: str) -> None:
        with pytest.raises(DataError):
            bcd.address_to_wire(address)


class TestClock:
    @given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
    def test_datetime_round_trips_to_the_second(self, value: dt.datetime) -> None:
        value = value.replace(microsecond=0)

        assert bcd.decode_datetime(bcd.encode_datetime(value)) == value

    def test_seconds_go_first_on_the_wire(self) -> None:
        raw = bcd.encode_datetime(dt.datetime(2026, 11, 27, 23, 0, 5))

        assert raw == bytes.fromhex("05 00 23 27 11 26")

    def test_refuses_aware_datetimes(self) -> None:
        with pytest.raises(DataError):
            bcd.encode_datetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def test_refuses_impossible_dates(self) -> None:
        with pytest.raises(DataError):
            bcd.decode_datetime(bytes.fromhex("00 00 00 30 02 26"))
