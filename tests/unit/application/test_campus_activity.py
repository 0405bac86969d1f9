"""The demo's feed (``queries.ActivityFeed``) on a fake reader, and the holiday eve the demo
starts its world on (``next_holiday_eve``) on the fake database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from tests.fakes import FakeDatabase
from tests.functional.household import local

from wattbook.application import queries
from wattbook.application.prepaid.read_calendar import next_holiday_eve
from wattbook.application.queries import activity_ports as ap
from wattbook.domain.values import AccountNumber, Money

START = local(2025, 3, 10, 23)
NUMBER = AccountNumber(value="051600000001")


class FakeActivityReader:
    """What happened, as a list a test fills; readings and charges by position."""

    def __init__(self) -> None:
        self.items: list[ap.ActivityItem] = []
        self.readings: list[int] = []  # fen charged per reading, in order

    async def happenings(self, *, since_at: datetime, now: datetime) -> tuple[ap.ActivityItem, ...]:
        return tuple(item for item in self.items if since_at <= item.at <= now)

    async def readings_charged(
        self, *, after_entry_id: int, after_reading_id: int
    ) -> ap.ReadingsCharged:
        new = self.readings[after_reading_id:]
        return ap.ReadingsCharged(
            readings=len(new),
            accounts=1 if new else 0,
            charged=Money(fen=sum(new)),
            last_entry_id=len(self.readings),
            last_reading_id=len(self.readings),
        )

    async def journal_charges(self) -> Mapping[AccountNumber, Money]:
        return {NUMBER: Money(fen=-sum(self.readings))}


def _sms(key: str, at: datetime) -> ap.ActivityItem:
    return ap.ActivityItem(
        kind=ap.ActivityKind.SMS_SENT, key=key, at=at, account_number=NUMBER, code="LOW_BALANCE"
    )


class TestActivityFeed:
    async def test_reports_each_happening_once_across_overlapping_reads(self) -> None:
        reader = FakeActivityReader()
        feed = queries.ActivityFeed(reader=reader, since_at=START, overlap=timedelta(minutes=5))
        reader.items.append(_sms("sms:1", START + timedelta(minutes=1)))

        first = await feed.poll(now=START + timedelta(minutes=2))
        reader.items.append(_sms("sms:2", START + timedelta(minutes=2, seconds=30)))
        second = await feed.poll(now=START + timedelta(minutes=4))

        assert [item.key for item in first] == ["sms:1"]
        assert [item.key for item in second] == ["sms:2"]

    async def test_sees_a_record_committed_late_within_the_overlap(self) -> None:
        reader = FakeActivityReader()
        feed = queries.ActivityFeed(reader=reader, since_at=START, overlap=timedelta(minutes=5))
        await feed.poll(now=START + timedelta(minutes=10))
        # Written with a time before the last read, committed after it.
        reader.items.append(_sms("sms:late", START + timedelta(minutes=8)))

        found = await feed.poll(now=START + timedelta(minutes=11))

        assert [item.key for item in found] == ["sms:late"]

    async def test_sums_readings_after_the_first_read_over_the_period_given(self) -> None:
        reader = FakeActivityReader()
        reader.readings += [5, 7]  # before the feed started: history, not news
        feed = queries.ActivityFeed(
            reader=reader,
            since_at=START,
            overlap=timedelta(0),
            readings_every=timedelta(minutes=5),
        )
        await feed.poll(now=START)
        reader.readings += [3, 4]
        early = await feed.poll(now=START + timedelta(minutes=2))
        reader.readings += [6]
        due = await feed.poll(now=START + timedelta(minutes=5))

        assert early == ()
        assert [(i.kind, i.count, i.amount) for i in due] == [
            (ap.ActivityKind.READINGS_CHARGED, 3, Money(fen=13))
        ]

    async def test_reports_a_held_cut_once_however_long_it_lasts(self) -> None:
        reader = FakeActivityReader()
        feed = queries.ActivityFeed(reader=reader, since_at=START, overlap=timedelta(minutes=1))
        held = ap.ActivityItem(
            kind=ap.ActivityKind.CUT_HELD,
            key=f"{ap.HELD_KEY_PREFIX}{NUMBER}:2025-03-17T00:00:00+00:00",
            at=START + timedelta(minutes=1),
            account_number=NUMBER,
        )
        reader.items.append(held)

        seen = []
        for hour in range(1, 6):
            now = START + timedelta(hours=hour)
            # The balance keeps moving: the reader reports the hold again each time.
            reader.items.append(
                ap.ActivityItem(kind=held.kind, key=held.key, at=now, account_number=NUMBER)
            )
            seen += await feed.poll(now=now)

        assert [item.key for item in seen] == [held.key]


class TestNextHolidayEve:
    async def test_is_the_friday_before_a_weekend(self) -> None:
        database = FakeDatabase()

        eve = await next_holiday_eve(uow=database.unit_of_work(), on_or_after=date(2025, 3, 10))

        assert eve == date(2025, 3, 14)

    async def test_is_the_last_working_day_before_national_day(self) -> None:
        database = FakeDatabase()

        eve = await next_holiday_eve(uow=database.unit_of_work(), on_or_after=date(2025, 9, 29))

        assert eve == date(2025, 9, 30)
