"""The fault-injection suite: every fault kind on every backend, and its report.

``pytest tests/chaos`` runs a short pass (a few trials of each kind, both backends); the long
run (>= 200 kill -9 trials) is ``python bench/chaos.py``, or the tests with
``WATTBOOK_CHAOS_TRIALS`` raised. Both go through :func:`run_kind`, and :class:`Report` prints
the same figures either way.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

from tests.chaos import bus, databases, processes

KILL_KINDS = ("headend", "web", "sms")  # kill -9 of a real process; db-restart is counted apart
ALL_KINDS = (*bus.FAULT_KINDS, *processes.PROCESS_KINDS)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """How big each run is."""

    buses: int = 1
    meters: int = 4
    sweeps: int = 8
    loss_buses: int = 1
    loss_meters: int = 8
    loss_sweeps: int = 16
    trials: int = 2  # per process kind and backend
    web_sessions: int = 3  # kiosk sessions (and bank callbacks) per round of web kills
    window_s: float = 1.5  # a kill (or a restart) lands within this many seconds of a start


SHORT = Plan()
# 3 kill kinds x 34 trials x 2 backends = 204 kill -9 trials; 2 x 3 x 16 x 48 = 4,608 reads
# scheduled under 1 % frame loss.
LONG = Plan(
    buses=2,
    meters=8,
    sweeps=24,
    loss_buses=3,
    loss_meters=16,
    loss_sweeps=48,
    trials=34,
    web_sessions=8,
    window_s=4.0,
)


Run = bus.BusRun | processes.ProcessRun


async def run_kind(
    kind: str, *, backend: str, plan: Plan, folder: Path, seed: int
) -> bus.BusRun | processes.ProcessRun | None:
    """Run one fault kind on one backend; None when it does not apply (db-restart on SQLite)."""
    rng = random.Random(f"{seed}-{kind}-{backend}")
    if kind in bus.FAULT_KINDS:
        loss = kind == "loss"
        with databases.database(backend, folder) as url:
            return await bus.bus_fault_run(
                kind=kind,
                backend=backend,
                url=url,
                buses=plan.loss_buses if loss else plan.buses,
                meters=plan.loss_meters if loss else plan.meters,
                sweeps=plan.loss_sweeps if loss else plan.sweeps,
                seed=rng.randrange(2**32),
            )
    if kind == "db-restart" and backend == "sqlite":
        return None  # the head-end is SQLite's writer: killing it is the headend kind
    with (folder / f"{kind}-{backend}.log").open("ab") as log:
        if kind == "web":
            return await processes.web_kills(
                backend=backend,
                folder=folder,
                trials=plan.trials,
                rng=rng,
                log_path=folder / f"serve-{backend}.log",
                sessions=plan.web_sessions,
            )
        with databases.database(backend, folder) as url:
            if kind == "headend":
                return await processes.headend_kills(
                    backend=backend,
                    url=url,
                    trials=plan.trials,
                    rng=rng,
                    log=log,
                    window_s=plan.window_s,
                )
            if kind == "sms":
                return await processes.sms_kills(
                    backend=backend,
                    url=url,
                    trials=plan.trials,
                    rng=rng,
                    log=log,
                    window_s=plan.window_s,
                )
            headend = await processes.database_restarts(
                backend=backend,
                url=url,
                trials=plan.trials,
                rng=rng,
                log=log,
                window_s=plan.window_s,
            )
        # ... and under the web process, in the middle of its bank callback batches.
        web = await processes.web_kills(
            backend=backend,
            folder=folder,
            trials=plan.trials,
            rng=rng,
            log_path=folder / f"serve-restart-{backend}.log",
            sessions=plan.web_sessions,
            restart_database=True,
        )
        headend.trials += web.trials
        headend.violations += [f"web: {v}" for v in web.violations]
        headend.figures.update(web_restarts=web.trials, notes=web.figures["notes"])
        return headend


@dataclasses.dataclass(slots=True)
class Report:
    """Every run's figures and violations, and the totals the goals are about."""

    runs: list[Run] = dataclasses.field(default_factory=list)

    def _bus(self, kind: str) -> list[bus.BusRun]:
        return [r for r in self.runs if isinstance(r, bus.BusRun) and r.kind == kind]

    @property
    def scheduled(self) -> int:
        """Return the reads scheduled under 1 % frame loss."""
        return sum(r.scheduled for r in self._bus("loss"))

    @property
    def collected(self) -> int:
        """Return the reads collected under 1 % frame loss."""
        return sum(r.collected for r in self._bus("loss"))

    @property
    def trials(self) -> int:
        """Return the kill -9 trials made."""
        return sum(
            r.trials
            for r in self.runs
            if isinstance(r, processes.ProcessRun) and r.kind in KILL_KINDS
        )

    @property
    def violations(self) -> list[str]:
        """Return every violation found, each prefixed by its run."""
        return [f"{r.kind}/{r.backend}: {v}" for r in self.runs for v in r.violations]

    def lines(self) -> list[str]:
        """Return the report, one line a run, then the totals and every violation."""
        out = []
        for r in self.runs:
            if isinstance(r, bus.BusRun):
                ratio = r.collected / r.scheduled if r.scheduled else 0.0
                figures = f"reads {r.collected}/{r.scheduled} ({ratio:.4%})"
            else:
                extra = ", ".join(f"{k} {v}" for k, v in r.figures.items())
                figures = f"trials {r.trials}" + (f", {extra}" if extra else "")
            out.append(f"{r.kind:<10} {r.backend:<10} {figures}; violations {len(r.violations)}")
        total = f"kill -9 trials: {self.trials}; violations: {len(self.violations)}"
        if self.scheduled:
            ratio = self.collected / self.scheduled
            total = (
                f"collected under 1 % frame loss: {self.collected}/{self.scheduled}"
                f" ({ratio:.4%}); {total}"
            )
        out.append(total)
        out += [f"VIOLATION {v}" for v in self.violations]
        return out

    def summary(self) -> dict[str, object]:
        """Return the figures as the bench's JSON line carries them."""
        restarts = [
            r for r in self.runs if isinstance(r, processes.ProcessRun) and r.kind == "db-restart"
        ]
        return {
            "collected_ratio": round(self.collected / self.scheduled, 6) if self.scheduled else 0,
            "reads_collected": self.collected,
            "reads_scheduled": self.scheduled,
            "trials": self.trials,
            "trials_by_kind": {
                kind: sum(
                    r.trials
                    for r in self.runs
                    if isinstance(r, processes.ProcessRun) and r.kind == kind
                )
                for kind in KILL_KINDS
            },
            "db_restarts": sum(r.trials for r in restarts),
            "violations": len(self.violations),
        }


def backends() -> Sequence[str]:
    """Return the backends this machine can run: SQLite, and PostgreSQL when configured."""
    return databases.BACKENDS if databases.postgres_server() else ("sqlite",)
