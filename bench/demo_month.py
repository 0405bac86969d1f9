"""Claim: `wattbook demo --days 30` lives a month of the default campus (200 households on 8
buses) in minutes, and ends with statements that reconcile with the journal (issue 13).

Method
------
One fresh run of ``python -m wattbook demo --days N --fresh`` in a temporary folder (any
free ports), its output read as it comes. ``setup_s`` is the real time until the demo's
header (the campus set up: 200 accounts opened, meters installed); ``lived_s`` the real time
from then until the month-end check is printed; ``total_s`` the whole run, stop included.
``ratio`` is the simulated seconds lived over ``lived_s``, against the speed asked for in the
same run (``speed``): how close the world kept to its clock (1.0 is exact; the world's time
runs on the machine's monotonic clock, so this measures the loop that stops it, not the
meters). ``readings`` and ``charged_yuan`` say how much campus life the month held,
``reconciled`` whether every account's statements equal its journal's charges and every
balance its journal.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEED = 8_640


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--speed", type=int, default=SPEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        argv = [
            sys.executable, "-m", "wattbook", "demo", "--days", str(args.days),
            "--speed", str(args.speed), "--port-base", "0", "--web-port", "0",
            "--fresh", "--data-dir", folder,
        ]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert process.stdout is not None
        header_at = lived_at = None
        check = ""
        for line in process.stdout:
            now = time.perf_counter()
            if header_at is None and line.startswith("Ctrl-C stops"):
                header_at = now
            if line.startswith(
                ("Month-end statements", "  statements against", "  every", "  bank debits")
            ):
                lived_at = lived_at or now
                check += line
        process.wait()
        ended = time.perf_counter()
        if process.returncode not in (0, 9) or header_at is None or lived_at is None:
            raise SystemExit(f"the demo failed (exit {process.returncode})")
        database = sqlite3.connect(Path(folder) / "demo.sqlite3")
        readings = database.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        charged = -database.execute(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries WHERE kind = 'CHARGE'"
        ).fetchone()[0]
        database.close()
    lived_s = lived_at - header_at
    print(check, end="")
    result = {
        "claim": "a month of the demo campus in minutes, statements reconciled",
        "days": args.days,
        "speed": args.speed,
        "setup_s": round(header_at - started, 1),
        "lived_s": round(lived_s, 1),
        "total_s": round(ended - started, 1),
        "ratio": round(args.days * 86_400 / lived_s / args.speed, 3),
        "readings": readings,
        "charged_yuan": f"{charged // 100}.{charged % 100:02d}",
        "reconciled": process.returncode == 0 and "reconciled" in check,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
