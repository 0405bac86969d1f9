"""What a request handler needs from the app: the runtime, the callback batcher, templates."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import cast

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web._batcher import CallbackBatcher

PACKAGE = Path(str(resources.files("wattbook.interfaces.web")))
TEMPLATES = Jinja2Templates(directory=PACKAGE / "templates")
STATIC = PACKAGE / "static"


def runtime(request: Request) -> WebRuntime:
    """Return the runtime the app was built with."""
    return cast(WebRuntime, request.app.state.runtime)


def batcher(request: Request) -> CallbackBatcher:
    """Return the app's bank callback batcher."""
    return cast(CallbackBatcher, request.app.state.batcher)
