"""Frames: golden bytes, the stream parser, and what the decoder refuses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook import dlt645
from wattbook.dlt645.frame import FrameParser

# Request for DI 00000000 to 051600001234: the digest's reference bytes (section 6.1).
READ_TOTAL = bytes.fromhex("FEFEFEFE 68 341200001605 68 11 04 33333333 12 16")


class TestEncode:
    def test_read_request_matches_reference_bytes(self) -> None:
        frame = dlt645.Frame(address="051600001234", control=0x11, data=bytes(4))

        raw = frame.encode()

        assert raw == READ_TOTAL

    def test_plus_33h_wraps_around(self) -> None:
        frame = dlt645.Frame(address="051600001234", control=0x11, data=bytes.fromhex("00FF0100"))

        raw = frame.encode(preamble=0)

        assert raw[10:14] == bytes.fromhex("33 32 34 33")


class TestDecode:
    def test_reads_fields_of_reference_frame(self) -> None:
        frame = dlt645.decode(READ_TOTAL)

        assert (frame.address, frame.control, frame.data, frame.di) == (
            "051600001234",
            0x11,
            bytes(4),
            0,
        )

    def test_accepts_no_preamble(self) -> None:
        assert dlt645.decode(READ_TOTAL[4:]).address == "051600001234"

    def test_rejects_five_preamble_bytes(self) -> None:
        with pytest.raises(dlt645.FrameError):
            dlt645.decode(b"\xfe" + READ_TOTAL)

    def test_rejects_bad_checksum_as_checksum_error(self) -> None:
        raw = bytearray(READ_TOTAL)
        raw[-2] ^= 1

        with pytest.raises(dlt645.ChecksumError):
            dlt645.decode(bytes(raw))

    def test_wildcard_address_shows_as_a(self) -> None:
        frame = dlt645.Frame(address="AAAAAAAAAAAA", control=0x13)

        assert dlt645.decode(frame.encode()).address == "AAAAAAAAAAAA"


class TestFrameParser:
    def test_address_with_16h_does_not_end_the_frame(self) -> None:
        parser = FrameParser()

        frames = parser.feed(READ_TOTAL)

        assert [f.address for f in frames] == ["051600001234"]

    def test_noise_partial_and_back_to_back_frames(self) -> None:
        parser = FrameParser()
        stream = b"\x00\x68\x16\x99" + READ_TOTAL + READ_TOTAL

        first = parser.feed(stream[:9])
        rest = parser.feed(stream[9:])

        assert first == []
        assert len(rest) == 2
        assert parser.pending == 0

    @given(st.binary(max_size=64), st.binary(max_size=64))
    def test_finds_frame_between_arbitrary_noise(self, before: bytes, after: bytes) -> None:
        parser = FrameParser()
        frame = dlt645.decode(READ_TOTAL)

        found = parser.feed(before + READ_TOTAL + after)

        assert frame in found


@given(st.binary(max_size=300))
def test_decoder_raises_only_package_errors(raw: bytes) -> None:
    with contextlib.suppress(dlt645.DLT645Error):
        dlt645.decode(raw)


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_parser_swallows_any_byte_stream_without_raising(chunks: list[bytes]) -> None:
    parser = FrameParser(max_buffer=256)

    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert dlt645.decode(frame.encode()) == frame

    assert parser.pending <= 256


@given(st.binary(max_size=40), st.integers(min_value=1, max_value=19))
def test_frame_split_anywhere_arrives_once(noise: bytes, cut: int) -> None:
    parser = FrameParser()
    stream = noise + READ_TOTAL

    frames = parser.feed(stream[: len(noise) + cut]) + parser.feed(stream[len(noise) + cut :])

    assert frames[-1] == dlt645.decode(READ_TOTAL)


@given(
    st.binary(max_size=255),
    st.integers(min_value=0, max_value=0xFF),
    st.integers(min_value=0, max_value=8),
)
def test_encoded_length_is_the_length_of_the_encoding(
    data: bytes, control: int, preamble: int
) -> None:
    frame = dlt645.Frame(address="051600001234", control=control, data=data)

    assert frame.encoded_length(preamble=preamble) == len(frame.encode(preamble=preamble))


def test_encoded_length_refuses_a_negative_preamble() -> None:
    frame = dlt645.decode(READ_TOTAL)

    with pytest.raises(dlt645.FrameError):
        frame.encoded_length(preamble=-1)


@given(st.integers(min_value=0, max_value=0xFF), st.binary(max_size=8))
def test_flags_and_di_follow_the_control_bits(control: int, data: bytes) -> None:
    frame = dlt645.Frame(address="051600001234", control=control, data=data)
    reply, abnormal, follow_up = bool(control & 0x80), bool(control & 0x40), bool(control & 0x20)
    carries_di = control & 0x1F in (0x03, 0x11, 0x12, 0x14) and not (reply and abnormal)

    assert (frame.is_reply, frame.is_abnormal, frame.has_follow_up) == (
        reply,
        reply and abnormal,
        reply and follow_up,
    )
    assert frame.di == (
        int.from_bytes(data[:4], "little") if carries_di and len(data) >= 4 else None
    )
