"""The monthly charge statement as PDF (fpdf2, the receipts' CJK font): Chinese intact."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

from wattbook.application.queries.resident_ports import ResidentProfile
from wattbook.domain import billing, payments
from wattbook.interfaces.web._i18n import translate
from wattbook.interfaces.web._receipts import FontMissing

_COLUMNS = (
    ("portal.charges.month", 24),
    ("portal.charges.item", 46),
    ("portal.charges.price", 26),
    ("portal.charges.kwh", 26),
    ("portal.charges.amount", 28),
    ("portal.charges.status", 28),
)


def statement_pdf(
    *,
    lines: Sequence[billing.StatementLine],
    profile: ResidentProfile,
    language: str,
    font: Path | None,
) -> bytes:
    """Return the statement as an A4 PDF: the household, then one row per line.

    :raises FontMissing: if no CJK font is available.
    """
    if font is None:
        raise FontMissing("install fonts-droid-fallback or set WATTBOOK_RECEIPT_FONT")

    def t(key: str) -> str:
        return translate(language, key)

    pdf = FPDF(unit="mm", format="A4")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("statement", fname=str(font))
    pdf.set_title(t("portal.statement.title"))
    pdf.add_page()
    pdf.set_font("statement", size=15)
    pdf.cell(0, 9, t("portal.statement.title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("statement", size=10)
    for label, value in (
        (t("receipt.account"), str(profile.account_number)),
        # The holder is masked on paper too: a statement may be printed and left about.
        (t("receipt.holder"), payments.mask_name(profile.holder)),
        (t("receipt.address"), profile.address),
        (t("portal.home.balance"), f"{profile.balance.yuan()} {t('yuan')}"),
    ):
        pdf.cell(0, 6, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_fill_color(232, 237, 242)
    for key, width in _COLUMNS:
        pdf.cell(width, 7, t(key), border=1, fill=True)
    pdf.ln()
    for line in lines:
        item_key = f"item.{line.item}"
        item = t(item_key)
        cells = (
            str(line.month),
            line.item if item == item_key else item,
            "" if line.price is None else str(line.price.yuan_per_kwh),
            str(line.energy.kwh),
            line.amount.yuan(),
            t(f"portal.status.{line.status.value}"),
        )
        for (_key, width), text in zip(_COLUMNS, cells, strict=True):
            pdf.cell(width, 6, text, border=1)
        pdf.ln()
    if not lines:
        pdf.cell(0, 7, t("portal.charges.none"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
