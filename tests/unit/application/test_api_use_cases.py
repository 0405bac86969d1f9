"""The JSON API's tokens and its idempotent payment, on the fakes."""

from __future__ import annotations

import pytest
from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local

from wattbook.application.accounts.open_account import open_account
from wattbook.application.api import ports as api_ports
from wattbook.application.api.authenticate import authenticate_api_token
from wattbook.application.api.create_token import create_api_token
from wattbook.application.api.list_tokens import list_api_tokens
from wattbook.application.api.pay import ApiAnswer, pay_through_api
from wattbook.application.api.revoke_token import revoke_api_token
from wattbook.application.payments.ports import Receipt
from wattbook.domain import accounts, payments
from wattbook.domain.values import AccountNumber, Money

NUMBER = AccountNumber(value="051600001234")
UNKNOWN = "wbk_" + "unknown"


def _render(receipt: Receipt) -> tuple[int, str]:
    return 201, f'{{"receipt": "{receipt.payment.receipt_number}"}}'


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(2026, 12, 1, 9))  # a Tuesday, counter open


async def _token(db: FakeDatabase, clock: FakeClock, *scopes: str) -> api_ports.NewToken:
    return await create_api_token(
        uow=db(), clock=clock, name="campus card", scopes=scopes or ("all",), by="admin"
    )


class TestCreateApiToken:
    async def test_stores_only_the_hash_and_shows_the_secret_once(
        self, db: FakeDatabase, clock: FakeClock
    ) -> None:
        made = await _token(db, clock, "accounts,balances")

        ((stored, digest),) = db.tables.api_tokens.values()
        assert made.secret.startswith("wbk_")
        assert digest == api_ports.token_hash(made.secret) != made.secret
        assert stored.scopes == {api_ports.Scope.ACCOUNTS, api_ports.Scope.BALANCES}
        assert made.secret.startswith(stored.prefix)
        (audited,) = db.tables.audit_log
        assert audited.record.action == "api.token.created"
        assert made.secret not in repr(audited)

    async def test_refuses_an_unknown_scope_and_writes_nothing(
        self, db: FakeDatabase, clock: FakeClock
    ) -> None:
        with pytest.raises(api_ports.InvalidTokenRequest):
            await _token(db, clock, "accounts", "everything")

        assert db.tables.api_tokens == {}

    async def test_refuses_a_token_without_a_name(self, db: FakeDatabase, clock: FakeClock) -> None:
        with pytest.raises(api_ports.InvalidTokenRequest):
            await create_api_token(uow=db(), clock=clock, name=" ", scopes=("all",), by="admin")


class TestAuthenticateApiToken:
    async def test_answers_the_token_with_the_scope(
        self, db: FakeDatabase, clock: FakeClock
    ) -> None:
        made = await _token(db, clock, "readings")

        found = await authenticate_api_token(
            uow=db(), secret=made.secret, scope=api_ports.Scope.READINGS
        )

        assert found.id == made.token.id

    async def test_refuses_a_missing_scope(self, db: FakeDatabase, clock: FakeClock) -> None:
        made = await _token(db, clock, "readings")

        with pytest.raises(api_ports.MissingScope):
            await authenticate_api_token(
                uow=db(), secret=made.secret, scope=api_ports.Scope.PAYMENTS
            )

    async def test_refuses_a_revoked_or_unknown_token(
        self, db: FakeDatabase, clock: FakeClock
    ) -> None:
        made = await _token(db, clock)
        await revoke_api_token(uow=db(), clock=clock, token_id=made.token.id, by="admin")

        with pytest.raises(api_ports.InvalidToken):
            await authenticate_api_token(uow=db(), secret=made.secret, scope=api_ports.Scope.ALARMS)
        with pytest.raises(api_ports.InvalidToken):
            await authenticate_api_token(
                uow=db(),
                secret=UNKNOWN,
                scope=api_ports.Scope.ALARMS,
            )


class TestRevokeApiToken:
    async def test_revokes_once_and_lists_it_revoked(
        self, db: FakeDatabase, clock: FakeClock
    ) -> None:
        made = await _token(db, clock)
        first = await revoke_api_token(uow=db(), clock=clock, token_id=made.token.id, by="admin")
        clock.set(local(2026, 12, 2, 9))

        again = await revoke_api_token(uow=db(), clock=clock, token_id=made.token.id, by="other")
        (listed,) = await list_api_tokens(uow=db())

        assert again.revoked_at == first.revoked_at == listed.revoked_at
        assert listed.revoked_by == "admin"
        assert [a.record.action for a in db.tables.audit_log] == [
            "api.token.created",
            "api.token.revoked",
        ]

    async def test_refuses_an_unknown_token(self, db: FakeDatabase, clock: FakeClock) -> None:
        with pytest.raises(api_ports.UnknownToken):
            await revoke_api_token(uow=db(), clock=clock, token_id=99, by="admin")


@pytest.fixture
async def token(db: FakeDatabase, clock: FakeClock) -> api_ports.ApiToken:
    """A payments token, with an account to pay into."""
    await open_account(
        uow=db(),
        clock=clock,
        number=NUMBER,
        holder=accounts.Holder(name="张三"),
        phone=None,
        address=accounts.Address(text="1栋101"),
    )
    return (await _token(db, clock, "payments")).token


async def _pay(
    db: FakeDatabase,
    clock: FakeClock,
    token: api_ports.ApiToken,
    *,
    key: str | None = "k1",
    request_sha256: str = "same",
    fen: int = 5_000,
) -> ApiAnswer:
    return await pay_through_api(
        uow_factory=db,
        clock=clock,
        token=token,
        idempotency_key=key,
        request_sha256=request_sha256,
        number=NUMBER,
        amount=Money(fen=fen),
        render=_render,
    )


class TestPayThroughApi:
    async def test_a_replay_answers_the_first_answer_and_credits_once(
        self, db: FakeDatabase, clock: FakeClock, token: api_ports.ApiToken
    ) -> None:
        answers = [await _pay(db, clock, token) for _ in range(2)]

        assert answers[0].answer == answers[1].answer
        assert [a.replayed for a in answers] == [False, True]
        assert db.balance(NUMBER) == Money(fen=5000)

    async def test_refuses_a_call_without_a_key_and_changes_nothing(
        self, db: FakeDatabase, clock: FakeClock, token: api_ports.ApiToken
    ) -> None:
        with pytest.raises(api_ports.InvalidIdempotencyKey):
            await _pay(db, clock, token, key=None, request_sha256="x")

        assert db.balance(NUMBER) == Money.zero()

    async def test_refuses_the_key_for_another_request(
        self, db: FakeDatabase, clock: FakeClock, token: api_ports.ApiToken
    ) -> None:
        await _pay(db, clock, token, request_sha256="first")

        with pytest.raises(api_ports.IdempotencyConflict):
            await _pay(db, clock, token, request_sha256="second", fen=9000)

        assert db.balance(NUMBER) == Money(fen=5000)

    async def test_a_lost_answer_is_rebuilt_without_crediting_twice(
        self, db: FakeDatabase, clock: FakeClock, token: api_ports.ApiToken
    ) -> None:
        await _pay(db, clock, token)
        db.tables.api_answers.clear()  # as if the process died before keeping the answer

        again = await _pay(db, clock, token)

        assert again.answer.status_code == 201
        assert db.balance(NUMBER) == Money(fen=5000)

    async def test_keeps_the_counter_hours(
        self, db: FakeDatabase, clock: FakeClock, token: api_ports.ApiToken
    ) -> None:
        clock.set(local(2026, 12, 1, 22))

        with pytest.raises(payments.CounterClosed):
            await _pay(db, clock, token, key="late", request_sha256="x")

        assert db.tables.api_answers == {}
