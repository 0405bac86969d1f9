"""`wattbook meter ...`: the field tools' options (light: the tools are in ``_meter``).

Building these parsers imports no protocol code, so ``wattbook meter read --help`` is quick;
the handlers import :mod:`wattbook.interfaces.cli._meter` when a tool runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from wattbook.interfaces.cli import _args, _exits
from wattbook.interfaces.cli._exits import Exit

# What each item name reads: (label, data identifiers).
ITEMS: dict[str, tuple[str, tuple[int, ...]]] = {
    "energy": ("forward active energy, total (kWh)", (0x00010000,)),
    "tou": (
        "forward active energy, total and the four time-of-use registers: sharp 尖, peak 峰, "
        "flat 平, valley 谷 (kWh)",
        (0x0001FF00,),
    ),
    "frozen": ("settlement-day freeze: last month, two months ago (kWh)", (0x0001FF01, 0x0001FF02)),
    "voltage": ("voltage (V)", (0x02010100,)),
    "current": ("current (A)", (0x02020100,)),
    "power": ("active power (kW)", (0x02030000,)),
    "time": ("meter date and time", (0x04000101, 0x04000102)),
    "identity": ("address, meter number, account number", (0x04000401, 0x04000402, 0x0400040E)),
    "status": (
        "run status words 1 and 3 (power on 通电 or off 断电, keep-power)",
        (0x04000501, 0x04000503),
    ),
    "events": (
        "event counts: cover, terminal cover, power down, clock change, programming, trip, close",
        (0x03300D00, 0x03300E00, 0x03110000, 0x03300400, 0x03300000, 0x1D000001, 0x1E000001),
    ),
}
DEFAULT_ITEMS = ("energy", "tou", "status")
# Bounds of the options: a wait per attempt a person can sit through, a few retries, an order
# that expires within a week.
MAX_TIMEOUT_S = 60.0
MAX_RETRIES = 10
MAX_VALID_MINUTES = 7 * 24 * 60

_READ_EPILOG_ITEMS = "items:\n" + "\n".join(
    f"  {name:<9} {label}" for name, (label, _) in ITEMS.items()
)


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


def _audit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="record the action in this database's audit log when the meter is installed "
        "there (default: WATTBOOK_DATABASE_URL, if set)",
    )
    parser.add_argument("--by", default=None, help="who acts (default: the login name)")


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


def _tool(name: str) -> Callable[[argparse.Namespace], int]:
    """Return the handler of tool ``name``: it imports the tools (and the protocol) to run."""

    def run(args: argparse.Namespace) -> int:
        from wattbook.interfaces.cli import _meter

        return _meter.run(name, args)

    return run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `meter` sub-command and its tools to the parser."""
    meter = _args.add_command(
        sub,
        "meter",
        help="field tools: read, trip, close, sync-time, scan",
        exits=_exits.METER,
    )
    tools = meter.add_subparsers(dest="meter_command", metavar="TOOL", required=True)

    read = _args.add_command(
        tools,
        "read",
        help="read values from one meter",
        description="Read values from one meter, each with its unit.\n\n" + _READ_EPILOG_ITEMS,
        exits=_exits.METER,
    )
    _bus_options(read)
    read.add_argument(
        "items",
        nargs="*",
        metavar="ITEM",
        help=f"any of the items below (default: {' '.join(DEFAULT_ITEMS)})",
    )
    read.set_defaults(handler=_tool("read"))

    for name, text in (
        ("trip", "trip the relay (cut power, 断电) and confirm by reading status word 3"),
        ("close", "close the relay directly (restore power, 通电) and confirm"),
        ("close-allowed", "allow the resident to close the relay with the meter's button"),
        ("keep-power", "put the meter under keep-power (or --release it)"),
    ):
        tool = _args.add_command(tools, name, help=text, exits=(*_exits.METER, Exit.NOT_CONFIRMED))
        _bus_options(tool)
        _auth_options(tool)
        _audit_options(tool)
        tool.add_argument(
            "--valid-minutes",
            type=_args.bounded_int(minimum=1, maximum=MAX_VALID_MINUTES),
            default=10,
            help=f"the command expires this many minutes from now, 1 to {MAX_VALID_MINUTES} (10)",
        )
        if name == "keep-power":
            tool.add_argument("--release", action="store_true", help="release keep-power")
        tool.set_defaults(handler=_tool("relay"), command_name=name)

    sync = _args.add_command(
        tools,
        "sync-time",
        help="set a meter's clock to this computer's time",
        exits=_exits.METER,
    )
    _bus_options(sync, address_required=False)
    _auth_options(sync)
    _audit_options(sync)
    sync.add_argument(
        "--broadcast",
        action="store_true",
        help="send a broadcast time (08H) to every meter on the bus instead",
    )
    sync.set_defaults(handler=_tool("sync-time"))

    scan = _args.add_command(
        tools,
        "scan",
        help="find the meter addresses on a bus",
        description="Find the meter addresses on a bus, printing each as it is found (with a "
        "progress line on a terminal). A wildcard search costs a timeout per silent probe.",
        exits=_exits.METER,
    )
    _bus_options(scan, address_required=False)
    scan.add_argument(
        "--range",
        default="",
        help="probe these addresses, e.g. 051600000001-051600000064 (default: wildcard search)",
    )
    # Silence costs a whole timeout per probe in a wildcard search: probe briskly, no retries.
    scan.set_defaults(handler=_tool("scan"), timeout=0.3, retries=0)
