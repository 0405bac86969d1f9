"""Customers and accounts (A2, B8): search, open, change holder, phone or address, install or
replace a meter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application import ports
from wattbook.application.accounts import change_customer, install_meter, open_account
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import accounts, staff
from wattbook.domain.values import AccountNumber, Energy, MeterNumber, Money, RegisterSet
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console/accounts")
P = staff.Permission
SEARCH_LIMIT = 50


@router.get("")
async def search(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.VIEW))], q: str = ""
) -> Response:
    """Find accounts by number, holder, address or phone."""
    found: tuple[accounts.Account, ...] = ()
    balances: dict[AccountNumber, Money] = {}
    if q.strip():
        async with _context.runtime(request).storage.reader_factory() as uow:
            found = await uow.accounts.search(q, limit=SEARCH_LIMIT)
            balances = await uow.ledger.balances([a.number for a in found])
    return render(
        request, "console/accounts.html", acting=acting, q=q, found=found, balances=balances
    )


@router.get("/new")
async def new_account(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.EDIT_CUSTOMER))]
) -> Response:
    """Show the form that opens an account."""
    return render(request, "console/account_new.html", acting=acting)


def _money(text: str) -> Money | None:
    return Money.parse(text.strip()) if text.strip() else None


@router.post("")
async def open_new(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.EDIT_CUSTOMER, audit="accounts.account.opened"))],
    number: Annotated[str, Form()] = "",
    holder: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    opening_balance: Annotated[str, Form()] = "",
    migration_kwh: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Open an account with its opening balance or migration credit (B8)."""
    runtime = _context.runtime(request)
    try:
        account_number = AccountNumber(value=number.strip())
        balance = _money(opening_balance)
        energy = Energy.from_kwh(migration_kwh.strip()) if migration_kwh.strip() else None
        after = (
            f"holder={holder}; phone={phone}; address={address}; "
            f"opening={balance or ''}; migration_kwh={migration_kwh}"
        )
        await open_account.open_account(
            uow=acting.uow(target=str(account_number), after=after, detail=note),
            clock=runtime.storage.clock,
            number=account_number,
            holder=accounts.Holder(name=holder.strip()),
            phone=accounts.PhoneNumber(digits=phone.strip()) if phone.strip() else None,
            address=accounts.Address(text=address.strip()),
            opening_balance=balance,
            migration_energy=energy,
            note=note,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/accounts/new")
    return RedirectResponse(f"/console/accounts/{account_number}", status_code=303)


@router.get("/{number}")
async def account_page(
    request: Request, number: str, acting: Annotated[Acting, Depends(Guard(P.VIEW))]
) -> Response:
    """Show an account: details, balance, meter, history and recent payments."""
    runtime = _context.runtime(request)
    now = runtime.storage.clock.now()
    try:
        account_number = AccountNumber(value=number)
        async with runtime.storage.reader_factory() as uow:
            account = await uow.accounts.get(account_number)
            history = await uow.accounts.history(account_number)
            balance = (await uow.ledger.balances([account_number])).get(
                account_number, Money(fen=0)
            )
            paid = await uow.payments.history(account_number, first_date=None, last_date=None)
            found = [
                o
                for o in await uow.headend.meter_overview(since=now - timedelta(days=7))
                if o.account_number == account_number
            ]
            trail = await uow.staff.search_audit(audit_query(str(account_number)))
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/accounts")
    return render(
        request,
        "console/account.html",
        acting=acting,
        account=account,
        history=history,
        balance=balance,
        payments=tuple(reversed(paid))[:20],
        meter=found[0] if found else None,
        trail=trail,
    )


def audit_query(target: str) -> staff_ports.AuditQuery:
    """Return the audit query for one target's last records."""
    return staff_ports.AuditQuery(text=target, limit=20)


@router.post("/{number}/holder")
async def change_holder(
    request: Request,
    number: str,
    acting: Annotated[Acting, Depends(Guard(P.EDIT_CUSTOMER, audit="accounts.holder.changed"))],
    holder: Annotated[str, Form()] = "",
    document_note: Annotated[str, Form()] = "",
    attachment_ref: Annotated[str, Form()] = "",
) -> Response:
    """Change the holder, with the documents shown (A2)."""
    return await _change(
        request,
        acting,
        number,
        field="holder",
        value=holder,
        document_note=document_note,
        detail=f"{document_note} [{attachment_ref}]",
        run=lambda args: change_customer.change_holder(
            holder=accounts.Holder(name=holder.strip()), attachment_ref=attachment_ref, **args
        ),
    )


@router.post("/{number}/phone")
async def change_phone(
    request: Request,
    number: str,
    acting: Annotated[Acting, Depends(Guard(P.EDIT_CUSTOMER, audit="accounts.phone.changed"))],
    phone: Annotated[str, Form()] = "",
    document_note: Annotated[str, Form()] = "",
) -> Response:
    """Change (or remove) the mobile number the SMS go to (N2)."""
    return await _change(
        request,
        acting,
        number,
        field="phone",
        value=phone,
        document_note=document_note,
        run=lambda args: change_customer.change_phone(
            phone=accounts.PhoneNumber(digits=phone.strip()) if phone.strip() else None, **args
        ),
    )


@router.post("/{number}/address")
async def change_address(
    request: Request,
    number: str,
    acting: Annotated[Acting, Depends(Guard(P.EDIT_CUSTOMER, audit="accounts.address.changed"))],
    address: Annotated[str, Form()] = "",
    document_note: Annotated[str, Form()] = "",
) -> Response:
    """Change the address."""
    return await _change(
        request,
        acting,
        number,
        field="address",
        value=address,
        document_note=document_note,
        run=lambda args: change_customer.change_address(
            address=accounts.Address(text=address.strip()), **args
        ),
    )


class _ChangeArgs(TypedDict):
    """What each change of a customer's details takes besides its new value."""

    uow: ports.UnitOfWork
    clock: ports.Clock
    number: AccountNumber
    changed_by: str
    document_note: str


async def _change(
    request: Request,
    acting: Acting,
    number: str,
    *,
    field: str,
    value: str,
    document_note: str,
    run: Callable[[_ChangeArgs], Awaitable[accounts.Account]],
    detail: str | None = None,
) -> Response:
    """Run one change of ``field`` to ``value``, audited with its value before and after
    and ``detail`` (the document note unless given)."""
    runtime = _context.runtime(request)
    back = f"/console/accounts/{number}"
    try:
        account_number = AccountNumber(value=number)
        async with runtime.storage.reader_factory() as reader:
            account = await reader.accounts.get(account_number)
        before = {
            "holder": account.holder.name,
            "phone": account.phone.digits if account.phone else "",
            "address": account.address.text,
        }[field]
        uow = acting.uow(
            target=str(account_number),
            before=f"{field}={before}",
            after=f"{field}={value.strip()}",
            detail=document_note if detail is None else detail,
        )
        await run(
            _ChangeArgs(
                uow=uow,
                clock=runtime.storage.clock,
                number=account_number,
                changed_by=acting.login,
                document_note=document_note,
            )
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    return RedirectResponse(back, status_code=303)


def _registers(total_kwh: str) -> RegisterSet:
    total = Energy.from_kwh(total_kwh.strip() or "0").wh
    return RegisterSet(total_wh=total, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0)


@router.post("/{number}/meter")
async def install(
    request: Request,
    number: str,
    acting: Annotated[Acting, Depends(Guard(P.INSTALL_METER, audit="accounts.meter.installed"))],
    meter_number: Annotated[str, Form()] = "",
    bus: Annotated[str, Form()] = "",
    initial_kwh: Annotated[str, Form()] = "0",
    final_kwh: Annotated[str, Form()] = "",
) -> Response:
    """Install a meter, or replace the current one (with its final reading)."""
    runtime = _context.runtime(request)
    clock = runtime.storage.clock
    back = f"/console/accounts/{number}"
    try:
        account_number = AccountNumber(value=number)
        new_meter = MeterNumber(value=meter_number.strip())
        initial = _registers(initial_kwh)
        if final_kwh.strip():
            # The final reading's commit writes the record: the replacement charges it first.
            trail_uow = acting.uow_factory(
                target=str(account_number),
                after=f"meter={new_meter}; initial_kwh={initial_kwh}; final_kwh={final_kwh}",
                detail="replacement",
            )
            now = clock.now()
            await install_meter.replace_meter(
                uow_factory=trail_uow,
                clock=clock,
                number=account_number,
                final=_registers(final_kwh),
                final_at=now,
                new_meter_number=new_meter,
                bus=bus.strip() or "-",
                initial=initial,
                installed_at=now,
            )
        else:
            await install_meter.install_meter(
                uow=acting.uow(
                    target=str(account_number),
                    after=f"meter={new_meter}; bus={bus}; initial_kwh={initial_kwh}",
                ),
                clock=clock,
                number=account_number,
                meter_number=new_meter,
                bus=bus.strip() or "-",
                initial=initial,
            )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    return RedirectResponse(back, status_code=303)
