"""Hostile input and browser hardening on the in-process app, on both database engines."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.web.kiosk_client import register_kiosk
from tests.integration.web.test_error_bodies import TXN, as_kiosk, lenient_client, signed

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.headend import _tables as headend_t
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.application.accounts.open_account import open_account
from wattbook.domain import accounts
from wattbook.domain.values import OPERATOR_NAME_MAX, AccountNumber

__all__ = ["lenient_client"]

DEEP = 100_000


class TestDeeplyNestedJson:
    @pytest.mark.parametrize("path", ["/bank/callbacks", "/bank/agreements"])
    @pytest.mark.parametrize("opener", [b"[", b'{"a": '])
    async def test_is_a_malformed_message_not_a_crash(
        self, lenient_client: httpx.AsyncClient, path: str, opener: bytes
    ) -> None:
        closer = b"]" if opener == b"[" else b"}"
        body = opener * 5000 + b"1" + closer * 5000

        answer = await lenient_client.post(f"{path}?lang=en", content=body, headers=signed(body))

        assert answer.status_code == 400
        assert answer.json()["error"] == "MALFORMED"


class TestBodyLimit:
    async def test_a_declared_length_over_64_kib_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        body = b" " * (64 * 1024 + 1)

        answer = await client.post("/bank/callbacks?lang=en", content=body, headers=signed(body))

        assert answer.status_code == 413
        assert answer.json() == {"error": "TOO_LARGE", "message": "The request is too large"}

    async def test_a_streamed_body_over_the_limit_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(100):
                yield b" " * 1024

        answer = await client.post(
            f"/kiosk/api/sessions/{TXN}/notes",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )

        assert answer.status_code == 413
        assert answer.json()["error"] == "TOO_LARGE"


class TestKioskIds:
    @pytest.mark.parametrize("kiosk_id", ["K" * 33, "K01\n", "-K01", "K01 x", "'; --"])
    async def test_a_kiosk_id_the_domain_refuses_is_refused_unread(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock, kiosk_id: str
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        headers = as_kiosk(secret)
        headers.kiosk_id = kiosk_id

        answer = await client.post("/kiosk/api/sessions?lang=en", auth=headers)

        assert answer.status_code == 401
        assert answer.json()["error"] == "KIOSK_NOT_SIGNED"
        assert home.rows("SELECT count(*) FROM kiosk_sessions") == [(0,)]


class TestSecurityHeaders:
    async def test_every_page_forbids_framing_sniffing_and_foreign_scripts(
        self, client: httpx.AsyncClient
    ) -> None:
        for path in ("/kiosk", f"/kiosk/api/sessions/{TXN}", "/no-such-page", "/static/kiosk.js"):
            answer = await client.get(path)

            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"

    async def test_session_json_and_receipts_are_not_stored_but_static_files_may_be(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        auth = as_kiosk(await register_kiosk(db.unit_of_work_factory(engine), clock, "K01"))
        await home.at_kiosk(10000, transaction_id=TXN)

        personal = [
            await client.get(f"/kiosk/api/sessions/{TXN}", auth=auth),
            await client.get(f"/kiosk/sessions/{TXN}/receipt", auth=auth),
            await client.get(f"/kiosk/sessions/{TXN}/receipt.txt", auth=auth),
        ]
        static = await client.get("/static/kiosk.js")

        assert [answer.status_code for answer in personal] == [200, 200, 200]
        assert [answer.headers["cache-control"] for answer in personal] == ["no-store"] * 3
        assert static.headers.get("cache-control") != "no-store"

    async def test_the_receipt_page_has_no_inline_script(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        auth = as_kiosk(await register_kiosk(db.unit_of_work_factory(engine), clock, "K01"))
        await home.at_kiosk(10000, transaction_id=TXN)

        page = await client.get(f"/kiosk/sessions/{TXN}/receipt", auth=auth)

        assert "onclick" not in page.text
        assert '<script src="/static/receipt.js"></script>' in page.text


class TestHostHeader:
    async def test_a_foreign_host_is_refused_and_local_names_are_answered(
        self, client: httpx.AsyncClient
    ) -> None:
        rebound = await client.get("/kiosk?lang=en", headers={"Host": "attacker.example"})
        local = [
            await client.get("/healthz", headers={"Host": host})
            for host in ("localhost:8700", "127.0.0.1", "[::1]:8700", "LOCALHOST")
        ]

        assert rebound.status_code == 400
        assert "not accepted" in rebound.text
        assert [answer.status_code for answer in local] == [200] * 4


class TestStoredTextWidths:
    def test_holder_and_address_limits_are_the_column_widths(self) -> None:
        assert accounts_t.accounts.c.holder.type.length == accounts.HOLDER_MAX_LENGTH  # type: ignore[attr-defined]
        assert accounts_t.accounts.c.address.type.length == accounts.ADDRESS_MAX_LENGTH  # type: ignore[attr-defined]

    def test_operator_names_fit_every_column_that_records_them(self) -> None:
        columns = (
            accounts_t.account_changes.c.changed_by,
            headend_t.relay_commands.c.ordered_by,
            prepaid_t.calendar_overrides.c.changed_by,
            prepaid_t.calendar_changes.c.changed_by,
        )

        assert {column.type.length for column in columns} == {OPERATOR_NAME_MAX}  # type: ignore[attr-defined]


class TestLongAddress:
    @pytest.mark.parametrize(
        ("holder", "address"),
        [
            ("张三丰", "丙6-1-801" + "号" * 400),
            ("张" * 101, "丙6-1-801"),
            ("张\u0000丰", "丙6-1-801"),
        ],
    )
    async def test_is_refused_alike_on_both_engines_and_opens_nothing(
        self, engine: Engine, clock: FakeClock, holder: str, address: str
    ) -> None:
        storage = bootstrap.Storage(
            engine=engine,
            uow_factory=db.unit_of_work_factory(engine),
            reader_factory=db.reader_factory(engine),
            clock=clock,
        )

        with pytest.raises((accounts.InvalidAddress, accounts.InvalidHolder)):
            await open_account(
                uow=storage.uow_factory(),
                clock=clock,
                number=AccountNumber(value="051600004321"),
                holder=accounts.Holder(name=holder),
                phone=accounts.PhoneNumber(digits="13800138000"),
                address=accounts.Address(text=address),
            )

        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM accounts").scalar() == 0
