"""The demo's campus: who lives there, and the script that makes each rule fire early.

The default campus is 200 households on 8 buses. Most households are comfortably in credit;
the first seven on the first bus are cast so that, at the default speed (60: a simulated
hour a minute, the world starting at 23:00 on the evening before a day without cuts), every
rule shows itself within the first two minutes:

| role        | starts with                      | what follows                            |
|-------------|----------------------------------|-----------------------------------------|
| low text    | just above 20 kWh's worth, heater | the low-balance text (B4)              |
| warning cut | just above 5 kWh's worth, heater | the warning cut, the close 2 minutes    |
|             |                                  | later (B5)                              |
| arrears     | a few fen, heater                | the arrears trip (B6), then a top-up at |
|             |                                  | the kiosk's agent (P2): the relay closes |
| bank        | just above its threshold, heater | the bank's auto top-up, its text (P3)   |
| cover       | in credit                        | its meter cover is opened (M5): alarm   |
| offline     | in credit                        | its meter goes silent, stores a power   |
|             |                                  | cut, comes back, uploads it (C2, C3, M6) |
| holiday     | a few fen, heater from midnight  | runs out on a day without cuts: no cut  |
|             |                                  | (B7)                                    |

The script's steps run on the simulated clock and are remembered in the demo's folder, so a
demo stopped midway goes on where it was when it starts again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence

from wattbook.domain.values import SHANGHAI

FIRST_ADDRESS = 51600000001  # 051600000001, the campus's first meter number
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN_NAMES = (
    "建国",
    "秀英",
    "伟",
    "芳",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
)
BUILDINGS = "甲乙丙丁"
# A heater: about 2.6 fen a simulated minute at 0.5283 yuan/kWh, so the cast's balances move
# visibly minute by minute.
HEATER_W = 3_000
# The holiday household's heater, switched on at midnight: it spends its last fen quickly.
HOLIDAY_HEATER_W = 8_000
# The demo's bank: the agreement's card and its threshold and amount (P3's lists).
BANK_AGREEMENT = "DEMO-AG-0001"
BANK_CARD = "DEMO-CARD-0001"
BANK_CARD_YUAN = 2_000
BANK_THRESHOLD_FEN = 2_000
BANK_AMOUNT_FEN = 5_000
# The kiosk top-up that clears the arrears household (yuan notes, as the acceptor takes them).
KIOSK_NOTES_YUAN = (50, 20)
START_TIME = dt.time(23, 0)


class Role(enum.StrEnum):
    """The part a household plays in the script."""

    LOW_TEXT = "LOW_TEXT"
    WARNING_CUT = "WARNING_CUT"
    ARREARS = "ARREARS"
    BANK = "BANK"
    COVER = "COVER"
    OFFLINE = "OFFLINE"
    HOLIDAY = "HOLIDAY"


CAST = tuple(Role)
# What each role starts with (fen) and whether its heater is on from the start.
OPENING_FEN = {
    Role.LOW_TEXT: 1_100,
    Role.WARNING_CUT: 310,
    Role.ARREARS: 40,
    Role.BANK: 2_060,
    Role.COVER: 18_800,
    Role.OFFLINE: 9_950,
    Role.HOLIDAY: 100,
}
HEATED = frozenset({Role.LOW_TEXT, Role.WARNING_CUT, Role.ARREARS, Role.BANK})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Household:
    """A demo household: who lives behind a meter, and what they start with."""

    number: str
    holder: str
    phone: str | None
    address: str
    opening_fen: int
    heater_w: int = 0
    role: Role | None = None


def households(addresses: Sequence[str]) -> list[Household]:
    """Return a believable household for each meter: the cast first, then the rest.

    The first ``len(CAST)`` meters play the script's roles; every 25th other household starts
    a little under the low-balance line (a text early on), every sixth has no mobile number on
    file (N2), the others hold 30 to 300 yuan.
    """
    result = []
    for index, address in enumerate(addresses):
        role = CAST[index] if index < len(CAST) else None
        surname = SURNAMES[index % len(SURNAMES)]
        given = GIVEN_NAMES[(index * 3 + index // len(GIVEN_NAMES)) % len(GIVEN_NAMES)]
        building = f"{BUILDINGS[index // 24 % 4]}{index // 6 % 4 + 1}"
        room = f"{index % 6 // 2 + 1}-{(index % 6 % 2 + 1) + (index // 2 % 6 + 1) * 100}"
        if role is not None:
            opening = OPENING_FEN[role]
        elif index % 25 == 12:
            opening = 1_000
        else:
            opening = 3_000 + (index * 3_731) % 27_000
        phone = f"138{(int(address) * 7919) % 10**8:08d}"
        result.append(
            Household(
                number=address,
                holder=f"{surname}{given}",
                phone=phone if role is not None or index % 6 != 5 else None,
                address=f"{building}-{room}",
                opening_fen=opening,
                heater_w=HEATER_W if role in HEATED else 0,
                role=role,
            )
        )
    return result


def cast(homes: Sequence[Household]) -> dict[Role, Household]:
    """Return the household playing each role (fewer on a campus of fewer meters)."""
    return {home.role: home for home in homes if home.role is not None}


def auto_start(eve: dt.date | None, today: dt.date) -> dt.datetime:
    """Return when the scripted world starts (UTC): 23:00 on ``eve`` (the evening before a day
    without cuts), else 23:00 today."""
    return dt.datetime.combine(eve or today, START_TIME, tzinfo=SHANGHAI).astimezone(dt.UTC)


class Action(enum.StrEnum):
    """What a step of the script does."""

    GO_SILENT = "GO_SILENT"
    OPEN_COVER = "OPEN_COVER"
    POWER_DOWN = "POWER_DOWN"
    POWER_UP = "POWER_UP"
    CLOSE_COVER = "CLOSE_COVER"
    COME_BACK = "COME_BACK"
    KIOSK_TOP_UP = "KIOSK_TOP_UP"
    HEATER_ON = "HEATER_ON"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of the script: when (simulated), what, on whose meter, and what it says."""

    name: str
    at: dt.datetime
    action: Action
    role: Role
    says: str


# The script's fixed steps: name, minutes after the start, action, whose meter, what it says.
_TIMED_STEPS: tuple[tuple[str, int, Action, Role, str], ...] = (
    (
        "offline-silent",
        2,
        Action.GO_SILENT,
        Role.OFFLINE,
        "its bus link fails: the meter goes silent",
    ),
    ("cover-open", 10, Action.OPEN_COVER, Role.COVER, "someone opens the meter cover"),
    (
        "offline-power-down",
        14,
        Action.POWER_DOWN,
        Role.OFFLINE,
        "a power cut while the meter is silent: it stores the event",
    ),
    (
        "offline-power-up",
        17,
        Action.POWER_UP,
        Role.OFFLINE,
        "power is back; the meter is still silent",
    ),
    ("cover-closed", 30, Action.CLOSE_COVER, Role.COVER, "the meter cover is closed again"),
    (
        "offline-back",
        55,
        Action.COME_BACK,
        Role.OFFLINE,
        "its bus link is repaired: the meter answers again",
    ),
    (
        "kiosk-top-up",
        50,
        Action.KIOSK_TOP_UP,
        Role.ARREARS,
        "the household pays " + "+".join(str(y) for y in KIOSK_NOTES_YUAN) + " yuan at kiosk K01",
    ),
)


def script(*, started_at: dt.datetime, holiday_at: dt.datetime | None) -> tuple[Step, ...]:
    """Return the script's steps for a world started at ``started_at``, in time order.

    ``holiday_at`` is when the first day without cuts begins (local midnight); the holiday
    household's heater goes on then.
    """

    def after(minutes: int) -> dt.datetime:
        return started_at + dt.timedelta(minutes=minutes)

    steps = [
        Step(name=name, at=after(minutes), action=action, role=role, says=says)
        for name, minutes, action, role, says in _TIMED_STEPS
    ]
    if holiday_at is not None:
        steps.append(
            Step(
                name="holiday-heater",
                at=max(holiday_at, after(1)),
                action=Action.HEATER_ON,
                role=Role.HOLIDAY,
                says="a heater goes on as the day without cuts begins",
            )
        )
    return tuple(sorted(steps, key=lambda step: step.at))
