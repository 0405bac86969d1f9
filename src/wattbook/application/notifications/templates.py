"""The SMS texts residents receive, in zh-CN (default) and en (B4, P3, B6).

Amounts are written from :class:`Money` as yuan strings (``"12.34"``); the energy the balance
still buys is rounded down to 0.01 kWh, so the text never promises more than the money buys.
"""

from __future__ import annotations

from fractions import Fraction

from wattbook.application.notifications.ports import NotificationKind, SmsLocale
from wattbook.domain.values import CHARGE_ROUNDING, AccountNumber, Energy, Money, Price


class MissingAmount(ValueError):
    """An auto top-up notification was asked for without the amount."""


_SIGNATURE = {SmsLocale.ZH_CN: "【水电中心】", SmsLocale.EN: "[Water & Power Centre] "}

_TEMPLATES: dict[SmsLocale, dict[NotificationKind, str]] = {
    SmsLocale.ZH_CN: {
        NotificationKind.LOW_BALANCE: (
            "户号{account}电费余额{balance}元，约可用{kwh}度电，请及时充值，以免停电。"
        ),
        NotificationKind.AUTO_TOP_UP_SUCCEEDED: (
            "户号{account}银行代扣充值{amount}元成功，当前余额{balance}元。"
        ),
        NotificationKind.AUTO_TOP_UP_FAILED: (
            "户号{account}银行代扣充值{amount}元未成功，当前余额{balance}元。"
            "余额不足时将停止供电，请检查银行卡余额及状态，或到水电售卖窗口、自助缴费机缴费。"
        ),
        NotificationKind.CUT_OFF: (
            "户号{account}电费余额{balance}元，已停止供电。充值后将自动恢复供电。"
        ),
        NotificationKind.POWER_RESTORED: "户号{account}已恢复供电，当前余额{balance}元。",
    },
    SmsLocale.EN: {
        NotificationKind.LOW_BALANCE: (
            "Account {account}: balance {balance} yuan, about {kwh} kWh left. "
            "Please top up to avoid a power cut."
        ),
        NotificationKind.AUTO_TOP_UP_SUCCEEDED: (
            "Account {account}: auto top-up of {amount} yuan succeeded; balance {balance} yuan."
        ),
        NotificationKind.AUTO_TOP_UP_FAILED: (
            "Account {account}: auto top-up of {amount} yuan failed; balance {balance} yuan. "
            "Power is cut when the balance runs out: please check your bank card, or pay at "
            "the counter or a kiosk."
        ),
        NotificationKind.CUT_OFF: (
            "Account {account}: balance {balance} yuan; power has been cut off. "
            "It is restored automatically after a top-up."
        ),
        NotificationKind.POWER_RESTORED: (
            "Account {account}: power has been restored; balance {balance} yuan."
        ),
    },
}


def energy_bought(*, balance: Money, price: Price) -> Energy:
    """Return the energy ``balance`` buys at ``price``, rounded down to 10 Wh; none if <= 0."""
    if balance.fen <= 0 or price.scaled == 0:
        return Energy.zero()
    # fen / 100 yuan / (scaled / 10^4 yuan/kWh) kWh = fen x divisor / scaled Wh: the inverse
    # of a charge, with the charge's own divisor.
    wh = Fraction(balance.fen * CHARGE_ROUNDING.divisor, price.scaled)
    return Energy(wh=int(wh // 10) * 10)


def render_notification(
    *,
    kind: NotificationKind,
    locale: SmsLocale,
    account_number: AccountNumber,
    balance: Money,
    price: Price,
    amount: Money | None = None,
) -> str:
    """Return the text of one notification.

    :raises MissingAmount: if an auto top-up notification has no amount.
    """
    if amount is None and kind in (
        NotificationKind.AUTO_TOP_UP_SUCCEEDED,
        NotificationKind.AUTO_TOP_UP_FAILED,
    ):
        raise MissingAmount(f"{kind} needs the top-up amount")
    body = _TEMPLATES[locale][kind].format(
        account=account_number,
        balance=balance.yuan(),
        kwh=energy_bought(balance=balance, price=price).kwh,
        amount="" if amount is None else amount.yuan(),
    )
    return _SIGNATURE[locale] + body
