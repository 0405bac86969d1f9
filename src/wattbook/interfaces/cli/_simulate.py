"""`wattbook simulate`: (being built in this session)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `simulate` sub-command to the parser."""
    sub.add_parser("simulate", help="(not yet available)")
