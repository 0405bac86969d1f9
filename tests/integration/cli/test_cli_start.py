"""The command line starts without the heavy libraries, and documents its exit codes once.

What is imported is tested, not how long it takes (``bench/cli_start.py`` measures that):
building the parser, ``--help`` and a meter tool must not load the web, storage or PDF stacks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wattbook.interfaces.cli import _exits, _main

HEAVY = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "httpx",
    "fpdf",
    "uvicorn",
    "jinja2",
    "openpyxl",
)
README = Path(__file__).parents[3] / "README.md"

_LOADED = """
import json, sys
from wattbook.interfaces.cli import main
code = None
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r}))
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def _heavy_loaded(*argv: str) -> tuple[object, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = json.loads(result.stderr.strip().splitlines()[-1])
    return found["code"], found["heavy"]


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("meter", "read", "--help"),
        ("serve", "--help"),
        ("demo", "--help"),
        ("import", "households", "--help"),
        ("api", "token", "create", "--help"),
        # A real meter tool run, on a bus nobody answers: it fails fast, loading no stack.
        ("meter", "read", "--bus", "tcp://127.0.0.1:1", "--address", "051600000001"),
    ],
    ids=" ".join,
)
def test_the_command_line_loads_no_web_storage_or_pdf_library(argv: tuple[str, ...]) -> None:
    code, heavy = _heavy_loaded(*argv)

    assert code in (0, 6), code
    assert heavy == []


def test_the_check_above_would_see_a_heavy_import() -> None:
    # `migrate` needs SQLAlchemy and Alembic: the probe must report them.
    code, heavy = _heavy_loaded("migrate", "--database-url", "sqlite:///:memory:")

    assert code == 0
    assert {"sqlalchemy", "alembic"} <= set(heavy)


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.extend(_commands(child, (*path, name)))
    return found


def test_every_command_lists_its_exit_codes_from_the_one_table() -> None:
    commands = _commands(_main.build_parser())[1:]

    for path, parser in commands:
        text = parser.format_help()
        assert "exit codes:" in text, path
        listed = text.split("exit codes:", 1)[1]
        for code in _exits.COMMON:
            assert f"{code.value:>3}  {_exits.MEANING[code]}" in listed, (path, code)
    assert len(commands) >= 25


def test_each_code_has_one_meaning() -> None:
    assert len(set(_exits.MEANING.values())) == len(_exits.Exit)
    assert set(_exits.MEANING) == set(_exits.Exit)


def test_the_readme_carries_the_table() -> None:
    assert _exits.table_markdown() in README.read_text(encoding="utf-8")
