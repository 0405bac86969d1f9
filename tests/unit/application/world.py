"""A small world for use-case unit tests: a fake database, a fake clock, households in it."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.metering.record_readings import ReadingReport, record_readings
from wattbook.domain import accounts, metering, prepaid
from wattbook.domain.values import AccountNumber, MeterNumber, Money, RegisterSet

# A Tuesday morning, a working day with the counter open.
TUESDAY = local(2025, 6, 10, 9)
PHONE = "13800138000"


def number(serial: int = 1) -> AccountNumber:
    """Return account number 0516000000NN."""
    return AccountNumber(value=f"0516{serial:08d}")


def meter_of(account: AccountNumber) -> MeterNumber:
    """Return the meter number of an account (the same digits)."""
    return MeterNumber(value=str(account))


def flat(wh: int) -> RegisterSet:
    """Return registers with ``wh`` on the total and the flat period."""
    return RegisterSet(total_wh=wh, sharp_wh=0, peak_wh=0, flat_wh=wh, valley_wh=0)


class World:
    """The fake storage and clock the use cases run on, with shortcuts for common steps."""

    def __init__(self, at: datetime = TUESDAY) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock(at)
        self.registers: dict[AccountNumber, int] = {}

    def uow(self):  # type: ignore[no-untyped-def]
        return self.db.unit_of_work()

    async def household(
        self,
        serial: int = 1,
        *,
        opening_fen: int = 10_000,
        phone: str | None = PHONE,
        metered: bool = True,
    ) -> AccountNumber:
        """Open an account (with a meter) and return its number."""
        account = number(serial)
        await open_account(
            uow=self.uow(),
            clock=self.clock,
            number=account,
            holder=accounts.Holder(name="张三"),
            phone=None if phone is None else accounts.PhoneNumber(digits=phone),
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=Money(fen=opening_fen) if opening_fen else None,
        )
        if metered:
            await install_meter(
                uow=self.uow(),
                clock=self.clock,
                number=account,
                meter_number=meter_of(account),
                bus="bus-1",
                initial=RegisterSet.zero(),
            )
            self.registers[account] = 0
        return account

    def reading(self, account: AccountNumber, *, wh: int) -> metering.Reading:
        """Return a reading of the account's meter now, ``wh`` more than the last one."""
        self.registers[account] += wh
        return metering.Reading(
            meter_number=meter_of(account),
            registers=flat(self.registers[account]),
            meter_time_at=self.clock.now(),
            received_at=self.clock.now(),
        )

    async def use(
        self, account: AccountNumber, wh: int, *, over: timedelta = timedelta(hours=1)
    ) -> ReadingReport:
        """Let ``over`` pass, then deliver a reading ``wh`` higher."""
        self.clock.advance(over)
        return await record_readings(
            uow=self.uow(), clock=self.clock, readings=[self.reading(account, wh=wh)]
        )

    async def relay_confirmed(self, account: AccountNumber, relay: prepaid.RelayState) -> None:
        """Store the relay state as the head-end does once a command is confirmed."""
        async with self.uow() as uow:
            await uow.prepaid.set_relay(account, relay)
            await uow.commit()

    def balance_fen(self, account: AccountNumber) -> int:
        return self.db.balance(account).fen

    def relay(self) -> list[tuple[str, str, str]]:
        """Return (account, action, status) of each relay command, oldest first."""
        return [
            (str(row.account_number), row.action.value, row.status.value)
            for row in self.db.relay_commands()
        ]

    def sms_kinds(self) -> list[str]:
        return [row.kind.value for row in self.db.sms()]
