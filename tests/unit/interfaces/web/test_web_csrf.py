"""CSRF: a post needs the session's token and must not come from another site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.requests import Request

from wattbook.interfaces.web import _csrf
from wattbook.interfaces.web._sessions import Session, SessionStore

NOON = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)


def session() -> Session:
    return SessionStore(idle=timedelta(minutes=5), absolute=timedelta(hours=1)).open(now=NOON)


def post(body: bytes, headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-type", b"application/x-www-form-urlencoded"))
    raw.append((b"host", b"portal.test"))
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/portal/logout",
        "headers": raw,
        "query_string": b"",
        "scheme": "http",
        "server": ("portal.test", 80),
    }
    return Request(scope, receive)  # type: ignore[arg-type]


class TestCheck:
    async def test_passes_the_sessions_token_from_the_form(self) -> None:
        owner = session()

        await _csrf.check(post(f"csrf_token={owner.csrf_token}".encode(), {}), owner)

    async def test_passes_the_sessions_token_from_the_header(self) -> None:
        owner = session()

        await _csrf.check(post(b"", {"X-CSRF-Token": owner.csrf_token}), owner)

    async def test_refuses_a_missing_token(self) -> None:
        with pytest.raises(_csrf.CsrfRefused) as refused:
            await _csrf.check(post(b"a=1", {}), session())

        assert refused.value.reason == "BAD_TOKEN"

    async def test_refuses_another_sessions_token(self) -> None:
        with pytest.raises(_csrf.CsrfRefused):
            await _csrf.check(post(f"csrf_token={session().csrf_token}".encode(), {}), session())

    async def test_refuses_a_post_from_another_site_even_with_the_token(self) -> None:
        owner = session()
        request = post(
            f"csrf_token={owner.csrf_token}".encode(), {"Origin": "https://evil.example"}
        )

        with pytest.raises(_csrf.CsrfRefused) as refused:
            await _csrf.check(request, owner)

        assert refused.value.reason == "CROSS_ORIGIN"

    async def test_refuses_a_post_without_a_session(self) -> None:
        with pytest.raises(_csrf.CsrfRefused) as refused:
            await _csrf.check(post(b"", {}), None)

        assert refused.value.reason == "NO_SESSION"

    async def test_refuses_what_the_browser_calls_cross_site(self) -> None:
        owner = session()
        request = post(
            f"csrf_token={owner.csrf_token}".encode(),
            {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        )

        with pytest.raises(_csrf.CsrfRefused) as refused:
            await _csrf.check(request, owner)

        assert refused.value.reason == "CROSS_ORIGIN"

    async def test_passes_a_same_origin_form_whose_origin_is_null(self) -> None:
        owner = session()
        request = post(
            f"csrf_token={owner.csrf_token}".encode(),
            {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        )

        await _csrf.check(request, owner)
