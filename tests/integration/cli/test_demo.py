"""`wattbook demo`, the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import urllib.request

from wattbook.interfaces.cli._exits import Exit


def test_demo_runs_the_whole_system_on_a_simulated_campus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattbook",
            "demo",
            "--buses",
            "2",
            "--meters",
            "3",
            "--port-base",
            "0",
            "--web-port",
            "0",
            "--duration",
            "12",
            "--refresh",
            "4",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = "".join(process.stdout.readline() for _ in range(5))
    kiosk = re.search(r"http://127\.0\.0\.1:\d+/kiosk", banner)
    assert kiosk, banner
    with urllib.request.urlopen(kiosk.group(0), timeout=10) as response:  # noqa: S310 - localhost
        page = response.read().decode("utf-8")
    console = re.search(
        r"(http://127\.0\.0\.1:\d+/console) +\(login demo\.admin, password \S+\)", banner
    )
    assert console, banner
    with urllib.request.urlopen(console.group(1) + "/login", timeout=10) as response:  # noqa: S310
        assert "员工登录" in response.read().decode("utf-8")
    out, err = process.communicate(timeout=90)
    process.stdout.close()
    assert process.stderr is not None
    process.stderr.close()

    assert process.returncode == 0, err
    assert "自助缴费" in page
    last_screen = out.rsplit("wattbook demo - simulated campus", 1)[-1]
    rows = re.findall(
        r"^(05160000000\d) .*? (-?\d+\.\d\d) +(\d+\.\d\d) +\d+\.\d+ +(通电 on|断电 OFF)",
        last_screen,
        flags=re.MULTILINE,
    )
    assert [row[0] for row in rows] == [f"05160000000{n}" for n in range(1, 7)]
    # The fifth household starts at 3.00 yuan: below 20 kWh worth, so it is texted (B4).
    assert "户号051600000005电费余额" in last_screen


def test_demo_refuses_a_port_in_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
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


def _demo_database(tmp_path, start: str) -> sqlite3.Connection:  # type: ignore[no-untyped-def]
    """Run the demo from ``start`` at 600x for 8 s (80 simulated minutes); return its database."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattbook",
            "demo",
            "--start",
            start,
            "--speed",
            "600",
            "--port-base",
            "0",
            "--web-port",
            "0",
            "--duration",
            "8",
            "--refresh",
            "4",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return sqlite3.connect(tmp_path / "demo.sqlite3")


def test_demo_past_the_calendar_package_cuts_on_a_working_day(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = _demo_database(tmp_path, "2027-01-05T09:00")

    cut = database.execute(
        "SELECT COUNT(*) FROM relay_commands WHERE reason = 'ARREARS' AND status = 'CONFIRMED'"
        " AND done_at < '2027-01-05 02:00'"  # within a simulated hour (01:00 UTC is 09:00)
    ).fetchone()[0]
    texts = database.execute(
        "SELECT COUNT(*) FROM sms_outbox WHERE kind = 'LOW_BALANCE' AND status = 'SENT'"
    ).fetchone()[0]

    assert cut >= 1
    assert texts >= 4


def test_demo_on_spring_festival_cuts_nobody_and_still_texts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = _demo_database(tmp_path, "2027-02-08T09:00")

    trips = database.execute("SELECT COUNT(*) FROM relay_commands WHERE action = 'TRIP'").fetchone()
    in_arrears = database.execute("SELECT COUNT(*) FROM balances WHERE balance_fen < 0").fetchone()
    texts = database.execute(
        "SELECT COUNT(*) FROM sms_outbox WHERE kind = 'LOW_BALANCE' AND status = 'SENT'"
    ).fetchone()[0]
    alarms = database.execute("SELECT kind, subject FROM alarms WHERE ended_at IS NULL").fetchall()

    assert trips == (0,)
    assert in_arrears[0] >= 1
    assert texts >= 4
    assert alarms == [("HOLIDAY_SCHEDULE_UNCONFIRMED", "2027")]
