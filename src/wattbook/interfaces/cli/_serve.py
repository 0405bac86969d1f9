"""`wattbook serve`: the web app (kiosk, bank endpoint; later the portal and the console)."""

from __future__ import annotations

import argparse
import logging

from wattbook.interfaces.cli import _args, _loop
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import WebSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` sub-command to the parser."""
    parser = _args.add_command(
        sub,
        "serve",
        help="serve the web app: kiosk, bank endpoint",
        description="Serve the kiosk at /kiosk and the bank's callback endpoint at /bank. "
        "Settings come from WATTBOOK_* variables (see README). The database must be reachable "
        "and migrated (or give --migrate): serve refuses to start otherwise.",
        exits=(Exit.CANNOT_LISTEN,),
        database=True,
        check_database=False,  # after --migrate: see _run
    )
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
    parser.add_argument(
        "--loop",
        choices=_loop.LOOPS,
        default=_loop.UVLOOP,
        help="the event loop: uvloop (default, faster) or asyncio (the standard library's)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = _args.settings(args)
    web_settings = WebSettings.from_environment()
    if args.load_web is None:
        raise CommandFailed(
            "this entry point has no web interface: run `wattbook serve`", Exit.FAILED
        )
    from wattbook import bootstrap

    if args.migrate:
        bootstrap.migrate(settings)
    # Refuse before saying "serving": a server on a database it cannot use answers 500s.
    bootstrap.check_database(settings)
    web = args.load_web()
    runtime = bootstrap.build_web(settings, web_settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def listening(url: str) -> None:
        # The port actually bound: with --port 0 the system picks it.
        print(f"wattbook serving on {url}", flush=True)

    try:
        _loop.run(
            web.serve(
                runtime,
                host=args.host,
                port=args.port,
                background=not args.no_background,
                with_sms=not args.no_background,
                on_listening=listening,
            ),
            loop=args.loop,
        )
    except KeyboardInterrupt:
        return Exit.OK
    except web.CannotListen as error:
        raise CommandFailed(str(error), Exit.CANNOT_LISTEN) from error
    finally:
        runtime.close()
    return Exit.OK
