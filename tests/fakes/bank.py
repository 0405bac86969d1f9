"""A bank gateway that remembers the debits it was asked for, and can be told to fail."""

from __future__ import annotations

from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments


class FakeBankGateway:
    """Record debit requests; raise what a test asks for instead."""

    def __init__(self) -> None:
        self.requests: list[payments.DebitRequest] = []
        self.unavailable = False
        self.refuse: set[str] = set()

    async def request_debit(self, debit: payments.DebitRequest) -> None:
        """Record the request, or fail as configured."""
        if self.unavailable:
            raise payment_ports.BankUnavailable("bank offline (fake)")
        if debit.debit_id in self.refuse:
            raise payment_ports.DebitRefused("refused (fake)")
        self.requests.append(debit)
