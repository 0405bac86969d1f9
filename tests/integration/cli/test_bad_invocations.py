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
from wattbook.interfaces.cli import main
from wattbook.interfaces.cli._exits import MEANING, Exit
from wattbook.settings import Settings

BUS = "tcp://127.0.0.1:9"  # never reached: the command must stop before opening the bus
ADDRESS = "051600001234"
# Long enough for a slow start-up, short enough to catch a hang (--timeout inf once hung).
PROCESS_TIMEOUT_S = 60
# Databases a user can get wrong; {folder} is the test's folder.
NEVER_MIGRATED = "sqlite:///{folder}/empty.sqlite3"  # an empty file: never migrated
MISSING_FILE = "sqlite:///{folder}/nothing-here.sqlite3"
MISSING_FOLDER = "sqlite:///{folder}/no-such-folder/wattbook.sqlite3"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/wattbook"  # nothing listens on port 1
BAD_URLS = ("not a url", "mysql://user@127.0.0.1/wattbook", "postgresql://u@127.0.0.1:port/db")


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
        Exit.BAD_INPUT,
    )


def _database_cases(url: str, code: int) -> list[Case]:
    """Every command that opens the database, on ``url``."""
    env = {"WATTBOOK_DATABASE_URL": url}
    return [
        Case(("alarms",), ("alarms",), code, env),
        Case(("calendar", "show"), ("calendar", "show", "--year", "2026"), code, env),
        Case(("ledger", "reconcile"), ("ledger", "reconcile"), code, env),
        Case(("sms", "failed"), ("sms", "failed"), code, env),
        Case(("sms", "no-phone"), ("sms", "no-phone"), code, env),
        Case(("headend", "run"), ("headend", "run", "--duration", "1"), code, env),
        Case(
            ("headend", "add-bus"),
            ("headend", "add-bus", "b1", "tcp://127.0.0.1:7001", "--meters", "051600000001"),
            code,
            env,
        ),
        Case(("serve",), ("serve", "--port", "0"), code, env),
    ]


CARD = ("bank-sim", "--secret", "s", "--port", "0")
CASES = [
    _meter_case("read", "--timeout", "0"),
    _meter_case("read", "--timeout", "-1"),
    _meter_case("read", "--timeout", "inf"),
    _meter_case("read", "--timeout", "nan"),
    _meter_case("read", "--retries", "-1"),
    _meter_case("read", "no-such-item"),
    _meter_case("trip", "--valid-minutes", "999999999999"),
    _meter_case("close", "--valid-minutes", "0"),
    _meter_case("trip", "--zone", "Mars/Base"),
    _meter_case("sync-time", "--zone", "Mars/Base"),
    _meter_case("sync-time", "--zone", "../../etc/passwd"),
    Case(("serve",), ("serve", "--port", "99999"), Exit.BAD_INPUT),
    Case(("serve",), ("serve",), Exit.BAD_INPUT, env={"WATTBOOK_WEB_PORT": "abc"}),
    Case(("serve",), ("serve",), Exit.BAD_INPUT, env={"WATTBOOK_WEB_PORT": "70000"}),
    Case(
        ("bank", "reconcile"),
        ("bank", "reconcile", "{binary}", "--day", "2025-03-01"),
        Exit.BAD_INPUT,
    ),
    Case(
        ("bank", "reconcile"),
        ("bank", "reconcile", "{nul}", "--day", "2025-03-01"),
        Exit.BAD_INPUT,
    ),
    Case(
        ("bank", "reconcile"),
        ("bank", "reconcile", "{nul}", "--day", "2025-13-01"),
        Exit.BAD_INPUT,
    ),
    *(
        Case(
            ("headend", "add-bus"),
            ("headend", "add-bus", "b1", url, "--meters", "051600000001"),
            Exit.BAD_INPUT,
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
        Exit.BAD_INPUT,
    ),
    Case(
        ("headend", "add-bus"),
        ("headend", "add-bus", "b1", "tcp://127.0.0.1:7001", "--meters", "1", "--baud", "1234"),
        Exit.BAD_INPUT,
    ),
    Case(
        ("headend", "add-bus"),
        ("headend", "add-bus", "b1", "tcp://127.0.0.1:7001", "--meters", "0516-0001"),
        Exit.BAD_INPUT,
    ),
    Case(("headend", "run"), ("headend", "run", "--status-every", "0"), Exit.BAD_INPUT),
    # Impossible numbers are refused by the parser, before anything runs.
    Case(("sms", "failed"), ("sms", "failed", "--days", "-1"), Exit.BAD_INPUT),
    Case(("sms", "failed"), ("sms", "failed", "--limit", "0"), Exit.BAD_INPUT),
    Case(("sms", "no-phone"), ("sms", "no-phone", "--limit", "-5"), Exit.BAD_INPUT),
    Case(("sms", "worker"), ("sms", "worker", "--idle", "-1"), Exit.BAD_INPUT),
    Case(("modem-sim",), ("modem-sim", "--port", "70000"), Exit.BAD_INPUT),
    Case(("modem-sim",), ("modem-sim", "--fail", "-3"), Exit.BAD_INPUT),
    Case(("calendar", "show"), ("calendar", "show", "--year", "-5"), Exit.BAD_INPUT),
    Case(("calendar", "set"), ("calendar", "set", "2026-02-30", "--working", "--by", "x"), 2),
    Case(("demo",), ("demo", "--buses", "0"), Exit.BAD_INPUT),
    Case(("demo",), ("demo", "--meters", "-1"), Exit.BAD_INPUT),
    Case(("demo",), ("demo", "--refresh", "-1"), Exit.BAD_INPUT),
    Case(("demo",), ("demo", "--duration", "-1"), Exit.BAD_INPUT),
    Case(("demo",), ("demo", "--web-port", "70000"), Exit.BAD_INPUT),
    Case(("simulate",), ("simulate", "--listen", "127.0.0.1:0", "--speed", "0"), 2),
    Case(("simulate",), ("simulate", "--listen", "127.0.0.1:0", "--save-every", "-1"), 2),
    Case(("bank-sim",), (*CARD, "--delay", "-1"), Exit.BAD_INPUT),
    Case(("bank-sim",), (*CARD, "--duplicates", "2"), Exit.BAD_INPUT),
    Case(("bank-sim",), (*CARD, "--port", "-1"), Exit.BAD_INPUT),
    # bank-sim's cards and agreements are checked before it serves.
    *(
        Case(("bank-sim",), (*CARD, "--card", card), Exit.BAD_INPUT)
        for card in ("CARD1", "CARD1=abc", "CARD1=1.234", "=5", "CARD1=5:open", "CARD1=-5")
    ),
    *(
        Case(("bank-sim",), (*CARD, "--card", "CARD1=500", "--agreement", agreement), 2)
        for agreement in (
            "AG1",
            "AG1:CARD1",
            "AG1:CARD1:051600001234:20",
            "AG1:CARD1:0516:20:50",
            "AG1:CARD1:051600001234:abc:50",
            "AG1:CARD1:051600001234:20:5000",
            "AG1:CARD9:051600001234:20:50",
        )
    ),
    # The database: migrate refuses what it cannot do, changing nothing.
    Case(("migrate",), ("migrate", "--revision", "zzz"), Exit.BAD_INPUT),
    Case(("migrate",), ("migrate", "--revision", "+99"), Exit.BAD_INPUT),
    Case(("migrate",), ("migrate", "--database-url", MISSING_FOLDER), Exit.BAD_INPUT),
    *(Case(("migrate",), ("migrate", "--database-url", url), 2) for url in BAD_URLS),
    Case(
        ("migrate",),
        ("migrate",),
        Exit.DATABASE_UNREACHABLE,
        {"WATTBOOK_DATABASE_URL": UNREACHABLE},
    ),
    # Every command that opens the database checks it first.
    *_database_cases(NEVER_MIGRATED, Exit.DATABASE_NOT_MIGRATED),
    *_database_cases(MISSING_FILE, Exit.DATABASE_NOT_MIGRATED),
    *_database_cases(UNREACHABLE, Exit.DATABASE_UNREACHABLE),
    *(case for url in BAD_URLS for case in _database_cases(url, Exit.BAD_INPUT)),
    Case(
        ("alarms",),
        ("alarms",),
        Exit.DATABASE_NOT_MIGRATED,
        {"WATTBOOK_DATABASE_URL": "sqlite:///{folder}/old.sqlite3"},
    ),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-invocations")
    bootstrap.migrate(Settings(database_url=_database_url(folder)))
    # One revision behind: this version's commands must refuse it until it is migrated.
    bootstrap.migrate(
        Settings(database_url=f"sqlite:///{folder / 'old.sqlite3'}"), revision="head-1"
    )
    (folder / "empty.sqlite3").write_bytes(b"")
    (folder / "statement.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "statement-nul.csv").write_bytes(b"serial,debit\x00,account\n")
    return folder


def _database_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'wattbook.sqlite3'}"


def _run(
    folder: Path, argv: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    names = {
        "binary": folder / "statement.bin",
        "nul": folder / "statement-nul.csv",
        "folder": folder,
    }
    argv = tuple(a.format(**names) for a in argv)
    environment = {
        **os.environ,
        "WATTBOOK_DATABASE_URL": _database_url(folder),
        **{k: v.format(**names) for k, v in env.items()},
    }
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


def _documented(code: int) -> str:
    return f"{code} {' '.join(MEANING[Exit(code)].split())}"


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
    assert _documented(case.code) in _documented_codes(case.help_path, capsys)
    assert "serving" not in result.stdout  # serve refuses before it says it serves
    assert _buses(folder) == []
    # Nothing was created where the database is missing.
    assert not (folder / "nothing-here.sqlite3").exists()
    assert not (folder / "no-such-folder").exists()
    assert (folder / "empty.sqlite3").stat().st_size == 0


def test_a_good_bus_is_stored_so_the_table_above_would_see_one(tmp_path: Path) -> None:
    bootstrap.migrate(Settings(database_url=_database_url(tmp_path)))

    result = _run(
        tmp_path,
        ("headend", "add-bus", "b1", "tcp://127.0.0.1:7001", "--meters", "051600000001"),
        {},
    )

    assert result.returncode == Exit.OK, result.stderr
    assert _buses(tmp_path) == ["b1"]
