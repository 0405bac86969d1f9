"""The residents' portal's queries on the in-memory fakes (Q1-Q6)."""

from __future__ import annotations

import inspect
import typing
from datetime import timedelta

import pytest
from tests.fakes.storage import FakeResidentReader
from tests.fakes.top_up import top_up
from tests.unit.application.world import World, number

from wattbook.application import queries
from wattbook.application.notifications import login_code
from wattbook.application.notifications.ports import NotificationKind
from wattbook.application.queries import resident_ports
from wattbook.domain import prepaid
from wattbook.domain.headend import RelayCommandStatus
from wattbook.domain.values import Money


def test_the_fake_reader_has_every_method_of_its_port() -> None:
    wanted = {
        name: inspect.signature(member)
        for name, member in vars(resident_ports.ResidentReader).items()
        if callable(member) and not name.startswith("_")
    }

    for name, signature in wanted.items():
        found = inspect.signature(getattr(FakeResidentReader, name))
        assert [(p.name, p.kind) for p in found.parameters.values()] == [
            (p.name, p.kind) for p in signature.parameters.values()
        ], name
    assert typing.get_type_hints(resident_ports.ResidentReader.profile)


async def _paid(world: World, account: object, fen: int, serial: int) -> None:
    await top_up(
        uow=world.uow(),
        clock=world.clock,
        number=account,  # type: ignore[arg-type]
        amount=Money(fen=fen),
        reference=f"T{serial}",
    )


class TestIdentifyResident:
    async def test_finds_the_resident_by_number_and_name(self) -> None:
        world = World()
        account = await world.household()

        found = await queries.identify_resident(uow=world.uow(), number=account, holder="张三")

        assert found.number == account
        assert found.phone is not None

    @pytest.mark.parametrize("holder", ["张四", "", "张三三"])
    async def test_refuses_another_name(self, holder: str) -> None:
        world = World()
        account = await world.household()

        with pytest.raises(queries.LoginRefused):
            await queries.identify_resident(uow=world.uow(), number=account, holder=holder)

    async def test_refuses_an_unknown_account_with_the_same_error(self) -> None:
        world = World()

        with pytest.raises(queries.LoginRefused):
            await queries.identify_resident(uow=world.uow(), number=number(9), holder="张三")


class TestSendLoginCode:
    async def test_queues_the_written_text_to_the_phone_on_file(self) -> None:
        world = World()
        account = await world.household()

        await login_code.send_login_code(
            uow=world.uow(), clock=world.clock, number=account, code="123456", locale="en"
        )

        (row,) = world.db.sms()
        assert row.kind is NotificationKind.LOGIN_CODE
        assert row.body is not None
        assert "123456" in row.body
        assert row.body.startswith("[Water & Power Centre]")

    async def test_refuses_a_code_that_is_not_digits(self) -> None:
        world = World()
        account = await world.household()

        with pytest.raises(login_code.InvalidCode):
            await login_code.send_login_code(
                uow=world.uow(), clock=world.clock, number=account, code="12ab", locale="zh-CN"
            )
        assert world.db.sms() == ()


class TestResidentHome:
    async def test_days_left_follow_the_last_fourteen_days(self) -> None:
        world = World()
        account = await world.household(opening_fen=10_000)
        for _ in range(14):
            await world.use(account, 2_000, over=timedelta(days=1))

        home = await queries.resident_home(
            reader=world.db.resident_reader(),
            number=account,
            now=world.clock.now(),
        )

        # 100 yuan - 28 kWh x 0.5283 = 85.21 yuan buys 161.29 kWh, at 2 kWh a day
        assert home.profile.balance == Money(fen=8521)
        assert home.arrears == Money.zero()
        assert home.days_left == 161_290 * 14 // home.used_wh
        assert home.used_wh in (26_000, 28_000)

    async def test_no_use_means_no_estimate_and_arrears_show(self) -> None:
        world = World()
        account = await world.household(opening_fen=0)
        await world.use(account, 1_000, over=timedelta(days=1))
        world.clock.advance(timedelta(days=16))

        home = await queries.resident_home(
            reader=world.db.resident_reader(),
            number=account,
            now=world.clock.now(),
        )

        assert home.days_left is None
        assert home.arrears.fen > 0


class TestResidentPayments:
    async def test_pages_newest_first(self) -> None:
        world = World()
        account = await world.household()
        for serial in range(5):
            world.clock.advance(timedelta(days=1))
            await _paid(world, account, 100 * (serial + 1), serial)

        first = await queries.resident_payments(
            reader=world.db.resident_reader(),
            number=account,
            first_date=None,
            last_date=None,
            page=1,
            per_page=2,
        )
        last = await queries.resident_payments(
            reader=world.db.resident_reader(),
            number=account,
            first_date=None,
            last_date=None,
            page=3,
            per_page=2,
        )

        assert first.total == 5
        assert [p.amount.fen for p in first.payments] == [500, 400]
        assert [p.amount.fen for p in last.payments] == [100]

    async def test_refuses_a_range_that_ends_before_it_starts(self) -> None:
        world = World()
        account = await world.household()
        today = world.clock.now().date()

        with pytest.raises(queries.InvalidPage):
            await queries.resident_payments(
                reader=world.db.resident_reader(),
                number=account,
                first_date=today,
                last_date=today - timedelta(days=1),
                page=1,
                per_page=20,
            )

    @pytest.mark.parametrize(("page", "per_page"), [(0, 20), (1, 0), (1, 101)])
    async def test_refuses_pages_out_of_range(self, page: int, per_page: int) -> None:
        world = World()
        account = await world.household()

        with pytest.raises(queries.InvalidPage):
            await queries.resident_texts(
                reader=world.db.resident_reader(), number=account, page=page, per_page=per_page
            )


class TestResidentCharges:
    async def test_pages_the_statement_newest_month_first(self) -> None:
        world = World()
        account = await world.household()
        for _ in range(3):
            await world.use(account, 10_000, over=timedelta(days=31))

        found = await queries.resident_charges(
            reader=world.db.resident_reader(), number=account, page=1, per_page=2
        )

        assert found.total == 4
        assert [str(line.month) for line in found.lines] == ["2025-09", "2025-08"]


class TestResidentUsage:
    async def test_fills_every_day_and_month_and_splits_by_period(self) -> None:
        world = World()
        account = await world.household()
        await world.use(account, 3_000, over=timedelta(hours=2))

        found = await queries.resident_usage(
            reader=world.db.resident_reader(), number=account, now=world.clock.now()
        )

        assert len(found.month_days) == 30
        assert len(found.year_months) == len(found.last_year_months) == 12
        assert found.today.total_wh == 3_000
        assert found.this_month.flat_wh == 3_000
        assert found.this_year.total_wh == 3_000
        assert found.month_days[9].registers.total_wh == 3_000

    async def test_refuses_a_year_in_the_future(self) -> None:
        world = World()
        account = await world.household()

        with pytest.raises(queries.InvalidPage):
            await queries.resident_usage(
                reader=world.db.resident_reader(), number=account, now=world.clock.now(), year=2099
            )


class TestPowerStory:
    async def test_explains_a_cut_for_arrears_and_the_restore_after_a_top_up(self) -> None:
        world = World()
        account = await world.household(opening_fen=100)
        await world.use(account, 3_000, over=timedelta(hours=1))
        world.clock.advance(timedelta(minutes=20))
        await _paid(world, account, 5_000, 1)

        story = await queries.power_story(
            reader=world.db.resident_reader(), number=account, now=world.clock.now()
        )
        events = story.events

        kinds = [event.kind for event in events]
        assert kinds[0] is queries.PowerEventKind.RESTORED_AFTER_PAYMENT
        assert queries.PowerEventKind.ARREARS_CUT in kinds
        restore = events[0]
        assert restore.payment is not None
        assert restore.payment.amount == Money(fen=5_000)
        assert restore.status is RelayCommandStatus.PENDING
        assert not restore.done
        cut = events[kinds.index(queries.PowerEventKind.ARREARS_CUT)]
        assert cut.balance_then == Money(fen=100 - 158)

    async def test_shows_a_keep_power_order(self) -> None:
        world = World()
        account = await world.household()
        async with world.uow() as uow:
            from wattbook.application.prepaid.ports import KeepPowerOrder
            from wattbook.domain.values import Period

            await uow.prepaid.add_keep_power(
                KeepPowerOrder(
                    account_number=account,
                    period=Period(start_at=world.clock.now()),
                    ordered_by="duty officer",
                    reason="oxygen concentrator",
                    created_at=world.clock.now(),
                )
            )
            await uow.commit()

        story = await queries.power_story(
            reader=world.db.resident_reader(), number=account, now=world.clock.now()
        )
        events = story.events

        assert [e.kind for e in events] == [queries.PowerEventKind.KEEP_POWER_STARTED]
        assert events[0].note == "oxygen concentrator"


class TestDaysLeft:
    @pytest.mark.parametrize(
        ("left_wh", "used_wh", "days", "expected"),
        [
            (10_000, 14_000, 14, 10),
            (9_999, 14_000, 14, 9),  # rounded down: never a day the money does not buy
            (0, 14_000, 14, 0),
            (-5, 14_000, 14, 0),
            (10_000, 0, 14, None),
        ],
    )
    def test_is_the_energy_left_over_the_average(
        self, left_wh: int, used_wh: int, days: int, expected: int | None
    ) -> None:
        from wattbook.domain.values import Energy

        found = prepaid.days_left(energy_left=Energy(wh=left_wh), used_wh=used_wh, over_days=days)

        assert found == expected

    def test_refuses_an_empty_window(self) -> None:
        from wattbook.domain.values import Energy

        with pytest.raises(ValueError, match="over_days"):
            prepaid.days_left(energy_left=Energy(wh=1), used_wh=1, over_days=0)


class TestHeldCut:
    async def test_says_a_cut_is_held_by_a_keep_power_order_and_until_when(self) -> None:
        from wattbook.application.prepaid.keep_power import order_keep_power
        from wattbook.domain.values import Period

        world = World()
        account = await world.household(opening_fen=100)
        end = world.clock.now() + timedelta(days=2)
        await order_keep_power(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            period=Period(start_at=world.clock.now(), end_at=end),
            ordered_by="duty officer",
            reason="oxygen concentrator",
        )
        await world.use(account, 3_000, over=timedelta(hours=1))

        story = await queries.power_story(
            reader=world.db.resident_reader(), number=account, now=world.clock.now()
        )

        assert world.balance_fen(account) < 0
        assert story.held is prepaid.CutHold.KEEP_POWER
        assert story.held_until == end
        assert queries.PowerEventKind.ARREARS_CUT not in [e.kind for e in story.events]
