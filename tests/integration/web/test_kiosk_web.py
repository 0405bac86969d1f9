"""The kiosk over HTTP: page, steps, errors and receipts (P2), on both backends."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer

TXN = "/kiosk/api/sessions/K01-0123456789abcdef"


async def open_home(engine: Engine, clock: FakeClock) -> Payer:
    home = Payer(engine, clock)
    await home.open()
    return home


class TestKioskPage:
    async def test_is_served_in_chinese_with_local_assets(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/kiosk")
        script = await client.get("/static/kiosk.js")
        english = await client.get("/kiosk?lang=en")

        assert page.status_code == 200
        assert "自助缴费" in page.text
        assert 'lang="zh-CN"' in page.text
        assert "http" not in page.text.split("<body", 1)[1].replace('href="?', "")
        assert script.status_code == 200
        assert "Pay for electricity" in english.text


class TestKioskSteps:
    async def test_pays_with_notes_and_serves_the_receipt(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        home = await open_home(engine, clock)

        shown = await client.post(
            f"{TXN}/account", json={"account_number": "051600001234", "kiosk_id": "K01"}
        )
        await client.post(f"{TXN}/details-confirmed")
        for sequence, fen in ((1, 10000), (2, 5000), (2, 5000), (3, 100)):
            await client.post(f"{TXN}/notes", json={"sequence": sequence, "amount_fen": fen})
        done = await client.post(f"{TXN}/confirm")
        receipt = await client.get("/kiosk/sessions/K01-0123456789abcdef/receipt")
        text = await client.get("/kiosk/sessions/K01-0123456789abcdef/receipt.txt?paper=58")
        pdf = await client.get("/kiosk/sessions/K01-0123456789abcdef/receipt.pdf")

        assert shown.json()["holder"] == "张*"
        assert shown.json()["address"] == "丙6-1-801"
        assert done.json()["receipt"]["amount"] == "151.00"
        assert home.balance_fen() == 15100
        assert "KS20250610000001" in receipt.text
        assert "本机不找零" in text.text
        assert max(len(line.encode("gbk")) for line in text.text.splitlines()) <= 32
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")

    async def test_maps_anticipated_errors_to_4xx(
        self, client: httpx.AsyncClient, engine: Engine, clock: FakeClock
    ) -> None:
        await open_home(engine, clock)

        unknown = await client.post(
            f"{TXN}/account", json={"account_number": "051699999999", "kiosk_id": "K01"}
        )
        malformed = await client.post(
            f"{TXN}/account", json={"account_number": "12345", "kiosk_id": "K01"}
        )
        too_early = await client.post(f"{TXN}/notes", json={"sequence": 1, "amount_fen": 100})
        await client.post(
            f"{TXN}/account", json={"account_number": "051600001234", "kiosk_id": "K01"}
        )
        await client.post(f"{TXN}/details-confirmed")
        fake = await client.post(f"{TXN}/notes", json={"sequence": 1, "amount_fen": 3000})
        nothing = await client.post(f"{TXN}/confirm")

        assert (unknown.status_code, unknown.json()["error"]) == (404, "UNKNOWN_ACCOUNT")
        assert unknown.json()["message"] == "户号不存在，请核对后重新输入"
        assert malformed.status_code == 422
        assert (too_early.status_code, too_early.json()["error"]) == (404, "UNKNOWN_SESSION")
        assert (fake.status_code, fake.json()["error"]) == (422, "INVALID_NOTE")
        assert (nothing.status_code, nothing.json()["error"]) == (409, "STEP_REFUSED")
