"""Receipts for 58 mm / 80 mm thermal paper (plain text and print CSS) and as PDF."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fpdf import FPDF

from wattbook.application.payments import Receipt
from wattbook.domain.values import to_local
from wattbook.interfaces.web._i18n import translate

# Characters per line: a 58 mm printer prints 32 half-width columns, an 80 mm one 48.
COLUMNS = {58: 32, 80: 48}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(text: str, columns: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for ch in text:
        if _width(line + ch) > columns:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line]


def receipt_fields(receipt: Receipt, language: str) -> list[tuple[str, str]]:
    """Return the receipt's labelled fields, in print order."""
    payment = receipt.payment

    def t(key: str) -> str:
        return translate(language, key)

    fields = [
        (t("receipt.number"), str(payment.receipt_number)),
        (t("receipt.account"), str(payment.account_number)),
        (t("receipt.holder"), receipt.holder_masked),
        (t("receipt.address"), receipt.address),
        (t("receipt.kind"), t(f"kind.{payment.kind.value}")),
        (t("receipt.method"), t(f"channel.{payment.channel.value}")),
        (t("receipt.amount"), f"{payment.amount.yuan()} {t('yuan')}"),
        (t("receipt.balance"), f"{payment.balance_after.yuan()} {t('yuan')}"),
        (t("receipt.time"), f"{to_local(payment.at):%Y-%m-%d %H:%M:%S}"),
        (t("receipt.reference"), payment.channel_reference),
    ]
    if payment.operator:
        fields.append((t("receipt.operator"), payment.operator))
    return fields


def receipt_notes(receipt: Receipt, language: str) -> list[str]:
    """Return the footer lines of the receipt."""
    notes = [translate(language, "receipt.keep"), translate(language, "receipt.exchange")]
    if receipt.payment.channel.value == "KIOSK":
        notes.insert(0, translate(language, "receipt.no_change"))
    return notes


def receipt_text(receipt: Receipt, *, language: str, paper_mm: int = 58) -> str:
    """Return the receipt as plain text for a thermal printer of ``paper_mm`` (58 or 80).

    :raises ValueError: for another paper width.
    """
    if paper_mm not in COLUMNS:
        raise ValueError("thermal paper is 58 or 80 mm wide")
    columns = COLUMNS[paper_mm]
    title = translate(language, "receipt.title")
    if receipt.reprint:
        title += translate(language, "receipt.reprint")
    pad = max((columns - _width(title)) // 2, 0)
    lines = [" " * pad + title, "-" * columns]
    for label, value in receipt_fields(receipt, language):
        lines.extend(_wrap(f"{label}: {value}", columns))
    lines.append("-" * columns)
    for note in receipt_notes(receipt, language):
        lines.extend(_wrap(note, columns))
    return "\n".join(lines) + "\n"


class FontMissing(Exception):
    """No font with Chinese glyphs is installed for PDF receipts."""


def receipt_pdf(receipt: Receipt, *, language: str, font: Path | None) -> bytes:
    """Return the receipt as a one-page PDF, 80 mm wide.

    :raises FontMissing: if no CJK font is available.
    """
    if font is None:
        raise FontMissing("install fonts-droid-fallback or set WATTBOOK_RECEIPT_FONT")
    text = receipt_text(receipt, language=language, paper_mm=80)
    lines = text.splitlines()
    line_mm = 4.2
    pdf = FPDF(unit="mm", format=(80, 16 + line_mm * len(lines)))
    pdf.set_margins(4, 6, 4)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.add_font("receipt", fname=str(font))
    pdf.set_font("receipt", size=7.5)
    pdf.set_title(translate(language, "receipt.title"))
    for line in lines:
        pdf.cell(0, line_mm, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
