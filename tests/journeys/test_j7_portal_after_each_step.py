"""Journey 7 (Q1-Q6): a resident checks the portal after each step of the other journeys: the
low-balance text, the warning cut and its close, the arrears cut, the kiosk top-up, and the
bank's auto top-up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

MONDAY_NOON = dt.datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)
MINUTE = dt.timedelta(minutes=1)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}" if fen >= 0 else f"-{-fen // 100}.{-fen % 100:02d}"


async def test_a_resident_checks_the_portal_after_each_step(engine: Engine) -> None:
    resident, neighbour = residents(1_120, 2_100)
    async with world(engine, [resident, neighbour], start=MONDAY_NOON) as campus:
        meter = campus.meter(resident.number)
        await campus.sign_agreement(neighbour, threshold_fen=2_000, amount_fen=3_000, card_yuan=500)
        async with campus.portal(resident) as portal:
            first = await portal.page()

            await campus.until(lambda: bool(campus.texts_to(resident)[1:]), step=QUARTER)
            after_text = await portal.page("/texts")
            await campus.until(lambda: campus.balance_fen(resident.number) < 400, step=QUARTER)
            await campus.until(lambda: not meter.relay_closed, step=MINUTE)
            during_warning_cut = await portal.page("/power")
            await campus.until(lambda: meter.relay_closed, step=MINUTE)
            after_warning_cut = await portal.page("/power")
            await campus.until(lambda: not meter.relay_closed, step=QUARTER)
            home_in_arrears = await portal.page()
            balance_in_arrears = campus.balance_fen(resident.number)
            receipt = await campus.pay_at_kiosk(resident.number, 5_000)
            await campus.step(MINUTE)
            payments = await portal.page("/payments")
            home_after = await portal.page()
            balance_after = campus.balance_fen(resident.number)

        async with campus.portal(neighbour) as portal:
            neighbour_payments = await portal.page("/payments")
            neighbour_texts = await portal.page("/texts")

        assert resident.number in first
        assert resident.holder in first
        assert "11.20" in first
        assert "余额" in after_text
        assert "目前已停电" in during_warning_cut
        assert "提醒性断电" in during_warning_cut
        assert "目前正常供电" in after_warning_cut
        assert "提醒性断电结束" in after_warning_cut
        assert "已停电" in home_in_arrears
        assert "欠费金额" in home_in_arrears
        assert f"电费余额 {_yuan(balance_in_arrears)} 元" in home_in_arrears
        assert receipt["receipt"]["number"] in payments
        assert "50.00" in payments
        assert f"电费余额 {_yuan(balance_after)} 元" in home_after
        assert "已停电" not in home_after
        assert "30.00" in neighbour_payments
        assert "30.00" in neighbour_texts
