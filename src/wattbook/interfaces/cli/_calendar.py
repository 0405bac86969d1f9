"""`wattbook calendar show | set | import` and `wattbook alarms`: the holiday calendar and alarms.

Until the staff console exists, these are how staff see a year's holidays, enter the State
Council's schedule and see the alarms (a year's schedule not confirmed, a meter's alarm).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.application.prepaid.read_calendar import CalendarYear

# Keyed by the stored source code (CalendarSource's values).
_SOURCE_LABELS = {
    "PACKAGE": "package 软件包",
    "OFFICIAL": "official import 官方导入",
    "OVERRIDE": "centre override 中心设定",
    "PROVISIONAL": "provisional fallback 临时推算",
}

_IMPORT_HELP = """\
FILE is a CSV of the State Council's schedule for one year (UTF-8, a BOM is fine):

    date,type,name
    2026-01-01,休,元旦
    2026-01-04,班,元旦调休

type is 休 or off (a day off), 班 or working (an adjusted working day, on a weekend); name is
optional. Blank lines and lines starting with # are skipped. Days not listed follow the weekday
rule. Every row is checked first and each bad row reported with its line number; nothing is
written unless the whole file is good. Importing replaces that year's days (also those set by
hand), marks the year confirmed and ends its alarm. A sample: docs/samples/holidays-2026.csv.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `calendar` and `alarms` sub-commands to the parser."""
    parser = _args.add_command(
        sub, "calendar", help="show, set and import the holiday calendar (节假日安排)"
    )
    actions = parser.add_subparsers(dest="calendar_action", metavar="ACTION", required=True)

    show = _args.add_command(
        actions,
        "show",
        help="list a year's days off and adjusted working days, with their source",
        description="List a year's days off and adjusted working days, with their source. "
        "Weekends not listed are days off; weekdays not listed are working days.",
        database=True,
    )
    show.add_argument(
        "--year", type=_args.bounded_int(minimum=1, maximum=9999), help="(default: this year)"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_show)

    set_ = _args.add_command(
        actions, "set", help="make one day a day off or a working day", database=True
    )
    set_.add_argument("day", metavar="DAY", help="the date, YYYY-MM-DD")
    kind = set_.add_mutually_exclusive_group(required=True)
    kind.add_argument("--day-off", action="store_true", help="a day off (no cut)")
    kind.add_argument("--working", action="store_true", help="a working day")
    set_.add_argument("--by", required=True, metavar="NAME", help="who makes the change")
    set_.add_argument("--note", default="", help="why (shown as the day's name)")
    set_.set_defaults(handler=_set)

    import_ = _args.add_command(
        actions,
        "import",
        help="import a year's official holiday schedule from CSV",
        description=_IMPORT_HELP,
        database=True,
    )
    import_.add_argument("file", metavar="FILE.csv", type=Path)
    import_.add_argument("--by", required=True, metavar="NAME", help="who imports it")
    import_.add_argument("--note", default="", help="e.g. the notice's number")
    import_.set_defaults(handler=_import)

    alarms = _args.add_command(
        sub,
        "alarms",
        help="list the open alarms of every kind, newest first",
        description="Every alarm staff must see, in one list: a meter's (cover opened, no "
        "communication, relay not confirmed ...), a reading's (register backwards, held for "
        "review ...) and the system's (a year's holiday schedule to enter, a bus, the bank, "
        "a kiosk).",
        database=True,
    )
    alarms.add_argument("--all", action="store_true", help="ended alarms too")
    alarms.add_argument("--json", action="store_true", help="print JSON")
    alarms.add_argument(
        "--scope", choices=("meter", "reading", "system"), help="only alarms of this family"
    )
    alarms.set_defaults(handler=_alarms)


def _year_header(found: CalendarYear) -> str:
    if found.package:
        return f"{found.year}: confirmed (chinese-calendar package) 已确认"
    if found.confirmed is not None:
        return (
            f"{found.year}: confirmed by {found.confirmed.confirmed_by} at "
            f"{found.confirmed.confirmed_at.isoformat()} 已确认"
        )
    return (
        f"{found.year}: NOT CONFIRMED, provisional fallback (festival windows, every weekend off)"
        f" 未确认：请录入 {found.year} 年国务院节假日安排"
    )


def _show(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.prepaid.calendar_ports import InvalidCalendarChange
    from wattbook.domain.values import local_date

    year = args.year if args.year is not None else local_date(bootstrap.system_clock().now()).year
    try:
        found = asyncio.run(bootstrap.calendar_year(settings=_args.settings(args), year=year))
    except InvalidCalendarChange as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    if args.json:
        print(
            json.dumps(
                {
                    "year": found.year,
                    "confirmed": not found.provisional,
                    "confirmed_by": "package"
                    if found.package
                    else (found.confirmed.confirmed_by if found.confirmed else None),
                    "days": [
                        {
                            "date": d.day.isoformat(),
                            "working": d.working,
                            "name": d.name,
                            "source": d.source.value,
                        }
                        for d in found.days
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return Exit.OK
    print(_year_header(found))
    for d in found.days:
        kind = "班 working" if d.working else "休 off"
        print(
            f"{d.day.isoformat()}\t{d.day.strftime('%a')}\t{kind}\t{d.name}\t{_SOURCE_LABELS[d.source.value]}"
        )
    return Exit.OK


def _set(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.prepaid.calendar_ports import InvalidCalendarChange

    try:
        day = date.fromisoformat(args.day)
    except ValueError as error:
        raise CommandFailed(f"{args.day!r} is not a date (YYYY-MM-DD)", Exit.BAD_INPUT) from error
    try:
        change = asyncio.run(
            bootstrap.set_day(
                settings=_args.settings(args),
                day=day,
                working=bool(args.working),
                by=args.by,
                note=args.note,
            )
        )
    except InvalidCalendarChange as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    what = "a working day 工作日" if args.working else "a day off 休息日"
    if change is None:
        print(f"{day} was already {what}; nothing changed")
    else:
        print(f"{day} is now {what} (set by {change.changed_by})")
    return Exit.OK


def _import(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.prepaid.calendar_ports import (
        InvalidCalendarChange,
        InvalidHolidaySchedule,
    )

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandFailed(f"cannot read {args.file}: {error}", Exit.BAD_INPUT) from error
    try:
        year, changes = asyncio.run(
            bootstrap.import_schedule(
                settings=_args.settings(args), text=text, by=args.by, note=args.note
            )
        )
    except InvalidHolidaySchedule as error:
        # One line per bad row (each names its line), then the verdict.
        for line, message in error.problems:
            where = f"{args.file}:{line}: " if line else f"{args.file}: "
            print(f"wattbook calendar import: {where}{message}", file=sys.stderr)
        raise CommandFailed("nothing imported", Exit.BAD_INPUT) from error
    except InvalidCalendarChange as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    print(f"{year}: imported and confirmed, {len(changes)} day(s) changed")
    for change in changes:
        after = {None: "-", True: "班 working", False: "休 off"}[change.working_after]
        before = {None: "-", True: "班 working", False: "休 off"}[change.working_before]
        print(f"{change.day.isoformat()}\t{before} -> {after}\t{change.note}")
    return Exit.OK


def _alarm_json(alarm: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value if not isinstance(value, StrEnum) else value.value
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    return {key: plain(getattr(alarm, key)) for key in alarm.__dataclass_fields__}


def _alarms(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.domain.alarms import AlarmScope

    scope = AlarmScope(args.scope.upper()) if args.scope else None
    alarms = asyncio.run(
        bootstrap.alarms(settings=_args.settings(args), open_only=not args.all, scope=scope)
    )
    if args.json:
        rows = [{"scope": a.kind.scope.value, **_alarm_json(a)} for a in alarms]
        print(json.dumps({"alarms": rows}, ensure_ascii=False, indent=2))
        return Exit.OK
    for a in alarms:
        ended = f"ended {a.ended_at.isoformat()}" if a.ended_at else "open"
        print(
            f"{a.kind.scope.value.lower()}\t{a.id}\t{a.kind.value}\t{a.subject}\t"
            f"{a.started_at.isoformat()}\t{ended}\t{a.detail}"
        )
    print(f"{len(alarms)} alarm(s)", file=sys.stderr)
    return Exit.OK
