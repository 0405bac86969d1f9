"""Schemathesis, from PyPI, generates requests from the API's own OpenAPI document and finds
no server error (issue 12: "the OpenAPI document validates, and schemathesis finds no server
error"). It runs in-process on a migrated SQLite database with a campus and a token that may
reach everything, so generated calls get past authentication into every route."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.integration.web.api_client import bearer, campus, token
from tests.integration.web.conftest import SECRET, web_runtime

from wattbook.adapters import db
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

_STATE: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    engine = db.create_engine(f"sqlite:///{folder / 'api.db'}")
    db.upgrade(engine)
    clock = FakeClock(local(2026, 12, 1, 9))  # a Tuesday morning: the counter is open
    asyncio.run(campus(engine, clock))
    _STATE["token"] = asyncio.run(token(engine, clock))
    # Schemathesis calls the app as host 'testserver'.
    web = WebSettings(bank_secret=SECRET, allowed_hosts=("testserver",))
    app = create_app(web_runtime(engine, clock, web=web), background=False)
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    engine.dispose()


@pytest.mark.slow
def test_no_generated_call_meets_a_server_error(api_schema: Any) -> None:
    # Each operation in turn, with hypothesis driving schemathesis's strategies directly
    # (its pytest plugin's fixture loader does not run under pytest 9).
    tried: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            headers = bearer(_STATE["token"])
            if case.method == "POST":
                headers["Idempotency-Key"] = "schemathesis"
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        check()

    assert "POST /payments" in tried
    assert len(tried) >= 8
