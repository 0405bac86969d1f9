"""A2: holder, phone and address change at the counter; each change is kept with its documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock

from wattbook.adapters import db
from wattbook.application.accounts import ports as account_ports
from wattbook.application.accounts.change_customer import (
    change_address,
    change_holder,
    change_phone,
)
from wattbook.application.accounts.open_account import open_account
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber

NUMBER = AccountNumber(value="051600001234")
OPENED_AT = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)


async def _opened(engine: Engine, clock: FakeClock) -> None:
    await open_account(
        uow=db.SqlUnitOfWork(engine),
        clock=clock,
        number=NUMBER,
        holder=accounts.Holder(name="李四"),
        phone=accounts.PhoneNumber(digits="13800000000"),
        address=accounts.Address(text="丙6-1-801"),
    )


class TestA2CustomerChanges:
    async def test_each_change_is_kept_in_order_with_its_documents(self, engine: Engine) -> None:
        clock = FakeClock(OPENED_AT)
        await _opened(engine, clock)

        await change_holder(
            uow=db.SqlUnitOfWork(engine),
            clock=clock,
            number=NUMBER,
            holder=accounts.Holder(name="李小四"),
            changed_by="柜员 王芳",
            document_note="房产证 + 身份证 seen",
            attachment_ref="scan-2025-0610-01",
        )
        await change_phone(
            uow=db.SqlUnitOfWork(engine),
            clock=clock,
            number=NUMBER,
            phone=accounts.PhoneNumber(digits="13900000000"),
            changed_by="柜员 王芳",
        )
        account = await change_address(
            uow=db.SqlUnitOfWork(engine),
            clock=clock,
            number=NUMBER,
            address=accounts.Address(text="丙6-1-802"),
            changed_by="administrator li",
        )
        async with db.SqlUnitOfWork(engine) as uow:
            history = await uow.accounts.history(NUMBER)

        assert (str(account.holder), str(account.phone), str(account.address)) == (
            "李小四",
            "13900000000",
            "丙6-1-802",
        )
        assert [(c.kind, c.old_value, c.new_value) for c in history] == [
            (accounts.ChangeKind.HOLDER, "李四", "李小四"),
            (accounts.ChangeKind.PHONE, "13800000000", "13900000000"),
            (accounts.ChangeKind.ADDRESS, "丙6-1-801", "丙6-1-802"),
        ]
        assert [c.changed_by for c in history] == ["柜员 王芳", "柜员 王芳", "administrator li"]
        assert (history[0].document_note, history[0].attachment_ref) == (
            "房产证 + 身份证 seen",
            "scan-2025-0610-01",
        )

    async def test_a_holder_change_without_documents_changes_nothing(self, engine: Engine) -> None:
        clock = FakeClock(OPENED_AT)
        await _opened(engine, clock)

        with pytest.raises(accounts.DocumentsRequired):
            await change_holder(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=NUMBER,
                holder=accounts.Holder(name="王五"),
                changed_by="柜员 王芳",
                document_note="",
                attachment_ref="",
            )
        async with db.SqlUnitOfWork(engine) as uow:
            account = await uow.accounts.get(NUMBER)
            history = await uow.accounts.history(NUMBER)

        assert (str(account.holder), history) == ("李四", ())

    async def test_an_unknown_account_is_refused(self, engine: Engine) -> None:
        clock = FakeClock(OPENED_AT)

        with pytest.raises(account_ports.UnknownAccount):
            await change_phone(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=AccountNumber(value="051600009999"),
                phone=None,
                changed_by="柜员 王芳",
            )

    async def test_a_change_that_does_not_say_who_made_it_changes_nothing(
        self, engine: Engine
    ) -> None:
        clock = FakeClock(OPENED_AT)
        await _opened(engine, clock)

        with pytest.raises(accounts.OperatorRequired):
            await change_phone(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=NUMBER,
                phone=accounts.PhoneNumber(digits="13900000000"),
                changed_by="  ",
            )
        async with db.SqlUnitOfWork(engine) as uow:
            account = await uow.accounts.get(NUMBER)
            history = await uow.accounts.history(NUMBER)

        assert (str(account.phone), history) == ("13800000000", ())
