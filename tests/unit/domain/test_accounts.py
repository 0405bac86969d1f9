"""Unit tests of wattbook.domain.accounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from wattbook.domain import accounts
from wattbook.domain.values import (
    DEFAULT_PRICE,
    SHANGHAI,
    AccountNumber,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
)

NUMBER = AccountNumber(value="051600001234")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def an_account() -> accounts.Account:
    return accounts.open_account(
        number=NUMBER,
        holder=accounts.Holder(name="张三"),
        phone=accounts.PhoneNumber(digits="13800138000"),
        address=accounts.Address(text="丙6-1-801"),
        at=local("2015-05-04T09:00"),
    )


def closed_account() -> accounts.Account:
    return accounts.close_account(
        account=an_account(), at=local("2016-01-01T09:00"), balance=Money.zero()
    )


def registers(total_wh: int) -> RegisterSet:
    return RegisterSet(total_wh=total_wh, sharp_wh=0, peak_wh=0, flat_wh=total_wh, valley_wh=0)


class TestOpenAccount:
    def test_opens_with_the_meter_number_as_account_number(self) -> None:
        account = an_account()

        assert account.status is accounts.AccountStatus.OPEN
        assert str(account.number) == "051600001234"
        assert str(account.address) == "丙6-1-801"


class TestCustomerValues:
    @pytest.mark.parametrize(
        "digits", ["1380013800", "23800138000", "1380013800x", "+8613800138000", "12800138000"]
    )
    def test_refuses_numbers_that_are_not_mainland_mobiles(self, digits: str) -> None:
        with pytest.raises(accounts.InvalidPhoneNumber):
            accounts.PhoneNumber(digits=digits)

    @pytest.mark.parametrize("name", ["", "   ", " 张三"])
    def test_refuses_blank_or_padded_holders(self, name: str) -> None:
        with pytest.raises(accounts.InvalidHolder):
            accounts.Holder(name=name)

    def test_refuses_a_blank_address(self) -> None:
        with pytest.raises(accounts.InvalidAddress):
            accounts.Address(text=" ")

    @pytest.mark.parametrize("text", ["号" * 201, "丙6-1-801\u0000", "丙6\n1-801"])
    def test_refuses_an_address_wider_than_its_column_or_with_control_characters(
        self, text: str
    ) -> None:
        with pytest.raises(accounts.InvalidAddress):
            accounts.Address(text=text)

    @pytest.mark.parametrize("name", ["张" * 101, "张\u0000三", "张\t三"])
    def test_refuses_a_holder_wider_than_its_column_or_with_control_characters(
        self, name: str
    ) -> None:
        with pytest.raises(accounts.InvalidHolder):
            accounts.Holder(name=name)

    def test_takes_text_exactly_as_wide_as_the_columns(self) -> None:
        assert len(accounts.Holder(name="张" * 100).name) == 100
        assert len(accounts.Address(text="号" * 200).text) == 200


class TestChangeHolder:
    def test_keeps_the_old_holder_and_the_documents_in_history(self) -> None:
        update = accounts.change_holder(
            changed_by="柜员 王芳",
            account=an_account(),
            holder=accounts.Holder(name="李四"),
            at=local("2016-03-01T10:00"),
            document_note="房产证 and 后勤处 certificate shown",
            attachment_ref="scan/2016/03/0001.pdf",
        )

        assert str(update.account.holder) == "李四"
        assert update.change.kind is accounts.ChangeKind.HOLDER
        assert (update.change.old_value, update.change.new_value) == ("张三", "李四")
        assert update.change.attachment_ref == "scan/2016/03/0001.pdf"
        assert update.change.event_name == "accounts.holder.changed"

    @pytest.mark.parametrize(("note", "attachment"), [("", "scan/1.pdf"), ("deed shown", " ")])
    def test_needs_a_note_and_an_attachment(self, note: str, attachment: str) -> None:
        with pytest.raises(accounts.DocumentsRequired):
            accounts.change_holder(
                changed_by="柜员 王芳",
                account=an_account(),
                holder=accounts.Holder(name="李四"),
                at=local("2016-03-01T10:00"),
                document_note=note,
                attachment_ref=attachment,
            )

    def test_refuses_a_closed_account(self) -> None:
        with pytest.raises(accounts.AccountClosed):
            accounts.change_holder(
                changed_by="柜员 王芳",
                account=closed_account(),
                holder=accounts.Holder(name="李四"),
                at=local("2016-03-01T10:00"),
                document_note="deed",
                attachment_ref="scan/1.pdf",
            )


class TestChangePhoneAndAddress:
    def test_records_a_new_phone(self) -> None:
        update = accounts.change_phone(
            changed_by="柜员 王芳",
            account=an_account(),
            phone=accounts.PhoneNumber(digits="13900139000"),
            at=local("2016-03-01T10:00"),
        )

        assert (update.change.old_value, update.change.new_value) == ("13800138000", "13900139000")

    def test_records_removing_the_phone(self) -> None:
        update = accounts.change_phone(
            changed_by="柜员 王芳", account=an_account(), phone=None, at=local("2016-03-01T10:00")
        )

        assert update.account.phone is None
        assert update.change.new_value is None

    def test_records_a_new_address(self) -> None:
        update = accounts.change_address(
            changed_by="柜员 王芳",
            account=an_account(),
            address=accounts.Address(text="丙6-1-802"),
            at=local("2016-03-01T10:00"),
        )

        assert update.change.event_name == "accounts.address.changed"
        assert str(update.account.address) == "丙6-1-802"

    def test_refuses_a_closed_account(self) -> None:
        with pytest.raises(accounts.AccountClosed):
            accounts.change_phone(
                changed_by="柜员 王芳",
                account=closed_account(),
                phone=None,
                at=local("2016-03-01T10:00"),
            )
        with pytest.raises(accounts.AccountClosed):
            accounts.change_address(
                changed_by="柜员 王芳",
                account=closed_account(),
                address=accounts.Address(text="x"),
                at=local("2016-03-01T10:00"),
            )


class TestCloseAccount:
    def test_closes_a_settled_account(self) -> None:
        account = closed_account()

        assert account.status is accounts.AccountStatus.CLOSED
        assert account.closed_at == local("2016-01-01T09:00")

    def test_refuses_money_left_on_the_account(self) -> None:
        with pytest.raises(accounts.BalanceNotSettled):
            accounts.close_account(
                account=an_account(), at=local("2016-01-01T09:00"), balance=Money(fen=-1)
            )

    def test_refuses_closing_twice(self) -> None:
        with pytest.raises(accounts.AccountClosed):
            accounts.close_account(
                account=closed_account(), at=local("2016-02-01T09:00"), balance=Money.zero()
            )


class TestReplaceMeter:
    def test_keeps_the_final_and_initial_readings(self) -> None:
        account = an_account()
        old = accounts.install_meter(
            account=account,
            meter_number=MeterNumber(value="051600001234"),
            bus="bus-3",
            installed_at=local("2015-05-04T09:00"),
            initial=registers(0),
        )

        replacement = accounts.replace_meter(
            account=account,
            current=old,
            final=registers(1_234_560),
            final_at=local("2017-06-01T10:00"),
            new_meter_number=MeterNumber(value="051600009999"),
            bus="bus-3",
            initial=registers(10),
            installed_at=local("2017-06-01T10:30"),
        )

        assert replacement.final.total_wh == 1_234_560
        assert replacement.installation.initial.total_wh == 10
        assert replacement.installation.account_number == NUMBER
        assert replacement.old_meter_number == MeterNumber(value="051600001234")

    def test_refuses_a_meter_of_another_account(self) -> None:
        other = accounts.MeterInstallation(
            account_number=AccountNumber(value="051600000001"),
            meter_number=MeterNumber(value="051600000001"),
            bus="bus-1",
            installed_at=local("2015-05-04T09:00"),
            initial=registers(0),
        )

        with pytest.raises(accounts.MeterNotOnAccount):
            accounts.replace_meter(
                account=an_account(),
                current=other,
                final=registers(5),
                final_at=local("2017-06-01T10:00"),
                new_meter_number=MeterNumber(value="051600009999"),
                bus="bus-1",
                initial=registers(0),
                installed_at=local("2017-06-01T10:30"),
            )

    def test_refuses_installing_on_a_closed_account(self) -> None:
        with pytest.raises(accounts.AccountClosed):
            accounts.install_meter(
                account=closed_account(),
                meter_number=MeterNumber(value="051600001234"),
                bus="bus-3",
                installed_at=local("2016-05-04T09:00"),
                initial=registers(0),
            )


class TestMigrationCredit:
    def test_values_the_old_meters_energy_at_the_price(self) -> None:
        credit = accounts.migration_credit(
            account=an_account(),
            energy=Energy.from_kwh("12.34"),
            price=DEFAULT_PRICE,
            at=local("2015-08-31T12:00"),
        )

        # 12.34 kWh x 0.5283 = 6.519222 yuan -> 652 fen.
        assert credit.amount == Money(fen=652)

    def test_refuses_nothing_to_credit(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            accounts.migration_credit(
                account=an_account(),
                energy=Energy.zero(),
                price=DEFAULT_PRICE,
                at=local("2015-08-31T12:00"),
            )
        with pytest.raises(ValueError, match="worth nothing"):
            accounts.migration_credit(
                account=an_account(),
                energy=Energy(wh=10),
                price=Price(yuan_per_kwh=Decimal("0.1")),
                at=local("2015-08-31T12:00"),
            )


class TestOpeningBalance:
    def test_carries_arrears_over(self) -> None:
        decision = accounts.opening_balance(
            account=an_account(), amount=Money(fen=-300), at=local("2015-08-31T12:00")
        )

        assert decision.amount == Money(fen=-300)

    def test_refuses_zero(self) -> None:
        with pytest.raises(ValueError, match="zero"):
            accounts.opening_balance(
                account=an_account(), amount=Money.zero(), at=local("2015-08-31T12:00")
            )


class TestHolderMatches:
    @pytest.mark.parametrize("typed", ["张三", " 张三 ", "张 三", "ＡＢ", "ab"])
    def test_ignores_width_case_and_blanks(self, typed: str) -> None:
        holder = accounts.Holder(name="张三" if "张" in typed else "AB")

        assert holder.matches(typed)

    @pytest.mark.parametrize("typed", ["张", "张三三", "张四", "", "张三."])
    def test_every_other_character_counts(self, typed: str) -> None:
        assert not accounts.Holder(name="张三").matches(typed)
