"""`wattbook import households FILE.xlsx|csv`: load households from the old system."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

_HELP = """\
FILE is a CSV (UTF-8, a BOM is fine) or an Excel workbook (.xlsx, its first sheet), a header
row then one household a row. Columns, in any order, in English or Chinese:

    account_number 户号         the 12-digit account number (required)
    holder 户名                 the account holder (required)
    address 地址                the address (required)
    phone 手机号                an 11-digit mobile number (N2)
    meter_number 表号           the meter (default: the account number)
    bus 总线                    install the meter on this bus, new, registers at zero
    opening_balance 期初余额    yuan, e.g. 12.34 or -3.50 (arrears), through the ledger
    migration_kwh 迁移电量      kWh left on the old meter or card (B8), credited at today's price

Every row is checked first and each bad row reported with its line number; nothing is
written unless the whole file is good, and then all of it in one transaction. Samples:
samples/households.csv and samples/households.xlsx.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `import` sub-command to the parser."""
    parser = _args.add_command(sub, "import", help="load data from the old system")
    actions = parser.add_subparsers(dest="import_action", metavar="WHAT", required=True)
    households = _args.add_command(
        actions,
        "households",
        help="open accounts from a CSV or Excel file of households, all or none",
        description=_HELP,
        database=True,
    )
    households.add_argument("file", metavar="FILE", type=Path, help="a .csv or .xlsx file")
    households.add_argument("--by", required=True, metavar="NAME", help="who imports the file")
    households.add_argument("--note", default="", help="noted on each opening entry")
    households.set_defaults(handler=_households)


def read_rows(path: Path) -> Sequence[tuple[int, Sequence[str]]]:
    """Return a CSV's or workbook's rows as (line number, cells as text).

    :raises CommandFailed: if the file cannot be read or is neither CSV nor .xlsx.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = path.read_text(encoding="utf-8-sig")
            return [
                (number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            ]
        if suffix == ".xlsx":
            return _xlsx_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CommandFailed(f"cannot read {path}: {error}", Exit.BAD_INPUT) from error
    raise CommandFailed(f"{path}: give a .csv or .xlsx file", Exit.BAD_INPUT)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A number typed into Excel (a phone, an account number) comes back as a float.
        return str(int(value))
    return str(value)


def _xlsx_rows(path: Path) -> Sequence[tuple[int, Sequence[str]]]:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise CommandFailed(f"{path} is not an Excel workbook: {error}", Exit.BAD_INPUT) from error
    try:
        sheet = book.worksheets[0]
        return [
            (number, [_cell_text(value) for value in row])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()


def _households(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.accounts.import_households import InvalidHouseholdFile

    rows = read_rows(args.file)
    try:
        report = asyncio.run(
            bootstrap.import_households(
                settings=_args.settings(args), rows=rows, by=args.by, note=args.note
            )
        )
    except InvalidHouseholdFile as error:
        for line, message in error.problems:
            where = f"{args.file}:{line}: " if line else f"{args.file}: "
            print(f"wattbook import households: {where}{message}", file=sys.stderr)
        raise CommandFailed(
            f"{len(error.problems)} problem(s); nothing imported", Exit.BAD_INPUT
        ) from error
    print(
        f"imported {report.accounts} household(s), {report.meters} meter(s) installed, "
        f"opening balances {report.opening_balance.yuan()} yuan, migration credit "
        f"{report.migration_energy.kwh} kWh"
    )
    return Exit.OK
