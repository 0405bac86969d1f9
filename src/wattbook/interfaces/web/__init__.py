"""The web interface (FastAPI + Jinja2, every asset served from the package): kiosk, bank.

The residents' portal and the staff console come next on the same app, as more routers.
"""

from wattbook.interfaces.web._app import create_app
from wattbook.interfaces.web._serve import (
    CannotListen,
    RunningWebServer,
    serve,
    start_web_server,
)

__all__ = ["CannotListen", "RunningWebServer", "create_app", "serve", "start_web_server"]
