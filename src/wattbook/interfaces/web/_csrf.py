"""CSRF protection for every form a browser session posts (portal and console alike).

Two checks, both needed:

- the synchronizer token: each session has a random ``csrf_token``; every form carries it in
  a hidden ``csrf_token`` field (or a script in the ``X-CSRF-Token`` header), and it must
  equal the session's, compared in constant time;
- the origin: a browser says where a request comes from (``Sec-Fetch-Site``, ``Origin``,
  ``Referer``); if it names another site, the post is refused even with a token.

The session cookie is also SameSite=strict (``_sessions``), a third line behind these two.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from wattbook.interfaces.web._sessions import Session

FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CsrfRefused(Exception):
    """A form came without the session's token, or from another site (answered 403).

    ``reason`` is ``NO_SESSION``, ``CROSS_ORIGIN`` or ``BAD_TOKEN``, for the log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _same_origin(request: Request) -> bool:
    """Test whether the browser says the request comes from this very site.

    ``Sec-Fetch-Site`` first (every current browser sends it: ``same-origin``, or ``none``
    for what the user typed); without it, ``Origin`` (or ``Referer``) must name this host
    and port. The site sends ``Referrer-Policy: no-referrer``, so a browser's own forms carry
    ``Origin: null``: that, or nothing at all, leaves the decision to the token. The scheme
    is not compared: behind a TLS-terminating proxy the app sees plain HTTP.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    claimed = request.headers.get("origin")
    if claimed in (None, "null"):
        claimed = request.headers.get("referer")
    if claimed is None:
        return True
    parts = urlsplit(claimed)
    host = request.headers.get("host", "")
    return parts.netloc.lower() == host.lower()


async def check(request: Request, session: Session | None) -> None:
    """Check that an unsafe request comes from this site with ``session``'s token.

    Reads the token from the ``X-CSRF-Token`` header, else from the form field.

    :raises CsrfRefused: if there is no session, the token is missing or wrong, or the
        request names another origin.
    """
    if session is None:
        raise CsrfRefused("NO_SESSION")
    if not _same_origin(request):
        raise CsrfRefused("CROSS_ORIGIN")
    token = request.headers.get(HEADER)
    if token is None:
        form = await request.form()
        value = form.get(FIELD)
        token = value if isinstance(value, str) else None
    if token is None or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
        raise CsrfRefused("BAD_TOKEN")
