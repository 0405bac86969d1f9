"""The web interface (FastAPI + Jinja2, every asset served from the package): kiosk, bank.

The residents' portal and the staff console come next on the same app, as more routers.
"""

from wattbook.interfaces.web._app import create_app
from wattbook.interfaces.web._serve import serve

__all__ = ["create_app", "serve"]
