"""ccTalk framing, checksum, bill ids, event counter and the acceptor spec: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.adapters import acceptors
from wattbook.domain.values import Money

byte = st.integers(min_value=0, max_value=255)


class TestFrames:
    def test_a_simple_poll_to_address_40(self) -> None:
        raw = acceptors.encode_frame(acceptors.Frame(destination=40, source=1, header=254))

        # 40 + 0 + 1 + 254 = 295; 295 + 217 = 512 = 0 mod 256.
        assert raw == bytes([40, 0, 1, 254, 217])

    def test_an_ack_with_data(self) -> None:
        raw = bytes([1, 2, 40, 0, 0xFE, 0x00])
        raw += bytes([acceptors.checksum(raw)])

        assert acceptors.decode_frame(raw) == acceptors.Frame(
            destination=1, source=40, header=0, data=b"\xfe\x00"
        )

    @given(destination=byte, source=byte, header=byte, data=st.binary(max_size=255))
    def test_round_trip(self, destination: int, source: int, header: int, data: bytes) -> None:
        frame = acceptors.Frame(destination=destination, source=source, header=header, data=data)

        raw = acceptors.encode_frame(frame)

        assert sum(raw) % 256 == 0
        assert acceptors.decode_frame(raw) == frame

    @given(data=st.binary(max_size=40), position=st.integers(min_value=0), flip=st.integers(1, 255))
    def test_any_single_corrupted_byte_is_refused(
        self, data: bytes, position: int, flip: int
    ) -> None:
        raw = bytearray(
            acceptors.encode_frame(acceptors.Frame(destination=1, source=40, header=0, data=data))
        )
        index = position % len(raw)
        raw[index] = (raw[index] + flip) % 256

        with pytest.raises(acceptors.CcTalkFrameError):
            acceptors.decode_frame(bytes(raw))

    @pytest.mark.parametrize("raw", [b"", b"\x01\x00\x28\x00", b"\x01\x05\x28\x00\xd7"])
    def test_short_or_mislengthed_frames_are_refused(self, raw: bytes) -> None:
        with pytest.raises(acceptors.CcTalkFrameError):
            acceptors.decode_frame(raw)

    def test_more_than_255_data_bytes_cannot_be_framed(self) -> None:
        with pytest.raises(acceptors.CcTalkFrameError):
            acceptors.encode_frame(
                acceptors.Frame(destination=40, source=1, header=0, data=bytes(256))
            )


class TestBillIds:
    @pytest.mark.parametrize(
        ("code", "fen"),
        [
            ("CN0001A", 100),
            ("CN0005A", 500),
            ("CN0010A", 1000),
            ("CN0020B", 2000),
            ("CN0050A", 5000),
            ("CN0100A", 10000),
        ],
    )
    def test_cn_notes_map_to_whole_yuan(self, code: str, fen: int) -> None:
        assert acceptors.bill_amount(code) == Money(fen=fen)

    @pytest.mark.parametrize("code", ["", "       ", ".......", "\x00" * 7])
    def test_an_unprogrammed_channel_is_none(self, code: str) -> None:
        assert acceptors.bill_amount(code) is None

    @pytest.mark.parametrize(
        "code",
        [
            "HK0010A",
            "CN0002A",
            "CN0000A",
            "CN1000A",
            "CN010A",
            "CN0.50A",
            "CN1K00A",
            "cn0010a",
            "CN00100A",
            "CN0010",
        ],
    )
    def test_anything_else_is_refused_not_guessed(self, code: str) -> None:
        with pytest.raises(acceptors.UnknownBillCode):
            acceptors.bill_amount(code)


class TestEventCounter:
    @pytest.mark.parametrize(
        ("last", "counter", "new"),
        [
            (5, 5, 0),
            (5, 6, 1),
            (5, 10, 5),
            (5, 12, 7),
            (255, 1, 1),
            (250, 3, 8),
            (0, 3, 3),
            (7, 0, 0),
        ],
    )
    def test_events_since(self, last: int, counter: int, new: int) -> None:
        assert acceptors.events_since(last, counter) == new

    def test_the_buffer_is_eleven_bytes(self) -> None:
        buffer = acceptors.parse_event_buffer(bytes([9, 3, 1, 0, 2, 0, 0, 0, 0, 0, 0]))

        assert buffer.counter == 9
        assert buffer.results == ((3, 1), (0, 2), (0, 0), (0, 0), (0, 0))
        with pytest.raises(acceptors.CcTalkFrameError):
            acceptors.parse_event_buffer(bytes(10))


class TestSpec:
    def test_defaults(self) -> None:
        assert acceptors.parse_spec("cctalk:/dev/ttyUSB0") == acceptors.CcTalkSpec(
            device="/dev/ttyUSB0", address=40, baud=9600
        )

    def test_options(self) -> None:
        assert acceptors.parse_spec("cctalk:/dev/ttyS1?address=41&baud=19200") == (
            acceptors.CcTalkSpec(device="/dev/ttyS1", address=41, baud=19200)
        )

    @pytest.mark.parametrize(
        "spec",
        [
            "cctalk:",
            "cctalk:?address=40",
            "cctalk:/dev/x?address=1",
            "cctalk:/dev/x?address=256",
            "cctalk:/dev/x?baud=1234",
            "cctalk:/dev/x?addr=40",
            "cctalk:/dev/x?address=40&address=41",
            "cctalk:/dev/x?address=",
            "cctalk:/dev/x?address=-4",
            "cctalk:/dev/x?address",
            "cctalk:/dev/my port",
            "id003:/dev/x",
        ],
    )
    def test_bad_specs_are_refused_in_one_line(self, spec: str) -> None:
        with pytest.raises(acceptors.InvalidCcTalkSpec) as refused:
            acceptors.parse_spec(spec)
        assert "\n" not in str(refused.value)
