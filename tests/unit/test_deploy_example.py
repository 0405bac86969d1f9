"""deploy/compose.yaml runs commands the CLI has, with settings the code reads.

The example is not started here (no container runtime on the test machine); what can drift is
checked instead: every wattbook command in it must parse with the `wattbook` parser and reach
a handler, every WATTBOOK_* variable must be one settings.py reads, and the processes the
deployment guide promises (NATS, PostgreSQL, two head-ends, two ingest workers, the web app)
must all be there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from wattbook import settings
from wattbook.interfaces.cli._main import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _wattbook_commands() -> dict[str, list[str]]:
    commands = {}
    for name, service in _services().items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "wattbook":
            commands[name] = [str(part) for part in command]
    return commands


def _parse(command: list[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(command[1:])
    except SystemExit as error:  # argparse's way of refusing
        pytest.fail(f"`{' '.join(command)}` does not parse: exit {error.code}")


def _action_of(args: argparse.Namespace) -> tuple[str, ...]:
    words = [args.command]
    for attribute in ("action", "partitions_action", "ledger_action"):
        value = getattr(args, attribute, None)
        if isinstance(value, str):
            words.append(value)
    return tuple(words)


class TestTheProcesses:
    def test_has_the_broker_the_database_two_head_ends_two_ingest_workers_and_the_web(
        self,
    ) -> None:
        services = _services()
        actions = sorted(_action_of(_parse(c)) for c in _wattbook_commands().values())

        assert services["nats"]["image"].startswith("nats:")
        assert "-js" in services["nats"]["command"]
        assert services["postgres"]["image"].startswith("postgres:")
        assert actions == [
            ("headend", "run"),
            ("headend", "run"),
            ("ingest", "run"),
            ("ingest", "run"),
            ("migrate",),
            ("serve",),
        ]

    def test_head_ends_publish_to_the_broker_under_names_of_their_own_and_leave_the_jobs(
        self,
    ) -> None:
        head_ends = [
            _parse(command)
            for command in _wattbook_commands().values()
            if _action_of(_parse(command)) == ("headend", "run")
        ]

        assert all(args.broker == "nats://nats:4222" for args in head_ends)
        assert all(args.no_jobs for args in head_ends)
        assert len({args.name for args in head_ends}) == 2
        assert len({args.spool for args in head_ends}) == 2
        # One head-end owns a bus: two masters on one RS-485 pair garble each other.
        buses = [bus for args in head_ends for bus in args.bus]
        assert len(buses) == len(set(buses))

    def test_ingest_workers_take_from_the_same_broker(self) -> None:
        workers = [
            _parse(command)
            for command in _wattbook_commands().values()
            if _action_of(_parse(command)) == ("ingest", "run")
        ]

        assert [args.broker for args in workers] == ["nats://nats:4222"] * 2


class TestEveryCommandExists:
    @pytest.mark.parametrize("service", sorted(_wattbook_commands()))
    def test_parses_and_reaches_a_handler(self, service: str) -> None:
        args = _parse(_wattbook_commands()[service])

        assert callable(getattr(args, "handler", None))


class TestSettings:
    def test_every_variable_is_one_the_code_reads(self) -> None:
        known = {v for k, v in vars(settings).items() if k.endswith("_VARIABLE")}
        lines = (DEPLOY / "wattbook.env").read_text(encoding="utf-8").splitlines()
        names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]

        assert names
        assert set(names) <= known
        assert settings.DATABASE_URL_VARIABLE in names

    def test_every_wattbook_service_reads_the_settings_file(self) -> None:
        services = _services()

        for name in _wattbook_commands():
            assert services[name]["env_file"] == "wattbook.env", name
