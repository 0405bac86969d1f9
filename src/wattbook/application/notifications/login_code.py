"""Text a resident the one-time code that finishes a portal log-in (Q1, the SMS step)."""

from __future__ import annotations

from decimal import Decimal

from wattbook.application import ports
from wattbook.application.notifications.ports import NotificationKind, SmsLocale, SmsRequest
from wattbook.application.notifications.templates import login_code_text
from wattbook.domain.values import AccountNumber, Money, Price


class InvalidCode(ValueError):
    """A log-in code must be 4 to 8 digits."""


async def send_login_code(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    code: str,
    locale: str,
) -> None:
    """Queue the SMS carrying ``code`` to the account's phone on file, in ``locale``.

    The text is written now, so the worker sends exactly it; the outbox's money columns
    hold zero (a code is about no money). An unknown ``locale`` writes zh-CN.

    :raises InvalidCode: unless ``code`` is 4 to 8 digits.
    :raises UnknownAccount: if there is no such account.
    """
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 8):
        raise InvalidCode("a log-in code is 4 to 8 digits")
    sms_locale = SmsLocale(locale) if locale in tuple(SmsLocale) else SmsLocale.ZH_CN
    request = SmsRequest(
        account_number=number,
        kind=NotificationKind.LOGIN_CODE,
        balance=Money.zero(),
        price=Price(yuan_per_kwh=Decimal(0)),
        body=login_code_text(locale=sms_locale, code=code),
    )
    async with uow:
        await uow.sms.enqueue((request,), at=clock.now())
        await uow.commit()
