"""The bank gateway over HTTP: signed debit requests to the bank."""

from __future__ import annotations

import httpx

from wattbook.adapters.bank._codec import SIGNATURE_HEADER, encode_debit, sign
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments


class HttpBankGateway:
    """Send debit requests to the bank's ``POST {base_url}/debits``; results come back later."""

    def __init__(
        self, *, base_url: str, secret: bytes, callback_url: str, timeout_s: float = 10.0
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._callback_url = callback_url
        self._timeout_s = timeout_s

    @property
    def callback_url(self) -> str:
        """Return the URL the bank is told to post its callbacks to."""
        return self._callback_url

    def with_callback_url(self, callback_url: str) -> HttpBankGateway:
        """Return the same gateway telling the bank to call back on ``callback_url``."""
        return HttpBankGateway(
            base_url=self._base_url,
            secret=self._secret,
            callback_url=callback_url,
            timeout_s=self._timeout_s,
        )

    async def request_debit(self, debit: payments.DebitRequest) -> None:
        """Ask the bank to debit the card.

        :raises payment_ports.BankUnavailable: if the bank cannot be reached or fails (5xx).
        :raises payment_ports.DebitRefused: if the bank refuses the request (4xx).
        """
        body = encode_debit(debit, callback_url=self._callback_url)
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(
                    f"{self._base_url}/debits",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(self._secret, body),
                    },
                )
        except httpx.HTTPError as error:
            raise payment_ports.BankUnavailable(f"bank unreachable: {error}") from error
        if response.status_code >= 500:
            raise payment_ports.BankUnavailable(f"bank answered {response.status_code}")
        if response.status_code >= 400:
            raise payment_ports.DebitRefused(f"bank refused: {response.text[:200]}")


class NoBankGateway:
    """The gateway of a deployment without a bank link: every request waits for one."""

    async def request_debit(self, debit: payments.DebitRequest) -> None:
        """Refuse to send anything.

        :raises payment_ports.BankUnavailable: always.
        """
        raise payment_ports.BankUnavailable("no bank configured (WATTBOOK_BANK_URL)")
