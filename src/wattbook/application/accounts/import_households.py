"""Load households from the old system (``wattbook import households FILE.xlsx|csv``).

One row a household, under a header row naming the columns (English or Chinese, any order):

    account_number 户号 (12 digits)      holder 户名      phone 手机号 (11 digits, optional)
    address 地址      meter_number 表号 (optional: the account number)
    bus 总线 (optional: install the meter on this bus, new, its registers at zero)
    opening_balance 期初余额 (yuan, e.g. 12.34 or -3.50; optional)
    migration_kwh 迁移电量 (kWh left on the old meter or card, B8; optional)

Every row is checked first (values, duplicates in the file, accounts and meters already in
the database) and each bad row reported with its line number; nothing is written unless the
whole file is good, and then all of it in one unit of work. Opening balances and migration
credits are posted to the ledger as when one account is opened (B8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from wattbook.application import ports
from wattbook.application.accounts.open_account import post_opening_amounts
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import accounts, metering, staff
from wattbook.domain.values import AccountNumber, Energy, MeterNumber, Money, RegisterSet

# The most households one file may hold: a whole campus, in one transaction.
MAX_HOUSEHOLDS = 50_000

_COLUMNS: dict[str, str] = {
    "account_number": "account_number",
    "户号": "account_number",
    "holder": "holder",
    "户名": "holder",
    "phone": "phone",
    "手机号": "phone",
    "手机": "phone",
    "address": "address",
    "地址": "address",
    "meter_number": "meter_number",
    "表号": "meter_number",
    "bus": "bus",
    "总线": "bus",
    "opening_balance": "opening_balance",
    "期初余额": "opening_balance",
    "migration_kwh": "migration_kwh",
    "迁移电量": "migration_kwh",
}
_REQUIRED = ("account_number", "holder", "address")


@dataclass(frozen=True, slots=True, kw_only=True)
class Household:
    """One good row: what to open, and where it came from."""

    line: int
    number: AccountNumber
    holder: accounts.Holder
    phone: accounts.PhoneNumber | None
    address: accounts.Address
    meter_number: MeterNumber
    bus: str | None
    opening_balance: Money | None
    migration_energy: Energy | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import wrote."""

    accounts: int
    meters: int
    opening_balance: Money
    migration_energy: Energy


class InvalidHouseholdFile(ValueError):
    """The file has bad rows; nothing was written. ``problems`` lists (line, what) for each."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = tuple(sorted(problems))
        shown = "; ".join(f"line {line}: {what}" for line, what in self.problems[:20])
        more = len(self.problems) - 20
        super().__init__(
            f"{len(self.problems)} problem(s), nothing imported: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )


def _header(cells: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    problems: list[str] = []
    for index, cell in enumerate(cells):
        name = cell.strip().lstrip("\ufeff").lower()
        if not name:
            continue
        column = _COLUMNS.get(name)
        if column is None:
            problems.append(f"unknown column {cell.strip()!r}")
        elif column in found:
            problems.append(f"column {column} is given twice")
        else:
            found[column] = index
    problems.extend(
        f"the header lacks the column {name}" for name in _REQUIRED if name not in found
    )
    return found, problems


def _money(text: str) -> Money | None:
    if not text:
        return None
    try:
        return Money.parse(text)
    except ValueError:
        raise ValueError(f"opening balance {text!r} is not yuan with at most 2 decimals") from None


def _energy(text: str) -> Energy | None:
    if not text:
        return None
    try:
        kwh = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"migration kWh {text!r} is not a number") from None
    if not kwh.is_finite() or kwh <= 0:
        raise ValueError(f"migration kWh {text!r} must be above zero")
    try:
        return Energy.from_kwh(kwh)
    except ValueError:
        raise ValueError(f"migration kWh {text!r} has more than 3 decimals") from None


def _household(line: int, cell: dict[str, str]) -> Household:
    number = AccountNumber(value=cell["account_number"])
    phone_text = cell.get("phone", "").replace(" ", "").replace("-", "")
    return Household(
        line=line,
        number=number,
        holder=accounts.Holder(name=cell["holder"]),
        phone=accounts.PhoneNumber(digits=phone_text) if phone_text else None,
        address=accounts.Address(text=cell["address"]),
        meter_number=MeterNumber(value=cell.get("meter_number") or number.value),
        bus=cell.get("bus") or None,
        opening_balance=_money(cell.get("opening_balance", "")),
        migration_energy=_energy(cell.get("migration_kwh", "")),
    )


def parse_households(rows: Sequence[tuple[int, Sequence[str]]]) -> tuple[Household, ...]:
    """Return the households of a file's rows, given as (line number, cells), header first.

    Blank rows are skipped.

    :raises InvalidHouseholdFile: listing every bad row with its line number.
    """
    filled = [(line, [str(c).strip() for c in cells]) for line, cells in rows if any(cells)]
    filled = [(line, cells) for line, cells in filled if any(cells)]
    if not filled:
        raise InvalidHouseholdFile([(0, "the file is empty: expected a header row and rows")])
    header_line, header_cells = filled[0]
    columns, header_problems = _header(header_cells)
    if header_problems:
        raise InvalidHouseholdFile([(header_line, what) for what in header_problems])
    if len(filled) - 1 > MAX_HOUSEHOLDS:
        raise InvalidHouseholdFile([(0, f"a file holds at most {MAX_HOUSEHOLDS} households")])
    problems: list[tuple[int, str]] = []
    found: list[Household] = []
    numbers: dict[AccountNumber, int] = {}
    meters: dict[MeterNumber, int] = {}
    for line, cells in filled[1:]:
        if len(cells) > len(header_cells) and any(cells[len(header_cells) :]):
            problems.append((line, "more cells than the header has columns"))
            continue
        cell = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
        try:
            household = _household(line, cell)
        except ValueError as error:
            problems.append((line, str(error)))
            continue
        if household.number in numbers:
            problems.append(
                (line, f"account {household.number} is on line {numbers[household.number]} too")
            )
            continue
        if household.meter_number in meters:
            problems.append(
                (
                    line,
                    f"meter {household.meter_number.value} is on line "
                    f"{meters[household.meter_number]} too",
                )
            )
            continue
        numbers[household.number] = line
        meters[household.meter_number] = line
        found.append(household)
    if problems:
        raise InvalidHouseholdFile(problems)
    if not found:
        raise InvalidHouseholdFile([(header_line, "the file has a header but no households")])
    return tuple(found)


async def import_households(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    rows: Sequence[tuple[int, Sequence[str]]],
    by: str,
    note: str = "",
) -> ImportReport:
    """Check every row, then open every household in one unit of work, or none; the import
    is audited (A4) in that unit of work, by ``by``.

    :raises InvalidHouseholdFile: listing every bad row (bad values, duplicates in the file,
        accounts or meters already in the database); nothing is written.
    """
    if not by.strip():
        raise InvalidHouseholdFile([(0, "say who imports the file (--by)")])
    households = parse_households(rows)
    now = clock.now()
    async with uow:
        taken = await uow.ledger.balances([h.number for h in households])
        in_use = await uow.meters.positions(
            [h.meter_number for h in households if h.bus is not None]
        )
        problems = [
            (h.line, f"account {h.number} exists already") for h in households if h.number in taken
        ]
        problems.extend(
            (h.line, f"meter {h.meter_number.value} is installed on another account")
            for h in households
            if h.bus is not None and h.meter_number in in_use
        )
        if problems:
            raise InvalidHouseholdFile(problems)
        tariffs = await uow.tariffs.history()
        meters = 0
        for household in households:
            account = accounts.open_account(
                number=household.number,
                holder=household.holder,
                phone=household.phone,
                address=household.address,
                at=now,
            )
            await uow.accounts.add(account)
            await post_opening_amounts(
                uow,
                account=account,
                tariffs=tariffs,
                now=now,
                opening_balance=household.opening_balance,
                migration_energy=household.migration_energy,
                note=note or f"import line {household.line}",
            )
            if household.bus is not None:
                installation = accounts.install_meter(
                    account=account,
                    meter_number=household.meter_number,
                    bus=household.bus,
                    installed_at=now,
                    initial=RegisterSet.zero(),
                )
                await uow.meters.install(
                    installation, metering.baseline_from_installation(installation)
                )
                meters += 1
        await apply_prepaid_rules(
            uow, numbers=[h.number for h in households], now=now, tariffs=tariffs
        )
        report = _report(households, meters)
        await uow.staff.append_audit(
            (
                staff.AuditRecord(
                    at=now,
                    actor=by.strip(),
                    action="accounts.households.imported",
                    target=f"{households[0].number}..{households[-1].number}",
                    after=f"accounts={report.accounts} meters={report.meters} "
                    f"opening_fen={report.opening_balance.fen} "
                    f"migration_wh={report.migration_energy.wh}",
                    detail=note,
                    channel="CLI",
                ),
            )
        )
        await uow.commit()
    return report


def _report(households: Sequence[Household], meters: int) -> ImportReport:
    return ImportReport(
        accounts=len(households),
        meters=meters,
        opening_balance=Money(
            fen=sum(h.opening_balance.fen for h in households if h.opening_balance is not None)
        ),
        migration_energy=Energy(
            wh=sum(h.migration_energy.wh for h in households if h.migration_energy is not None)
        ),
    )
