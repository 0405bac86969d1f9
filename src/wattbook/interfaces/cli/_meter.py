"""`wattbook meter ...`: field tools for one meter or one bus.

read, trip, close, keep-power, sync-time and scan, over TCP (serial-to-TCP servers, the simulator)
or serial ports. Every failure ends with a sentence a field engineer can act on and a distinct
exit code; ``--json`` prints machine-readable output instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from wattbook import dlt645
from wattbook.interfaces.cli import _args

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = _args.EXIT_USAGE
EXIT_NO_RESPONSE = 3
EXIT_REFUSED = 4
EXIT_GARBLED = 5
EXIT_BUS = 6
EXIT_NOT_CONFIRMED = 7

# What each item name reads: (label, data identifiers).
ITEMS: dict[str, tuple[str, tuple[int, ...]]] = {
    "energy": ("forward active energy, total (kWh)", (0x00010000,)),
    "tou": ("forward active energy, total and sharp/peak/flat/valley (kWh)", (0x0001FF00,)),
    "frozen": ("settlement-day freeze: last month, two months ago (kWh)", (0x0001FF01, 0x0001FF02)),
    "voltage": ("voltage (V)", (0x02010100,)),
    "current": ("current (A)", (0x02020100,)),
    "power": ("active power (kW)", (0x02030000,)),
    "time": ("meter date and time", (0x04000101, 0x04000102)),
    "identity": ("address, meter number, account number", (0x04000401, 0x04000402, 0x0400040E)),
    "status": ("run status words 1 and 3", (0x04000501, 0x04000503)),
    "events": (
        "event counts: cover, terminal cover, power down, clock change, programming, trip, close",
        (0x03300D00, 0x03300E00, 0x03110000, 0x03300400, 0x03300000, 0x1D000001, 0x1E000001),
    ),
}
DEFAULT_ITEMS = ("energy", "tou", "status")
RELAY_STATUS_DI = 0x04000503
# Bounds of the options: a wait per attempt a person can sit through, a few retries, an order
# that expires within a week.
MAX_TIMEOUT_S = 60.0
MAX_RETRIES = 10
MAX_VALID_MINUTES = 7 * 24 * 60

EXIT_CODES_EPILOG = (
    "exit codes: 0 done; 1 failed unexpectedly (see the log); 2 bad input (option, --bus, "
    "--password, ...); 3 no answer from the meter; 4 refused by the meter; 5 garbled reply; "
    "6 cannot use the bus; 7 sent but not confirmed by the meter's status word"
)


def _wall_clock(zone: ZoneInfo) -> dt.datetime:
    """Return the operator's local time now (an operator tool lives on the wall clock)."""
    return dt.datetime.now(zone)  # noqa: TID251 - field tool at the operator's terminal


class CommandFailed(Exception):
    """Raise to end a sub-command with a message and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
            EXIT_NO_RESPONSE,
        )
    if isinstance(exc, dlt645.Unauthorised):
        return CommandFailed(
            f"Meter {exc.address} refused the command: password or authentication rejected "
            f"(error word {exc.error_word:02X}H). Check --password (level:digits) or the security "
            "key.",
            EXIT_REFUSED,
        )
    if isinstance(exc, dlt645.NoSuchData):
        return CommandFailed(
            f"Meter {exc.address} has no such data item (error word {exc.error_word:02X}H); this "
            "model may not support it.",
            EXIT_REFUSED,
        )
    if isinstance(exc, dlt645.AbnormalResponse):
        return CommandFailed(
            f"{exc}. A meter under keep-power refuses trips; an expired order (check the "
            "meter's clock with `meter read ... time`) is refused too.",
            EXIT_REFUSED,
        )
    if isinstance(exc, dlt645.GarbledResponse):
        return CommandFailed(
            f"{exc} Two meters may share the address, or the line is noisy (check termination "
            "and the shield).",
            EXIT_GARBLED,
        )
    if isinstance(exc, dlt645.TransportError):
        return CommandFailed(
            f"Cannot use the bus {bus}: {exc}. Check the serial-to-TCP server or the port name.",
            EXIT_BUS,
        )
    return CommandFailed(f"{type(exc).__name__}: {exc}", EXIT_REFUSED)


async def _with_client(
    args: argparse.Namespace, work: Callable[[dlt645.Client], Awaitable[int]]
) -> int:
    try:
        transport = dlt645.transport_from_url(args.bus)
    except dlt645.DLT645Error as exc:
        raise CommandFailed(f"Bad --bus {args.bus!r}: {exc}", EXIT_USAGE) from exc
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
            f"Unknown item(s) {', '.join(unknown)}; choose from {', '.join(ITEMS)}.", EXIT_USAGE
        )

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
                    lines.append(f"  {_item_label(di):<44} (not supported by this meter)")
                    continue
                values[key] = value
                lines.append(f"  {_item_label(di):<44} {_text(value)}")
        _emit(args, {"address": args.address, "values": values}, lines)
        return EXIT_REFUSED if failures and failures == sum(len(ITEMS[n][1]) for n in names) else 0

    return await _with_client(args, work)


def _password(text: str) -> dlt645.Password:
    try:
        level_text, digits_text = text.split(":", 1)
        return dlt645.Password(level=int(level_text, 16), digits=digits_text)
    except (ValueError, dlt645.DataError) as exc:
        raise CommandFailed(
            f"--password must look like 02:123456 (level in hex, then the digits), not {text!r}",
            EXIT_USAGE,
        ) from exc


def _operator(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFFFFFF or len(text) > 8:
        raise CommandFailed(f"--operator must be up to 8 hex digits, not {text!r}", EXIT_USAGE)
    return value


def _authoriser(args: argparse.Namespace) -> dlt645.RelayAuthoriser:
    if args.secure_key:
        try:
            key = bytes.fromhex(args.secure_key)
        except ValueError as exc:
            raise CommandFailed("--secure-key must be hexadecimal", EXIT_USAGE) from exc
        try:
            return dlt645.SimulatedSecureAuthoriser(master_key=key)
        except dlt645.DataError as exc:
            raise CommandFailed(f"Bad --secure-key: {exc}", EXIT_USAGE) from exc
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
        raise CommandFailed(f"Cannot build the order: {exc}", EXIT_USAGE) from exc
    authoriser = _authoriser(args)

    async def work(client: dlt645.Client) -> int:
        await client.control_relay(address=args.address, order=order, authoriser=authoriser)
        status = await client.read(address=args.address, di=RELAY_STATUS_DI)
        if not isinstance(status, dlt645.RunStatus3):
            raise CommandFailed(f"status word 3 decoded as {status!r}", EXIT_REFUSED)
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
            f"meter {args.address}: {action.name} sent; status word 3 reads relay "
            f"{'OPEN' if relay_open else 'CLOSED'}, keep-power {'ON' if keep_power else 'OFF'}",
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
        return EXIT_OK if confirmed else EXIT_NOT_CONFIRMED

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
            return EXIT_OK
        if not args.address:
            raise CommandFailed("give --address, or --broadcast", EXIT_USAGE)
        password = _password(args.password)
        operator = _operator(args.operator)
        before_date = await client.read(address=args.address, di=0x04000101)
        before_time = await client.read(address=args.address, di=0x04000102)
        if not isinstance(before_date, dt.date) or not isinstance(before_time, dt.time):
            raise CommandFailed("the meter's date or time did not decode", EXIT_REFUSED)
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
        return EXIT_OK

    return await _with_client(args, work)


def _expand_range(text: str) -> list[str]:
    first, _, last = text.partition("-")
    last = last or first
    if not (first.isdigit() and last.isdigit() and len(first) == len(last) == 12):
        raise CommandFailed(f"--range needs 12-digit addresses like A-B, not {text!r}", EXIT_USAGE)
    if int(last) < int(first) or int(last) - int(first) > 9999:
        raise CommandFailed("--range must go upwards and cover at most 10000 addresses", EXIT_USAGE)
    return [f"{n:012d}" for n in range(int(first), int(last) + 1)]


async def _scan(args: argparse.Namespace) -> int:
    candidates = _expand_range(args.range) if args.range else None

    async def work(client: dlt645.Client) -> int:
        found = await client.scan(candidates=candidates)
        _emit(
            args,
            {"bus": args.bus, "addresses": list(found)},
            [f"{len(found)} meter(s) on {args.bus}", *(f"  {a}" for a in found)],
        )
        return EXIT_OK

    return await _with_client(args, work)


def _run(
    handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(handler(args))
        except CommandFailed as exc:
            print(f"wattbook meter: {exc}", file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            return 130
        except Exception:
            logger.exception("Unable to run the meter tool")
            return EXIT_FAILED

    return run


def _address(text: str) -> str:
    if len(text) != 12 or not all(c.isdigit() or c in "Aa" for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a meter address: give the 12 digits on the meter label, "
            "e.g. 051600001234"
        )
    return text.upper()


def _bus_options(parser: argparse.ArgumentParser, *, address_required: bool = True) -> None:
    parser.add_argument(
        "--bus", required=True, help="tcp://HOST:PORT or serial:///dev/ttyUSB0?baud=2400&parity=E"
    )
    parser.add_argument(
        "--address",
        required=address_required,
        type=_address,
        help="the 12 digits on the meter label, e.g. 051600001234",
    )
    parser.add_argument(
        "--timeout",
        type=_args.positive_float(maximum=MAX_TIMEOUT_S),
        default=1.0,
        help=f"seconds per attempt, more than 0 and at most {MAX_TIMEOUT_S:g} (1.0)",
    )
    parser.add_argument(
        "--retries",
        type=_args.non_negative_int(maximum=MAX_RETRIES),
        default=1,
        help=f"retries after a timeout, 0 to {MAX_RETRIES} (1)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _auth_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password",
        default="02:123456",
        help="password level and digits, e.g. 02:123456 (plain 1CH form)",
    )
    parser.add_argument(
        "--secure-key",
        default="",
        help="hex master key: use the simulated secure (98H) form instead",
    )
    parser.add_argument("--operator", default="00000000", help="operator code, 8 hex digits")
    parser.add_argument(
        "--zone",
        type=_args.time_zone,
        default="Asia/Shanghai",
        help="the meters' local time zone, an IANA name (Asia/Shanghai)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `meter` sub-command and its tools to the parser."""
    meter = sub.add_parser(
        "meter",
        help="field tools: read, trip, close, sync-time, scan",
        epilog=EXIT_CODES_EPILOG,
    )
    tools = meter.add_subparsers(dest="meter_command", metavar="TOOL", required=True)

    read = tools.add_parser("read", help="read values from one meter", epilog=EXIT_CODES_EPILOG)
    _bus_options(read)
    read.add_argument(
        "items",
        nargs="*",
        metavar="ITEM",
        help=f"any of: {', '.join(ITEMS)} (default: {' '.join(DEFAULT_ITEMS)})",
    )
    read.set_defaults(handler=_run(_read))

    for name, text in (
        ("trip", "trip the relay (cut power) and confirm by reading status word 3"),
        ("close", "close the relay directly (restore power) and confirm"),
        ("close-allowed", "allow the resident to close the relay with the meter's button"),
        ("keep-power", "put the meter under keep-power (or --release it)"),
    ):
        tool = tools.add_parser(name, help=text, epilog=EXIT_CODES_EPILOG)
        _bus_options(tool)
        _auth_options(tool)
        tool.add_argument(
            "--valid-minutes",
            type=_args.bounded_int(minimum=1, maximum=MAX_VALID_MINUTES),
            default=10,
            help=f"the command expires this many minutes from now, 1 to {MAX_VALID_MINUTES} (10)",
        )
        if name == "keep-power":
            tool.add_argument("--release", action="store_true", help="release keep-power")
        tool.set_defaults(handler=_run(_relay), command_name=name)

    sync = tools.add_parser(
        "sync-time",
        help="set a meter's clock to this computer's time",
        epilog=EXIT_CODES_EPILOG,
    )
    _bus_options(sync, address_required=False)
    _auth_options(sync)
    sync.add_argument(
        "--broadcast",
        action="store_true",
        help="send a broadcast time (08H) to every meter on the bus instead",
    )
    sync.set_defaults(handler=_run(_sync_time))

    scan = tools.add_parser(
        "scan", help="find the meter addresses on a bus", epilog=EXIT_CODES_EPILOG
    )
    _bus_options(scan, address_required=False)
    scan.add_argument(
        "--range",
        default="",
        help="probe these addresses, e.g. 051600000001-051600000064 (default: wildcard search)",
    )
    # Silence costs a whole timeout per probe in a wildcard search: probe briskly, no retries.
    scan.set_defaults(handler=_run(_scan), timeout=0.3, retries=0)
