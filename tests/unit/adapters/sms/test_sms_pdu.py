"""SMS-SUBMIT PDUs: golden bytes, splitting limits, and round trips through the decoder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.adapters.sms import (
    Coding,
    Concatenation,
    PduError,
    decode_submit,
    encode_message,
    encode_submit,
    split_text,
    validity_octet,
    validity_period,
)

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"


def _user_data(pdu_hex: str) -> bytes:
    decoded = decode_submit(pdu_hex)
    data = bytes.fromhex(pdu_hex)
    # SCA(1) + first(1) + MR(1) + DA(2 + digits) + PID + DCS + VP + UDL
    da_octets = 2 + (len(decoded.number.lstrip("+")) + 1) // 2
    return data[1 + 2 + da_octets + 4 :]


class TestEncodeSubmit:
    def test_matches_the_classic_gsm7_example(self) -> None:
        pdu = encode_submit(
            number="+46708251358",
            text="hellohello",
            coding=Coding.GSM7,
            validity=timedelta(days=4),
        )

        assert pdu.hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
        assert pdu.tpdu_length == 23

    def test_writes_chinese_as_ucs2_big_endian(self) -> None:
        pdu = encode_submit(number="+8613800138000", text="你好", coding=Coding.UCS2)

        assert pdu.hex == "0011000D91683108108300F00008A7044F60597D"
        assert pdu.tpdu_length == 19

    def test_places_the_concatenation_header_before_a_fill_bit(self) -> None:
        pdu = encode_submit(
            number="+8613800138000",
            text="A",
            coding=Coding.GSM7,
            concatenation=Concatenation(reference=1, total=2, sequence=1),
        )

        assert pdu.hex.startswith("0051")  # TP-UDHI set
        assert pdu.hex.endswith("08" + "050003010201" + "82")

    def test_writes_a_national_number_as_type_unknown(self) -> None:
        pdu = encode_submit(number="10086", text="hi", coding=Coding.GSM7)

        assert pdu.hex[6:16] == "05810180F6"

    def test_refuses_a_text_longer_than_one_message(self) -> None:
        with pytest.raises(PduError):
            encode_submit(number="+8613800138000", text="电" * 71, coding=Coding.UCS2)

    def test_refuses_chinese_in_gsm7(self) -> None:
        with pytest.raises(PduError):
            encode_submit(number="+8613800138000", text="电", coding=Coding.GSM7)

    def test_refuses_a_malformed_number(self) -> None:
        with pytest.raises(PduError):
            encode_submit(number="+86-138", text="hi", coding=Coding.GSM7)


class TestSplitText:
    @pytest.mark.parametrize(
        ("text", "coding", "sizes"),
        [
            ("a" * 160, Coding.GSM7, [160]),
            ("a" * 161, Coding.GSM7, [153, 8]),
            ("€" * 80, Coding.GSM7, [80]),  # 160 septets: every € is an escape pair
            ("€" * 81, Coding.GSM7, [76, 5]),  # 152 septets: a pair is never cut
            ("电" * 70, Coding.UCS2, [70]),
            ("电" * 71, Coding.UCS2, [67, 4]),
            ("a" * 153 * 3, Coding.GSM7, [153, 153, 153]),
        ],
    )
    def test_fills_parts_to_the_limits(self, text: str, coding: Coding, sizes: list[int]) -> None:
        found, parts = split_text(text)

        assert found is coding
        assert [len(part) for part in parts] == sizes

    def test_keeps_a_surrogate_pair_in_one_part(self) -> None:
        text = "电" * 66 + "😀" + "电" * 3  # 71 UTF-16 units: two parts

        _coding, parts = split_text(text)

        assert parts == ("电" * 66, "😀电电电")

    def test_refuses_an_empty_text(self) -> None:
        with pytest.raises(PduError):
            split_text("")


class TestEncodeMessage:
    def test_gives_every_part_the_same_reference_and_its_sequence(self) -> None:
        pdus = encode_message(number="+8613800138000", text="余额不足" * 40, reference=300)

        headers = [decode_submit(pdu.hex).concatenation for pdu in pdus]

        assert headers == [
            Concatenation(reference=44, total=3, sequence=1),
            Concatenation(reference=44, total=3, sequence=2),
            Concatenation(reference=44, total=3, sequence=3),
        ]

    def test_sends_a_short_text_without_a_header(self) -> None:
        (pdu,) = encode_message(number="+8613800138000", text="电费余额12.34元", reference=5)

        decoded = decode_submit(pdu.hex)

        assert decoded.concatenation is None
        assert decoded.text == "电费余额12.34元"
        assert decoded.coding is Coding.UCS2

    @given(
        text=st.text(
            alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION + "电费余额不足请充值。，😀"),
            min_size=1,
            max_size=400,
        ),
        reference=st.integers(min_value=0, max_value=10_000),
    )
    def test_round_trips_any_text_through_the_decoder(self, text: str, reference: int) -> None:
        pdus = encode_message(number="+8613800138000", text=text, reference=reference)

        decoded = [decode_submit(pdu.hex) for pdu in pdus]

        assert "".join(d.text for d in decoded) == text
        assert all(d.number == "+8613800138000" for d in decoded)
        assert all(d.tpdu_length == pdu.tpdu_length for d, pdu in zip(decoded, pdus, strict=True))
        assert all(len(_user_data(pdu.hex)) <= 140 for pdu in pdus)
        if len(pdus) > 1:
            assert {d.concatenation.reference for d in decoded if d.concatenation} == {
                reference % 256
            }


class TestDecodeSubmit:
    def test_reads_a_service_centre_address(self) -> None:
        decoded = decode_submit("0891683108200805F011000B916407281553F80000AA0AE8329BFD4697D9EC37")

        assert decoded.service_centre == "+8613800280500"
        assert decoded.text == "hellohello"

    @pytest.mark.parametrize(
        "pdu",
        [
            "zz",
            "0011000B916407281553F80000AA0AE8329BFD4697D9EC",  # one octet short
            "0004000B916407281553F80000AA0AE8329BFD4697D9EC37",  # SMS-DELIVER, not SUBMIT
            "0011000B916407281553F80004AA0AE8329BFD4697D9EC37",  # 8-bit data
            "0011",
        ],
    )
    def test_refuses_malformed_pdus(self, pdu: str) -> None:
        with pytest.raises(PduError):
            decode_submit(pdu)


class TestValidity:
    @pytest.mark.parametrize(
        ("period", "octet"),
        [
            (timedelta(minutes=5), 0),
            (timedelta(hours=12), 143),
            (timedelta(days=1), 167),
            (timedelta(days=4), 170),
            (timedelta(weeks=5), 197),
        ],
    )
    def test_encodes_relative_periods(self, period: timedelta, octet: int) -> None:
        assert validity_octet(period) == octet
        assert validity_period(octet) == period

    def test_refuses_a_period_under_five_minutes(self) -> None:
        with pytest.raises(PduError):
            validity_octet(timedelta(minutes=4))
