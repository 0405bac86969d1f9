"""What `wattbook demo` shows: a feed of what just happened, and the cast's state.

On a terminal the screen is drawn in place with ``rich`` (the header, the scripted households,
the campus in numbers and the feed's last lines); when the output is not a terminal (a pipe,
a log, a test) each feed line is printed once as it happens, with a status line now and then.
Every feed line carries its tag (CHARGED, SMS, CUT, CLOSE, TOP-UP, ALARM, ALARM-END, UPLOADED,
HELD, SCRIPT) and the record's own code, so that it can be searched in either case.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from wattbook.application import queries
from wattbook.application.queries import activity_ports as ap
from wattbook.domain.values import SHANGHAI, AccountNumber, Money
from wattbook.interfaces.cli._demo_campus import Household, Role, Step

FEED_LINES = 16

# Words for the records' codes (zh-CN first, as the residents read them; the code follows).
LABELS = {
    "LOW_BALANCE": "余额不足提醒 low balance",
    "AUTO_TOP_UP_SUCCEEDED": "自动充值成功 auto top-up done",
    "AUTO_TOP_UP_FAILED": "自动充值失败 auto top-up failed",
    "CUT_OFF": "断电通知 power cut",
    "POWER_RESTORED": "恢复供电 power back",
    "WARNING_CUT": "预警断电 warning cut",
    "ARREARS": "欠费断电 arrears",
    "WARNING_CUT_ENDED": "预警后自动合闸 warning cut ended",
    "ARREARS_CLEARED": "缴费后合闸 arrears cleared",
    "KEEP_POWER": "保电 keep-power",
    "OPERATOR": "操作员 operator",
    "KIOSK": "自助缴费机 kiosk",
    "COUNTER": "窗口 counter",
    "BANK_AUTO": "银行代扣 bank auto top-up",
}
ROLE_WORDS = {
    Role.LOW_TEXT: "runs low",
    Role.WARNING_CUT: "warning cut",
    Role.ARREARS: "arrears, kiosk",
    Role.BANK: "bank top-up",
    Role.COVER: "cover opened",
    Role.OFFLINE: "goes offline",
    Role.HOLIDAY: "holiday",
}


def _label(code: str) -> str:
    return f"{LABELS[code]} [{code}]" if code in LABELS else f"[{code}]"


def _clock(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%H:%M")


@dataclasses.dataclass(slots=True)
class Feed:
    """The feed's lines, newest last, and the names to put beside account numbers."""

    homes: Mapping[str, Household]
    with_date: bool = False
    lines: collections.deque[str] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=200)
    )
    texts: int = 0

    def _who(self, number: AccountNumber | str | None) -> str:
        if number is None:
            return ""
        home = self.homes.get(str(number))
        return f"{number} {home.holder}" if home else str(number)

    def describe(self, item: ap.ActivityItem) -> str:
        """Return the feed line of one happening."""
        kind, who = item.kind, self._who(item.account_number)
        if kind is ap.ActivityKind.READINGS_CHARGED:
            amount = item.amount.yuan() if item.amount else "0.00"
            tag, text = (
                "CHARGED",
                f"{item.count} readings: {amount} yuan from {item.detail} accounts",
            )
        elif kind is ap.ActivityKind.SMS_SENT:
            tag, text = "SMS", f"{who}: {_label(item.code)}"
        elif kind is ap.ActivityKind.RELAY_TRIPPED:
            tag, text = "CUT", f"{who}: power off, {_label(item.code)}"
        elif kind is ap.ActivityKind.RELAY_CLOSED:
            tag, text = "CLOSE", f"{who}: power on, {_label(item.code)}"
        elif kind is ap.ActivityKind.RELAY_FAILED:
            tag, text = "RELAY-FAIL", f"{who}: {_label(item.code)} not confirmed {item.detail}"
        elif kind is ap.ActivityKind.PAYMENT:
            channel, _, payment_kind = item.code.partition("/")
            amount = item.amount.yuan() if item.amount else "-"
            tag = "TOP-UP" if payment_kind == "TOP_UP" else "PAYMENT"
            text = (
                f"{who}: {amount} yuan, {_label(channel)}, balance {item.detail} "
                f"(receipt {item.subject})"
            )
        elif kind is ap.ActivityKind.ALARM_RAISED:
            detail = f": {item.detail}" if item.detail else ""
            tag, text = "ALARM", f"[{item.code}] {self._who(item.subject)}{detail}"
        elif kind is ap.ActivityKind.ALARM_ENDED:
            tag, text = "ALARM-END", f"[{item.code}] {self._who(item.subject)}"
        elif kind is ap.ActivityKind.STORED_EVENTS_FILED:
            first = dt.datetime.fromisoformat(item.detail)
            tag = "UPLOADED"
            text = (
                f"{self._who(item.subject)}: {item.count} event(s) the meter stored while "
                f"unreachable, the first at {_clock(first)}, filed with their own times"
            )
        else:  # CUT_HELD
            until = dt.datetime.fromisoformat(item.code).astimezone(SHANGHAI)
            balance = item.amount.yuan() if item.amount else "-"
            tag = "HELD"
            text = (
                f"{who}: balance {balance}, no cut today (节假日不断电 B7); "
                f"cuts allowed again from {until:%Y-%m-%d %H:%M}"
            )
        return f"{self._when(item.at)} {tag:<10} {text}"

    def _when(self, at: dt.datetime) -> str:
        local = at.astimezone(SHANGHAI)
        return f"{local:%m-%d %H:%M}" if self.with_date else f"{local:%H:%M}"

    def add(self, item: ap.ActivityItem) -> str:
        """Add a happening; return its line."""
        if item.kind is ap.ActivityKind.SMS_SENT:
            self.texts += 1
        line = self.describe(item)
        self.lines.append(line)
        return line

    def add_step(self, step: Step, at: dt.datetime, home: Household | None) -> str:
        """Add a step of the script; return its line."""
        who = self._who(home.number if home else None)
        line = f"{self._when(at)} {'SCRIPT':<10} {who}: {step.says}"
        self.lines.append(line)
        return line


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Campus:
    """The campus in numbers, and the cast's rows."""

    world_at: dt.datetime
    households: int
    power_off: int
    in_arrears: int
    open_alarms: int
    cast: tuple[tuple[Household, queries.AccountGlance | None, bool], ...]


@dataclasses.dataclass(slots=True)
class Screen:
    """Draw the demo: in place on a terminal, as plain lines otherwise."""

    header: Sequence[str]
    feed: Feed
    speed: int
    out: IO[str] = dataclasses.field(default_factory=lambda: sys.stdout)
    live: Any = None

    @property
    def in_place(self) -> bool:
        """Test whether the screen redraws in place (a terminal)."""
        return self.out.isatty()

    def start(self) -> None:
        """Show the header (plain) or start drawing in place."""
        if not self.in_place:
            print("\n".join(self.header), file=self.out, flush=True)
            return
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(file=self.out), auto_refresh=False, screen=False)
        self.live.start()

    def show(self, new_lines: Sequence[str], campus: Campus | None) -> None:
        """Show new feed lines and the campus's state."""
        if not self.in_place:
            for line in new_lines:
                print(line, file=self.out, flush=True)
            return
        if campus is not None:
            self.live.update(self._render(campus), refresh=True)

    def status(self, campus: Campus) -> None:
        """Print a status line (plain output only; the terminal shows it all the time)."""
        if not self.in_place:
            print(
                f"{_clock(campus.world_at)} {'STATUS':<10} {self._summary(campus)}",
                file=self.out,
                flush=True,
            )

    def stop(self, *lines: str) -> None:
        """Stop drawing in place, then print ``lines``."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        if lines:
            print("\n".join(lines), file=self.out, flush=True)

    def _summary(self, campus: Campus) -> str:
        return (
            f"{campus.households} households, {campus.power_off} without power, "
            f"{campus.in_arrears} in arrears, {self.feed.texts} texts sent, "
            f"{campus.open_alarms} open alarms"
        )

    def _render(self, campus: Campus) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        world = campus.world_at.astimezone(SHANGHAI)
        title = Text(
            f"wattbook demo - simulated campus, {world:%Y-%m-%d %a %H:%M} (x{self.speed})",
            style="bold",
        )
        cast = Table(title="The scripted households", title_justify="left", expand=False)
        for column in ("account", "holder", "script", "balance", "power", "alarms"):
            cast.add_column(column, justify="right" if column == "balance" else "left")
        for home, glance, closed in campus.cast:
            balance = glance.balance if glance else Money(fen=0)
            cast.add_row(
                home.number,
                home.holder,
                ROLE_WORDS.get(home.role, "") if home.role else "",
                Text(balance.yuan(), style="red" if balance.fen < 0 else ""),
                Text("通电 on", style="green") if closed else Text("断电 OFF", style="bold red"),
                ",".join(a.value for a in glance.open_alarms) if glance else "",
            )
        feed = Text(
            "\n".join(list(self.feed.lines)[-FEED_LINES:]) or "(waiting for the first readings)"
        )
        return Group(
            title,
            Text("\n".join(self.header[1:])),
            cast,
            Text(self._summary(campus), style="bold"),
            Text("What just happened (newest last):", style="bold"),
            feed,
        )
