"""The bank endpoint over HTTP: signatures, agreements, concurrent duplicated callbacks (P3)."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import httpx
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.web.conftest import SECRET

from wattbook.adapters import bank
from wattbook.domain import payments

HEADER = bank.SIGNATURE_HEADER


def signed(body: bytes) -> dict[str, str]:
    return {HEADER: bank.sign(SECRET.encode(), body), "Content-Type": "application/json"}


class TestBankEndpoint:
    async def test_takes_signed_agreements_and_refuses_forgeries(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        body = bank.encode_agreement(home.agreement())

        forged = await client.post("/bank/agreements", content=body, headers={HEADER: "sha256=0"})
        accepted = await client.post("/bank/agreements", content=body, headers=signed(body))
        again = await client.post("/bank/agreements", content=body, headers=signed(body))
        cancel = bank.encode_cancellation("AG0001", date(2025, 6, 11))
        cancelled = await client.post(
            "/bank/agreements/cancellations", content=cancel, headers=signed(cancel)
        )

        assert forged.status_code == 401
        assert accepted.status_code == 201
        assert again.status_code == 422
        assert cancelled.json() == {"agreement_number": "AG0001", "cancelled_on": "2025-06-11"}

    async def test_concurrent_duplicated_callbacks_credit_each_debit_once(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        numbers = [f"0516000040{i:02d}" for i in range(10)]
        for number in numbers:
            await Payer(engine, clock, number).open()
        await home.sign(home.agreement(accounts=tuple(numbers)))
        debits = (await home.run_auto_top_up()).requested
        bodies = [bank.encode_callback(home.success(d, f"SER{i}")) for i, d in enumerate(debits)]
        stream = bodies * 4
        random.Random(3).shuffle(stream)

        answers = await asyncio.gather(
            *(client.post("/bank/callbacks", content=b, headers=signed(b)) for b in stream)
        )
        unknown = bank.encode_callback(
            payments.BankCallback(
                serial="SERX",
                debit_id="D20250610000000000000",
                status=payments.DebitStatus.SUCCEEDED,
                amount=debits[0].amount,
                at=clock.now(),
            )
        )
        refused = await client.post("/bank/callbacks", content=unknown, headers=signed(unknown))

        assert {a.status_code for a in answers} == {200}
        assert sorted({a.json()["receipt_number"] for a in answers}) == [
            f"BK20250610{i:06d}" for i in range(1, 11)
        ]
        assert home.rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(10, 50000)]
        assert refused.status_code == 404

    async def test_one_debit_is_credited_once_over_http_whatever_the_serials(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        # Issue 16, defect 1: SAME-1 failed, SAME-1 succeeded, SAME-2 succeeded: 100.00.
        home = Payer(engine, clock)
        await home.open()
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        before = home.balance_fen()
        bodies = [
            bank.encode_callback(c)
            for c in (
                home.failure(debit, "SAME-1", payments.DebitStatus.INSUFFICIENT_FUNDS),
                home.success(debit, "SAME-1"),
                home.success(debit, "SAME-2"),
            )
        ]

        answers = [
            await client.post("/bank/callbacks", content=b, headers=signed(b)) for b in bodies
        ]

        assert [a.status_code for a in answers] == [200, 200, 409]
        assert answers[2].json()["error"] == "CALLBACK_CONFLICT"
        assert home.balance_fen() - before == debit.amount.fen
