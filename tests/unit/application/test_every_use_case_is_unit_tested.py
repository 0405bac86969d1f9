"""Every use case has a unit test on the fakes (issue 10's "Done when", kept true).

Each module under ``src/wattbook/application`` other than ``__init__``, the ports and the few
listed in ``NOT_USE_CASES`` must be imported by a file in ``tests/unit/application``. The
imports are read with ``ast``: ``from pkg import module``, ``from pkg.module import name``,
``import pkg.module``, and a name a package re-exports from one of its private modules (read
from the package's ``__init__``), whether imported (``from pkg import name``) or reached as an
attribute (``from wattbook.application import queries`` then ``queries.name``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import wattbook.application

APPLICATION = Path(wattbook.application.__file__).parent
PACKAGE = wattbook.application.__name__
TESTS = Path(__file__).parent

# Modules that are not use cases, each tested through the use cases that call it.
NOT_USE_CASES = {
    # One bus's poll loop: orchestration driven by ``runtime.Headend``, which
    # test_read_now.py and test_collect_meter.py run over a fake gateway (the loop's timing
    # is tested against a TCP simulator in tests/integration/headend).
    f"{PACKAGE}.headend.poller",
    # Private helper of the payment use cases (crediting top-ups and the prepaid rules after
    # them), tested through counter, bank and kiosk in test_payment_use_cases.py and
    # test_kiosk_use_cases.py.
    f"{PACKAGE}.payments._credit",
    # Private helper: whether the counter serves now, tested through counter, corrections
    # and exchange_receipt (test_payment_use_cases.py, test_exchange_and_cash_up.py).
    f"{PACKAGE}.payments._opening",
    # The prepaid rules applied after money moves, shared by the use cases that move money
    # and tested through them (top-ups, readings: the relay commands they queue).
    f"{PACKAGE}.prepaid.rules",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(APPLICATION).with_suffix("").parts
    return ".".join((PACKAGE, *parts))


def use_case_modules() -> set[str]:
    """Return the application's modules that must have a unit test."""
    return {
        _module_name(path)
        for path in APPLICATION.rglob("*.py")
        if path.stem != "__init__" and "ports" not in path.stem
    } - NOT_USE_CASES


def _re_exports(package: str) -> dict[str, str]:
    """Return each name ``package``'s ``__init__`` imports from one of its own modules."""
    if package != PACKAGE and not package.startswith(f"{PACKAGE}."):
        return {}
    init = APPLICATION.joinpath(*package.split(".")[PACKAGE.count(".") + 1 :], "__init__.py")
    if not init.is_file():
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.startswith(f"{package}.")
        ):
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    return found


def imported_names(source: str) -> set[str]:
    """Return the dotted names a test file imports or reaches through an imported module."""
    names: set[str] = set()
    bound: dict[str, str] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
                if alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            for alias in node.names:
                names.add(f"{node.module}.{alias.name}")
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
        ):
            names.add(f"{bound[node.value.id]}.{node.attr}")
    return names


def covered_modules(names: set[str]) -> set[str]:
    """Return the modules ``names`` import: themselves, or the private module a package
    re-exports the name from."""
    covered = set(names)
    for name in names:
        package, _, attribute = name.rpartition(".")
        module = _re_exports(package).get(attribute)
        if module is not None:
            covered.add(module)
    return covered


def _tested() -> set[str]:
    names: set[str] = set()
    for path in TESTS.rglob("*.py"):
        names |= imported_names(path.read_text(encoding="utf-8"))
    return covered_modules(names)


def test_every_use_case_module_is_imported_by_a_unit_test() -> None:
    untested = sorted(use_case_modules() - _tested())

    assert untested == [], f"use cases with no unit test in {TESTS}: {untested}"


def test_the_modules_left_out_exist() -> None:
    every = {_module_name(path) for path in APPLICATION.rglob("*.py")}

    assert sorted(NOT_USE_CASES - every) == []


def test_the_imports_are_read_in_each_form() -> None:
    source = (
        "from wattbook.application.billing import month_end\n"
        "from wattbook.application.keep_partitions import keep_partitions\n"
        "import wattbook.application.headend.read_now\n"
        "from wattbook.application import queries\n"
        "queries.month_end_statements\n"
    )

    covered = covered_modules(imported_names(source))

    assert {
        f"{PACKAGE}.billing.month_end",
        f"{PACKAGE}.keep_partitions",
        f"{PACKAGE}.headend.read_now",
        f"{PACKAGE}.queries._month_end",
    } <= covered
    assert f"{PACKAGE}.queries._feeds" not in covered
