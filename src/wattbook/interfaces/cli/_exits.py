"""The exit codes of every `wattbook` command: one table, one meaning per code.

Each sub-command's ``--help`` lists the codes it can return, in these words, and README.md
carries the same table. A code is never reused for another meaning: a script can act on it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Exit(enum.IntEnum):
    """An exit code of the `wattbook` command."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2  # argparse's own code for a usage error
    NO_RESPONSE = 3
    REFUSED = 4
    GARBLED = 5
    BUS = 6
    NOT_CONFIRMED = 7
    CANNOT_LISTEN = 8
    DIFFERENCES = 9
    DATABASE_UNREACHABLE = 10
    DATABASE_NOT_MIGRATED = 11
    DEVICE = 12
    BROKER_UNREACHABLE = 13
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it


MEANING: dict[Exit, str] = {
    Exit.OK: "done (a server or worker: stopped by Ctrl-C or SIGTERM)",
    Exit.FAILED: "failed unexpectedly (a bug: see the log on stderr)",
    Exit.BAD_INPUT: "bad input: an option, argument, WATTBOOK_* setting or file; nothing was "
    "changed",
    Exit.NO_RESPONSE: "no answer from the meter",
    Exit.REFUSED: "the meter refused the request (password, unsupported item, keep-power)",
    Exit.GARBLED: "the meter's reply was garbled",
    Exit.BUS: "cannot use the bus (serial port or serial-to-TCP server)",
    Exit.NOT_CONFIRMED: "sent, but the meter's status word does not confirm it",
    Exit.CANNOT_LISTEN: "cannot listen on the address (the port is taken or not local)",
    Exit.DIFFERENCES: "a check found differences (listed on stdout)",
    Exit.DATABASE_UNREACHABLE: "cannot reach or open the database",
    Exit.DATABASE_NOT_MIGRATED: "the database is not at this version's schema: run `wattbook "
    "migrate`",
    Exit.DEVICE: "cannot use a kiosk's device (the note acceptor's serial port)",
    Exit.BROKER_UNREACHABLE: "cannot reach the broker (NATS JetStream)",
    Exit.INTERRUPTED: "interrupted (Ctrl-C) before it finished",
}

# What every command can return.
COMMON: tuple[Exit, ...] = (Exit.OK, Exit.FAILED, Exit.BAD_INPUT, Exit.INTERRUPTED)
# What a command that opens the database can return besides.
DATABASE: tuple[Exit, ...] = (Exit.DATABASE_UNREACHABLE, Exit.DATABASE_NOT_MIGRATED)
# What a meter field tool can return besides.
METER: tuple[Exit, ...] = (
    Exit.NO_RESPONSE,
    Exit.REFUSED,
    Exit.GARBLED,
    Exit.BUS,
)


def epilog(codes: Iterable[Exit]) -> str:
    """Return the "exit codes:" block of a command's ``--help``, one code a line, in order."""
    chosen = sorted(set(COMMON) | set(codes))
    return "exit codes:\n" + "\n".join(f"  {code.value:>3}  {MEANING[code]}" for code in chosen)


def table_markdown() -> str:
    """Return the table of every code as Markdown (README.md holds a copy; a test compares)."""
    rows = [f"| {code.value} | `{code.name}` | {MEANING[code]} |" for code in Exit]
    return "\n".join(["| code | name | meaning |", "|---|---|---|", *rows])
