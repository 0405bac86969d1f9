"""`wattbook serve`: the web app (kiosk, bank endpoint; later the portal and the console)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from wattbook import bootstrap
from wattbook.interfaces import web
from wattbook.interfaces.cli import _args
from wattbook.settings import DATABASE_URL_VARIABLE, InvalidSetting, Settings, WebSettings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = _args.EXIT_USAGE  # a bad option or WATTBOOK_* setting
EXIT_CANNOT_LISTEN = 3  # as `wattbook demo`


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` sub-command to the parser."""
    parser = sub.add_parser(
        "serve",
        help="serve the web app: kiosk, bank endpoint",
        description="Serve the kiosk at /kiosk and the bank's callback endpoint at /bank. "
        "Settings come from WATTBOOK_* variables (see README).",
        epilog="exit codes: 0 stopped; 1 failed unexpectedly (see the log); 2 bad input: an "
        "option or WATTBOOK_* setting such as a port outside 0-65535; 3 cannot listen on the "
        "address",
    )
    parser.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    parser.add_argument("--host", help="overrides WATTBOOK_WEB_HOST (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_args.port(allow_zero=True),
        help="overrides WATTBOOK_WEB_PORT (default 8700); 0 picks a free port",
    )
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
    try:
        settings = Settings.from_environment()
        web_settings = WebSettings.from_environment()
    except InvalidSetting as error:
        print(f"wattbook serve: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.database_url:
        settings = Settings(database_url=args.database_url)
    if args.migrate:
        bootstrap.migrate(settings)
    runtime = bootstrap.build_web(settings, web_settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def listening(url: str) -> None:
        # The port actually bound: with --port 0 the system picks it.
        print(f"wattbook serving on {url}", flush=True)

    try:
        asyncio.run(
            web.serve(
                runtime,
                host=args.host,
                port=args.port,
                background=not args.no_background,
                with_sms=not args.no_background,
                on_listening=listening,
            )
        )
    except KeyboardInterrupt:
        return EXIT_OK
    except web.CannotListen as error:
        print(f"wattbook serve: {error}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    finally:
        runtime.close()
    return EXIT_OK
