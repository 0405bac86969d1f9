"""`wattbook meter ...`: field tools for one meter or one bus (their options: ``_meter_args``).

read, trip, close, keep-power, sync-time and scan, over TCP (serial-to-TCP servers, the simulator)
or serial ports. Every failure ends with a sentence a field engineer can act on and a distinct
exit code; ``--json`` prints machine-readable output instead of the text.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from wattbook import dlt645
from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit
from wattbook.interfaces.cli._meter_args import DEFAULT_ITEMS, ITEMS
from wattbook.settings import DATABASE_URL_VARIABLE

RELAY_STATUS_DI = 0x04000503
# The four time-of-use registers of an energy block, in the DDZY102's order (tariffs 1-4).
TOU_NAMES = ("sharp 尖", "peak 峰", "flat 平", "valley 谷")


def _wall_clock(zone: ZoneInfo) -> dt.datetime:
    """Return the operator's local time now (an operator tool lives on the wall clock)."""
    return dt.datetime.now(zone)  # noqa: TID251 - field tool at the operator's terminal


def power_text(*, relay_open: bool) -> str:
    """Return the relay state as the power it leaves: on 通电 (closed) or off 断电 (open)."""
    return "power off 断电 (relay open)" if relay_open else "power on 通电 (relay closed)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex().upper()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _energy_text(block: dlt645.EnergyBlock, unit: str) -> str:
    named = [
        f"{TOU_NAMES[index] if index < len(TOU_NAMES) else f'tariff {index + 1}'} {value}"
        for index, value in enumerate(block.tariffs)
    ]
    return f"total {block.total} {unit}; " + ", ".join(named) + f" {unit}"


def _status3_text(status: dlt645.RunStatus3) -> str:
    shown = [
        power_text(relay_open=bool(status.relay_open)),
        f"keep-power {'on 保电' if status.keep_power else 'off'}",
    ]
    if status.relay_command_open != status.relay_open:
        shown.append(f"last command: {'trip' if status.relay_command_open else 'close'}")
    rest = []
    for field in dataclasses.fields(status):
        if field.name in ("relay_open", "relay_command_open", "keep_power"):
            continue
        item = getattr(status, field.name)
        if not isinstance(item, bool):
            rest.append(f"{field.name}={_text(item)}")
        elif item:
            rest.append(field.name)
    return "; ".join([*shown, ", ".join(rest)] if rest else shown)


def _value_text(di: int, value: Any) -> str:
    """Return a value read from data item ``di`` with its unit and named registers."""
    try:
        unit = str(dlt645.lookup(di).unit)
    except dlt645.UnknownDataIdentifier:
        unit = ""
    if isinstance(value, dlt645.EnergyBlock):
        return _energy_text(value, unit or "kWh")
    if isinstance(value, dlt645.RunStatus3):
        return _status3_text(value)
    text = _text(value)
    return f"{text} {unit}" if unit and isinstance(value, decimal.Decimal | int) else text


def _text(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = []
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if isinstance(item, bool):
                if item:
                    shown.append(f.name)
            else:
                shown.append(f"{f.name}={_text(item)}")
        return ", ".join(shown) or "-"
    if isinstance(value, tuple | list):
        return " / ".join(_text(v) for v in value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    return str(value)


def _item_label(di: int) -> str:
    try:
        return str(dlt645.lookup(di).label)
    except dlt645.UnknownDataIdentifier:
        return f"{di:08X}"


def _explain(exc: dlt645.DLT645Error, bus: str) -> CommandFailed:
    """Return the field engineer's reading of a library error."""
    if isinstance(exc, dlt645.NoResponse):
        return CommandFailed(
            f"No answer from meter {exc.address} on {bus}. Check the address on the meter label, "
            "the A/B wiring and the baud rate/parity (usually 2400 8E1), and that the meter has "
            "power.",
            Exit.NO_RESPONSE,
        )
    if isinstance(exc, dlt645.Unauthorised):
        return CommandFailed(
            f"Meter {exc.address} refused the command: password or authentication rejected "
            f"(error word {exc.error_word:02X}H). Check --password (level:digits) or the security "
            "key.",
            Exit.REFUSED,
        )
    if isinstance(exc, dlt645.NoSuchData):
        return CommandFailed(
            f"Meter {exc.address} has no such data item (error word {exc.error_word:02X}H); this "
            "model may not support it.",
            Exit.REFUSED,
        )
    if isinstance(exc, dlt645.AbnormalResponse):
        return CommandFailed(
            f"{exc}. A meter under keep-power refuses trips; an expired order (check the "
            "meter's clock with `meter read ... time`) is refused too.",
            Exit.REFUSED,
        )
    if isinstance(exc, dlt645.GarbledResponse):
        return CommandFailed(
            f"{exc} Two meters may share the address, or the line is noisy (check termination "
            "and the shield).",
            Exit.GARBLED,
        )
    if isinstance(exc, dlt645.TransportError):
        return CommandFailed(
            f"Cannot use the bus {bus}: {exc}. Check the serial-to-TCP server or the port name.",
            Exit.BUS,
        )
    return CommandFailed(f"{type(exc).__name__}: {exc}", Exit.REFUSED)


async def _with_client(
    args: argparse.Namespace, work: Callable[[dlt645.Client], Awaitable[int]]
) -> int:
    try:
        transport = dlt645.transport_from_url(args.bus)
    except dlt645.DLT645Error as exc:
        raise CommandFailed(f"Bad --bus {args.bus!r}: {exc}", Exit.BAD_INPUT) from exc
    client = dlt645.Client(transport, timeout=args.timeout, retries=args.retries)
    try:
        async with transport:
            return await work(client)
    except dlt645.DLT645Error as exc:
        raise _explain(exc, args.bus) from exc


def _emit(args: argparse.Namespace, payload: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(_jsonable(payload), ensure_ascii=False))
    else:
        for line in lines:
            print(line)


async def _read(args: argparse.Namespace) -> int:
    names = args.items or list(DEFAULT_ITEMS)
    unknown = [n for n in names if n not in ITEMS]
    if unknown:
        raise CommandFailed(
            f"Unknown item(s) {', '.join(unknown)}; choose from {', '.join(ITEMS)}.", Exit.BAD_INPUT
        )

    width = max(len(_item_label(di)) for name in names for di in ITEMS[name][1])

    async def work(client: dlt645.Client) -> int:
        values: dict[str, Any] = {}
        lines = [f"meter {args.address} on {args.bus}"]
        failures = 0
        for name in names:
            for di in ITEMS[name][1]:
                key = f"{di:08X}"
                try:
                    value = await client.read(address=args.address, di=di)
                except dlt645.NoSuchData as exc:
                    failures += 1
                    values[key] = {"error": "no such data", "error_word": exc.error_word}
                    lines.append(f"  {_item_label(di):<{width}} (not supported by this meter)")
                    continue
                values[key] = value
                lines.append(f"  {_item_label(di):<{width}} {_value_text(di, value)}")
        _emit(args, {"address": args.address, "values": values}, lines)
        return Exit.REFUSED if failures and failures == sum(len(ITEMS[n][1]) for n in names) else 0

    return await _with_client(args, work)


def _password(text: str) -> dlt645.Password:
    try:
        level_text, digits_text = text.split(":", 1)
        return dlt645.Password(level=int(level_text, 16), digits=digits_text)
    except (ValueError, dlt645.DataError) as exc:
        raise CommandFailed(
            f"--password must look like 02:123456 (level in hex, then the digits), not {text!r}",
            Exit.BAD_INPUT,
        ) from exc


def _operator(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFFFFFF or len(text) > 8:
        raise CommandFailed(f"--operator must be up to 8 hex digits, not {text!r}", Exit.BAD_INPUT)
    return value


def _authoriser(args: argparse.Namespace) -> dlt645.RelayAuthoriser:
    if args.secure_key:
        try:
            key = bytes.fromhex(args.secure_key)
        except ValueError as exc:
            raise CommandFailed("--secure-key must be hexadecimal", Exit.BAD_INPUT) from exc
        try:
            return dlt645.SimulatedSecureAuthoriser(master_key=key)
        except dlt645.DataError as exc:
            raise CommandFailed(f"Bad --secure-key: {exc}", Exit.BAD_INPUT) from exc
    return dlt645.PlainPasswordAuthoriser(password=_password(args.password))


_ACTIONS = {
    "trip": ("TRIP", True),
    "close": ("DIRECT_CLOSE", False),
    "close-allowed": ("CLOSE_ALLOWED", None),
}


async def _relay(args: argparse.Namespace) -> int:
    if args.command_name == "keep-power":
        action = (
            dlt645.RelayAction.KEEP_POWER_RELEASE if args.release else dlt645.RelayAction.KEEP_POWER
        )
        expect_open: bool | None = None
    else:
        action_name, expect_open = _ACTIONS[args.command_name]
        action = dlt645.RelayAction[action_name]
    zone = ZoneInfo(args.zone)
    valid_until = _wall_clock(zone) + dt.timedelta(minutes=args.valid_minutes)
    try:
        order = dlt645.RelayOrder(
            action=action,
            operator_code=_operator(args.operator),
            valid_until=valid_until.replace(tzinfo=None, microsecond=0),
        )
    except dlt645.DataError as exc:
        raise CommandFailed(f"Cannot build the order: {exc}", Exit.BAD_INPUT) from exc
    authoriser = _authoriser(args)

    async def work(client: dlt645.Client) -> int:
        await client.control_relay(address=args.address, order=order, authoriser=authoriser)
        status = await client.read(address=args.address, di=RELAY_STATUS_DI)
        if not isinstance(status, dlt645.RunStatus3):
            raise CommandFailed(f"status word 3 decoded as {status!r}", Exit.GARBLED)
        relay_open = bool(status.relay_open)
        keep_power = bool(status.keep_power)
        if args.command_name == "keep-power":
            confirmed = keep_power == (action is dlt645.RelayAction.KEEP_POWER)
        elif expect_open is None:
            # "Close allowed" leaves the relay open until the resident presses the button; the
            # meter must no longer hold a trip command.
            confirmed = not status.relay_command_open
        else:
            confirmed = relay_open == expect_open
        lines = [
            f"meter {args.address}: {action.name} sent; status word 3 reads "
            f"{power_text(relay_open=relay_open)}, keep-power {'on' if keep_power else 'off'}",
        ]
        if not confirmed:
            lines.append(
                "NOT CONFIRMED: the meter's status word does not show the command's effect."
            )
        _emit(
            args,
            {
                "address": args.address,
                "action": action.name,
                "relay_open": relay_open,
                "keep_power": keep_power,
                "confirmed": confirmed,
            },
            lines,
        )
        return Exit.OK if confirmed else Exit.NOT_CONFIRMED

    return await _with_client(args, work)


async def _sync_time(args: argparse.Namespace) -> int:
    zone = ZoneInfo(args.zone)

    async def work(client: dlt645.Client) -> int:
        now = _wall_clock(zone).replace(tzinfo=None, microsecond=0)
        if args.broadcast:
            await client.broadcast_time(meter_time=now)
            _emit(
                args,
                {"broadcast": True, "meter_time": now},
                [f"broadcast time {now.isoformat()} sent (meters do not answer broadcasts)"],
            )
            return Exit.OK
        if not args.address:
            raise CommandFailed("give --address, or --broadcast", Exit.BAD_INPUT)
        password = _password(args.password)
        operator = _operator(args.operator)
        before_date = await client.read(address=args.address, di=0x04000101)
        before_time = await client.read(address=args.address, di=0x04000102)
        if not isinstance(before_date, dt.date) or not isinstance(before_time, dt.time):
            raise CommandFailed("the meter's date or time did not decode", Exit.GARBLED)
        before = dt.datetime.combine(before_date, before_time)
        await client.write(
            address=args.address,
            di=0x04000101,
            value=now.date(),
            password=password,
            operator_code=operator,
        )
        await client.write(
            address=args.address,
            di=0x04000102,
            value=now.time(),
            password=password,
            operator_code=operator,
        )
        drift_s = int((before - now).total_seconds())
        _emit(
            args,
            {
                "address": args.address,
                "meter_time_before": before,
                "set_to": now,
                "drift_s": drift_s,
            },
            [
                f"meter {args.address}: clock was {before.isoformat()} ({drift_s:+d} s), "
                f"set to {now.isoformat()}"
            ],
        )
        return Exit.OK

    return await _with_client(args, work)


def _expand_range(text: str) -> list[str]:
    first, _, last = text.partition("-")
    last = last or first
    if not (first.isdigit() and last.isdigit() and len(first) == len(last) == 12):
        raise CommandFailed(
            f"--range needs 12-digit addresses like A-B, not {text!r}", Exit.BAD_INPUT
        )
    if int(last) < int(first) or int(last) - int(first) > 9999:
        raise CommandFailed(
            "--range must go upwards and cover at most 10000 addresses", Exit.BAD_INPUT
        )
    return [f"{n:012d}" for n in range(int(first), int(last) + 1)]


class ScanProgress:
    """Tell the engineer what a scan is doing: each meter as it is found, and how far it got.

    Found meters go to ``out`` as plain lines at once. On a terminal, ``progress`` (stderr)
    carries one line rewritten in place with the probe count; elsewhere nothing but the
    meters is printed, so the output can be piped.
    """

    def __init__(
        self, *, out: TextIO, progress: TextIO, total: int | None, show_progress: bool
    ) -> None:
        self.out = out
        self.progress = progress
        self.total = total
        self.show_progress = show_progress
        self.probes = 0
        self.found: list[str] = []

    def __call__(self, probed: str, found: str | None) -> None:
        """Note one probe of ``probed`` and the address that answered, if any."""
        self.probes += 1
        if found is not None and found not in self.found:
            self.found.append(found)
            self._clear()
            print(f"  {found}", file=self.out, flush=True)
        if self.show_progress:
            of = f"/{self.total}" if self.total is not None else ""
            self.progress.write(
                f"\rprobing {probed}: {self.probes}{of} probe(s), {len(self.found)} found "
            )
            self.progress.flush()

    def _clear(self) -> None:
        if self.show_progress:
            self.progress.write("\r\033[K")
            self.progress.flush()

    def done(self) -> None:
        """End the progress line."""
        self._clear()


async def _scan(args: argparse.Namespace) -> int:
    candidates = _expand_range(args.range) if args.range else None

    async def work(client: dlt645.Client) -> int:
        progress = ScanProgress(
            out=sys.stdout,
            progress=sys.stderr,
            total=None if candidates is None else len(candidates),
            show_progress=not args.json and sys.stderr.isatty(),
        )
        if not args.json:
            what = "wildcard search" if candidates is None else f"{len(candidates)} addresses"
            print(f"scanning {args.bus} ({what}); meters as found:", flush=True)
        try:
            found = await client.scan(
                candidates=candidates, on_probe=None if args.json else progress
            )
        finally:
            progress.done()
        if args.json:
            print(json.dumps({"bus": args.bus, "addresses": list(found)}, ensure_ascii=False))
        else:
            print(f"{len(found)} meter(s) on {args.bus}", flush=True)
        return Exit.OK

    return await _with_client(args, work)


_TOOLS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "read": _read,
    "relay": _relay,
    "sync-time": _sync_time,
    "scan": _scan,
}


# The tools that act on a meter, recorded in the audit log (A4) when the meter is in the
# database: their audit action names.
_AUDITED = {"relay": "headend.field.{command}", "sync-time": "headend.field.sync-time"}


def _database_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "database_url", None) or os.environ.get(DATABASE_URL_VARIABLE) or None


def _who(args: argparse.Namespace) -> str:
    if getattr(args, "by", None):
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _record(args: argparse.Namespace, tool: str, code: int) -> None:
    """Record the action in the database's audit log if the meter is installed there.

    The meter has acted already: if the record cannot be written, say so loudly and fail.
    """
    from wattbook import bootstrap
    from wattbook.application.staff import audit
    from wattbook.domain.values import MeterNumber

    action = _AUDITED[tool].format(command=getattr(args, "command_name", tool))
    outcome = "confirmed" if code == Exit.OK else f"exit {code}"
    storage = bootstrap.build_storage(_args.settings(args))
    try:
        recorded = asyncio.run(
            audit.record_field_action(
                uow=storage.uow_factory(),
                clock=storage.clock,
                meter=MeterNumber(value=args.address),
                action=action,
                by=_who(args),
                outcome=outcome,
            )
        )
    except Exception as error:
        raise CommandFailed(
            f"the meter acted ({outcome}) but the audit log could not record it: {error}",
            Exit.FAILED,
        ) from error
    finally:
        storage.close()
    if recorded and not args.json:
        print(f"recorded in the audit log as {action} by {_who(args)}")


def run(tool: str, args: argparse.Namespace) -> int:
    """Run the field tool ``tool`` (read, relay, sync-time or scan) and return its exit code.

    A trip, close, keep-power or clock setting of a meter installed in the database (given by
    ``--database-url`` or ``WATTBOOK_DATABASE_URL``) is recorded in its audit log (A4).

    :raises CommandFailed: with the field engineer's reading of what went wrong.
    """
    code = asyncio.run(_TOOLS[tool](args))
    if tool in _AUDITED and getattr(args, "address", None) and _database_url(args):
        _record(args, tool, code)
    return code
