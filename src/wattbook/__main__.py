"""`python -m wattbook` and the `wattbook` console script: the process's entry point.

It sits outside the layers (import-linter's ``exhaustive_ignores``) and is the one module
that knows both interfaces: it hands the command line a loader of the web interface, so that
`wattbook serve` and `wattbook demo` start the web app while ``interfaces.cli`` never imports
``interfaces.web`` (an independence contract), and no other command loads FastAPI.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import main as _cli_main

if TYPE_CHECKING:
    from wattbook.bootstrap import WebInterface


def load_web() -> WebInterface:
    """Return the web interface, importing it now."""
    from wattbook.interfaces import web

    return web


def main() -> None:
    """Run the command line and exit with its code."""
    sys.exit(_cli_main(web=load_web))


if __name__ == "__main__":
    main()
