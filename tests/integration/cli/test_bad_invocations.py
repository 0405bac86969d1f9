"""Bad command lines end in one line on stderr and a documented exit code, never a traceback.

Each case runs ``python -m wattbook ...`` as a real process against a migrated SQLite database
in a temporary folder, as an operator would.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wattbook import bootstrap
from wattbook.interfaces.cli import _bank, _headend, _meter, _serve, main
from wattbook.settings import Settings

BUS = "tcp://127.0.0.1:9"  # never reached: the command must stop before opening the bus
ADDRESS = "051600001234"
# Long enough for a slow start-up, short enough to catch a hang (--timeout inf once hung).
PROCESS_TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    help_path: tuple[str, ...]  # the sub-command whose --help documents the exit code
    argv: tuple[str, ...]
    code: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        shown = " ".join(self.argv)
        extra = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{extra} {shown}".strip()


def _meter_case(tool: str, *options: str) -> Case:
    return Case(
        ("meter", tool),
        ("meter", tool, "--bus", BUS, "--address", ADDRESS, *options),
        _meter.EXIT_USAGE,
    )


CASES = [
    _meter_case("read", "--timeout", "0"),
    _meter_case("read", "--timeout", "-1"),
    _meter_case("read", "--timeout", "inf"),
    _meter_case("read", "--timeout", "nan"),
    _meter_case("read", "--retries", "-1"),
    _meter_case("trip", "--valid-minutes", "999999999999"),
    _meter_case("close", "--valid-minutes", "0"),
    _meter_case("trip", "--zone", "Mars/Base"),
    _meter_case("sync-time", "--zone", "Mars/Base"),
    _meter_case("sync-time", "--zone", "../../etc/passwd"),
    Case(("serve",), ("serve", "--port", "99999"), _serve.EXIT_BAD_INPUT),
    Case(("serve",), ("serve",), _serve.EXIT_BAD_INPUT, env={"WATTBOOK_WEB_PORT": "abc"}),
    Case(("serve",), ("serve",), _serve.EXIT_BAD_INPUT, env={"WATTBOOK_WEB_PORT": "70000"}),
    Case(
        ("bank", "reconcile"),
        ("bank", "reconcile", "{binary}", "--day", "2025-03-01"),
        _bank.EXIT_BAD_INPUT,
    ),
    Case(
        ("bank", "reconcile"),
        ("bank", "reconcile", "{nul}", "--day", "2025-03-01"),
        _bank.EXIT_BAD_INPUT,
    ),
    *(
        Case(
            ("headend", "add-bus"),
            ("headend", "add-bus", "b1", url, "--meters", "051600000001"),
            _headend.EXIT_BAD_INPUT,
        )
        for url in (
            "tcp://127.0.0.1:abc",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:65536",
            "tcp://127.0.0.1",
            "tcp://:7001",
            "tcp://127.0.0.1:7001/dev/ttyUSB0",
            "serial://",
            "udp://127.0.0.1:7001",
        )
    ),
    Case(
        ("headend", "add-bus"),
        (
            *("headend", "add-bus", "b1", "tcp://127.0.0.1:7001"),
            *("--meters", "051600000001", "--timeout-ms", "99999999999999"),
        ),
        _headend.EXIT_BAD_INPUT,
    ),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-invocations")
    bootstrap.migrate(Settings(database_url=_database_url(folder)))
    (folder / "statement.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "statement-nul.csv").write_bytes(b"serial,debit\x00,account\n")
    return folder


def _database_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'wattbook.sqlite3'}"


def _run(
    folder: Path, argv: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    argv = tuple(
        a.format(binary=folder / "statement.bin", nul=folder / "statement-nul.csv") for a in argv
    )
    environment = {**os.environ, "WATTBOOK_DATABASE_URL": _database_url(folder), **env}
    return subprocess.run(
        [sys.executable, "-m", "wattbook", *argv],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )


def _buses(folder: Path) -> list[str]:
    with sqlite3.connect(folder / "wattbook.sqlite3") as connection:
        return [row[0] for row in connection.execute("SELECT name FROM buses")]


def _documented_codes(help_path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([*help_path, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit codes:" in help_text, help_text
    return help_text.split("exit codes:", 1)[1]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_invocation_ends_in_one_line_and_a_documented_code_and_changes_nothing(
    case: Case, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _run(folder, case.argv, case.env)

    assert result.returncode == case.code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # argparse shows the usage lines first; apart from them, one line says what is wrong.
    message = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith(("usage:", " "))
    ]
    assert len(message) == 1, result.stderr
    assert message[0].startswith("wattbook "), message
    assert f"{case.code} bad input" in _documented_codes(case.help_path, capsys)
    assert _buses(folder) == []


def test_a_good_bus_is_stored_so_the_table_above_would_see_one(tmp_path: Path) -> None:
    bootstrap.migrate(Settings(database_url=_database_url(tmp_path)))

    result = _run(
        tmp_path,
        ("headend", "add-bus", "b1", "tcp://127.0.0.1:7001", "--meters", "051600000001"),
        {},
    )

    assert result.returncode == _headend.EXIT_OK, result.stderr
    assert _buses(tmp_path) == ["b1"]
