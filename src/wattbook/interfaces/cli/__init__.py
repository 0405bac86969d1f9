"""The `wattbook` command line: one sub-command per process or operator tool."""

from wattbook.interfaces.cli._main import main

__all__ = ["main"]
