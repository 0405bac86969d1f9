"""`wattbook serve`: the web app (kiosk, bank endpoint; later the portal and the console)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from wattbook import bootstrap
from wattbook.interfaces import web
from wattbook.settings import DATABASE_URL_VARIABLE, Settings, WebSettings

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` sub-command to the parser."""
    parser = sub.add_parser(
        "serve",
        help="serve the web app: kiosk, bank endpoint",
        description="Serve the kiosk at /kiosk and the bank's callback endpoint at /bank. "
        "Settings come from WATTBOOK_* variables (see README).",
    )
    parser.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    parser.add_argument("--host", help="overrides WATTBOOK_WEB_HOST (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="overrides WATTBOOK_WEB_PORT (default 8700)")
    parser.add_argument(
        "--migrate", action="store_true", help="migrate the database to the newest schema first"
    )
    parser.add_argument(
        "--no-jobs",
        "--no-background",
        dest="no_background",
        action="store_true",
        help="do not run the scheduled jobs (held cuts, kiosk recovery, auto top-up, holiday "
        "check, SMS worker) in this process: another process runs them",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    if args.database_url:
        settings = Settings(database_url=args.database_url)
    web_settings = WebSettings.from_environment()
    if args.migrate:
        bootstrap.migrate(settings)
    runtime = bootstrap.build_web(settings, web_settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(
        f"wattbook serving on http://{args.host or web_settings.host}:"
        f"{args.port or web_settings.port}/kiosk",
        flush=True,
    )
    try:
        asyncio.run(
            web.serve(
                runtime,
                host=args.host,
                port=args.port,
                background=not args.no_background,
                with_sms=not args.no_background,
            )
        )
    except KeyboardInterrupt:
        return 0
    finally:
        runtime.close()
    return 0
