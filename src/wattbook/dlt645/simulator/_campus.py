"""A simulated campus: buses of virtual meters, each served on its own TCP port.

One bus is one TCP port, like a serial-to-TCP server in front of one RS-485 line, with its
own baud rate (answers are paced by :func:`wattbook.dlt645.server.serve_tcp`). The campus is
described by a :class:`CampusSpec`, built in code, from the ``simulate`` command line, or from a
TOML campus file::

    seed = 7
    history_months = 14          # past consumption a new meter starts with
    drift_ppm_max = 20           # each meter's clock drifts by a seeded amount up to this
    clock_offset_s_max = 90      # and starts up to this many seconds off

    [security]                   # optional; these are the defaults
    control_password = "123456"
    control_level = 2            # 2 or 3
    write_password = "123456"
    secure = false               # true: relay orders only through the security module
    master_key = "00112233445566778899aabbccddeeff"   # hex, needed when secure = true

    [[bus]]
    name = "block-5"
    listen = "127.0.0.1:7001"
    baud = 2400
    meters = ["051600000001-051600000032", "051600000100"]
    heavy = ["051600000007"]     # optional; by default about 1 meter in 16, by seed
    faults = { drop = 0.01 }     # every meter on this bus
    max_reply_data = 40          # optional: longer items come in follow-up frames (12H)
    [bus.meter_faults."051600000003"]
    silent = 1.0                 # this one is unreachable
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import tomllib
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from wattbook.dlt645 import messages, server
from wattbook.dlt645.errors import DataError
from wattbook.dlt645.simulator._clock import (
    AcceleratedTimeSource,
    SystemTimeSource,
    TimeSource,
)
from wattbook.dlt645.simulator._device import (
    MAX_REPLY_DATA_LIMIT,
    NO_FAULTS,
    Faults,
    MeterDevice,
    Security,
)
from wattbook.dlt645.simulator._load import mix
from wattbook.dlt645.simulator._meter import MeterSpec, MeterState, VirtualMeter
from wattbook.dlt645.simulator._state import load_state, save_state

logger = logging.getLogger(__name__)

DEFAULT_BAUD = 2400
DEFAULT_SAVE_INTERVAL_S = 30.0
_MAX_METERS_PER_RANGE = 10_000
_HEAVY_ONE_IN = 16


class CampusSpecError(ValueError):
    """Raise when a campus description (file or command line) is not valid."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BusSpec:
    """One RS-485 bus: where it listens, its baud rate, its meters and their faults.

    ``max_reply_data``, if set, makes every meter of the bus split items longer than that
    many bytes into follow-up frames (see :class:`MeterDevice`).
    """

    name: str
    host: str
    port: int
    meters: tuple[MeterSpec, ...]
    baud: int | None = DEFAULT_BAUD
    answer_delay_s: float = server.DEFAULT_ANSWER_DELAY_S
    faults: tuple[tuple[str, Faults], ...] = ()
    max_reply_data: int | None = None

    def faults_of(self, address: str) -> Faults:
        """Return the faults configured for one meter of this bus."""
        return dict(self.faults).get(address, NO_FAULTS)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CampusSpec:
    """Every bus of a simulated campus, and what they share."""

    buses: tuple[BusSpec, ...]
    seed: int = 0
    security: Security = dataclasses.field(default_factory=Security)

    def __post_init__(self) -> None:
        addresses = [meter.address for bus in self.buses for meter in bus.meters]
        duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
        if duplicates:
            raise CampusSpecError(f"meters on more than one bus: {', '.join(duplicates[:5])}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where one bus of a running campus can be reached."""

    bus: str
    host: str
    port: int
    baud: int | None
    meter_count: int


def parse_meters(items: str | Iterable[str]) -> tuple[str, ...]:
    """Return the addresses of meter lists and ranges: "051600000001-051600000032,0516...".

    :raises CampusSpecError: if an item is not 12 digits or a range runs backwards or is huge.
    """
    parts = items.split(",") if isinstance(items, str) else list(items)
    addresses: list[str] = []
    for raw in parts:
        part = raw.strip()
        first, dash, last = part.partition("-")
        for number in (first, last) if dash else (first,):
            if len(number) != 12 or not number.isdigit():
                raise CampusSpecError(f"a meter number is 12 digits, not {number!r}")
        if not dash:
            addresses.append(first)
            continue
        if int(last) < int(first) or int(last) - int(first) >= _MAX_METERS_PER_RANGE:
            raise CampusSpecError(f"meter range {part} is backwards or too large")
        addresses.extend(f"{n:012d}" for n in range(int(first), int(last) + 1))
    return tuple(addresses)


def parse_listen(text: str) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT".

    :raises CampusSpecError: if it is not host:port with a port 0-65535.
    """
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise CampusSpecError(f"listen address must be HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def meter_specs(
    addresses: Iterable[str],
    *,
    seed: int,
    heavy: Iterable[str] | None = None,
    history_months: int = 14,
    drift_ppm_max: int = 20,
    clock_offset_s_max: int = 90,
    max_current_ma: int | None = None,
) -> tuple[MeterSpec, ...]:
    """Return meter specs with seeded drift, clock offset and (unless given) heavy users."""
    heavy_set = None if heavy is None else set(heavy)
    specs = []
    for address in addresses:
        number = int(address)
        is_heavy = (
            mix(seed, number, 11) % _HEAVY_ONE_IN == 0
            if heavy_set is None
            else address in heavy_set
        )
        drift = mix(seed, number, 12) % (2 * drift_ppm_max + 1) - drift_ppm_max
        offset = mix(seed, number, 13) % (2 * clock_offset_s_max + 1) - clock_offset_s_max
        extra: dict[str, Any] = {}
        if max_current_ma is not None:
            extra["max_current_ma"] = max_current_ma
        specs.append(
            MeterSpec(
                address=address,
                seed=seed,
                heavy=is_heavy,
                drift_ppm=drift,
                clock_offset=dt.timedelta(seconds=offset),
                history_months=history_months,
                **extra,
            )
        )
    return tuple(specs)


def _faults_from(raw: object, where: str) -> Faults:
    if not isinstance(raw, dict):
        raise CampusSpecError(f"{where}: faults must be a table")
    try:
        return Faults(**{key: float(value) for key, value in raw.items()})
    except (TypeError, ValueError) as exc:
        raise CampusSpecError(f"{where}: {exc}") from exc


def _security_from(raw: Mapping[str, Any]) -> Security:
    try:
        level = int(raw.get("control_level", 2))
        control = messages.Password(level=level, digits=str(raw.get("control_password", "123456")))
        write = messages.Password(level=0x02, digits=str(raw.get("write_password", "123456")))
        key_hex = raw.get("master_key")
        module = (
            None if key_hex is None else messages.SimulatedSecurityModule(bytes.fromhex(key_hex))
        )
        return Security(
            control_password=control,
            write_password=write,
            secure=bool(raw.get("secure", False)),
            module=module,
        )
    except (ValueError, TypeError, DataError) as exc:
        raise CampusSpecError(f"[security]: {exc}") from exc


def campus_spec_from_toml(text: str, *, seed: int | None = None) -> CampusSpec:
    """Return the campus a TOML campus file describes (see the module docstring).

    ``seed`` overrides the file's seed (the command line's ``--seed``).

    :raises CampusSpecError: if the file is not valid TOML or not a valid campus.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampusSpecError(f"not TOML: {exc}") from exc
    chosen_seed = int(document.get("seed", 0)) if seed is None else seed
    buses_raw = document.get("bus")
    if not isinstance(buses_raw, list) or not buses_raw:
        raise CampusSpecError("a campus needs at least one [[bus]]")
    buses = []
    for index, raw in enumerate(buses_raw):
        name = str(raw.get("name", f"bus-{index + 1}"))
        try:
            host, port = parse_listen(str(raw["listen"]))
            addresses = parse_meters(raw["meters"])
        except KeyError as exc:
            raise CampusSpecError(f"bus {name}: {exc.args[0]} is missing") from exc
        heavy = raw.get("heavy")
        specs = meter_specs(
            addresses,
            seed=chosen_seed,
            heavy=None if heavy is None else parse_meters(heavy),
            history_months=int(document.get("history_months", 14)),
            drift_ppm_max=int(document.get("drift_ppm_max", 20)),
            clock_offset_s_max=int(document.get("clock_offset_s_max", 90)),
            max_current_ma=raw.get("max_current_ma"),
        )
        shared = _faults_from(raw.get("faults", {}), f"bus {name}")
        per_meter = {
            address: _faults_from(value, f"bus {name} meter {address}")
            for address, value in raw.get("meter_faults", {}).items()
        }
        unknown = set(per_meter) - set(addresses)
        if unknown:
            raise CampusSpecError(f"bus {name}: faults for meters not on it: {sorted(unknown)}")
        faults = tuple(
            (a, per_meter.get(a, shared))
            for a in addresses
            if a in per_meter or shared != NO_FAULTS
        )
        baud = raw.get("baud", DEFAULT_BAUD)
        max_reply_data = raw.get("max_reply_data")
        if max_reply_data is not None and (
            isinstance(max_reply_data, bool)
            or not isinstance(max_reply_data, int)
            or not 1 <= max_reply_data <= MAX_REPLY_DATA_LIMIT
        ):
            raise CampusSpecError(
                f"bus {name}: max_reply_data is 1 to {MAX_REPLY_DATA_LIMIT} bytes, "
                f"not {max_reply_data!r}"
            )
        buses.append(
            BusSpec(
                name=name,
                host=host,
                port=port,
                meters=specs,
                baud=None if baud in (0, None) else int(baud),
                faults=faults,
                max_reply_data=max_reply_data,
            )
        )
    return CampusSpec(
        buses=tuple(buses), seed=chosen_seed, security=_security_from(document.get("security", {}))
    )


class Campus:
    """The running simulation: meters, their devices on buses, TCP servers, the state file."""

    def __init__(
        self,
        *,
        spec: CampusSpec,
        time_source: TimeSource,
        states: Mapping[str, MeterState] | None = None,
        state_path: Path | None = None,
        save_interval_s: float = DEFAULT_SAVE_INTERVAL_S,
    ) -> None:
        self.spec = spec
        self.time_source = time_source
        self.state_path = state_path
        self._save_interval_s = save_interval_s
        saved = states or {}
        self.devices: dict[str, MeterDevice] = {}
        self.buses: dict[str, server.Bus] = {}
        for bus_spec in spec.buses:
            bus = server.Bus()
            for meter_spec in bus_spec.meters:
                meter = VirtualMeter(
                    spec=meter_spec,
                    time_source=time_source,
                    state=saved.get(meter_spec.address),
                )
                device = MeterDevice(
                    meter=meter,
                    security=spec.security,
                    faults=bus_spec.faults_of(meter_spec.address),
                    seed=spec.seed,
                    max_reply_data=bus_spec.max_reply_data,
                )
                self.devices[meter_spec.address] = device
                bus.add(device)
            self.buses[bus_spec.name] = bus
        self.endpoints: tuple[Endpoint, ...] = ()

    @classmethod
    def from_spec(
        cls,
        spec: CampusSpec,
        *,
        speed: int = 1,
        time_source: TimeSource | None = None,
        state_path: Path | None = None,
        save_interval_s: float = DEFAULT_SAVE_INTERVAL_S,
    ) -> Campus:
        """Return a campus, resumed from ``state_path`` if that file exists.

        Without ``time_source`` the campus runs on real time (``speed`` 1) or on accelerated
        time; an accelerated campus resumes at the world time it was saved at, so a restart
        never sends meter time backwards.

        :raises StateFileError: if the state file exists but cannot be read.
        """
        states: dict[str, MeterState] = {}
        world_at: dt.datetime | None = None
        if state_path is not None and Path(state_path).exists():
            world_at, states = load_state(Path(state_path))
        if time_source is None:
            if speed == 1:
                time_source = SystemTimeSource()
            else:
                time_source = AcceleratedTimeSource(speed=speed, start_at=world_at)
        return cls(
            spec=spec,
            time_source=time_source,
            states=states,
            state_path=state_path,
            save_interval_s=save_interval_s,
        )

    @property
    def meters(self) -> dict[str, VirtualMeter]:
        """Return every meter by address."""
        return {address: device.meter for address, device in self.devices.items()}

    def meter(self, address: str) -> VirtualMeter:
        """Return one meter, to manipulate it (open its cover, add a load, ...).

        :raises KeyError: if no meter has that address.
        """
        return self.devices[address].meter

    def set_faults(self, address: str, faults: Faults) -> None:
        """Change one meter's faults while the campus runs.

        :raises KeyError: if no meter has that address.
        """
        self.devices[address].faults = faults

    def save(self) -> None:
        """Write the state file now (nothing to do without one).

        :raises OSError: if the file cannot be written.
        """
        if self.state_path is None:
            return
        world_at = self.time_source.now()
        for device in self.devices.values():
            device.meter.now()  # bring every meter up to the same instant before saving
        save_state(path=self.state_path, meters=self.meters.values(), world_at=world_at)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[tuple[Endpoint, ...]]:
        """Serve every bus on its TCP port while the block runs; yield where they listen.

        Port 0 in a bus spec picks a free port; :attr:`endpoints` tells which. On the way out
        the servers close and the state file is written.

        :raises TransportError: if a listening address cannot be bound.
        """
        servers: list[asyncio.Server] = []
        saver: asyncio.Task[None] | None = None
        try:
            endpoints = []
            for bus_spec in self.spec.buses:
                tcp = await server.serve_tcp(
                    host=bus_spec.host,
                    port=bus_spec.port,
                    bus=self.buses[bus_spec.name],
                    baud=bus_spec.baud,
                    answer_delay_s=bus_spec.answer_delay_s,
                )
                servers.append(tcp)
                host, port = tcp.sockets[0].getsockname()[:2]
                endpoints.append(
                    Endpoint(
                        bus=bus_spec.name,
                        host=str(host),
                        port=int(port),
                        baud=bus_spec.baud,
                        meter_count=len(bus_spec.meters),
                    )
                )
            self.endpoints = tuple(endpoints)
            if self.state_path is not None:
                saver = asyncio.create_task(self._save_periodically())
            yield self.endpoints
        finally:
            if saver is not None:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
            for tcp in servers:
                tcp.close()
            for tcp in servers:
                await tcp.wait_closed()
            self.endpoints = ()
            self.save()

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._save_interval_s)
            try:
                self.save()
            except OSError:
                logger.exception("Unable to write the simulator state file %s", self.state_path)
