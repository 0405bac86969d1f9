"""The web's languages: zh-CN first, English available, any language with a catalogue.

Texts live in the one gettext catalogue per language in ``wattbook.i18n``; templates reach
them through ``jinja2.ext.i18n`` (``{{ _("kiosk.title") }}``), in the request's language.
The language comes from ``?lang=``, then the ``lang`` cookie, then zh-CN: the residents'
language, whatever the browser's settings say.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from wattbook import i18n

DEFAULT_LANGUAGE = i18n.DEFAULT_LANGUAGE
LANGUAGE_COOKIE = "lang"
# A resident's choice of language is kept for a year.
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600


def languages() -> tuple[str, ...]:
    """Return the languages the site offers, zh-CN first."""
    return i18n.languages()


def language_of(request: Request) -> str:
    """Return the language of the request: ``?lang=``, the ``lang`` cookie, else zh-CN."""
    offered = i18n.languages()
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in offered:
            return candidate
    return DEFAULT_LANGUAGE


def translate(language: str, key: str) -> str:
    """Return the message ``key`` in ``language`` (zh-CN, then the key itself, if missing)."""
    return i18n.gettext(language, key)


def catalogue(language: str) -> Mapping[str, str]:
    """Return every message of ``language`` (for a page's script), zh-CN filling gaps."""
    return i18n.messages(language if language in i18n.languages() else DEFAULT_LANGUAGE)


def remember_language(request: Request, response: Response) -> None:
    """Keep a language chosen by ``?lang=`` in the ``lang`` cookie, for the next pages."""
    chosen = request.query_params.get("lang")
    if chosen in i18n.languages() and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_MAX_AGE_S,
            path="/",
            samesite="lax",
            secure=request.url.scheme == "https",
        )
