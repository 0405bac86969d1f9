"""The SMS texts residents receive, in zh-CN (default) and en (B4, P3, B6).

The texts are ``sms.<KIND>`` and ``sms.signature`` in the one gettext catalogue per language
(``wattbook.i18n``), beside the web's.

Amounts are written from :class:`Money` as yuan strings (``"12.34"``); the energy the balance
still buys is rounded down to 0.01 kWh, so the text never promises more than the money buys.
"""

from __future__ import annotations

from fractions import Fraction

from wattbook import i18n
from wattbook.application.notifications.ports import NotificationKind, SmsLocale
from wattbook.domain.values import CHARGE_ROUNDING, AccountNumber, Energy, Money, Price


class MissingAmount(ValueError):
    """An auto top-up notification was asked for without the amount."""


class WrittenWhenQueued(ValueError):
    """A log-in code's text is written when it is queued (``login_code_text``), not here."""


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
    :raises WrittenWhenQueued: for a log-in code.
    """
    if kind is NotificationKind.LOGIN_CODE:
        raise WrittenWhenQueued("a log-in code's text is written when it is queued")
    if amount is None and kind in (
        NotificationKind.AUTO_TOP_UP_SUCCEEDED,
        NotificationKind.AUTO_TOP_UP_FAILED,
    ):
        raise MissingAmount(f"{kind} needs the top-up amount")
    language = locale.value  # the locale's value is its catalogue's language tag
    body = i18n.gettext(language, f"sms.{kind.name}").format(
        account=account_number,
        balance=balance.yuan(),
        kwh=energy_bought(balance=balance, price=price).kwh,
        amount="" if amount is None else amount.yuan(),
    )
    return i18n.gettext(language, "sms.signature") + body


def login_code_text(*, locale: SmsLocale, code: str) -> str:
    """Return the text of a portal log-in code in ``locale``."""
    language = locale.value
    return i18n.gettext(language, "sms.signature") + i18n.gettext(
        language, "sms.LOGIN_CODE"
    ).format(code=code)
