"""The JSON API under /api/v1 (issue 12, item 10): tokens and scopes, cursor paging, JSON
errors, and no money-changing call without an Idempotency-Key."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.web.api_client import bearer, campus, token

from wattbook.adapters import db
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import AccountNumber


async def _balance(engine: Engine, number: str) -> int:
    async with db.SqlReadOnlyUnitOfWork(engine) as uow:
        found = await uow.ledger.balances([AccountNumber(value=number)])
    return found[AccountNumber(value=number)].fen


class TestDocument:
    async def test_serves_an_openapi_document_that_validates(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.get("/api/v1/openapi.json")

        assert answer.status_code == 200
        document = answer.json()
        validate(document)
        assert {"/accounts", "/balances", "/payments", "/alarms"} <= set(document["paths"])
        assert document["servers"] == [{"url": "/api/v1"}]


class TestTokens:
    async def test_refuses_a_call_without_a_token_in_json(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/api/v1/accounts")

        assert answer.status_code == 401
        assert answer.json()["error"] == "INVALID_TOKEN"
        assert answer.headers["www-authenticate"].startswith("Bearer")

    async def test_refuses_a_revoked_token(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        secret = await token(engine, clock, revoked=True)

        answer = await client.get("/api/v1/accounts", headers=bearer(secret))

        assert answer.status_code == 401

    async def test_refuses_a_token_without_the_scope(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        secret = await token(engine, clock, ("balances",))

        refused = await client.get("/api/v1/accounts", headers=bearer(secret))
        allowed = await client.get("/api/v1/balances", headers=bearer(secret))

        assert (refused.status_code, refused.json()["error"]) == (403, "MISSING_SCOPE")
        assert allowed.status_code == 200


class TestPaging:
    async def test_walks_every_account_by_cursor(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock)
        seen: list[str] = []
        cursor: str | None = None

        while True:
            params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
            page = (
                await client.get("/api/v1/balances", params=params, headers=bearer(secret))
            ).json()
            seen.extend(item["account_number"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert seen == [f"0516000060{n:02d}" for n in range(1, 8)]

    async def test_answers_a_forged_cursor_with_400(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        secret = await token(engine, clock)

        answer = await client.get(
            "/api/v1/payments", params={"cursor": "not-ours"}, headers=bearer(secret)
        )

        assert (answer.status_code, answer.json()["error"]) == (400, "INVALID_CURSOR")

    async def test_answers_an_unknown_account_with_404(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        secret = await token(engine, clock)

        answer = await client.get("/api/v1/accounts/051699999999", headers=bearer(secret))

        assert (answer.status_code, answer.json()["error"]) == (404, "UNKNOWN_ACCOUNT")


class TestPayments:
    async def test_refuses_a_payment_without_an_idempotency_key_and_changes_nothing(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock, ("payments",))

        answer = await client.post(
            "/api/v1/payments",
            json={"account_number": "051600006001", "amount_fen": 5000},
            headers=bearer(secret),
        )

        assert (answer.status_code, answer.json()["error"]) == (400, "IDEMPOTENCY_KEY_REQUIRED")
        assert await _balance(engine, "051600006001") == 100

    async def test_a_replay_answers_the_first_answer_and_credits_once(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock, ("payments",))
        headers = bearer(secret) | {"Idempotency-Key": "a1b2c3"}
        body = {"account_number": "051600006001", "amount_fen": 5000}

        first = await client.post("/api/v1/payments", json=body, headers=headers)
        again = await client.post("/api/v1/payments", json=body, headers=headers)

        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert first.json()["balance_after_fen"] == 5100
        assert (first.headers["idempotent-replayed"], again.headers["idempotent-replayed"]) == (
            "false",
            "true",
        )
        assert await _balance(engine, "051600006001") == 5100

    async def test_refuses_the_same_key_for_another_payment(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock, ("payments",))
        headers = bearer(secret) | {"Idempotency-Key": "k-1"}
        await client.post(
            "/api/v1/payments",
            json={"account_number": "051600006001", "amount_fen": 5000},
            headers=headers,
        )

        answer = await client.post(
            "/api/v1/payments",
            json={"account_number": "051600006001", "amount_fen": 9000},
            headers=headers,
        )

        assert (answer.status_code, answer.json()["error"]) == (409, "IDEMPOTENCY_CONFLICT")
        assert await _balance(engine, "051600006001") == 5100

    async def test_lists_the_payment_with_its_receipt(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock, ("payments",))
        made = await client.post(
            "/api/v1/payments",
            json={"account_number": "051600006002", "amount_fen": 1234},
            headers=bearer(secret) | {"Idempotency-Key": "k-2"},
        )

        listed = await client.get(
            "/api/v1/payments", params={"account_number": "051600006002"}, headers=bearer(secret)
        )

        (item,) = listed.json()["items"]
        assert item["receipt_number"] == made.json()["receipt_number"]
        assert (item["amount_fen"], item["amount_yuan"], item["operator"]) == (
            1234,
            "12.34",
            "api:campus card",
        )


class TestAlarms:
    async def test_lists_alarms_for_a_token_with_the_scope(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        secret = await token(engine, clock, ("alarms",))

        async with db.SqlUnitOfWork(engine) as uow:
            for year in ("2027", "2028", "2029"):
                await uow.alarms.raise_alarm(
                    kind=AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED,
                    subject=year,
                    detail="enter the schedule",
                    at=clock.now(),
                )
            await uow.commit()

        first = await client.get("/api/v1/alarms", params={"limit": "2"}, headers=bearer(secret))
        second = await client.get(
            "/api/v1/alarms",
            params={"limit": "2", "cursor": first.json()["next_cursor"]},
            headers=bearer(secret),
        )

        assert first.status_code == second.status_code == 200
        subjects = [a["subject"] for a in first.json()["items"] + second.json()["items"]]
        assert subjects == ["2027", "2028", "2029"]
        assert first.json()["items"][0]["scope"] == "SYSTEM"
        assert second.json()["next_cursor"] is None
