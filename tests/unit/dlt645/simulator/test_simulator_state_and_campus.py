"""The state file round trip, campus files and meter ranges."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from wattbook.dlt645 import simulator

START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=simulator.SHANGHAI)
ADDRESS = "051600001234"


def busy_meter(clock: simulator.ManualTimeSource) -> simulator.VirtualMeter:
    meter = simulator.VirtualMeter(
        spec=simulator.MeterSpec(address=ADDRESS, seed=4, drift_ppm=25, history_months=13),
        time_source=clock,
    )
    clock.advance(dt.timedelta(hours=3, seconds=17))
    meter.open_cover()
    meter.trip(operator_code=77)
    meter.allow_close(operator_code=78)
    meter.set_keep_power(on=True)
    meter.record_programming(data_id=0x04000102, operator_code=79)
    meter.set_meter_time(meter.meter_time().replace(microsecond=0), operator_code=79)
    meter.power_down()
    clock.advance(dt.timedelta(minutes=3))
    return meter


class TestStateFile:
    def test_round_trip_restores_every_register_event_and_switch(self, tmp_path: Path) -> None:
        clock = simulator.ManualTimeSource(start_at=START)
        meter = busy_meter(clock)
        path = tmp_path / "state.json"

        simulator.save_state(path=path, meters=[meter], world_at=clock.now())
        world_at, states = simulator.load_state(path)
        restored = simulator.VirtualMeter(spec=meter.spec, time_source=clock, state=states[ADDRESS])

        assert world_at == clock.now()
        assert restored.state == meter.state
        assert restored.events(simulator.EventKind.PROGRAMMING).count == 1
        clock.advance(dt.timedelta(days=2))
        assert restored.registers() == meter.registers()
        assert restored.meter_time() == meter.meter_time()

    def test_file_from_before_programming_records_still_loads(self, tmp_path: Path) -> None:
        clock = simulator.ManualTimeSource(start_at=START)
        meter = busy_meter(clock)
        path = tmp_path / "state.json"
        simulator.save_state(path=path, meters=[meter], world_at=clock.now())
        document = json.loads(path.read_text(encoding="utf-8"))
        saved = document["meters"][ADDRESS]
        del saved["programming_session_at"]
        del saved["events"]["programming"]
        for event in saved["events"].values():
            for record in event["records"]:
                del record["data_ids"]
        path.write_text(json.dumps(document), encoding="utf-8")

        _, states = simulator.load_state(path)

        state = states[ADDRESS]
        assert state.programming_session_at is None
        assert simulator.EventKind.PROGRAMMING not in state.counts
        assert state.records == {
            kind: records
            for kind, records in meter.state.records.items()
            if kind is not simulator.EventKind.PROGRAMMING
        }

    def test_file_is_replaced_whole(self, tmp_path: Path) -> None:
        clock = simulator.ManualTimeSource(start_at=START)
        meter = busy_meter(clock)
        path = tmp_path / "state.json"
        path.write_text("old", encoding="utf-8")

        simulator.save_state(path=path, meters=[meter], world_at=clock.now())

        assert json.loads(path.read_text(encoding="utf-8"))["format"] == 1
        assert [p.name for p in tmp_path.iterdir()] == ["state.json"]

    def test_foreign_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        path.write_text('{"format": 99}', encoding="utf-8")

        with pytest.raises(simulator.StateFileError):
            simulator.load_state(path)

    async def test_campus_resumes_from_its_state_file(self, tmp_path: Path) -> None:
        clock = simulator.ManualTimeSource(start_at=START)
        path = tmp_path / "state.json"
        spec = simulator.CampusSpec(
            buses=(
                simulator.BusSpec(
                    name="b",
                    host="127.0.0.1",
                    port=0,
                    meters=simulator.meter_specs([ADDRESS], seed=1),
                ),
            )
        )
        first = simulator.Campus.from_spec(spec, time_source=clock, state_path=path)
        async with first.serving():
            first.meter(ADDRESS).trip()
            clock.advance(dt.timedelta(hours=1))
        saved = first.meter(ADDRESS).registers()

        second = simulator.Campus.from_spec(spec, time_source=clock, state_path=path)

        assert not second.meter(ADDRESS).relay_closed
        assert second.meter(ADDRESS).registers() == saved


CAMPUS_TOML = """
seed = 7
history_months = 2

[security]
control_level = 3
control_password = "000003"

[[bus]]
name = "block-5"
listen = "127.0.0.1:7001"
baud = 9600
meters = ["051600000001-051600000004", "051600000100"]
heavy = ["051600000002"]
faults = { drop = 0.25 }
max_reply_data = 40
[bus.meter_faults."051600000003"]
silent = 1.0

[[bus]]
listen = "0.0.0.0:7002"
meters = "051600000200"
"""


class TestCampusFile:
    def test_reads_buses_meters_heavy_users_faults_and_security(self) -> None:
        spec = simulator.campus_spec_from_toml(CAMPUS_TOML)

        first, second = spec.buses
        assert (first.name, first.host, first.port, first.baud) == (
            "block-5",
            "127.0.0.1",
            7001,
            9600,
        )
        assert [m.address for m in first.meters][-1] == "051600000100"
        assert [m.address for m in first.meters if m.heavy] == ["051600000002"]
        assert first.faults_of("051600000003") == simulator.Faults(silent=1.0)
        assert first.faults_of("051600000001") == simulator.Faults(drop=0.25)
        assert (second.name, second.baud) == ("bus-2", 2400)
        assert (first.max_reply_data, second.max_reply_data) == (40, None)
        assert spec.security.control_password.level == 3

    def test_seed_on_the_command_line_wins(self) -> None:
        assert simulator.campus_spec_from_toml(CAMPUS_TOML, seed=99).seed == 99

    def test_meter_on_two_buses_is_refused(self) -> None:
        text = CAMPUS_TOML.replace('meters = "051600000200"', 'meters = "051600000001"')

        with pytest.raises(simulator.CampusSpecError):
            simulator.campus_spec_from_toml(text)

    @pytest.mark.parametrize("value", ["0", "251", '"40"', "true"])
    def test_reply_data_limit_outside_1_to_250_bytes_is_refused(self, value: str) -> None:
        text = CAMPUS_TOML.replace("max_reply_data = 40", f"max_reply_data = {value}")

        with pytest.raises(simulator.CampusSpecError):
            simulator.campus_spec_from_toml(text)

    def test_faults_for_a_meter_elsewhere_are_refused(self) -> None:
        text = CAMPUS_TOML.replace('meter_faults."051600000003"', 'meter_faults."051600000999"')

        with pytest.raises(simulator.CampusSpecError):
            simulator.campus_spec_from_toml(text)


class TestParseMeters:
    def test_expands_ranges_and_keeps_leading_zeros(self) -> None:
        assert simulator.parse_meters("051600000009-051600000011,051600000100") == (
            "051600000009",
            "051600000010",
            "051600000011",
            "051600000100",
        )

    @pytest.mark.parametrize("text", ["5160000001", "051600000011-051600000009", "0516000000AB"])
    def test_refuses_bad_numbers_and_backward_ranges(self, text: str) -> None:
        with pytest.raises(simulator.CampusSpecError):
            simulator.parse_meters(text)
