"""`python -m wattbook` and the `wattbook` console script."""

from __future__ import annotations

import sys

from wattbook.interfaces.cli import main as _cli_main


def main() -> None:
    """Run the command line and exit with its code."""
    sys.exit(_cli_main())


if __name__ == "__main__":
    main()
