"""`wattbook migrate`: bring the database schema up to date."""

from __future__ import annotations

import argparse
import logging

from wattbook import bootstrap
from wattbook.settings import DATABASE_URL_VARIABLE, Settings

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `migrate` sub-command to the parser."""
    parser = sub.add_parser(
        "migrate",
        help="create or upgrade the database schema",
        description=f"Migrate the database named by {DATABASE_URL_VARIABLE} "
        "(default: a SQLite file under ./var/).",
    )
    parser.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    if args.database_url:
        settings = Settings(database_url=args.database_url)
    try:
        url, revision = bootstrap.migrate(settings, revision=args.revision)
    except Exception:
        logger.exception("Unable to migrate the database")
        return 1
    print(f"{url}: at revision {revision}")
    return 0
