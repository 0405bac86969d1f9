"""docs/architecture.md's package tree and src/wattbook cannot drift apart.

The tree block (the fenced block after ``<!-- package-tree -->``) lists one name a line,
indented four spaces a level: ``name/`` for a package, ``name.py`` for a module, then a
description. Every name listed must exist, and every package under src/wattbook must be listed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SRC = ROOT / "src"
MARKER = "<!-- package-tree -->"
INDENT = 4
_ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/|\.py))(?:\s{2,}\S.*)?$")


class TreeError(ValueError):
    """The tree block is malformed."""


def parse_tree(markdown: str) -> list[str]:
    """Return the paths (relative to src/, packages ending in ``/``) the tree block lists."""
    _, found, after = markdown.partition(MARKER)
    if not found:
        raise TreeError(f"no {MARKER} marker")
    lines = after.lstrip("\n").splitlines()
    if not lines or not lines[0].startswith("```"):
        raise TreeError("the marker is not followed by a fenced block")
    paths: list[str] = []
    stack: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("```"):
            return paths
        match = _ENTRY.match(line)
        if match is None:
            raise TreeError(f"line {number} of the block is not 'name/' or 'name.py': {line!r}")
        width = len(match["indent"])
        if width % INDENT:
            raise TreeError(f"line {number} is indented {width} spaces, not a multiple of {INDENT}")
        depth = width // INDENT
        if depth > len(stack):
            raise TreeError(f"line {number} skips a level")
        del stack[depth:]
        if stack and not stack[-1].endswith("/"):
            raise TreeError(f"line {number} is nested under a module")
        name = match["name"]
        paths.append("".join(stack) + name)
        stack.append(name)
    raise TreeError("the fenced block is not closed")


def listed_paths() -> list[str]:
    return parse_tree(DOC.read_text(encoding="utf-8"))


def packages_on_disk() -> set[str]:
    return {
        init.parent.relative_to(SRC).as_posix() + "/"
        for init in (SRC / "wattbook").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_every_listed_package_and_module_exists() -> None:
    missing = []
    for path in listed_paths():
        target = SRC / path
        exists = (target / "__init__.py").is_file() if path.endswith("/") else target.is_file()
        if not exists:
            missing.append(path)
    assert not missing, f"docs/architecture.md lists what src/ does not have: {missing}"


def test_every_package_is_listed() -> None:
    unlisted = sorted(packages_on_disk() - set(listed_paths()))
    assert not unlisted, f"packages missing from docs/architecture.md's tree: {unlisted}"


def test_the_areas_checked_by_the_brief_are_covered() -> None:
    listed = set(listed_paths())
    for layer in ("application/", "adapters/db/", "domain/", "interfaces/"):
        assert f"wattbook/{layer}" in listed


def test_the_parser_reads_nesting() -> None:
    doc = f"{MARKER}\n```text\na/   x\n    b/   y\n        c.py   z\n    d.py\n```\n"
    assert parse_tree(doc) == ["a/", "a/b/", "a/b/c.py", "a/d.py"]


@pytest.mark.parametrize(
    "block",
    [
        "a/\n  b/\n",  # indent not a multiple of four
        "a/\n        b/\n",  # skips a level
        "a.py\n    b/\n",  # nested under a module
        "a/ b/\n",  # two names on a line
    ],
)
def test_the_parser_rejects_a_malformed_tree(block: str) -> None:
    with pytest.raises(TreeError):
        parse_tree(f"{MARKER}\n```text\n{block}```\n")
