"""The state file: virtual meters' changing state as JSON, written atomically.

Only what changes is saved (registers, residues, settlements, clock, relay, events, physical
switches); the configuration comes from the command line or the campus file again. Integers
stay integers, so no energy is lost or rounded through a restart. Keys added later (programming
records' ``data_ids``, ``programming_session_at``) are optional when reading, so files written
before them still load, as the same format version.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wattbook.dlt645.simulator._clock import MeterClock
from wattbook.dlt645.simulator._meter import MeterState, VirtualMeter
from wattbook.dlt645.simulator._records import (
    RECORDS_KEPT,
    SETTLEMENTS_KEPT,
    EventKind,
    EventRecord,
    Registers,
    Settlement,
)

FORMAT_VERSION = 1


class StateFileError(Exception):
    """Raise when a state file cannot be read back (wrong version, damaged content)."""


def _naive(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        raise StateFileError(f"meter time {text} should be naive")
    return value


def _aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise StateFileError(f"true time {text} should carry its offset")
    return value


def _record_to_json(record: EventRecord) -> dict[str, Any]:
    return {
        "started_at": record.started_at.isoformat(),
        "ended_at": None if record.ended_at is None else record.ended_at.isoformat(),
        "operator_code": record.operator_code,
        "energy_before_wh": record.energy_before_wh,
        "energy_after_wh": record.energy_after_wh,
        "data_ids": list(record.data_ids),
    }


def _record_from_json(kind: EventKind, raw: Mapping[str, Any]) -> EventRecord:
    return EventRecord(
        kind=kind,
        started_at=_naive(raw["started_at"]),
        ended_at=None if raw["ended_at"] is None else _naive(raw["ended_at"]),
        operator_code=int(raw["operator_code"]),
        energy_before_wh=int(raw["energy_before_wh"]),
        energy_after_wh=None if raw["energy_after_wh"] is None else int(raw["energy_after_wh"]),
        # Absent from files written before programming records existed.
        data_ids=tuple(int(di) for di in raw.get("data_ids", ())),
    )


def state_to_json(state: MeterState) -> dict[str, Any]:
    """Return a meter's state as JSON-ready data."""
    anchor_true, anchor_meter = state.clock.anchor
    return {
        "integrated_to": state.integrated_to.isoformat(),
        "clock": {
            "anchor_true_at": anchor_true.isoformat(),
            "anchor_meter_at": anchor_meter.isoformat(),
            "drift_ppm": state.clock.drift_ppm,
        },
        "wh": list(state.wh),
        "residual": list(state.residual),
        "settlements": [
            {"frozen_at": s.frozen_at.isoformat(), "registers_wh": list(s.registers.as_tuple())}
            for s in state.settlements
        ],
        "relay": {
            "closed": state.relay_closed,
            "trip_commanded": state.trip_commanded,
            "close_allowed": state.close_allowed,
            "keep_power": state.keep_power,
            "alarm": state.alarm,
            "close_operator": state.close_operator,
        },
        "powered": state.powered,
        "cover_open": state.cover_open,
        "terminal_cover_open": state.terminal_cover_open,
        "extra_load_dw": state.extra_load_dw,
        "last_broadcast_date": (
            None if state.last_broadcast_date is None else state.last_broadcast_date.isoformat()
        ),
        "programming_session_at": (
            None
            if state.programming_session_at is None
            else state.programming_session_at.isoformat()
        ),
        "events": {
            kind.value: {
                "count": state.counts.get(kind, 0),
                "records": [_record_to_json(r) for r in state.records.get(kind, ())],
            }
            for kind in EventKind
            if state.counts.get(kind)
        },
    }


def state_from_json(raw: Mapping[str, Any]) -> MeterState:
    """Return a meter's state from data written by :func:`state_to_json`.

    :raises StateFileError: if the data is incomplete or malformed.
    """
    try:
        clock = MeterClock(
            anchor_true_at=_aware(raw["clock"]["anchor_true_at"]),
            anchor_meter_at=_naive(raw["clock"]["anchor_meter_at"]),
            drift_ppm=int(raw["clock"]["drift_ppm"]),
        )
        relay = raw["relay"]
        state = MeterState(
            integrated_to=_aware(raw["integrated_to"]),
            clock=clock,
            wh=[int(v) for v in raw["wh"]],
            residual=[int(v) for v in raw["residual"]],
            settlements=collections.deque(
                (
                    Settlement(
                        frozen_at=_naive(s["frozen_at"]),
                        registers=Registers.from_tuple([int(v) for v in s["registers_wh"]]),
                    )
                    for s in raw["settlements"]
                ),
                maxlen=SETTLEMENTS_KEPT,
            ),
            relay_closed=bool(relay["closed"]),
            trip_commanded=bool(relay["trip_commanded"]),
            close_allowed=bool(relay["close_allowed"]),
            keep_power=bool(relay["keep_power"]),
            alarm=bool(relay["alarm"]),
            close_operator=int(relay["close_operator"]),
            powered=bool(raw["powered"]),
            cover_open=bool(raw["cover_open"]),
            terminal_cover_open=bool(raw["terminal_cover_open"]),
            extra_load_dw=int(raw["extra_load_dw"]),
            last_broadcast_date=(
                None
                if raw["last_broadcast_date"] is None
                else dt.date.fromisoformat(raw["last_broadcast_date"])
            ),
            # Absent from files written before programming records existed: no open session.
            programming_session_at=(
                None
                if raw.get("programming_session_at") is None
                else _aware(raw["programming_session_at"])
            ),
        )
        for name, event in raw["events"].items():
            kind = EventKind(name)
            state.counts[kind] = int(event["count"])
            state.records[kind] = collections.deque(
                (_record_from_json(kind, r) for r in event["records"]), maxlen=RECORDS_KEPT
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(f"damaged meter state: {exc!r}") from exc
    if len(state.wh) != 5 or len(state.residual) != 5:
        raise StateFileError("a meter has exactly five registers")
    return state


def save_state(*, path: Path, meters: Iterable[VirtualMeter], world_at: dt.datetime) -> None:
    """Write the state of ``meters`` to ``path`` atomically (temporary file, then rename).

    ``world_at`` is the simulated world's time, so an accelerated simulation resumes where it
    stopped instead of jumping back to the real time.

    :raises OSError: if the file cannot be written.
    """
    document = {
        "format": FORMAT_VERSION,
        "world_at": world_at.isoformat(),
        "meters": {meter.address: state_to_json(meter.state) for meter in meters},
    }
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> tuple[dt.datetime, dict[str, MeterState]]:
    """Return the world time and the meter states saved in ``path``.

    :raises StateFileError: if the file is not a state file this version can read.
    :raises OSError: if it cannot be read.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        raise StateFileError(f"{path} is not a version {FORMAT_VERSION} simulator state file")
    try:
        world_at = _aware(document["world_at"])
        meters = {address: state_from_json(raw) for address, raw in document["meters"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateFileError(f"{path} is damaged: {exc!r}") from exc
    return world_at, meters
