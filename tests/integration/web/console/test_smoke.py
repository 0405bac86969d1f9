"""Smoke: log in as a cashier, take cash, see the receipt and the cash-up."""

from __future__ import annotations

import httpx
from tests.integration.web.console.helpers import log_in


async def test_a_cashier_takes_cash(console: httpx.AsyncClient) -> None:
    token = await log_in(console, "cashier")

    desk = await console.get("/console/counter", params={"number": "051600001234"})
    form_token = desk.text.split('name="token" value="')[1].split('"')[0]
    paid = await console.post(
        "/console/counter/top-up",
        data={
            "csrf_token": token,
            "number": "051600001234",
            "amount": "50.00",
            "token": form_token,
        },
    )

    assert paid.status_code == 303, paid.text
    receipt = await console.get(paid.headers["location"])
    assert "50.00" in receipt.text
    cash = await console.get("/console/cash-up")
    assert cash.status_code == 200
