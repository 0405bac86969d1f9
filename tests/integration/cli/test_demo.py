"""`wattbook demo`, the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattbook.interfaces.cli._exits import Exit

# Every scripted happening, as the feed shows it (the cast are the first seven meters).
SCRIPTED = {
    "readings charged": r"^\d\d:\d\d CHARGED +\d+ readings",
    "low-balance text": r"SMS +051600000001 .*\[LOW_BALANCE\]",
    "warning cut": r"CUT +051600000002 .*\[WARNING_CUT\]",
    "close after the warning cut": r"CLOSE +051600000002 .*\[WARNING_CUT_ENDED\]",
    "arrears trip": r"CUT +051600000003 .*\[ARREARS\]",
    "kiosk top-up": r"TOP-UP +051600000003 .*\[KIOSK\]",
    "close after the kiosk top-up": r"CLOSE +051600000003 .*\[ARREARS_CLEARED\]",
    "bank auto top-up": r"TOP-UP +051600000004 .*\[BANK_AUTO\]",
    "auto top-up text": r"SMS +051600000004 .*\[AUTO_TOP_UP_SUCCEEDED\]",
    "cover-open alarm": r"ALARM +\[METER_COVER_OPENED\] 051600000005",
    "meter offline": r"ALARM +\[NO_COMMUNICATION\] 051600000006",
    "meter back": r"ALARM-END +\[NO_COMMUNICATION\] 051600000006",
    "stored events uploaded": r"UPLOADED +051600000006 .*stored while unreachable",
    "no cut on the holiday": r"HELD +051600000007 .*balance -",
}
# The promise: each rule fires within two minutes at the default speed.
WITHIN_S = 120.0


def _demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "wattbook", "demo", "--port-base", "0", "--web-port", "0", *args]


class Output:
    """A process's output lines, read on a thread, with when each arrived."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Close the stream once the process has ended and its output is read."""
        self._thread.join(timeout=30)
        self._stream.close()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put((time.monotonic(), None))

    def until(self, pattern: str, *, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        for line in self.seen:
            if re.search(pattern, line):
                return line
        for _at, line in self.follow(deadline):
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.seen[-40:]))

    def follow(self, deadline: float) -> Iterator[tuple[float, str]]:
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                return
            if line is None:
                return
            self.seen.append(line)
            yield at, line


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - localhost
        return str(response.read().decode("utf-8"))


def test_a_newcomer_sees_every_rule_fire_within_two_minutes(tmp_path: Path) -> None:
    # Its log goes to a file: a pipe nobody reads while the demo runs could fill and stall it.
    log = tmp_path / "stderr.log"
    with open(log, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            _demo("--data-dir", str(tmp_path / "campus")),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    output = Output(process)
    try:
        output.until(r"^Ctrl-C stops", timeout_s=120)
        started = time.monotonic()
        banner = "\n".join(output.seen)
        kiosk = re.search(r"http://127\.0\.0\.1:\d+/kiosk", banner)
        assert kiosk, banner
        kiosk_page = _fetch(kiosk.group(0))
        portal = re.search(
            r"(http://127\.0\.0\.1:\d+/portal) +\(log in as 051600000001 (\S+);", banner
        )
        assert portal, banner
        portal_page = _fetch(portal.group(1) + "/login")
        console = re.search(r"(http://127\.0\.0\.1:\d+/console) ", banner)
        assert console, banner
        console_page = _fetch(console.group(1) + "/login")
        roles = re.findall(r"^ +(\w+) +login (demo\.\w+), password \S+$", banner, re.MULTILINE)
        # A second demo in the same folder refuses, and leaves the running one alone.
        second = subprocess.run(
            _demo("--data-dir", str(tmp_path / "campus"), "--duration", "1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        missing = dict(SCRIPTED)
        seen_at: dict[str, float] = {}
        for at, line in output.follow(started + WITHIN_S + 30):
            for name, pattern in list(missing.items()):
                if re.search(pattern, line):
                    seen_at[name] = at - started
                    del missing[name]
            if not missing:
                break
        process.send_signal(signal.SIGINT)
        output.until(r"^Stopped at world time", timeout_s=60)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output.close()
    errors = log.read_text(encoding="utf-8")

    assert missing == {}, "\n".join(output.seen[-60:])
    late = {name: round(s) for name, s in seen_at.items() if s > WITHIN_S}
    assert late == {}
    assert "自助缴费" in kiosk_page
    assert "户主姓名" in portal_page
    assert "验证码" in portal_page
    assert "员工登录" in console_page
    assert roles == [
        ("administrator", "demo.admin"),
        ("cashier", "demo.cashier"),
        ("engineer", "demo.engineer"),
        ("viewer", "demo.viewer"),
    ]
    assert second.returncode == Exit.FAILED
    assert "already running" in second.stderr
    assert process.returncode == 0, errors
    assert "Traceback" not in errors

    # Started again, the demo goes on with the same campus.
    resumed = subprocess.run(
        _demo("--data-dir", str(tmp_path / "campus"), "--duration", "2"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed in" in resumed.stdout
    database = sqlite3.connect(tmp_path / "campus" / "demo.sqlite3")
    kiosk_payments = database.execute(
        "SELECT COUNT(*) FROM payments WHERE channel = 'KIOSK'"
    ).fetchone()
    database.close()
    assert kiosk_payments == (1,)  # the script's top-up, once: not played again


def test_days_end_with_statements_that_reconcile_with_the_journal(tmp_path: Path) -> None:
    result = subprocess.run(
        _demo(
            "--buses",
            "2",
            "--meters",
            "6",
            "--start",
            "2026-12-31T20:00",
            "--days",
            "2",
            "--speed",
            "17280",  # a simulated day in 5 seconds
            "--data-dir",
            str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Month-end statements (2026-12, 2027-01): 12 accounts" in result.stdout
    assert "statements against the journal: reconciled" in result.stdout
    assert "every balance equals its journal: yes" in result.stdout
    assert "bank debits credited once: yes" in result.stdout


def test_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattbook",
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--meters",
            "051600000001",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    port = re.search(r"tcp://[\d.]+:(\d+)", first.stdout.readline())
    assert port
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "wattbook",
                "demo",
                "--buses",
                "1",
                "--meters",
                "2",
                "--port-base",
                port.group(1),
                "--web-port",
                "0",
                "--duration",
                "1",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        first.terminate()
        first.wait(timeout=10)
        first.stdout.close()

    assert result.returncode == Exit.CANNOT_LISTEN
    assert "--port-base" in result.stderr


def _demo_database(tmp_path: Path, start: str) -> sqlite3.Connection:
    """Run a small demo from ``start`` at 600x for 8 s (80 simulated minutes); return its
    database."""
    result = subprocess.run(
        _demo(
            "--buses",
            "2",
            "--meters",
            "8",
            "--start",
            start,
            "--speed",
            "600",
            "--duration",
            "8",
            "--data-dir",
            str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return sqlite3.connect(tmp_path / "demo.sqlite3")


def test_demo_past_the_calendar_package_cuts_on_a_working_day(tmp_path: Path) -> None:
    database = _demo_database(tmp_path, "2027-01-05T09:00")

    cut = database.execute(
        "SELECT COUNT(*) FROM relay_commands WHERE reason IN ('ARREARS', 'WARNING_CUT')"
        " AND action = 'TRIP' AND status = 'CONFIRMED'"
        " AND done_at < '2027-01-05 02:00'"  # within a simulated hour (01:00 UTC is 09:00)
    ).fetchone()[0]
    texts = database.execute(
        "SELECT COUNT(*) FROM sms_outbox WHERE kind = 'LOW_BALANCE' AND status = 'SENT'"
    ).fetchone()[0]

    assert cut >= 1
    assert texts >= 4


@pytest.mark.parametrize("start", ["2027-02-08T09:00"])
def test_demo_on_spring_festival_cuts_nobody_and_still_texts(tmp_path: Path, start: str) -> None:
    database = _demo_database(tmp_path, start)

    trips = database.execute("SELECT COUNT(*) FROM relay_commands WHERE action = 'TRIP'").fetchone()
    # Somebody's balance went below zero during the festival (and nobody was cut).
    in_arrears = database.execute(
        "SELECT COUNT(DISTINCT account_id) FROM ledger_entries WHERE balance_after_fen < 0"
    ).fetchone()
    texts = database.execute(
        "SELECT COUNT(*) FROM sms_outbox WHERE kind = 'LOW_BALANCE' AND status = 'SENT'"
    ).fetchone()[0]
    alarms = database.execute("SELECT kind, subject FROM alarms WHERE ended_at IS NULL").fetchall()

    assert trips == (0,)
    assert in_arrears[0] >= 1
    assert texts >= 4
    assert ("HOLIDAY_SCHEDULE_UNCONFIRMED", "2027") in alarms
    # Besides it, only the scripted households' meter alarms may still be open: on a loaded
    # machine the head-end can trail the 600x world clock past the cover's closing.
    scripted = {"METER_COVER_OPENED", "NO_COMMUNICATION", "POWER_DOWN"}
    assert {kind for kind, _ in alarms} <= {"HOLIDAY_SCHEDULE_UNCONFIRMED", *scripted}


def test_fresh_starts_a_new_campus_in_the_folder(tmp_path: Path) -> None:
    small = ("--buses", "1", "--meters", "2", "--start", "2027-01-05T09:00", "--speed", "600")
    first = subprocess.run(
        _demo(*small, "--duration", "3", "--data-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    again = subprocess.run(
        _demo(*small, "--duration", "1", "--data-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    fresh = subprocess.run(
        _demo(*small, "--fresh", "--duration", "1", "--data-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert (first.returncode, again.returncode, fresh.returncode) == (0, 0, 0), fresh.stderr
    assert "new campus" in first.stdout
    assert "resumed in" in again.stdout
    assert "(world time 2027-01-05 09:00)" not in again.stdout  # it goes on from where it was
    assert "new campus" in fresh.stdout
    assert "(world time 2027-01-05 09:00)" in fresh.stdout
