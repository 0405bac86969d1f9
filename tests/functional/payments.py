"""Helpers for the payment journeys (P1-P5): a household plus the payment use cases."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeBankGateway, FakeClock
from tests.functional.household import Household

from wattbook.application import alarm_ports
from wattbook.application.payments import Receipt, bank, counter, kiosk, kiosk_devices
from wattbook.application.payments._credit import TopUp, credit_top_ups
from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money


class Payer(Household):
    """A household that pays through every channel."""

    def __init__(self, engine: Engine, clock: FakeClock, number: str = "051600001234") -> None:
        super().__init__(engine, clock, number)
        self.bank = FakeBankGateway()
        self._forms = 0

    async def at_counter(self, fen: int, *, reference: str | None = None) -> Receipt:
        self._forms += 1
        return await counter.pay_at_counter(
            uow=self.uow(),
            clock=self.clock,
            number=self.number,
            amount=Money(fen=fen),
            operator="窗口 王丽",
            reference=reference or f"FORM-{self.number}-{self._forms}",
        )

    async def kiosk(self, kiosk_id: str = "K01") -> payments.Kiosk:
        """Return the registered kiosk, registering it first if needed."""
        async with self.uow() as uow:
            found = await uow.payments.kiosk(kiosk_id)
        if found is None:
            found, _secret = await kiosk_devices.register_kiosk(
                uow=self.uow(), clock=self.clock, kiosk_id=kiosk_id, by="test"
            )
        return found

    async def kiosk_ready(self, transaction_id: str, kiosk_id: str = "K01") -> None:
        """Open session ``transaction_id`` on the kiosk, enter the account, confirm it."""
        await self.kiosk(kiosk_id)
        await kiosk.open_kiosk_session(
            uow=self.uow(), clock=self.clock, kiosk_id=kiosk_id, make_id=lambda: transaction_id
        )
        await kiosk.enter_kiosk_account(
            uow=self.uow(),
            clock=self.clock,
            kiosk_id=kiosk_id,
            transaction_id=transaction_id,
            number=self.number,
        )
        await kiosk.confirm_kiosk_details(
            uow=self.uow(), clock=self.clock, kiosk_id=kiosk_id, transaction_id=transaction_id
        )

    async def note(
        self,
        fen: int,
        *,
        sequence: int | None = None,
        kiosk_id: str = "K01",
        caps: payments.KioskCaps = payments.DEFAULT_KIOSK_CAPS,
    ) -> kiosk.KioskView:
        """Put a note through the kiosk's acceptor (the next sequence unless given)."""
        if sequence is None:
            sequence = (await self.kiosk(kiosk_id)).last_acceptor_sequence + 1
        return await kiosk.accept_acceptor_note(
            uow=self.uow(),
            clock=self.clock,
            kiosk_id=kiosk_id,
            acceptor_sequence=sequence,
            amount=Money(fen=fen),
            caps=caps,
        )

    async def at_kiosk(
        self, *notes_fen: int, transaction_id: str, kiosk_id: str = "K01"
    ) -> kiosk.KioskView:
        await self.kiosk_ready(transaction_id, kiosk_id)
        for fen in notes_fen:
            await self.note(fen, kiosk_id=kiosk_id)
        return await kiosk.confirm_kiosk_total(
            uow=self.uow(), clock=self.clock, kiosk_id=kiosk_id, transaction_id=transaction_id
        )

    async def open_system_alarms(self) -> tuple[alarm_ports.Alarm, ...]:
        async with self.uow() as uow:
            return await uow.alarms.alarms()

    def agreement(
        self,
        *,
        number: str = "AG0001",
        threshold_fen: int = 2000,
        amount_fen: int = 5000,
        signed_on: date | None = None,
        accounts: tuple[str, ...] | None = None,
    ) -> payments.Agreement:
        return payments.Agreement(
            agreement_number=number,
            holder="张三",
            id_number_masked=payments.mask_id_number("320311199001011234"),
            card_token=f"TOKEN-{number}",
            card_masked=payments.mask_card("6217000011112222333"),
            phone="13800138000",
            account_numbers=tuple(AccountNumber(value=n) for n in accounts)
            if accounts
            else (self.number,),
            threshold=Money(fen=threshold_fen),
            amount=Money(fen=amount_fen),
            signed_on=signed_on or self.clock.now().astimezone(SHANGHAI).date(),
        )

    async def sign(self, agreement: payments.Agreement) -> None:
        await bank.register_agreement(uow=self.uow(), clock=self.clock, agreement=agreement)

    async def run_auto_top_up(self) -> bank.DebitRun:
        return await bank.run_auto_top_up(uow_factory=self.uow, clock=self.clock, bank=self.bank)

    async def callback(self, *callbacks: payments.BankCallback) -> tuple[bank.CallbackOutcome, ...]:
        return await bank.settle_bank_callbacks(
            uow=self.uow(), clock=self.clock, callbacks=callbacks
        )

    async def at_bank_by_hand(self, debit: payments.DebitRequest, serial: str) -> None:
        """Credit a debit again under another serial, bypassing its state machine (as the
        issue 16 defect did), and journal it as a credit found in the payments."""
        async with self.uow() as uow:
            await credit_top_ups(
                uow,
                top_ups=[
                    TopUp(
                        account_number=debit.account_number,
                        amount=debit.amount,
                        channel=payments.Channel.BANK_AUTO,
                        channel_reference=serial,
                        note=f"debit {debit.debit_id}",
                    )
                ],
                now=self.clock.now(),
            )
            await uow.commit()
        with self.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO bank_callbacks (serial, status, debit_id, amount_fen,"
                    " callback_at, received_at, settlement) VALUES (:serial, 'SUCCEEDED',"
                    " :debit, :fen, :at, :at, 'UNTRACKED')"
                ),
                {
                    "serial": serial,
                    "debit": debit.debit_id,
                    "fen": debit.amount.fen,
                    "at": self.clock.now(),
                },
            )

    def success(self, debit: payments.DebitRequest, serial: str) -> payments.BankCallback:
        return payments.BankCallback(
            serial=serial,
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=debit.amount,
            at=self.clock.now() + timedelta(seconds=1),
        )

    def failure(
        self, debit: payments.DebitRequest, serial: str, status: payments.DebitStatus
    ) -> payments.BankCallback:
        return payments.BankCallback(
            serial=serial,
            debit_id=debit.debit_id,
            status=status,
            amount=debit.amount,
            at=self.clock.now(),
        )
