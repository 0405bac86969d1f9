"""`wattbook demo`, the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_shows_readings_from_every_simulated_meter() -> None:
    result = subprocess.run(
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
            "--duration",
            "4",
            "--refresh",
            "2",
            "--interval",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    last_screen = result.stdout.rsplit("wattbook demo - simulated campus", 1)[-1]
    rows = re.findall(r"^(05160000000\d)\s+bus-\d\s+(\d+\.\d\d)", last_screen, flags=re.MULTILINE)
    assert [address for address, _ in rows] == [f"05160000000{n}" for n in range(1, 7)]
    assert all(float(total) > 0 for _, total in rows)
    assert "failed meters 0" in last_screen


def test_demo_refuses_a_port_in_use() -> None:
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
                "--duration",
                "1",
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

    assert result.returncode == 3
    assert "--port-base" in result.stderr
