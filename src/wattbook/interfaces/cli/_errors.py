"""Where every error a user can cause becomes one line on stderr and its exit code.

A sub-command raises :class:`CommandFailed` for what it finds wrong itself; the errors that
many commands share (a bad ``WATTBOOK_*`` setting, a bad, unreachable or unmigrated database)
are recognised here, once. Anything else is a bug: it is logged once with its traceback and
the command ends with :attr:`Exit.FAILED`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import InvalidSetting

logger = logging.getLogger("wattbook.interfaces.cli")


class CommandFailed(Exception):
    """Raise to end a sub-command with a one-line message and an exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def _known(error: BaseException) -> tuple[str, Exit] | None:
    """Return the message and code of an error a user can cause, or None for a bug."""
    if isinstance(error, CommandFailed):
        return str(error), error.code
    if isinstance(error, InvalidSetting):
        return str(error), Exit.BAD_INPUT
    if "wattbook.bootstrap" not in sys.modules:
        return None  # nothing below could have raised a storage error
    from wattbook import bootstrap  # already imported: see above

    problem = bootstrap.database_problem(error)
    if problem is None:
        return None
    code = {
        bootstrap.BadDatabaseSetting: Exit.BAD_INPUT,
        bootstrap.DatabaseUnreachable: Exit.DATABASE_UNREACHABLE,
        bootstrap.DatabaseNotMigrated: Exit.DATABASE_NOT_MIGRATED,
    }[type(problem)]
    return str(problem), code


def one_line(text: str) -> str:
    """Return ``text`` on one line: a driver's message may span several."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def run(args: argparse.Namespace, handler: Callable[[argparse.Namespace], int]) -> int:
    """Run a sub-command's handler; map what it raises to one line and an exit code."""
    command = getattr(args, "command_path", "") or "?"
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except Exception as error:
        known = _known(error)
        if known is None:
            logger.exception("Unable to run wattbook %s", command)
            return Exit.FAILED
        message, code = known
        print(f"wattbook {command}: {one_line(message)}", file=sys.stderr, flush=True)
        return code
