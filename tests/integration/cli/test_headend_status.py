"""`wattbook headend run` prints a status line per bus at the interval, as a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from wattbook import bootstrap
from wattbook.settings import Settings


def test_headend_run_prints_a_status_line_per_bus(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wattbook.sqlite3'}"
    bootstrap.migrate(Settings(database_url=url))
    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "wattbook", "simulate", "--listen", "127.0.0.1:0"),
            *("--meters", "051600000001-051600000003", "--baud", "0"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert simulator.stdout is not None
    try:
        bus = re.search(r"tcp://[\d.]+:\d+", simulator.stdout.readline())
        assert bus
        wattbook = [sys.executable, "-m", "wattbook"]
        for name, where in (("near", bus.group(0)), ("far", "tcp://127.0.0.1:1")):
            subprocess.run(
                [
                    *wattbook,
                    "headend",
                    "--database-url",
                    url,
                    "add-bus",
                    name,
                    where,
                    "--meters",
                    "051600000001-051600000003" if name == "near" else "051600000009",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        result = subprocess.run(
            [
                *wattbook,
                "headend",
                "--database-url",
                url,
                "run",
                "--no-jobs",
                "--duration",
                "4",
                "--status-every",
                "1.5",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        simulator.stdout.close()

    assert result.returncode == 0, result.stderr
    near = [line for line in result.stdout.splitlines() if line.startswith("bus near:")]
    far = [line for line in result.stdout.splitlines() if line.startswith("bus far:")]
    assert len(near) >= 2, result.stdout
    assert len(far) == len(near)
    assert re.fullmatch(
        r"bus near: reachable; reads ok 3, failed 0 since the last line; last reading \d+ s ago",
        near[0],
    ), near
    assert far[0].startswith("bus far: UNREACHABLE ("), far
    assert "no reading yet" in far[-1]
