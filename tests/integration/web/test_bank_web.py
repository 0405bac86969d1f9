"""The bank endpoint over HTTP: signatures, agreements, concurrent duplicated callbacks (P3)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import date

import httpx
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer
from tests.integration.web.conftest import SECRET

from wattbook.adapters import bank, db
from wattbook.application import alarm_ports
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.domain import payments

HEADER = bank.SIGNATURE_HEADER


def signed(body: bytes) -> dict[str, str]:
    return {HEADER: bank.sign(SECRET.encode(), body), "Content-Type": "application/json"}


async def one_debit(engine: Engine, clock: FakeClock) -> tuple[Payer, payments.DebitRequest]:
    """Return a household with an agreement, and the debit today's auto top-up requested."""
    home = Payer(engine, clock)
    await home.open()
    await home.sign(home.agreement())
    (debit,) = (await home.run_auto_top_up()).requested
    return home, debit


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
        home, debit = await one_debit(engine, clock)
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


class TestRefusedCallbacksRaiseAnAlarm:
    async def test_a_refused_signed_callback_is_on_the_staff_screen_once(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        # Issue 16: callbacks outside the window are refused *and reported*; a log line alone
        # is not a report. Conflicts and stale dates both reach the staff's alarm list.
        home, debit = await one_debit(engine, clock)
        stale = replace(home.success(debit, "OLD-1"), at=local(1999, 6, 10, 8))
        first = home.success(debit, "SAME-1")
        conflict = home.success(debit, "SAME-2")
        bodies = [bank.encode_callback(c) for c in (stale, first, conflict)]

        answers = [
            await client.post("/bank/callbacks", content=b, headers=signed(b)) for b in bodies
        ]
        again = await client.post("/bank/callbacks", content=bodies[0], headers=signed(bodies[0]))
        alarms = await list_alarms(uow=db.unit_of_work_factory(engine)())

        assert [a.status_code for a in answers] == [409, 200, 409]
        assert again.status_code == 409
        refused = {
            alarm.subject: alarm.detail
            for alarm in alarms
            if alarm.kind is alarm_ports.AlarmKind.BANK_CALLBACK_REFUSED
        }
        assert set(refused) == {"OLD-1", "SAME-2"}
        assert "CallbackOutsideWindow" in refused["OLD-1"]
        assert "CallbackConflict" in refused["SAME-2"]
        assert home.rows("SELECT COUNT(*) FROM alarms WHERE kind = 'BANK_CALLBACK_REFUSED'") == [
            (2,)
        ]

    async def test_an_unsigned_callback_raises_nothing(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home, debit = await one_debit(engine, clock)
        body = bank.encode_callback(replace(home.success(debit, "X"), at=local(1999, 1, 1, 8)))

        answer = await client.post("/bank/callbacks", content=body, headers={HEADER: "sha256=0"})

        assert answer.status_code == 401
        assert home.rows("SELECT COUNT(*) FROM alarms") == [(0,)]
