"""A report's table as CSV (UTF-8 with a BOM, which Excel opens right) or as an Excel
workbook (openpyxl), with the same header and rows as the page shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal

Cell = str | int | Decimal | None

# A text cell starting with one of these would be read by a spreadsheet as a formula
# (CSV injection): names and addresses come from outside, so they are quoted with '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """Return the table as CSV bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_safe(cell) for cell in header])
    for row in rows:
        writer.writerow(["" if cell is None else _safe(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """Return the table as an .xlsx workbook's bytes (one sheet, the header bold)."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title[:31] or "report"
    sheet.append([_safe(cell) for cell in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_safe(cell) for cell in row])
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        width = max(len(str(cell.value or "")) for cell in column)
        sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 48)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
