"""The AT driver and the sender against the modem simulator, over TCP and a pseudo-terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wattbook.adapters.sms import (
    AtModem,
    Coding,
    ModemCommandError,
    ModemSender,
    ModemSession,
    ModemSimulator,
    ModemState,
    NotRegistered,
    SimNotReady,
    encode_message,
)
from wattbook.application.notifications.ports import (
    OutgoingSms,
    SmsRejected,
    SmsSenderUnavailable,
    StoredPartState,
)
from wattbook.domain.accounts import PhoneNumber

CHINESE = "【水电中心】户号051600001234电费余额9.43元，约可用17.84度电，请及时充值，以免停电。" * 2


@pytest.fixture
async def simulator() -> AsyncIterator[ModemSimulator]:
    simulator = ModemSimulator()
    yield simulator
    await simulator.close()


@pytest.fixture
async def modem(simulator: ModemSimulator) -> AsyncIterator[AtModem]:
    url = await simulator.serve_tcp()
    modem = await AtModem.open(url, timeout_s=2.0)
    yield modem
    await modem.close()


class TestModemSession:
    async def test_echoes_commands_until_told_not_to(self) -> None:
        session = ModemSession(ModemState())

        echoed = await session.feed(b"AT\r")
        quiet = await session.feed(b"ATE0\r")
        after = await session.feed(b"AT\r")

        assert echoed == b"AT\r\r\nOK\r\n"
        assert quiet == b"ATE0\r\r\nOK\r\n"
        assert after == b"\r\nOK\r\n"

    async def test_answers_plain_error_until_numeric_errors_are_on(self) -> None:
        session = ModemSession(ModemState(sim_inserted=False))
        await session.feed(b"ATE0\r")

        plain = await session.feed(b"AT+CPIN?\r")
        await session.feed(b"AT+CMEE=1\r")
        numeric = await session.feed(b"AT+CPIN?\r")

        assert plain == b"\r\nERROR\r\n"
        assert numeric == b"\r\n+CME ERROR: 10\r\n"

    async def test_refuses_a_pdu_whose_length_disagrees(self) -> None:
        session = ModemSession(ModemState())
        (pdu,) = encode_message(number="+8613800138000", text="hi", reference=1)
        await session.feed(b"ATE0\rAT+CMEE=1\r")

        prompt = await session.feed(f"AT+CMGS={pdu.tpdu_length + 1}\r".encode())
        answer = await session.feed(pdu.hex.encode() + b"\x1a")

        assert prompt == b"\r\n> "
        assert answer == b"\r\n+CMS ERROR: 304\r\n"


class TestAtModem:
    async def test_initialises_a_ready_modem(self, modem: AtModem) -> None:
        status = await modem.initialise()

        assert status.registration == 1
        assert status.signal == 21

    async def test_reports_a_missing_sim(self, simulator: ModemSimulator, modem: AtModem) -> None:
        simulator.state.sim_inserted = False

        with pytest.raises(SimNotReady, match="CME ERROR: 10"):
            await modem.initialise()

    @pytest.mark.parametrize("registration", [0, 2, 3])
    async def test_reports_no_network(
        self, simulator: ModemSimulator, modem: AtModem, registration: int
    ) -> None:
        simulator.state.registration = registration

        with pytest.raises(NotRegistered):
            await modem.initialise()

    async def test_sends_chinese_that_arrives_intact(
        self, simulator: ModemSimulator, modem: AtModem
    ) -> None:
        await modem.initialise()
        pdus = encode_message(number="+8613800138000", text=CHINESE, reference=7)

        references = [await modem.send_pdu(pdu) for pdu in pdus]

        assert references == [1, 2]
        assert [m.decoded.coding for m in simulator.state.accepted if m.decoded] == [
            Coding.UCS2,
            Coding.UCS2,
        ]
        assert simulator.state.texts() == [CHINESE]

    async def test_raises_the_cms_error_of_a_refused_send(
        self, simulator: ModemSimulator, modem: AtModem
    ) -> None:
        await modem.initialise()
        simulator.state.fail_next_sends(38)
        (pdu,) = encode_message(number="+8613800138000", text="hi", reference=1)

        with pytest.raises(ModemCommandError) as raised:
            await modem.send_pdu(pdu)

        assert (raised.value.family, raised.value.code) == ("CMS", 38)
        assert await modem.send_pdu(pdu) == 1  # the next one goes

    async def test_sends_in_text_mode(self, simulator: ModemSimulator, modem: AtModem) -> None:
        await modem.initialise(pdu_mode=False)

        reference = await modem.send_text(number="+8613800138000", text="Balance 9.43 yuan")

        assert reference == 1
        assert [(m.number, m.text, m.pdu) for m in simulator.state.accepted] == [
            ("+8613800138000", "Balance 9.43 yuan", None)
        ]

    async def test_refuses_chinese_in_text_mode(self, modem: AtModem) -> None:
        await modem.initialise(pdu_mode=False)

        with pytest.raises(ValueError, match="text mode"):
            await modem.send_text(number="+8613800138000", text="余额")

    async def test_works_over_a_serial_device(self, simulator: ModemSimulator) -> None:
        device = simulator.serve_pty()
        modem = await AtModem.open(device, baud=115200, timeout_s=2.0)
        try:
            await modem.initialise()
            (pdu,) = encode_message(number="+8613800138000", text="电费", reference=1)
            reference = await modem.send_pdu(pdu)
        finally:
            await modem.close()

        assert reference == 1
        assert simulator.state.texts() == ["电费"]


def _message(text: str = CHINESE, reference: int = 9) -> OutgoingSms:
    return OutgoingSms(phone=PhoneNumber(digits="13800138000"), text=text, reference=reference)


class TestModemSender:
    async def test_sends_every_part_with_one_concatenation_reference(
        self, simulator: ModemSimulator
    ) -> None:
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)
        await sender.check()

        references = [await sender.send_part(_message(), part=p) for p in range(2)]
        await sender.close()

        assert sender.part_count(CHINESE) == 2
        assert references == ["1", "2"]
        assert {m.number for m in simulator.state.accepted} == {"+8613800138000"}
        assert simulator.state.texts() == [CHINESE]

    async def test_is_unavailable_without_a_sim(self, simulator: ModemSimulator) -> None:
        simulator.state.sim_inserted = False
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)

        with pytest.raises(SmsSenderUnavailable, match="no SIM"):
            await sender.check()

    async def test_is_unavailable_when_the_network_goes(self, simulator: ModemSimulator) -> None:
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)
        await sender.check()
        simulator.state.registration = 0

        with pytest.raises(SmsSenderUnavailable, match="no network"):
            await sender.check()
        with pytest.raises(SmsSenderUnavailable):
            await sender.send_part(_message("hi"), part=0)
        await sender.close()

    async def test_is_unavailable_when_no_modem_answers(self) -> None:
        sender = ModemSender.for_url("tcp://127.0.0.1:1", timeout_s=0.5)

        with pytest.raises(SmsSenderUnavailable, match="modem unavailable"):
            await sender.check()

    @pytest.mark.parametrize(("code", "retryable"), [(38, True), (42, True), (1, False)])
    async def test_rejects_a_message_the_modem_refuses(
        self, simulator: ModemSimulator, code: int, retryable: bool
    ) -> None:
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)
        await sender.check()
        simulator.state.fail_next_sends(code)

        with pytest.raises(SmsRejected) as raised:
            await sender.send_part(_message("hi"), part=0)
        await sender.close()

        assert raised.value.code == f"CMS_{code}"
        assert raised.value.retryable is retryable

    async def test_uses_text_mode_for_plain_text_when_configured(
        self, simulator: ModemSimulator
    ) -> None:
        url = await simulator.serve_tcp()
        sender = ModemSender.for_url(url, pdu_mode=False, timeout_s=2.0)
        await sender.check()

        await sender.send_part(_message("Balance 9.43 yuan"), part=0)
        await sender.send_part(_message("余额", reference=3), part=0)  # falls back to PDU
        await sender.close()

        assert [m.pdu is None for m in simulator.state.accepted] == [True, False]
        assert simulator.state.texts() == ["Balance 9.43 yuan", "余额"]


class TestModemStorage:
    async def test_writes_sends_reads_and_deletes_in_pdu_mode(self) -> None:
        state = ModemState()
        session = ModemSession(state)
        (pdu,) = encode_message(number="+8613800138000", text="电费", reference=1)
        await session.feed(b"ATE0\rAT+CMEE=1\r")

        prompt = await session.feed(f"AT+CMGW={pdu.tpdu_length},2\r".encode())
        written = await session.feed(pdu.hex.encode() + b"\x1a")
        unsent = await session.feed(b"AT+CMGR=1\r")
        sent = await session.feed(b"AT+CMSS=1\r")
        listed = await session.feed(b"AT+CMGL=3\r")
        deleted = await session.feed(b"AT+CMGD=1\r")
        gone = await session.feed(b"AT+CMGR=1\r")

        assert prompt == b"\r\n> "
        assert written == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
        assert unsent == f"\r\n+CMGR: 2,,{pdu.tpdu_length}\r\n{pdu.hex}\r\n\r\nOK\r\n".encode()
        assert sent == b"\r\n+CMSS: 1\r\n\r\nOK\r\n"
        assert listed == f"\r\n+CMGL: 1,3,,{pdu.tpdu_length}\r\n{pdu.hex}\r\n\r\nOK\r\n".encode()
        assert deleted == b"\r\nOK\r\n"
        assert gone == b"\r\n+CMS ERROR: 321\r\n"
        assert state.texts() == ["电费"]

    async def test_writes_and_lists_in_text_mode(self) -> None:
        state = ModemState()
        session = ModemSession(state)
        await session.feed(b'ATE0\rAT+CMEE=1\rAT+CMGF=1\rAT+CSCS="GSM"\r')

        await session.feed(b'AT+CMGW="+8613800138000"\r')
        written = await session.feed(b"Balance 9.43 yuan\x1a")
        listed = await session.feed(b'AT+CMGL="ALL"\r')

        assert written == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
        assert listed == (
            b'\r\n+CMGL: 1,"STO UNSENT","+8613800138000",,\r\nBalance 9.43 yuan\r\n\r\nOK\r\n'
        )

    async def test_answers_322_when_the_storage_is_full(self) -> None:
        session = ModemSession(ModemState(storage_capacity=1))
        (pdu,) = encode_message(number="+8613800138000", text="hi", reference=1)
        await session.feed(b"ATE0\rAT+CMEE=1\r")
        write = f"AT+CMGW={pdu.tpdu_length}\r".encode(), pdu.hex.encode() + b"\x1a"

        first = [await session.feed(data) for data in write][-1]
        second = [await session.feed(data) for data in write][-1]

        assert first == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
        assert second == b"\r\n+CMS ERROR: 322\r\n"

    async def test_keeps_a_message_unsent_when_the_network_refuses_it(self) -> None:
        state = ModemState()
        session = ModemSession(state)
        (pdu,) = encode_message(number="+8613800138000", text="hi", reference=1)
        await session.feed(b"ATE0\rAT+CMEE=1\r")
        await session.feed(f"AT+CMGW={pdu.tpdu_length}\r".encode())
        await session.feed(pdu.hex.encode() + b"\x1a")
        state.registration = 0

        refused = await session.feed(b"AT+CMSS=1\r")
        missing = await session.feed(b"AT+CMSS=9\r")

        assert refused == b"\r\n+CMS ERROR: 331\r\n"
        assert missing == b"\r\n+CMS ERROR: 321\r\n"
        assert state.stored_statuses() == {1: "STO UNSENT"}
        assert state.accepted == []

    async def test_deletes_by_flag_but_keeps_what_the_flag_spares(self) -> None:
        state = ModemState()
        state.receive(number="+8613900139000", text="hello")
        state.store(stat=2, number="+8613800138000", text="a", pdu=None, decoded=None)
        state.store(stat=3, number="+8613800138000", text="b", pdu=None, decoded=None)
        session = ModemSession(state)
        await session.feed(b"ATE0\r")

        answer = await session.feed(b"AT+CMGD=1,2\r")  # read and sent ones

        assert answer == b"\r\nOK\r\n"
        assert state.stored_statuses() == {2: "STO UNSENT"}

    async def test_driver_round_trip(self, simulator: ModemSimulator, modem: AtModem) -> None:
        await modem.initialise()
        simulator.state.receive(number="+8613900139000", text="hello")
        pdus = encode_message(number="+8613800138000", text=CHINESE, reference=7)

        indexes = [await modem.write_pdu(pdu) for pdu in pdus]
        references = [await modem.send_stored(index) for index in indexes]
        first = await modem.read_stored(indexes[0])
        listed = await modem.list_stored()
        await modem.delete_stored(indexes[0])
        await modem.delete_stored(indexes[0])  # already gone: no error

        assert (indexes, references) == ([2, 3], [1, 2])
        assert first is not None
        assert (first.index, first.stat, first.pdu) == (2, 3, pdus[0].hex)
        assert [(m.index, m.stat) for m in listed] == [(1, 1), (2, 3), (3, 3)]
        assert await modem.read_stored(indexes[0]) is None
        assert simulator.state.texts() == [CHINESE]

    async def test_driver_reports_a_full_storage(
        self, simulator: ModemSimulator, modem: AtModem
    ) -> None:
        await modem.initialise()
        simulator.state.storage_capacity = 0
        (pdu,) = encode_message(number="+8613800138000", text="hi", reference=1)

        with pytest.raises(ModemCommandError) as raised:
            await modem.write_pdu(pdu)

        assert (raised.value.family, raised.value.code) == ("CMS", 322)


class TestModemSenderStorage:
    async def test_follows_a_part_from_unsent_to_sent_to_gone(
        self, simulator: ModemSimulator
    ) -> None:
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)
        message = _message()
        await sender.check()

        index = await sender.store_part(message, part=1)
        before = await sender.stored_state(message, part=1, index=index)
        reference = await sender.send_stored(index)
        after = await sender.stored_state(message, part=1, index=index)
        other_part = await sender.stored_state(message, part=0, index=index)
        await sender.discard(index)
        gone = await sender.stored_state(message, part=1, index=index)
        await sender.close()

        assert sender.storage is sender
        assert (before, after, gone) == (
            StoredPartState.UNSENT,
            StoredPartState.SENT,
            StoredPartState.MISSING,
        )
        assert other_part is StoredPartState.MISSING  # another message at the index is not it
        assert reference == "1"

    async def test_stores_plain_text_in_text_mode(self, simulator: ModemSimulator) -> None:
        url = await simulator.serve_tcp()
        sender = ModemSender.for_url(url, pdu_mode=False, timeout_s=2.0)
        message = _message("Balance 9.43 yuan")
        await sender.check()

        index = await sender.store_part(message, part=0)
        await sender.send_stored(index)
        state = await sender.stored_state(message, part=0, index=index)
        await sender.close()

        assert state is StoredPartState.SENT
        assert [(m.text, m.pdu) for m in simulator.state.accepted] == [("Balance 9.43 yuan", None)]

    async def test_lists_only_outgoing_messages(self, simulator: ModemSimulator) -> None:
        simulator.state.receive(number="+8613900139000", text="hello")
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)

        index = await sender.store_part(_message("hi"), part=0)
        stored = await sender.stored()
        await sender.close()

        assert stored == (index,) == (2,)

    async def test_rejects_a_write_to_a_full_storage_as_retryable(
        self, simulator: ModemSimulator
    ) -> None:
        simulator.state.storage_capacity = 0
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0)

        with pytest.raises(SmsRejected) as raised:
            await sender.store_part(_message("hi"), part=0)
        await sender.close()

        assert (raised.value.code, raised.value.retryable) == ("CMS_322", True)

    async def test_sends_directly_when_told_the_modem_has_no_storage(
        self, simulator: ModemSimulator
    ) -> None:
        sender = ModemSender.for_url(await simulator.serve_tcp(), timeout_s=2.0, storage=False)

        assert sender.storage is None
