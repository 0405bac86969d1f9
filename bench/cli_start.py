"""Claim: `wattbook --help` and `wattbook meter read` start in under 0.5 s (issue 10).

Method
------
Each command runs as a fresh process (``python -m wattbook ...``, what the ``wattbook``
script runs), ``--repeat`` times, interleaved with ``python -c pass`` in the same run so the
machine's load touches both alike; the median wall time of each is reported. ``ratio`` is
``help_s`` over the ``python -c pass`` median: what wattbook adds to a bare interpreter.

``meter_read_s`` is a real read: ``meter read ... energy tou status`` of one meter on a
``wattbook simulate`` bus (unpaced, on loopback) started by this script, so it includes the
protocol exchange, not only the start. ``meter_read_help_s`` is ``meter read --help``.
Before issue 10 part 4, building the parser imported FastAPI, SQLAlchemy and Alembic
(about 1.4 s for ``--help`` on this 2-core machine).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

GOAL_S = 0.5
METER = "051600000001"


def wall_s(argv: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return elapsed


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=9, help="runs of each command (9)")
    repeat = options.parse_args().repeat

    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "wattbook", "simulate", "--listen", "127.0.0.1:0"),
            *("--meters", METER, "--baud", "0"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert simulator.stdout is not None
    try:
        found = re.search(r"tcp://[\d.]+:\d+", simulator.stdout.readline())
        assert found, "the simulator did not say where it listens"
        wattbook = [sys.executable, "-m", "wattbook"]
        commands = {
            "python_s": [sys.executable, "-c", "pass"],
            "help_s": [*wattbook, "--help"],
            "meter_read_help_s": [*wattbook, "meter", "read", "--help"],
            "meter_read_s": [
                *wattbook,
                *("meter", "read", "--bus", found.group(0), "--address", METER),
                *("energy", "tou", "status"),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            wall_s(argv)  # warm the file cache once; not counted
        for _ in range(repeat):
            for name, argv in commands.items():
                times[name].append(wall_s(argv))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        simulator.stdout.close()

    medians = {name: round(statistics.median(values), 4) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:<18} median {medians[name]:.3f} s  (min {min(values):.3f}, max "
            f"{max(values):.3f}, n={len(values)})"
        )
    result = {
        **medians,
        "ratio": round(medians["help_s"] / medians["python_s"], 2),
        "meter_read": "a real read of energy, tou and status from `wattbook simulate` (unpaced)",
        "goal_s": GOAL_S,
        "goal_met": medians["help_s"] < GOAL_S and medians["meter_read_s"] < GOAL_S,
        "repeat": repeat,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
