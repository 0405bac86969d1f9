"""SMS texts in zh-CN and en, with money from Money and the kWh the balance still buys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wattbook.application.notifications.ports import NotificationKind, SmsLocale
from wattbook.application.notifications.templates import (
    MissingAmount,
    WrittenWhenQueued,
    energy_bought,
    login_code_text,
    render_notification,
)
from wattbook.domain.values import AccountNumber, Energy, Money, Price

NUMBER = AccountNumber(value="051600001234")
PRICE = Price(yuan_per_kwh=Decimal("0.5283"))


class TestEnergyBought:
    @pytest.mark.parametrize(
        ("fen", "wh"),
        [
            (943, 17_840),  # 9.43 / 0.5283 = 17.849... kWh: rounded down, never up
            (1057, 20_000),  # 20.007 kWh
            (1056, 19_980),  # 19.988 kWh: below the B4 threshold, and the text says so
            (0, 0),
            (-500, 0),
        ],
    )
    def test_rounds_down_to_ten_wh(self, fen: int, wh: int) -> None:
        assert energy_bought(balance=Money(fen=fen), price=PRICE) == Energy(wh=wh)

    def test_is_zero_at_a_zero_price(self) -> None:
        free = Price(yuan_per_kwh=Decimal("0"))

        assert energy_bought(balance=Money(fen=100), price=free) == Energy.zero()


class TestRenderNotification:
    def test_writes_the_low_balance_text_in_chinese_by_default(self) -> None:
        text = render_notification(
            kind=NotificationKind.LOW_BALANCE,
            locale=SmsLocale.ZH_CN,
            account_number=NUMBER,
            balance=Money(fen=943),
            price=PRICE,
        )

        assert text == (
            "【水电中心】户号051600001234电费余额9.43元，约可用17.84度电，请及时充值，以免停电。"
        )

    def test_writes_the_low_balance_text_in_english(self) -> None:
        text = render_notification(
            kind=NotificationKind.LOW_BALANCE,
            locale=SmsLocale.EN,
            account_number=NUMBER,
            balance=Money(fen=5),
            price=PRICE,
        )

        assert text == (
            "[Water & Power Centre] Account 051600001234: balance 0.05 yuan, about 0.09 kWh "
            "left. Please top up to avoid a power cut."
        )

    @pytest.mark.parametrize("locale", list(SmsLocale))
    @pytest.mark.parametrize(
        "kind", [kind for kind in NotificationKind if kind is not NotificationKind.LOGIN_CODE]
    )
    def test_has_every_kind_in_every_locale(
        self, kind: NotificationKind, locale: SmsLocale
    ) -> None:
        text = render_notification(
            kind=kind,
            locale=locale,
            account_number=NUMBER,
            balance=Money(fen=-1234),
            price=PRICE,
            amount=Money(fen=10000),
        )

        assert "051600001234" in text
        assert "-12.34" in text
        if kind in (NotificationKind.AUTO_TOP_UP_SUCCEEDED, NotificationKind.AUTO_TOP_UP_FAILED):
            assert "100.00" in text

    def test_names_the_top_up_amount(self) -> None:
        text = render_notification(
            kind=NotificationKind.AUTO_TOP_UP_SUCCEEDED,
            locale=SmsLocale.ZH_CN,
            account_number=NUMBER,
            balance=Money(fen=12034),
            price=PRICE,
            amount=Money(fen=10000),
        )

        assert text == "【水电中心】户号051600001234银行代扣充值100.00元成功，当前余额120.34元。"

    def test_refuses_a_top_up_text_without_the_amount(self) -> None:
        with pytest.raises(MissingAmount):
            render_notification(
                kind=NotificationKind.AUTO_TOP_UP_FAILED,
                locale=SmsLocale.ZH_CN,
                account_number=NUMBER,
                balance=Money(fen=0),
                price=PRICE,
            )


class TestLoginCode:
    @pytest.mark.parametrize("locale", list(SmsLocale))
    def test_writes_the_code_in_every_locale(self, locale: SmsLocale) -> None:
        text = login_code_text(locale=locale, code="482913")

        assert "482913" in text

    def test_is_not_rendered_by_the_worker(self) -> None:
        with pytest.raises(WrittenWhenQueued):
            render_notification(
                kind=NotificationKind.LOGIN_CODE,
                locale=SmsLocale.ZH_CN,
                account_number=NUMBER,
                balance=Money(fen=0),
                price=PRICE,
            )
