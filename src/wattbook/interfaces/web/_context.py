"""What a request handler needs from the app: the runtime, the callback batcher, templates.

The templates' environment has ``jinja2.ext.i18n`` installed with callables that read the
language from the template's own ``lang`` variable, so one environment serves every language:
``{{ _("portal.home") }}``, ``{% trans %}`` and ``ngettext`` all speak the request's language.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, cast

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from wattbook import i18n
from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web._batcher import CallbackBatcher

PACKAGE = Path(str(resources.files("wattbook.interfaces.web")))
STATIC = PACKAGE / "static"


def _language(context: jinja2.runtime.Context) -> str:
    language = context.get("lang")
    return (
        language
        if isinstance(language, str) and language in i18n.languages()
        else (i18n.DEFAULT_LANGUAGE)
    )


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return i18n.gettext(_language(context), message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return str(i18n.translations(_language(context)).ngettext(singular, plural, n))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Installed by jinja2.ext.i18n; not in Environment's static type.
    install: Any = environment.install_gettext_callables  # type: ignore[attr-defined]
    install(gettext=_gettext, ngettext=_ngettext, newstyle=True)
    # The layout's language switch: every language with a catalogue, named in itself.
    environment.globals["languages"] = i18n.languages()
    environment.globals["language_names"] = {
        code: i18n.gettext(code, "language.name") for code in i18n.languages()
    }
    return environment


TEMPLATES = Jinja2Templates(env=_environment())


def runtime(request: Request) -> WebRuntime:
    """Return the runtime the app was built with."""
    return cast(WebRuntime, request.app.state.runtime)


def batcher(request: Request) -> CallbackBatcher:
    """Return the app's bank callback batcher."""
    return cast(CallbackBatcher, request.app.state.batcher)
