"""Invoice and receipt PDFs drawn with fpdf2 in DejaVu Sans, a Unicode font shipped with Settle, so
accents and currency signs (é, €, ¥, ₹) print whatever the server has installed."""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace, TTFFont
from PIL import Image

from .data import STAMPED, InvoiceDocument, Party, ReceiptDocument, Row, Status
from .labels import label, language_of

logger = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILES = {"": FONT_DIR / "DejaVuSans.ttf", "B": FONT_DIR / "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"

MARGIN = 18.0  # mm
INK = (28, 36, 48)
MUTED = (102, 112, 133)
RULE = (207, 212, 220)
STAMP_COLOURS = {
    Status.PAID: (200, 50, 43),
    Status.REFUNDED: (200, 50, 43),
    Status.VOID: (138, 143, 152),
    Status.RETURNED: (138, 143, 152),
}
LOGO_BOX = (55.0, 20.0)  # mm, width × height the logo is scaled to fit
MINUS = "\u2212"


def printable(text: str, covered: frozenset[int]) -> str:
    """`text` as a font covering `covered` can draw it: a character it lacks is replaced by its
    compatibility form when the font has that (the fullwidth ￥ that Babel writes for ja_JP
    becomes ¥); control characters go, except line breaks. Scripts the font does not cover at
    all still print as gaps, never as an error."""
    out = []
    for char in text:
        if ord(char) in covered or char == "\n":
            out.append(char)
        elif unicodedata.category(char) != "Cc":
            compatible = unicodedata.normalize("NFKC", char)
            out.append(compatible if all(ord(c) in covered for c in compatible) else char)
    return "".join(out)


def _logo(data: bytes | None) -> Image.Image | None:
    """The merchant's logo, or None when there is none or it cannot be read: a broken logo must
    not keep an invoice from being sent."""
    if not data:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        logger.warning("The merchant logo could not be read; the document is drawn without it.")
        return None
    return image


class _Sheet(FPDF):
    """One document being drawn: the page furniture shared by invoices and receipts."""

    def __init__(self, *, language: str, page_format: str, title: str, author: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format=page_format)
        self.language = language_of(language)
        for style, path in FONT_FILES.items():
            self.add_font(FAMILY, style, str(path))
        faces = [frozenset(font.cmap) for font in self.fonts.values() if isinstance(font, TTFFont)]
        self.covered = frozenset.intersection(*faces)  # what both faces can draw
        self.set_margins(MARGIN, 16, MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(self.fit(title))
        self.set_author(self.fit(author))
        self.set_creator("Settle")
        self.set_lang(self.language)
        self.add_page()

    def fit(self, text: str) -> str:
        return printable(text, self.covered)

    def text_style(self, size: float, *, bold: bool = False, colour: tuple[int, int, int] = INK) -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.set_text_color(*colour)

    def footer(self) -> None:
        self.set_y(-14)
        self.text_style(8, colour=MUTED)
        text = label(self.language, "page").format(page=self.page_no(), pages="{nb}")
        self.cell(0, 5, text, align="C")

    def line_of_text(self, text: str, *, width: float, height: float = 4.6) -> None:
        self.multi_cell(width, height, self.fit(text), new_x="LEFT", new_y="NEXT")

    def letterhead(self, merchant: Party, title: str, meta: Sequence[tuple[str, str]]) -> None:
        """Merchant (logo, name, address, contact) on the left; the title and the document's
        numbers and dates on the right. Leaves the cursor below the taller of the two."""
        top = self.t_margin
        left_width = self.epw * 0.55
        self.set_xy(self.l_margin, top)
        logo = _logo(merchant.logo)
        if logo is not None:
            box_w, box_h = LOGO_BOX
            scale = min(box_w / logo.width, box_h / logo.height)
            width, height = logo.width * scale, logo.height * scale
            self.image(logo, x=self.l_margin, y=top, w=width, h=height)
            self.set_y(top + height + 3)
        self.text_style(13, bold=True)
        self.line_of_text(merchant.name, width=left_width, height=6)
        self.text_style(9)
        for line in (*merchant.address_lines, merchant.email, merchant.phone):
            if line:
                self.line_of_text(line, width=left_width)
        left_bottom = self.y

        right_x = self.l_margin + left_width
        right_width = self.epw - left_width
        self.set_xy(right_x, top)
        self.text_style(22, bold=True)
        self.cell(right_width, 11, self.fit(title), align="R", new_x="LEFT", new_y="NEXT")
        self.ln(1)
        for index, (name, value) in enumerate(meta):
            self.set_x(right_x)
            self.text_style(9, colour=MUTED)
            self.cell(right_width * 0.45, 5, self.fit(name))
            self.text_style(9, bold=index == 0)  # the number
            self.multi_cell(right_width * 0.55, 5, self.fit(value), align="R", new_x="LMARGIN", new_y="NEXT")
        self.set_y(max(left_bottom, self.y) + 8)

    def party(self, heading: str, party: Party, status: Status) -> None:
        """The customer block, with the PAID / VOID / REFUNDED stamp beside it."""
        top = self.y
        width = self.epw * 0.55
        self.heading(heading)
        self.text_style(11, bold=True)
        self.line_of_text(party.name, width=width, height=5.5)
        self.text_style(9)
        for line in (*party.address_lines, party.email, party.phone):
            if line:
                self.line_of_text(line, width=width)
        if status in STAMPED:
            self.stamp(label(self.language, f"stamp.{status}"), STAMP_COLOURS[status], centre_y=top + 12)
        self.set_y(max(self.y, top + 26) + 6)

    def stamp(self, text: str, colour: tuple[int, int, int], *, centre_y: float) -> None:
        """A rubber stamp across the right of the page: bold capitals in a rounded frame, tilted."""
        self.text_style(26, bold=True, colour=colour)
        width = self.get_string_width(text) + 12
        height = 15.0
        centre_x = self.l_margin + self.epw * 0.78
        with (
            self.rotation(angle=12, x=centre_x, y=centre_y),
            self.local_context(fill_opacity=0.85, stroke_opacity=0.85),
        ):
            self.set_draw_color(*colour)
            self.set_line_width(1.2)
            self.rect(centre_x - width / 2, centre_y - height / 2, width, height, style="D", round_corners=True)
            self.set_xy(centre_x - width / 2, centre_y - height / 2)
            self.cell(width, height, text, align="C")

    def keep_together(self, height: float) -> None:
        """Start a new page unless `height` more millimetres fit on this one."""
        if self.y + height > self.page_break_trigger:
            self.add_page()

    def heading(self, text: str) -> None:
        """A section title, kept on the same page as the start of its section."""
        self.keep_together(25)
        self.text_style(8, bold=True, colour=MUTED)
        self.cell(0, 5, self.fit(text.upper()), new_x="LMARGIN", new_y="NEXT")

    def grid(self, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        """Rows under bold headings, horizontal rules only; every column but the first is right
        aligned (numbers, dates, amounts). Headings repeat on a new page."""
        self.text_style(9)
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        aligns = ("LEFT", *(("RIGHT",) * (len(headings) - 1)))
        headings_style = FontFace(family=FAMILY, emphasis="BOLD", color=MUTED, size_pt=8)
        with self.table(
            col_widths=tuple(widths),
            text_align=aligns,
            borders_layout="HORIZONTAL_LINES",
            headings_style=headings_style,
            line_height=4.8,
            padding=(1.6, 1.2),
            width=self.epw,
        ) as table:
            for cells in (headings, *rows):
                row = table.row()
                for text in cells:
                    row.cell(self.fit(text))
        self.ln(4)

    def totals(self, rows: Sequence[tuple[str, str, bool]]) -> None:
        """Label / amount pairs on the right half, skipping empty amounts; bold rows get a rule
        above them."""
        label_x = self.l_margin + self.epw * 0.45
        label_width, amount_width = self.epw * 0.33, self.epw * 0.22
        rows = [row for row in rows if row[1]]
        self.keep_together(sum(6.5 if strong else 5.5 for _, _, strong in rows))
        self.set_draw_color(*RULE)
        for name, amount, strong in rows:
            if strong:
                self.line(label_x, self.y, label_x + label_width + amount_width, self.y)
            self.set_x(label_x)
            self.text_style(11 if strong else 9.5, bold=strong)
            self.cell(label_width, 6.5 if strong else 5.5, self.fit(name))
            self.cell(amount_width, 6.5 if strong else 5.5, self.fit(amount), align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(6)

    def paragraph(self, text: str, *, colour: tuple[int, int, int] = MUTED) -> None:
        self.text_style(9, colour=colour)
        self.multi_cell(0, 4.6, self.fit(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def output_bytes(self) -> bytes:
        return bytes(self.output())


def _labelled(language: str, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label key, value) pairs with a value, as (label, value)."""
    return [(label(language, key), value) for key, value in pairs if value]


def _less(amount: str) -> str:
    """An amount taken off the one above it, shown with a minus sign."""
    return MINUS + amount if amount else ""


def _rows(rows: Sequence[Row]) -> list[tuple[str, str, str]]:
    return [(row.description, row.date, row.amount) for row in rows]


def invoice_pdf(doc: InvoiceDocument) -> bytes:
    """The invoice as a PDF: letterhead, bill-to, lines, totals, payments applied, memo; PAID or
    VOID stamped when it is."""
    lang = doc.language
    title = label(lang, "invoice")
    sheet = _Sheet(language=lang, page_format=doc.page_format, title=f"{title} {doc.number}", author=doc.merchant.name)
    meta = _labelled(
        lang,
        [
            ("number", doc.number),
            ("date", doc.issue_date),
            ("due_date", doc.due_date),
            ("po_number", doc.po_number),
            ("contract", doc.contract_reference),
            ("reference", doc.reference),
            ("status", label(lang, f"status.{doc.status}")),
        ],
    )
    sheet.letterhead(doc.merchant, title, meta)
    sheet.party(label(lang, "bill_to"), doc.customer, doc.status)
    headings = [label(lang, key) for key in ("description", "quantity", "unit_price", "tax", "amount")]
    lines = [(line.description, line.quantity, line.unit_price, line.tax, line.amount) for line in doc.lines]
    sheet.grid(headings, lines, widths=(46, 10, 17, 10, 17))
    totals = doc.totals
    sheet.totals(
        [
            (label(lang, "subtotal"), totals.subtotal, False),
            (label(lang, "discount"), _less(totals.discount), False),
            (label(lang, "tax"), totals.tax, False),
            (label(lang, "total"), totals.total, True),
            (label(lang, "paid"), _less(totals.paid), False),
            (label(lang, "amount_due"), totals.amount_due, True),
        ]
    )
    if doc.payments:
        sheet.heading(label(lang, "payments_applied"))
        headings = [label(lang, key) for key in ("description", "date", "amount")]
        sheet.grid(headings, _rows(doc.payments), widths=(60, 20, 20))
    if doc.memo:
        sheet.paragraph(doc.memo)
    return sheet.output_bytes()


def receipt_pdf(doc: ReceiptDocument) -> bytes:
    """The receipt as a PDF: who paid, when, how (brand and last four digits at most), the
    invoices it paid, what was kept as credit, refunds; stamped PAID, REFUNDED once all of it was
    given back, or RETURNED when the bank sent it back."""
    lang = doc.language
    title = label(lang, "receipt")
    sheet = _Sheet(language=lang, page_format=doc.page_format, title=f"{title} {doc.number}", author=doc.merchant.name)
    meta = _labelled(
        lang,
        [
            ("number", doc.number),
            ("payment_date", doc.payment_date),
            ("method", doc.method.text),
            ("check_number", doc.check_number),
            ("reference", doc.reference),
        ],
    )
    sheet.letterhead(doc.merchant, title, meta)
    sheet.party(label(lang, "received_from"), doc.customer, doc.status)
    sheet.totals([(label(lang, "amount_paid"), doc.amount, True)])
    if doc.invoices:
        sheet.heading(label(lang, "invoices_paid"))
        headings = [label(lang, key) for key in ("invoice_column", "date", "applied")]
        sheet.grid(headings, _rows(doc.invoices), widths=(60, 20, 20))
    if doc.unapplied:
        sheet.totals([(label(lang, "kept_as_credit"), doc.unapplied, False)])
    if doc.refunds:
        sheet.heading(label(lang, "refunds"))
        headings = [label(lang, key) for key in ("reason", "date", "amount")]
        sheet.grid(headings, _rows(doc.refunds), widths=(60, 20, 20))
        sheet.totals(
            [
                (label(lang, "refunded"), _less(doc.refunded), False),
                (label(lang, "net"), doc.net, True),
            ]
        )
    sheet.paragraph(label(lang, "thanks"), colour=INK)
    return sheet.output_bytes()
