"""`wattbook migrate`: bring the database schema up to date."""

from __future__ import annotations

import argparse

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import DATABASE_URL_VARIABLE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `migrate` sub-command to the parser."""
    parser = _args.add_command(
        sub,
        "migrate",
        help="create or upgrade the database schema",
        description=f"Migrate the database named by {DATABASE_URL_VARIABLE} (default: the "
        "SQLite file var/wattbook.sqlite3). A SQLite file is created if missing, its folder "
        "only with --create-folder.",
        database=True,
        check_database=False,
    )
    parser.add_argument(
        "--revision", default="head", help="target revision, e.g. 0012 (default: head)"
    )
    parser.add_argument(
        "--create-folder",
        action="store_true",
        help="create the SQLite file's folder if it does not exist (refused otherwise, as a "
        "missing folder is often a mistyped path)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    done = bootstrap.migrate(
        _args.settings(args), revision=args.revision, create_folder=args.create_folder
    )
    if done.created_folder is not None:
        print(f"created the folder {done.created_folder}")
    print(f"{done.url}: at revision {done.revision}")
    return Exit.OK
