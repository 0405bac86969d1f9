"""Unit tests of wattbook.domain.payments."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from wattbook.domain import ledger, payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money, Period, WorkingCalendar

AT = datetime(2025, 6, 10, 9, tzinfo=SHANGHAI)
NUMBER = AccountNumber(value="051600001234")
OTHER = AccountNumber(value="051600005678")


class TestReceiptNumber:
    def test_reads_back_what_it_writes(self) -> None:
        number = payments.ReceiptNumber(
            channel=payments.Channel.KIOSK, day=date(2025, 6, 10), sequence=42
        )

        assert str(number) == "KS20250610000042"
        assert payments.ReceiptNumber.parse("ks20250610000042") == number

    @pytest.mark.parametrize("text", ["", "XX20250610000001", "KS20251310000001", "KS2025"])
    def test_refuses_what_is_not_a_receipt_number(self, text: str) -> None:
        with pytest.raises(payments.UnknownReceipt):
            payments.ReceiptNumber.parse(text)

    def test_refuses_a_sequence_out_of_range(self) -> None:
        with pytest.raises(ValueError, match="sequence"):
            payments.ReceiptNumber(channel=payments.Channel.COUNTER, day=AT.date(), sequence=0)

    def test_ledger_reference_names_the_channel(self) -> None:
        assert (
            payments.ledger_reference(channel=payments.Channel.BANK_AUTO, channel_reference="S1")
            == "PAY:BANK_AUTO:S1"
        )
        with pytest.raises(ValueError, match="80"):
            payments.ledger_reference(channel=payments.Channel.KIOSK, channel_reference="")


class TestMasking:
    @pytest.mark.parametrize(
        ("name", "masked"),
        [("张", "张"), ("张三", "张*"), ("张三丰", "张*丰"), ("欧阳小明", "欧**明")],
    )
    def test_hides_the_middle_of_a_name(self, name: str, masked: str) -> None:
        assert payments.mask_name(name) == masked

    def test_keeps_six_and_four_of_an_id_number(self) -> None:
        assert payments.mask_id_number("320311199001011234") == "320311********1234"
        assert payments.mask_id_number("A1234567") == "******67"

    def test_keeps_four_and_four_of_a_card(self) -> None:
        assert payments.mask_card("6217 0000 1111 2222 333") == "6217 **** **** 2333"
        with pytest.raises(ValueError, match="12 digits"):
            payments.mask_card("1234")

    def test_masks_a_phone(self) -> None:
        assert payments.mask_phone("13800138000") == "138****8000"
        assert payments.mask_phone("12345") == "*****"


def calendar() -> WorkingCalendar:
    return WorkingCalendar.from_chinese_calendar(
        first_date=date(2025, 9, 25), last_date=date(2025, 10, 10)
    )


class TestCounterOpen:
    @pytest.mark.parametrize(
        ("at", "open_"),
        [
            (datetime(2025, 9, 26, 8, 0, tzinfo=SHANGHAI), True),  # Friday, opening
            (datetime(2025, 9, 26, 11, 59, tzinfo=SHANGHAI), True),
            (datetime(2025, 9, 26, 12, 0, tzinfo=SHANGHAI), False),  # lunch
            (datetime(2025, 9, 26, 14, 30, tzinfo=SHANGHAI), True),
            (datetime(2025, 9, 26, 17, 30, tzinfo=SHANGHAI), False),  # closed
            (datetime(2025, 9, 27, 9, 0, tzinfo=SHANGHAI), False),  # Saturday
            (datetime(2025, 9, 28, 9, 0, tzinfo=SHANGHAI), True),  # adjusted working Sunday
            (datetime(2025, 10, 1, 9, 0, tzinfo=SHANGHAI), False),  # National Day
        ],
    )
    def test_follows_shifts_on_working_days(self, at: datetime, open_: bool) -> None:
        assert (
            payments.counter_open(at=at, hours=payments.DEFAULT_COUNTER_HOURS, calendar=calendar())
            is open_
        )

    def test_an_opening_order_opens_it(self) -> None:
        at = datetime(2025, 10, 1, 20, tzinfo=SHANGHAI)
        order = Period(start_at=at - timedelta(hours=1), end_at=at + timedelta(hours=1))

        payments.require_counter_open(
            at=at, hours=payments.DEFAULT_COUNTER_HOURS, calendar=calendar(), openings=(order,)
        )

        with pytest.raises(payments.CounterClosed, match="Mon 08:00-12:00"):
            payments.require_counter_open(
                at=at, hours=payments.DEFAULT_COUNTER_HOURS, calendar=calendar()
            )

    def test_refuses_an_empty_shift(self) -> None:
        with pytest.raises(ValueError, match="closes after"):
            payments.CounterShift(weekday=0, opens_at=time(9), closes_at=time(9))
        with pytest.raises(ValueError, match="weekday"):
            payments.CounterShift(weekday=7, opens_at=time(9), closes_at=time(10))


CAPS = payments.DEFAULT_KIOSK_CAPS


def inserting() -> payments.KioskSession:
    session = payments.start_session(transaction_id="K01-abcdef", kiosk_id="K01", at=AT)
    session = payments.enter_account(session=session, number=NUMBER, at=AT)
    return payments.confirm_details(session=session, at=AT)


class TestKioskSession:
    def test_walks_the_manuals_steps(self) -> None:
        session = inserting()
        session, added = payments.accept_note(
            session=session, sequence=1, amount=Money(fen=10000), at=AT, caps=CAPS
        )
        session, again = payments.accept_note(
            session=session, sequence=1, amount=Money(fen=10000), at=AT, caps=CAPS
        )

        credited = payments.credit(session=session, at=AT)

        assert (added, again) == (True, False)
        assert credited.state is payments.KioskState.CREDITED
        assert credited.total == Money(fen=10000)
        assert not credited.open

    def test_may_change_the_account_until_notes_go_in(self) -> None:
        session = payments.start_session(transaction_id="K01-abcdef", kiosk_id="K01", at=AT)
        session = payments.enter_account(session=session, number=NUMBER, at=AT)

        changed = payments.enter_account(session=session, number=OTHER, at=AT)

        assert changed.account_number == OTHER
        with pytest.raises(payments.KioskStepRefused):
            payments.enter_account(session=inserting(), number=OTHER, at=AT)

    def test_refuses_steps_out_of_order(self) -> None:
        fresh = payments.start_session(transaction_id="K01-abcdef", kiosk_id="K01", at=AT)

        with pytest.raises(payments.KioskStepRefused):
            payments.confirm_details(session=fresh, at=AT)
        with pytest.raises(payments.KioskStepRefused):
            payments.accept_note(session=fresh, sequence=1, amount=Money(fen=100), at=AT, caps=CAPS)
        with pytest.raises(payments.KioskStepRefused, match="at least one note"):
            payments.credit(session=inserting(), at=AT)
        with pytest.raises(payments.KioskStepRefused, match="start at 1"):
            payments.accept_note(
                session=inserting(), sequence=0, amount=Money(fen=100), at=AT, caps=CAPS
            )

    def test_refuses_other_notes_and_conflicting_sequences(self) -> None:
        session, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=500), at=AT, caps=CAPS
        )

        with pytest.raises(payments.InvalidNote):
            payments.accept_note(
                session=session, sequence=2, amount=Money(fen=200), at=AT, caps=CAPS
            )
        with pytest.raises(payments.NoteConflict):
            payments.accept_note(
                session=session, sequence=1, amount=Money(fen=100), at=AT, caps=CAPS
            )

    def test_abandons_only_without_money(self) -> None:
        with_note, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=100), at=AT, caps=CAPS
        )

        abandoned = payments.abandon(session=inserting(), at=AT)

        assert abandoned.state is payments.KioskState.ABANDONED
        with pytest.raises(payments.KioskStepRefused):
            payments.abandon(session=with_note, at=AT)
        with pytest.raises(payments.KioskStepRefused):
            payments.abandon(session=abandoned, at=AT)

    def test_refuses_malformed_ids(self) -> None:
        with pytest.raises(ValueError, match="letters"):
            payments.start_session(transaction_id="x", kiosk_id="K01", at=AT)

    @pytest.mark.parametrize(
        ("transaction_id", "kiosk_id"),
        [
            ("K01-abcdef\n", "K01"),
            ("K01-abcdef", "K01\n"),
            ("K01-abcdef", "K" * 33),
            ("K01-abcdef", "-K01"),
            ("K01-abcdef", ""),
        ],
    )
    def test_refuses_ids_wider_than_their_columns_or_with_a_trailing_newline(
        self, transaction_id: str, kiosk_id: str
    ) -> None:
        with pytest.raises(payments.InvalidKioskId):
            payments.start_session(transaction_id=transaction_id, kiosk_id=kiosk_id, at=AT)


def agreement(**changes: object) -> payments.Agreement:
    values: dict[str, object] = {
        "agreement_number": "AG1",
        "holder": "张三",
        "id_number_masked": "320311********1234",
        "card_token": "T1",
        "card_masked": "6217 **** **** 1234",
        "phone": "13800138000",
        "account_numbers": (NUMBER, OTHER),
        "threshold": Money(fen=2000),
        "amount": Money(fen=5000),
        "signed_on": date(2025, 6, 10),
    }
    values.update(changes)
    return payments.Agreement(**values)  # type: ignore[arg-type]


class TestAgreement:
    @pytest.mark.parametrize(
        "changes",
        [
            {"threshold": Money(fen=1500)},
            {"amount": Money(fen=4000)},
            {"account_numbers": ()},
            {"account_numbers": (NUMBER, NUMBER)},
            {"card_masked": "6217000011112222"},
            {"card_token": ""},
            {"cancelled_on": date(2025, 6, 9)},
        ],
    )
    def test_refuses_what_the_form_does_not_allow(self, changes: dict[str, object]) -> None:
        with pytest.raises(payments.InvalidAgreement):
            agreement(**changes)

    def test_is_in_force_from_the_day_signed_until_cancelled(self) -> None:
        signed = agreement(cancelled_on=date(2025, 6, 12))

        assert [signed.active_on(date(2025, 6, d)) for d in (9, 10, 11, 12)] == [
            False,
            True,
            True,
            False,
        ]


class TestDueDebits:
    def test_debits_accounts_below_the_threshold_once_a_day(self) -> None:
        due = payments.due_debits(
            agreements=(agreement(),),
            balances={NUMBER: Money(fen=1999), OTHER: Money(fen=2000)},
            requested_today=(),
            awaiting_bank=(),
            at=AT,
        )
        done = payments.due_debits(
            agreements=(agreement(),),
            balances={NUMBER: Money(fen=0)},
            requested_today=(NUMBER,),
            awaiting_bank=(),
            at=AT,
        )

        assert [(d.debit_id, d.amount) for d in due] == [("D20250610051600001234", Money(fen=5000))]
        assert done == ()

    def test_skips_an_account_whose_debit_awaits_the_bank(self) -> None:
        due = payments.due_debits(
            agreements=(agreement(),),
            balances={NUMBER: Money(fen=0), OTHER: Money(fen=0)},
            requested_today=(),
            awaiting_bank=(NUMBER,),
            at=AT,
        )

        assert [d.account_number for d in due] == [OTHER]

    def test_the_earliest_agreement_wins(self) -> None:
        later = agreement(
            agreement_number="AG2", signed_on=date(2025, 6, 1), amount=Money(fen=30000)
        )

        due = payments.due_debits(
            agreements=(agreement(), later),
            balances={NUMBER: Money(fen=0)},
            requested_today=(),
            awaiting_bank=(),
            at=AT,
        )

        assert [d.agreement_number for d in due] == ["AG2"]


def debit() -> payments.DebitRequest:
    return payments.DebitRequest(
        debit_id="D1",
        agreement_number="AG1",
        account_number=NUMBER,
        amount=Money(fen=5000),
        day=AT.date(),
    )


def callback(serial: str, status: payments.DebitStatus, fen: int = 5000) -> payments.BankCallback:
    return payments.BankCallback(
        serial=serial, debit_id="D1", status=status, amount=Money(fen=fen), at=AT
    )


OK = payments.DebitStatus.SUCCEEDED
POOR = payments.DebitStatus.INSUFFICIENT_FUNDS
REQUESTED = payments.DebitStatus.REQUESTED


def history(status: payments.DebitStatus, serial: str | None) -> payments.DebitHistory:
    return payments.DebitHistory(
        status=status,
        credited_serial=serial if status is OK else None,
        seen=frozenset() if serial is None else frozenset({(serial, status)}),
    )


class TestSettle:
    @pytest.mark.parametrize(
        ("status", "settled", "incoming", "expected"),
        [
            (REQUESTED, None, callback("S1", OK), payments.Settlement.CREDIT),
            (REQUESTED, None, callback("F1", POOR), payments.Settlement.RECORD_FAILURE),
            (OK, "S1", callback("S1", OK), payments.Settlement.REPLAY),
            (POOR, "F1", callback("F1", POOR), payments.Settlement.REPLAY),
            (POOR, "F1", callback("S2", OK), payments.Settlement.LATE_SUCCESS),
            (POOR, "F1", callback("F1", OK), payments.Settlement.LATE_SUCCESS),
            (POOR, "F1", callback("F2", POOR), payments.Settlement.REPEATED_FAILURE),
        ],
    )
    def test_decides_by_serial_and_state(
        self,
        status: payments.DebitStatus,
        settled: str | None,
        incoming: payments.BankCallback,
        expected: payments.Settlement,
    ) -> None:
        transition = payments.settle(
            debit=debit(), history=history(status, settled), callback=incoming, now=AT
        )

        assert transition.settlement is expected

    def test_refuses_contradictions(self) -> None:
        with pytest.raises(payments.CallbackMismatch, match="yuan"):
            payments.settle(
                debit=debit(),
                history=history(REQUESTED, None),
                callback=callback("S1", OK, fen=1),
                now=AT,
            )
        with pytest.raises(payments.CallbackConflict, match="credited"):
            payments.settle(
                debit=debit(), history=history(OK, "S1"), callback=callback("S2", OK), now=AT
            )

    def test_a_callback_settles(self) -> None:
        assert REQUESTED.final is False
        with pytest.raises(ValueError, match="settles"):
            callback("S1", REQUESTED)


def line(
    serial: str, fen: int, status: payments.DebitStatus = OK, number: AccountNumber = NUMBER
) -> payments.StatementLine:
    return payments.StatementLine(
        serial=serial,
        debit_id=f"D{serial}",
        account_number=number,
        amount=Money(fen=fen),
        status=status,
    )


def credit_(serial: str, fen: int, number: AccountNumber = NUMBER) -> payments.JournalCredit:
    return payments.JournalCredit(
        serial=serial, debit_id=f"D{serial}", account_number=number, amount=Money(fen=fen)
    )


class TestReconcileStatement:
    def test_reports_every_kind_of_mismatch(self) -> None:
        statement = [
            line("A", 5000),
            line("B", 5000),
            line("C", 5000),
            line("D", 5000, number=OTHER),
            line("E", 5000, status=POOR),
            line("F", 5000, status=POOR),
        ]
        journal = [
            credit_("A", 5000),
            credit_("C", 3000),
            credit_("D", 5000),
            credit_("E", 5000),
            credit_("G", 5000),
        ]

        found = payments.reconcile_statement(statement=statement, journal=journal)

        assert [(m.kind, m.serial) for m in found] == [
            (payments.MismatchKind.NOT_CREDITED, "B"),
            (payments.MismatchKind.AMOUNT_DIFFERS, "C"),
            (payments.MismatchKind.ACCOUNT_DIFFERS, "D"),
            (payments.MismatchKind.NOT_DEBITED, "E"),
            (payments.MismatchKind.NOT_DEBITED, "G"),
        ]


def top_up() -> ledger.Entry:
    return ledger.Entry(
        account_number=NUMBER,
        reference="PAY:KIOSK:K1",
        kind=ledger.EntryKind.TOP_UP,
        amount=Money(fen=5000),
        at=AT,
    )


class TestCorrections:
    def test_a_move_reverses_and_credits_elsewhere(self) -> None:
        moved = payments.move_top_up(
            original=top_up(), to=OTHER, reference="MOVE:R", at=AT, note="x"
        )

        assert moved.reversal.amount == Money(fen=-5000)
        assert moved.reversal.reverses == "PAY:KIOSK:K1"
        assert moved.credit is not None
        assert (moved.credit.account_number, moved.credit.amount) == (OTHER, Money(fen=5000))

    def test_refuses_what_cannot_be_corrected(self) -> None:
        charge = ledger.Entry(
            account_number=NUMBER,
            reference="C",
            kind=ledger.EntryKind.CHARGE,
            amount=Money(fen=-1),
            at=AT,
        )

        with pytest.raises(payments.CannotCorrect):
            payments.refund_top_up(original=charge, reference="R", at=AT, note="")
        with pytest.raises(payments.CannotCorrect):
            payments.move_top_up(original=top_up(), to=NUMBER, reference="R", at=AT, note="")
        assert (
            payments.refund_top_up(original=top_up(), reference="R", at=AT, note="").credit is None
        )


class TestReturnedNote:
    def test_a_returned_note_leaves_an_open_session(self) -> None:
        session, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=10000), at=AT, caps=CAPS
        )
        session, _ = payments.accept_note(
            session=session, sequence=2, amount=Money(fen=500), at=AT, caps=CAPS
        )

        left = payments.remove_returned_note(
            session=session, sequence=1, amount=Money(fen=10000), at=AT + timedelta(minutes=1)
        )

        assert [note.sequence for note in left.notes] == [2]
        assert left.total == Money(fen=500)
        assert left.updated_at == AT + timedelta(minutes=1)

    def test_an_unknown_note_or_another_amount_is_a_conflict(self) -> None:
        session, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=10000), at=AT, caps=CAPS
        )

        with pytest.raises(payments.NoteConflict):
            payments.remove_returned_note(session=session, sequence=2, amount=Money(fen=100), at=AT)
        with pytest.raises(payments.NoteConflict):
            payments.remove_returned_note(session=session, sequence=1, amount=Money(fen=100), at=AT)

    def test_a_credited_session_keeps_its_notes(self) -> None:
        session, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=10000), at=AT, caps=CAPS
        )
        credited = payments.credit(session=session, at=AT)

        with pytest.raises(payments.KioskStepRefused):
            payments.remove_returned_note(
                session=credited, sequence=1, amount=Money(fen=10000), at=AT
            )


class TestKioskCaps:
    def test_refuses_a_note_past_the_amount_or_the_count(self) -> None:
        caps = payments.KioskCaps(max_total=Money(fen=15000), max_notes=2)
        session, _ = payments.accept_note(
            session=inserting(), sequence=1, amount=Money(fen=10000), at=AT, caps=caps
        )

        with pytest.raises(payments.KioskCapReached, match=r"150\.00 yuan"):
            payments.accept_note(
                session=session, sequence=2, amount=Money(fen=10000), at=AT, caps=caps
            )
        session, _ = payments.accept_note(
            session=session, sequence=2, amount=Money(fen=5000), at=AT, caps=caps
        )
        with pytest.raises(payments.KioskCapReached, match="2 notes"):
            payments.accept_note(
                session=session, sequence=3, amount=Money(fen=100), at=AT, caps=caps
            )
        # The note that reached the cap, sent again, is still the same note.
        again, added = payments.accept_note(
            session=session, sequence=2, amount=Money(fen=5000), at=AT, caps=caps
        )
        assert (again.total, added) == (Money(fen=15000), False)

    def test_defaults_to_2000_yuan_and_50_notes(self) -> None:
        assert (
            payments.KioskCaps(max_total=Money(fen=200000), max_notes=50)
            == payments.DEFAULT_KIOSK_CAPS
        )
        with pytest.raises(ValueError, match="at least one 100 yuan note"):
            payments.KioskCaps(max_total=Money(fen=5000), max_notes=50)


def kiosk(last: int = 0, **changes: object) -> payments.Kiosk:
    values: dict[str, object] = {
        "kiosk_id": "K01",
        "secret": "s3cret",
        "registered_at": AT,
        "registered_by": "test",
        "last_acceptor_sequence": last,
    }
    values.update(changes)
    return payments.Kiosk(**values)  # type: ignore[arg-type]


class TestAcceptorSequence:
    def test_a_higher_sequence_is_new_and_the_last_again_a_repeat(self) -> None:
        assert payments.order_acceptor_note(
            kiosk=kiosk(4), sequence=9, amount=Money(fen=100), last_note=None
        )
        assert not payments.order_acceptor_note(
            kiosk=kiosk(4), sequence=4, amount=Money(fen=100), last_note=Money(fen=100)
        )

    @pytest.mark.parametrize(("sequence", "last_note"), [(3, 100), (4, 500), (4, None)])
    def test_a_lower_one_or_the_last_with_other_content_conflicts(
        self, sequence: int, last_note: int | None
    ) -> None:
        with pytest.raises(payments.NoteConflict):
            payments.order_acceptor_note(
                kiosk=kiosk(4),
                sequence=sequence,
                amount=Money(fen=100),
                last_note=None if last_note is None else Money(fen=last_note),
            )

    def test_a_revoked_kiosk_or_one_without_a_secret_has_no_usable_secret(self) -> None:
        with pytest.raises(payments.KioskRevoked):
            kiosk(revoked_at=AT).usable_secret()
        with pytest.raises(payments.UnknownKiosk, match="rotate"):
            kiosk(secret=None).usable_secret()
        assert "s3cret" not in repr(kiosk())


KEY = "s3cret"


class TestKioskSignature:
    BODY = b'{"acceptor_sequence": 1, "amount_fen": 10000}'

    def signed(self, **changes: object) -> payments.SignedRequest:
        headers = payments.kiosk_headers(
            kiosk_id="K01",
            secret=KEY,
            method="POST",
            target="/kiosk/api/acceptor/notes?lang=en",
            at=AT,
            body=self.BODY,
        )
        values: dict[str, object] = {
            "kiosk_id": headers[payments.KIOSK_HEADER],
            "timestamp": headers[payments.TIMESTAMP_HEADER],
            "signature": headers[payments.SIGNATURE_HEADER],
            "method": "POST",
            "target": "/kiosk/api/acceptor/notes?lang=en",
            "body": self.BODY,
        }
        values.update(changes)
        return payments.read_signed_request(**values)  # type: ignore[arg-type]

    def test_accepts_a_request_signed_with_the_secret_within_the_window(self) -> None:
        payments.verify_kiosk_request(self.signed(), secret=KEY, now=AT + timedelta(minutes=4))

    @pytest.mark.parametrize(
        "changes",
        [
            {"body": b'{"acceptor_sequence": 1, "amount_fen": 99999}'},
            {"target": "/kiosk/api/acceptor/notes?lang=zh-CN"},
            {"method": "GET"},
            {"kiosk_id": "K02"},
        ],
    )
    def test_refuses_anything_changed_after_signing(self, changes: dict[str, object]) -> None:
        with pytest.raises(payments.KioskSignatureInvalid):
            payments.verify_kiosk_request(self.signed(**changes), secret=KEY, now=AT)

    def test_refuses_another_secret(self) -> None:
        with pytest.raises(payments.KioskSignatureInvalid):
            payments.verify_kiosk_request(
                self.signed(),
                secret="other",  # noqa: S106 - a test key
                now=AT,
            )

    @pytest.mark.parametrize("minutes", [-6, 6])
    def test_refuses_a_timestamp_outside_the_window(self, minutes: int) -> None:
        with pytest.raises(payments.KioskTimestampOutsideWindow):
            payments.verify_kiosk_request(
                self.signed(), secret=KEY, now=AT + timedelta(minutes=minutes)
            )

    @pytest.mark.parametrize(
        "changes",
        [
            {"signature": None},
            {"timestamp": None},
            {"kiosk_id": None},
            {"signature": "zz"},
            {"timestamp": "-5"},
            {"timestamp": "1e9"},
            {"kiosk_id": "K01\n"},
        ],
    )
    def test_refuses_missing_or_malformed_headers(self, changes: dict[str, object]) -> None:
        with pytest.raises(payments.KioskSignatureMissing):
            self.signed(**changes)
