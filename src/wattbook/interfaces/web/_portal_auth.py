"""The residents' portal's log-in (Q1): account number, holder name, captcha, optional SMS code.

- The captcha is made here (the ``captcha`` package): four digits as an image, and the same
  digits spoken (``captcha.wav``) for residents who cannot read the image. Its answer lives
  in the visitor's session and is good for one attempt only.
- Failures are throttled per account number and per client address (``_throttle``): a
  clear message with the wait, never a lockout longer than the window (a few minutes).
- A wrong number and a wrong name are one message: a log-in never confirms an account.
- On success the session gets a new id (against fixation). Where the setting is on and a
  phone is on file, a one-time code by SMS is the second step before any page opens.
- Every form carries the session's CSRF token; the session cookie is HttpOnly, SameSite
  strict, Secure on HTTPS (``_sessions``, ``_csrf``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from captcha.audio import AudioCaptcha
from captcha.image import ImageCaptcha
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application import queries
from wattbook.application.notifications import login_code
from wattbook.domain.values import AccountNumber, InvalidAccountNumber
from wattbook.interfaces.web import _csrf
from wattbook.interfaces.web._context import TEMPLATES, runtime
from wattbook.interfaces.web._i18n import language_of, remember_language
from wattbook.interfaces.web._sessions import Session, SessionCookie, SessionStore
from wattbook.interfaces.web._throttle import FailureThrottle, Throttled

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/portal")

COOKIE_NAME = "wattbook_portal"
CAPTCHA_DIGITS = 4
# Failures allowed per window: per account number, and per client address (a household's
# shared connection, a campus NAT, may log several residents in).
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
THROTTLE_WINDOW = timedelta(minutes=5)
# The one-time code: its digits, how long it lives, how many wrong tries it survives.
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=5)
CODE_TRIES = 3
SESSION_ABSOLUTE = timedelta(hours=8)

_KEY_CAPTCHA = "captcha"
_KEY_ACCOUNT = "account"
_KEY_PENDING = "pending"
_KEY_CODE = "code_hash"
_KEY_CODE_UNTIL = "code_until"
_KEY_CODE_TRIES = "code_tries"


class LoginRequired(Exception):
    """A portal page was asked for without a logged-in session (sent to the log-in page)."""


@dataclass(slots=True)
class PortalState:
    """The portal's sessions, cookie and throttles, kept on the app."""

    sessions: SessionStore
    cookie: SessionCookie
    accounts: FailureThrottle
    addresses: FailureThrottle
    images: ImageCaptcha
    voices: AudioCaptcha


def portal_state(*, idle: timedelta, secure: bool) -> PortalState:
    """Return fresh portal state for an app."""
    return PortalState(
        sessions=SessionStore(idle=idle, absolute=SESSION_ABSOLUTE),
        cookie=SessionCookie(name=COOKIE_NAME, path="/portal", secure=secure),
        accounts=FailureThrottle(limit=ACCOUNT_FAILURES, window=THROTTLE_WINDOW),
        addresses=FailureThrottle(limit=ADDRESS_FAILURES, window=THROTTLE_WINDOW),
        images=ImageCaptcha(width=180, height=64),
        voices=AudioCaptcha(),
    )


def state(request: Request) -> PortalState:
    """Return the app's portal state."""
    found = request.app.state.portal
    assert isinstance(found, PortalState)  # noqa: S101 - set by create_app
    return found


def wall_now(request: Request) -> datetime:
    """Return the real time, for sessions and throttles (the demo's business clock runs fast)."""
    return runtime(request).wall_clock.now()


def session_of(request: Request) -> Session | None:
    """Return the request's live portal session, if any."""
    portal = state(request)
    return portal.sessions.get(portal.cookie.read(request), now=wall_now(request))


def resident(request: Request) -> tuple[Session, AccountNumber]:
    """Return the logged-in session and its account number (the only one it may read).

    :raises LoginRequired: without a session that finished logging in.
    """
    session = session_of(request)
    number = None if session is None else session.data.get(_KEY_ACCOUNT)
    if session is None or not isinstance(number, AccountNumber):
        raise LoginRequired
    return session, number


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    session: Session | None,
    status_code: int = 200,
) -> Response:
    """Render a portal page in the request's language, with the session's CSRF token."""
    language = language_of(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": language,
            "csrf_field": _csrf.FIELD,
            "csrf_token": "" if session is None else session.csrf_token,
            **context,
        },
        status_code=status_code,
    )
    remember_language(request, response)
    if session is not None:
        state(request).cookie.write(response, request, session)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _new_captcha(session: Session) -> None:
    session.data[_KEY_CAPTCHA] = "".join(
        secrets.choice("0123456789") for _ in range(CAPTCHA_DIGITS)
    )


def _login_page(
    request: Request,
    session: Session,
    *,
    error: str | None = None,
    account_number: str = "",
    status_code: int = 200,
    retry_after_s: int | None = None,
) -> Response:
    _new_captcha(session)
    response = page(
        request,
        "portal/login.html",
        {
            "error": error,
            "typed_number": account_number,
            "retry_minutes": None if retry_after_s is None else -(-retry_after_s // 60),
            "captcha_nonce": secrets.token_hex(4),
        },
        session=session,
        status_code=status_code,
    )
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    """Show the log-in form (a fresh captcha each time)."""
    portal = state(request)
    session = session_of(request) or portal.sessions.open(now=wall_now(request))
    if isinstance(session.data.get(_KEY_ACCOUNT), AccountNumber):
        return RedirectResponse("/portal", status_code=303)
    return _login_page(request, session)


def _captcha_answer(request: Request) -> str:
    session = session_of(request)
    answer = None if session is None else session.data.get(_KEY_CAPTCHA)
    if not isinstance(answer, str):
        raise LoginRequired
    return answer


@router.get("/captcha.png")
async def captcha_image(request: Request) -> Response:
    """Return the session's captcha as an image."""
    answer = _captcha_answer(request)
    return Response(state(request).images.generate(answer).getvalue(), media_type="image/png")


@router.get("/captcha.wav")
async def captcha_audio(request: Request) -> Response:
    """Return the session's captcha spoken, digit by digit (the audio alternative)."""
    answer = _captcha_answer(request)
    return Response(bytes(state(request).voices.generate(answer)), media_type="audio/wav")


def _text(form: Any, name: str, limit: int = 120) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the captcha, then the account number and holder name; open the session."""
    portal = state(request)
    session = session_of(request)
    await _csrf.check(request, session)
    assert session is not None  # noqa: S101 - the CSRF check refuses a missing session
    now = wall_now(request)
    form = await request.form()
    typed_number = _text(form, "account_number", 12)
    address_key = f"address:{_client(request)}"
    account_key = f"account:{typed_number}"
    try:
        portal.addresses.check(address_key, now=now)
        portal.accounts.check(account_key, now=now)
    except Throttled as throttled:
        logger.info("Portal log-in throttled for %s", address_key)
        return _login_page(
            request,
            session,
            error="portal.login.throttled",
            account_number=typed_number,
            status_code=429,
            retry_after_s=throttled.retry_after_s,
        )
    expected = session.data.pop(_KEY_CAPTCHA, None)
    typed_captcha = _text(form, "captcha", 12)
    if not isinstance(expected, str) or not hmac.compare_digest(
        typed_captcha.encode(), expected.encode()
    ):
        portal.addresses.fail(address_key, now=now)
        return _login_page(
            request,
            session,
            error="portal.login.bad_captcha",
            account_number=typed_number,
            status_code=400,
        )
    try:
        number = AccountNumber(value=typed_number)
        identity = await queries.identify_resident(
            uow=runtime(request).reader_factory(), number=number, holder=_text(form, "holder")
        )
    except (InvalidAccountNumber, queries.LoginRefused):
        portal.addresses.fail(address_key, now=now)
        portal.accounts.fail(account_key, now=now)
        return _login_page(
            request,
            session,
            error="portal.login.refused",
            account_number=typed_number,
            status_code=401,
        )
    portal.accounts.forget(account_key)
    fresh = portal.sessions.rotate(session, now=now)
    fresh.data.pop(_KEY_CAPTCHA, None)
    if runtime(request).web.portal_sms_code and identity.phone is not None:
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        await login_code.send_login_code(
            uow=runtime(request).uow_factory(),
            clock=runtime(request).clock,
            number=identity.number,
            code=code,
            locale=language_of(request),
        )
        fresh.data[_KEY_PENDING] = identity.number
        fresh.data[_KEY_CODE] = _code_hash(fresh, code)
        fresh.data[_KEY_CODE_UNTIL] = now + CODE_LIFETIME
        fresh.data[_KEY_CODE_TRIES] = 0
        target = "/portal/code"
    else:
        fresh.data[_KEY_ACCOUNT] = identity.number
        target = "/portal"
    response = RedirectResponse(target, status_code=303)
    portal.cookie.write(response, request, fresh)
    return response


def _code_hash(session: Session, code: str) -> str:
    # Keyed by the session's own secret token: the stored hash is useless elsewhere.
    return hmac.new(session.csrf_token.encode(), code.encode(), hashlib.sha256).hexdigest()


def _pending(request: Request) -> tuple[Session, AccountNumber]:
    session = session_of(request)
    number = None if session is None else session.data.get(_KEY_PENDING)
    if session is None or not isinstance(number, AccountNumber):
        raise LoginRequired
    return session, number


@router.get("/code")
async def code_form(request: Request) -> Response:
    """Ask for the one-time code sent by SMS."""
    session, _number = _pending(request)
    return page(request, "portal/code.html", {"error": None}, session=session)


@router.post("/code")
async def check_code(request: Request) -> Response:
    """Check the one-time code; three wrong tries or five minutes end the attempt."""
    portal = state(request)
    session, number = _pending(request)
    await _csrf.check(request, session)
    now = wall_now(request)
    form = await request.form()
    until = session.data.get(_KEY_CODE_UNTIL)
    tries = session.data.get(_KEY_CODE_TRIES)
    expected = session.data.get(_KEY_CODE)
    if (
        not isinstance(until, datetime)
        or now >= until
        or not isinstance(tries, int)
        or tries >= CODE_TRIES
        or not isinstance(expected, str)
    ):
        portal.sessions.close(session.id)
        fresh = portal.sessions.open(now=now)
        return _login_page(request, fresh, error="portal.code.expired", status_code=401)
    typed = _text(form, "code", 12)
    if not hmac.compare_digest(_code_hash(session, typed), expected):
        session.data[_KEY_CODE_TRIES] = tries + 1
        portal.accounts.fail(f"account:{number}", now=now)
        return page(
            request,
            "portal/code.html",
            {"error": "portal.code.wrong"},
            session=session,
            status_code=401,
        )
    fresh = portal.sessions.rotate(session, now=now)
    for key in (_KEY_PENDING, _KEY_CODE, _KEY_CODE_UNTIL, _KEY_CODE_TRIES):
        fresh.data.pop(key, None)
    fresh.data[_KEY_ACCOUNT] = number
    response = RedirectResponse("/portal", status_code=303)
    portal.cookie.write(response, request, fresh)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session and forget its cookie."""
    portal = state(request)
    session = session_of(request)
    await _csrf.check(request, session)
    assert session is not None  # noqa: S101 - the CSRF check refuses a missing session
    portal.sessions.close(session.id)
    response = RedirectResponse("/portal/login", status_code=303)
    portal.cookie.clear(response, request)
    return response
