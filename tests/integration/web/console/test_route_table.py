"""Every console route is checked on the server, and every one that changes state is audited.

The tests walk the app's route table: a route added later is covered without being listed.
A new state-changing route needs a sample in ``SAMPLES`` (the test fails until it has one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from tests.fakes.top_up import top_up
from tests.integration.web.console.conftest import FIRST, SECOND
from tests.integration.web.console.helpers import LOGINS, log_in
from tests.integration.web.console.routes import ConsoleRoute, console_routes

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.payments.counter import pay_at_counter
from wattbook.application.staff import ports as staff_ports
from wattbook.bootstrap import WebRuntime
from wattbook.domain import payments, staff
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import Money, RegisterSet, local_date
from wattbook.interfaces.web import console

Context = dict[str, str]

# Form data that makes each state-changing route succeed, from the world ``_world`` makes.
SAMPLES: dict[tuple[str, str], Callable[[Context], dict[str, str]]] = {
    ("POST", "/console/logout"): lambda c: {},
    ("POST", "/console/accounts"): lambda c: {
        "number": "051600009999",
        "holder": "王五",
        "phone": "13900139000",
        "address": "甲1-1-101",
        "opening_balance": "20.00",
        "migration_kwh": "12.5",
    },
    ("POST", "/console/accounts/{number}/holder"): lambda c: {
        "holder": "张三",
        "document_note": "房产证 + 身份证",
        "attachment_ref": "DOC-1",
    },
    ("POST", "/console/accounts/{number}/phone"): lambda c: {"phone": "13700137000"},
    ("POST", "/console/accounts/{number}/address"): lambda c: {"address": "丙6-1-802"},
    ("POST", "/console/accounts/{number}/meter"): lambda c: {
        "meter_number": "051600007777",
        "bus": "bus-1",
        "initial_kwh": "0",
        "final_kwh": "100",
    },
    ("POST", "/console/counter/top-up"): lambda c: {
        "number": str(FIRST),
        "amount": "30.00",
        "token": "route-table",
    },
    ("POST", "/console/counter/refund"): lambda c: {
        "receipt_number": c["refund"],
        "document_type": "身份证",
        "document_number": "110101199001011234",
        "reason": "多充",
    },
    ("POST", "/console/counter/move"): lambda c: {
        "receipt_number": c["move"],
        "to": str(SECOND),
        "document_type": "身份证",
        "document_number": "110101199001011234",
        "reason": "充错户号",
    },
    ("POST", "/console/counter/reprint"): lambda c: {"receipt_number": c["reprint"]},
    ("POST", "/console/counter/exchange"): lambda c: {
        "receipt_number": c["kiosk"],
        "official_number": "XY-0001",
    },
    ("POST", "/console/meters/{meter}/relay"): lambda c: {
        "operation": "TRIP",
        "reason": "检修",
    },
    ("POST", "/console/meters/{meter}/read"): lambda c: {},
    ("POST", "/console/meters/{meter}/keep-power"): lambda c: {"hours": "48", "reason": "病人"},
    ("POST", "/console/meters/{meter}/power-back"): lambda c: {"reason": "24 小时热线"},
    ("POST", "/console/alarms/{alarm_id}/acknowledge"): lambda c: {},
    ("POST", "/console/alarms/{alarm_id}/resolve"): lambda c: {"note": "换了通信模块"},
    ("POST", "/console/settings/price"): lambda c: {
        "price": "0.5500",
        "effective_from": c["tomorrow"],
    },
    ("POST", "/console/settings/policy"): lambda c: {
        "effective_from": c["today"],
        "low_balance_kwh": "25",
        "warning_cut_kwh": "5",
        "reclose_delay_minutes": "3",
    },
    ("POST", "/console/settings/counter-opening"): lambda c: {"hours": "2", "reason": "加班"},
    ("POST", "/console/settings/counter-hours"): lambda c: {
        "hours": "1-5 08:00-12:00\n1-5 14:00-17:30\n6 09:00-11:00",
        "effective_from": c["tomorrow"],
    },
    ("POST", "/console/settings/holidays"): lambda c: {
        "text": "date,type,name\n2026-10-01,休,国庆节\n2026-10-10,班,国庆节调休\n",
    },
    ("POST", "/console/operators"): lambda c: {
        "login": "new.cashier",
        "name": "New",
        "role": "CASHIER",
        "password": "another strong one",
    },
    ("POST", "/console/operators/{login}"): lambda c: {"role": "VIEWER", "active": "on"},
    ("POST", "/console/operators/{login}/password"): lambda c: {"password": "brand new secret 9"},
}


async def _world(runtime: WebRuntime) -> Context:
    """Install a meter on the first account and take three top-ups; return the references."""
    clock = runtime.storage.clock
    await install_meter(
        uow=runtime.storage.uow_factory(),
        clock=clock,
        number=FIRST,
        meter_number=FIRST,
        bus="bus-1",
        initial=RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0),
    )
    await configure_bus(
        uow=runtime.storage.uow_factory(),
        bus=hp.BusConfig(
            name="bus-1", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=FIRST),)
        ),
    )
    context = {
        "number": str(FIRST),
        "meter": str(FIRST),
        "login": LOGINS[staff.Role.VIEWER],
        "today": local_date(clock.now()).isoformat(),
        "tomorrow": (local_date(clock.now()) + timedelta(days=1)).isoformat(),
    }
    for name in ("refund", "move", "reprint"):
        receipt = await pay_at_counter(
            uow=runtime.storage.uow_factory(),
            clock=clock,
            number=FIRST,
            amount=Money(fen=1_000),
            operator="cashier",
            reference=f"setup-{name}",
        )
        context[name] = str(receipt.payment.receipt_number)
    credited = await top_up(
        uow=runtime.storage.uow_factory(),
        clock=clock,
        number=FIRST,
        amount=Money(fen=2_000),
        reference="KIOSK-TX-1:1",
        channel=payments.Channel.KIOSK,
    )
    context["kiosk"] = str(credited.payments[0].receipt_number)
    async with runtime.storage.uow_factory() as uow:
        await uow.alarms.raise_alarm(
            kind=AlarmKind.BUS_UNREACHABLE, subject="bus-1", detail="test", at=clock.now()
        )
        await uow.commit()
    async with runtime.storage.reader_factory() as reader:
        (alarm,) = await reader.alarms.alarms(open_only=True, subject="bus-1")
    context["alarm_id"] = str(alarm.id)
    return context


def _path(route: ConsoleRoute, context: Context) -> str:
    return route.path.format(
        **{k: context.get(k, "0") for k in ("number", "meter", "login", "alarm_id")}
    )


async def _audit(runtime: WebRuntime, action: str) -> tuple[staff_ports.StoredAuditRecord, ...]:
    async with runtime.storage.reader_factory() as uow:
        return await uow.staff.search_audit(staff_ports.AuditQuery(action=action, limit=1000))


def _routes(client: httpx.AsyncClient) -> list[ConsoleRoute]:
    return console_routes(client)


def test_the_route_table_has_the_console(console_app_routes: list[ConsoleRoute]) -> None:
    assert len(console_app_routes) > 20


@pytest.fixture
def console_app_routes(console: httpx.AsyncClient) -> list[ConsoleRoute]:
    return _routes(console)


def test_every_route_declares_a_guard_and_every_change_an_audit_action(
    console_app_routes: list[ConsoleRoute],
) -> None:
    unguarded = [
        (r.method, r.path)
        for r in console_app_routes
        if r.guard is None and (r.method, r.path) not in console.PUBLIC_ROUTES
    ]
    unaudited = [
        (r.method, r.path)
        for r in console_app_routes
        if r.changes_state and r.guard is not None and not r.guard.audit
    ]

    assert unguarded == []
    assert unaudited == []


@pytest.mark.parametrize(
    "role", [staff.Role.CASHIER, staff.Role.ENGINEER, staff.Role.VIEWER], ids=str
)
async def test_each_role_is_refused_every_route_outside_it_on_the_server(
    console: httpx.AsyncClient, runtime: WebRuntime, role: staff.Role
) -> None:
    context = await _world(runtime)
    token = await log_in(console, LOGINS[role])
    refused = [
        r
        for r in _routes(console)
        if r.guard is not None and not staff.may(role, r.guard.permission)
    ]
    assert refused, f"{role} may do everything?"

    answers = {}
    for route in refused:
        sample = SAMPLES.get((route.method, route.path), lambda c: {})(context)
        answer = await console.request(
            route.method,
            _path(route, context),
            data={**sample, "csrf_token": token} if route.changes_state else None,
        )
        answers[(route.method, route.path)] = answer.status_code

    assert set(answers.values()) == {403}, answers
    for route in refused:
        if route.changes_state and route.guard is not None and route.guard.audit:
            done = [
                s
                for s in await _audit(runtime, route.guard.audit)
                if s.record.actor == LOGINS[role]
            ]
            assert done == [], route
    denied = await _audit(runtime, "staff.access.denied")
    assert len([s for s in denied if s.record.actor == LOGINS[role]]) == len(
        [r for r in refused if r.changes_state]
    )


async def test_every_state_changing_route_writes_its_audit_record(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    context = await _world(runtime)
    token = await log_in(console, LOGINS[staff.Role.ADMINISTRATOR])
    changing = [r for r in _routes(console) if r.changes_state and r.guard is not None]
    missing = [(r.method, r.path) for r in changing if (r.method, r.path) not in SAMPLES]
    assert missing == [], "add a sample for each new state-changing route"
    # The meter replacement after the meter's own orders; log-out last: it ends the session.
    late = ("/console/accounts/{number}/meter", "/console/logout")
    changing.sort(key=lambda r: late.index(r.path) if r.path in late else -1)

    for route in changing:
        assert route.guard is not None
        assert route.guard.audit is not None
        before = len(await _audit(runtime, route.guard.audit))
        sample = SAMPLES[(route.method, route.path)](context)

        answer = await console.request(
            route.method, _path(route, context), data={**sample, "csrf_token": token}
        )

        assert answer.status_code in (200, 303), (
            route.path,
            answer.status_code,
            answer.text[-600:],
        )
        after = await _audit(runtime, route.guard.audit)
        assert len(after) == before + 1, route.path
        assert after[0].record.actor == LOGINS[staff.Role.ADMINISTRATOR]


async def test_a_post_without_the_sessions_token_is_refused_and_changes_nothing(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    await log_in(console, LOGINS[staff.Role.CASHIER])

    answer = await console.post(
        "/console/accounts/051600001234/phone", data={"phone": "13700137000"}
    )

    assert answer.status_code == 403
    assert await _audit(runtime, "accounts.phone.changed") == ()


async def test_without_a_session_a_page_sends_to_the_log_in_and_a_post_is_refused(
    console: httpx.AsyncClient,
) -> None:
    page = await console.get("/console/accounts")
    post = await console.post("/console/counter/top-up", data={"amount": "1"})

    assert (page.status_code, page.headers["location"]) == (303, "/console/login")
    assert post.status_code == 401
