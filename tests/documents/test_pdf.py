"""Invoice and receipt PDFs from plain data: they parse, and show what they were given, in the
document's language, with the right stamp and only the last four digits of a card."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from PIL import Image

from settle.core.money import Money
from settle.documents.data import (
    InvoiceDocument,
    InvoiceTotals,
    Line,
    MethodShown,
    Party,
    ReceiptDocument,
    Row,
    Status,
)
from settle.documents.labels import ENGLISH, FRENCH, SPANISH, label, language_of
from settle.documents.pdf import invoice_pdf, printable, receipt_pdf
from tests.documents.pdftext import pdf_reader, pdf_text


def png(width: int = 240, height: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


MERCHANT = Party(
    name="Café Élan Ltée",
    address_lines=("12 rue de l’Église", "Montréal QC H2X 1Y4"),
    email="bonjour@cafe-elan.example",
    phone="+1 514-555-0100",
)
CUSTOMER = Party(name="Zoë Ørsted", address_lines=("5 Main St", "Springfield, IL 62701"), email="zoe@example.com")


def usd(minor: int, locale: str = "en_US") -> str:
    return Money(minor, "USD").format(locale)


def invoice(**changes: object) -> InvoiceDocument:
    doc = InvoiceDocument(
        language="en",
        merchant=MERCHANT,
        customer=CUSTOMER,
        number="INV-00012",
        status=Status.OPEN,
        issue_date="Mar 3, 2025",
        due_date="Apr 2, 2025",
        lines=(
            Line("Crème brûlée (box of 6)", "2", usd(1_250), "8.25%", usd(2_500)),
            Line("Delivery", "1", usd(123_450), "0%", usd(123_450)),
        ),
        totals=InvoiceTotals(
            subtotal=usd(125_950),
            discount=usd(950),
            tax=usd(206),
            total=usd(125_206),
            paid=usd(25_000),
            amount_due=usd(100_206),
        ),
        payments=(Row("Mar 4, 2025", "PAY-00003 · Cash", usd(25_000)),),
        po_number="PO-7781",
        memo="Thank you — à bientôt!",
    )
    return dataclasses.replace(doc, **changes)  # type: ignore[arg-type]


def receipt(**changes: object) -> ReceiptDocument:
    doc = ReceiptDocument(
        language="en",
        merchant=MERCHANT,
        customer=CUSTOMER,
        number="PAY-00003",
        status=Status.PAID,
        payment_date="Mar 4, 2025",
        method=MethodShown("Visa", "4242"),
        amount=usd(30_000),
        invoices=(Row("Mar 3, 2025", "INV-00012", usd(25_000)),),
        unapplied=usd(5_000),
    )
    return dataclasses.replace(doc, **changes)  # type: ignore[arg-type]


def test_an_invoice_pdf_shows_its_number_parties_lines_and_amounts() -> None:
    pdf = invoice_pdf(invoice())

    reader = pdf_reader(pdf)
    text = pdf_text(pdf)
    assert len(reader.pages) == 1
    assert reader.metadata is not None and reader.metadata.title == "Invoice INV-00012"
    for expected in (
        "Invoice",
        "INV-00012",
        "Café Élan Ltée",
        "12 rue de l’Église",
        "Zoë Ørsted",
        "Crème brûlée (box of 6)",
        "PO-7781",
        "Due date Apr 2, 2025",
        "$1,234.50",
        "$1,259.50",
        "−$9.50",
        "$1,252.06",
        "−$250.00",
        "Amount due $1,002.06",
        "PAY-00003 · Cash",
        "Thank you — à bientôt!",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert "PAID" not in text and "VOID" not in text


def test_a_paid_invoice_is_stamped_paid_and_a_void_one_void() -> None:
    paid = pdf_text(invoice_pdf(invoice(status=Status.PAID)))
    void = pdf_text(invoice_pdf(invoice(status=Status.VOID)))

    assert "PAID" in paid and "VOID" not in paid
    assert "VOID" in void and "PAID" not in void


def test_the_memo_keeps_its_line_breaks() -> None:
    text = pdf_text(invoice_pdf(invoice(memo="Bank: Caisse Desjardins\r\nTransit: 00123")))

    assert "Bank: Caisse Desjardins\nTransit: 00123" in text


def test_rows_without_a_value_are_left_out() -> None:
    doc = invoice(
        totals=InvoiceTotals(subtotal=usd(100), tax=usd(0), total=usd(100), amount_due=""),
        payments=(),
        po_number="",
        memo="",
    )

    text = pdf_text(invoice_pdf(doc))

    for absent in ("Discount", "Paid", "Amount due", "PO number", "Payments and credits"):
        assert absent not in text


def test_french_documents_use_french_labels_and_amounts() -> None:
    eur = [Money(minor, "EUR").format("fr_FR") for minor in (123_450, 2_500, 125_950, 950, 100_206)]
    doc = invoice(
        language="fr",
        status=Status.PAID,
        issue_date="3 mars 2025",
        lines=(Line("Réparation vélo", "1,5", eur[1], "8,25 %", eur[0]),),
        totals=InvoiceTotals(subtotal=eur[2], discount=eur[3], tax=eur[1], total=eur[4], amount_due=eur[4]),
    )

    text = pdf_text(invoice_pdf(doc))

    for expected in (
        "Facture",
        "Numéro INV-00012",
        "Échéance",
        "Facturé à".upper(),
        "Prix unitaire",
        "Réparation vélo",
        "1 234,50 €",
        "−9,50 €",
        "Montant dû 1 002,06 €",
        "Bon de commande PO-7781",
        "PAYÉ",
        "Page 1 sur 1",
    ):
        assert expected in text, expected
    assert "Invoice" not in text and "Amount due" not in text


def test_spanish_and_unknown_languages() -> None:
    assert "Importe adeudado" in pdf_text(invoice_pdf(invoice(language="es")))
    assert "Amount due" in pdf_text(invoice_pdf(invoice(language="de")))
    assert language_of("fr_CA") == language_of("fr-ca") == "fr"
    assert label("pt_BR", "invoice") == "Invoice"


@pytest.mark.parametrize(
    ("currency", "minor", "locale", "printed"),
    [
        ("JPY", 123_456, "ja_JP", "¥123,456"),  # Babel writes the fullwidth ￥, which the font lacks
        ("JPY", 123_456, "en_US", "¥123,456"),
        ("KWD", 1_234_567, "en_US", "KWD1,234.567"),
        ("KWD", 1_234_567, "fr_FR", "1 234,567 KWD"),
        ("EUR", 99, "de_DE", "0,99 €"),
    ],
)
def test_zero_and_three_decimal_currencies_print_exactly(currency: str, minor: int, locale: str, printed: str) -> None:
    amount = Money(minor, currency).format(locale)
    doc = invoice(
        lines=(Line("Service", "1", amount, "0%", amount),),
        totals=InvoiceTotals(subtotal=amount, tax=Money(0, currency).format(locale), total=amount, amount_due=amount),
        payments=(),
    )

    text = pdf_text(invoice_pdf(doc))

    assert text.count(printed) == 5  # unit price, line amount, subtotal, total, amount due


def test_characters_the_font_lacks_fall_back_to_their_compatible_form() -> None:
    covered = frozenset(map(ord, "¥123,4"))

    assert printable("￥1,234", covered) == "¥1,234"
    assert printable("a\x07\r\nb", frozenset(map(ord, "ab"))) == "a\nb"


def test_a_receipt_shows_payment_invoices_credit_and_the_card_as_brand_and_last_four() -> None:
    text = pdf_text(receipt_pdf(receipt()))

    for expected in (
        "Receipt",
        "PAY-00003",
        "Received from".upper(),
        "Zoë Ørsted",
        "Payment date Mar 4, 2025",
        "Visa •••• 4242",
        "Amount paid $300.00",
        "INV-00012 Mar 3, 2025 $250.00",
        "Kept as credit $50.00",
        "Thank you for your payment.",
    ):
        assert expected in text, expected
    assert "PAID" in text.replace("INVOICES PAID", "")
    assert text.count("4242") == 1
    assert not re.search(r"\d[\d ]{10,}\d", text)  # nothing like a card number


def test_a_receipt_names_a_manual_method_and_lists_refunds() -> None:
    doc = receipt(
        method=MethodShown("Check"),
        check_number="1042",
        refunds=(Row("Mar 5, 2025", "Damaged in transit", usd(10_000)),),
        refunded=usd(10_000),
        net=usd(20_000),
    )

    text = pdf_text(receipt_pdf(doc))

    for expected in (
        "Method Check",
        "Check number 1042",
        "Damaged in transit Mar 5, 2025 $100.00",
        "Refunded −$100.00",
        "Net received $200.00",
    ):
        assert expected in text, expected
    assert "••••" not in text


def test_a_fully_refunded_receipt_is_stamped_refunded_and_french_receipts_speak_french() -> None:
    refunded = pdf_text(receipt_pdf(receipt(status=Status.REFUNDED)))
    french = pdf_text(receipt_pdf(receipt(language="fr", method=MethodShown("Espèces"))))

    assert "REFUNDED" in refunded and "PAID" not in refunded.replace("INVOICES PAID", "")
    for expected in (
        "Reçu",
        "Reçu de".upper(),
        "Moyen de paiement Espèces",
        "Montant payé",
        "FACTURES RÉGLÉES",
        "PAYÉ",
    ):
        assert expected in french, expected


@pytest.mark.parametrize("last4", ["4242424242424242", "424", "42a2", "４２４２"])
def test_a_receipt_cannot_be_given_more_than_the_last_four_digits(last4: str) -> None:
    with pytest.raises(ValueError, match="last four digits"):
        MethodShown("Visa", last4)


def test_the_merchant_logo_is_drawn_and_a_broken_one_is_left_out() -> None:
    with_logo = invoice_pdf(invoice(merchant=dataclasses.replace(MERCHANT, logo=png())))
    broken = invoice_pdf(invoice(merchant=dataclasses.replace(MERCHANT, logo=b"not an image")))

    images = pdf_reader(with_logo).pages[0].images
    assert len(images) == 1
    assert images[0].image is not None and images[0].image.size == (240, 80)
    assert len(pdf_reader(broken).pages[0].images) == 0
    assert "INV-00012" in pdf_text(broken)


def test_a_long_invoice_runs_onto_more_pages_with_numbered_footers() -> None:
    lines = tuple(Line(f"Item {n}", "1", usd(100), "0%", usd(100)) for n in range(1, 81))

    pdf = invoice_pdf(invoice(lines=lines))

    reader = pdf_reader(pdf)
    pages = len(reader.pages)
    assert pages >= 2
    assert f"Page {pages} of {pages}" in reader.pages[-1].extract_text()
    assert "Unit price" in reader.pages[1].extract_text()  # the headings repeat
    text = pdf_text(pdf)
    assert all(f"Item {n} " in text for n in range(1, 81))


def test_every_language_has_every_word() -> None:
    assert set(FRENCH) == set(ENGLISH) == set(SPANISH)
    assert all(f"status.{status}" in ENGLISH for status in Status)
