"""`wattbook simulate` and `wattbook meter ...` as a field engineer uses them, over TCP."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.web.server import seed

from wattbook import bootstrap
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.staff import audit
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet
from wattbook.interfaces.cli import main
from wattbook.settings import Settings

METERS = "051600000001-051600000004"


@pytest.fixture(scope="module")
def bus_url() -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattbook",
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--meters",
            METERS,
            "--baud",
            "0",
            "--seed",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"tcp://[\d.]+:\d+", line)
    assert match, line
    yield match.group(0)
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["meter", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestMeterRead:
    def test_reads_the_energy_block_as_json(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(
            capsys, "read", "--bus", bus_url, "--address", "051600000001", "tou", "--json"
        )

        assert code == 0
        block = json.loads(out)["values"]["0001FF00"]
        tariffs = [float(t) for t in block["tariffs"]]
        assert len(tariffs) == 4
        assert float(block["total"]) >= sum(tariffs) - 0.05

    def test_reads_every_item_as_text(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(
            capsys,
            "read",
            "--bus",
            bus_url,
            "--address",
            "051600000002",
            "energy",
            "frozen",
            "voltage",
            "current",
            "power",
            "time",
            "identity",
        )

        assert code == 0
        assert "051600000002" in out
        assert out.count("\n") >= 10

    def test_silent_address_exits_3_with_advice(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(
            capsys,
            "read",
            "--bus",
            bus_url,
            "--address",
            "051600000099",
            "--timeout",
            "0.2",
            "--retries",
            "0",
        )

        assert code == 3
        assert "No answer from meter 051600000099" in err

    def test_unknown_item_is_a_usage_error(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(capsys, "read", "--bus", bus_url, "--address", "051600000001", "gas")

        assert code == 2
        assert "Unknown item" in err

    def test_unreachable_bus_exits_6(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(
            capsys, "read", "--bus", "tcp://127.0.0.1:1", "--address", "051600000001"
        )

        assert code == 6
        assert "Cannot use the bus" in err


class TestRelayTools:
    def test_trip_then_close_are_confirmed_by_status_word_3(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        trip_code, trip_out, _ = run(
            capsys, "trip", "--bus", bus_url, "--address", "051600000003", "--json"
        )
        close_code, close_out, _ = run(
            capsys, "close", "--bus", bus_url, "--address", "051600000003", "--json"
        )

        assert (trip_code, json.loads(trip_out)["relay_open"]) == (0, True)
        assert (close_code, json.loads(close_out)["relay_open"]) == (0, False)

    def test_wrong_password_is_refused_with_exit_4(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(
            capsys,
            "trip",
            "--bus",
            bus_url,
            "--address",
            "051600000004",
            "--password",
            "02:000000",
        )

        assert code == 4
        assert "password or authentication rejected" in err

    def test_keep_power_blocks_a_trip_until_released(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        keep, _, _ = run(capsys, "keep-power", "--bus", bus_url, "--address", "051600000004")
        refused, _, _ = run(capsys, "trip", "--bus", bus_url, "--address", "051600000004")
        released, _, _ = run(
            capsys, "keep-power", "--release", "--bus", bus_url, "--address", "051600000004"
        )
        tripped, _, _ = run(capsys, "trip", "--bus", bus_url, "--address", "051600000004")
        run(capsys, "close", "--bus", bus_url, "--address", "051600000004")

        assert (keep, refused, released, tripped) == (0, 4, 0, 0)

    def test_bad_password_format_is_a_usage_error(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(
            capsys, "trip", "--bus", bus_url, "--address", "051600000001", "--password", "123"
        )

        assert code == 2
        assert "--password" in err


class TestClockAndScan:
    def test_sync_time_reports_the_drift_it_corrected(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(
            capsys, "sync-time", "--bus", bus_url, "--address", "051600000002", "--json"
        )

        assert code == 0
        assert "drift_s" in json.loads(out)

    def test_scan_of_a_range_finds_exactly_the_meters(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(
            capsys, "scan", "--bus", bus_url, "--range", "051600000001-051600000006", "--json"
        )

        assert code == 0
        assert json.loads(out)["addresses"] == [f"05160000000{n}" for n in range(1, 5)]


def test_bad_address_is_refused_before_touching_the_bus(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["meter", "read", "--bus", "tcp://127.0.0.1:1", "--address", "0516"])

    assert exit_info.value.code == 2
    assert "not a meter address" in capsys.readouterr().err


class TestReadableOutput:
    def test_read_names_the_four_time_of_use_registers_and_units(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(
            capsys, "read", "--bus", bus_url, "--address", "051600000001", "tou", "voltage"
        )

        assert code == 0
        tou = next(line for line in out.splitlines() if "sharp" in line)
        assert re.search(
            r"total [\d.]+ kWh; sharp 尖 [\d.]+, peak 峰 [\d.]+, flat 平 [\d.]+, "
            r"valley 谷 [\d.]+ kWh$",
            tou,
        ), tou
        assert re.search(r"voltage +[\d.]+ V$", out, flags=re.MULTILINE | re.IGNORECASE), out

    def test_relay_state_reads_as_power_on_or_off(
        self, bus_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, tripped, _ = run(capsys, "trip", "--bus", bus_url, "--address", "051600000002")
        _, status, _ = run(capsys, "read", "--bus", bus_url, "--address", "051600000002", "status")
        _, closed, _ = run(capsys, "close", "--bus", bus_url, "--address", "051600000002")

        assert "power off 断电" in tripped
        assert "power off 断电" in status
        assert "power on 通电" in closed
        assert "CLOSED" not in tripped + closed

    def test_scan_prints_each_meter_as_plain_lines_when_piped(self, bus_url: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "wattbook", "meter", "scan", "--bus", bus_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[1:] == [f"  05160000000{n}" for n in range(1, 5)] + [
            f"4 meter(s) on {bus_url}"
        ]
        assert "\r" not in result.stdout + result.stderr


class TestFieldToolsAudit:
    """A4: a field tool acting on a meter installed in the database leaves an audit record."""

    def test_a_trip_of_an_installed_meter_is_recorded_and_a_stranger_is_not(
        self, bus_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        url = f"sqlite:///{tmp_path / 'field.sqlite3'}"
        seed(url, ["051600000001"])
        _install(url, "051600000001")

        installed = run(
            capsys,
            "trip",
            "--bus",
            bus_url,
            "--address",
            "051600000001",
            "--database-url",
            url,
            "--by",
            "wang.gong",
        )
        stranger = run(
            capsys,
            "close",
            "--bus",
            bus_url,
            "--address",
            "051600000002",
            "--database-url",
            url,
            "--by",
            "wang.gong",
        )
        run(capsys, "close", "--bus", bus_url, "--address", "051600000001")

        assert installed[0] == 0
        assert "recorded in the audit log as headend.field.trip by wang.gong" in installed[1]
        assert stranger[0] == 0
        assert "audit" not in stranger[1]
        records = _audit(url)
        assert [(r.actor, r.action, r.target, r.after, r.channel) for r in records] == [
            ("wang.gong", "headend.field.trip", "051600000001", "confirmed", "CLI")
        ]


def _install(url: str, number: str) -> None:
    storage = bootstrap.build_storage(Settings(database_url=url))
    try:
        asyncio.run(
            install_meter(
                uow=storage.uow_factory(),
                clock=storage.clock,
                number=AccountNumber(value=number),
                meter_number=MeterNumber(value=number),
                bus="bus-1",
                initial=RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0),
            )
        )
    finally:
        storage.close()


def _audit(url: str) -> list[staff.AuditRecord]:
    storage = bootstrap.build_storage(Settings(database_url=url))

    async def search() -> list[staff.AuditRecord]:
        found = await audit.search_audit(
            uow=storage.uow_factory(), query=staff_ports.AuditQuery(action="headend.field")
        )
        return [stored.record for stored in found]

    try:
        return asyncio.run(search())
    finally:
        storage.close()
