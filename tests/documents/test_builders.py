"""Document data built from our models: exact texts in the reader's locale, bounded queries, and
another merchant's ids treated as missing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from pytest_django.fixtures import DjangoAssertNumQueries

from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.documents.data import Line, MethodShown, Party, Row, Status
from settle.documents.pdf import invoice_pdf, receipt_pdf
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.invoicing.services import LineInput, credit_memo_create, invoice_create, invoice_void
from settle.payments.models import Payment
from settle.payments.receipts import invoice_document, receipt_document
from settle.payments.services import credit_apply, refund_create
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment
from tests.documents.pdftext import pdf_text
from tests.documents.test_pdf import png

MARCH_3 = dt.date(2025, 3, 3)


def cad_style(minor: int) -> str:
    """US dollars as a French-Canadian reader writes them."""
    return Money(minor, "USD").format("fr_CA")


@pytest.fixture
def shop(db: None) -> Merchant:
    return make_merchant(
        name="Vélo Café",
        email="hello@velo.example",
        phone="+15145550100",
        address="12 rue de l’Église\nMontréal QC H2X 1Y4\n",
    )


@pytest.fixture
def zoe(shop: Merchant) -> Customer:
    return make_customer(
        shop,
        "Zoë Ørsted",
        emails=["zoe@example.com"],
        address={
            "address_line1": "5 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
            "country": "US",
        },
    )


def make_bike_invoice(merchant: Merchant, customer: Customer, **kwargs: object) -> Invoice:
    with merchant_scope(merchant):
        return invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=[
                LineInput("Tune-up", "1.5", Money(4_000, merchant.currency), tax_rate_bp=825),
                LineInput("Inner tube", 2, Money(850, merchant.currency)),
            ],
            discount=Money(1_000, merchant.currency),
            issue_date=MARCH_3,
            po_number="PO-77",
            memo="Ride safe.",
            **kwargs,  # type: ignore[arg-type]
        )


def test_an_invoice_document_in_the_merchants_locale(
    shop: Merchant, zoe: Customer, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    invoice = make_bike_invoice(shop, zoe)
    payment = make_payment(shop, zoe, 3_000, [invoice], method="check", received_on=dt.date(2025, 3, 4))

    with merchant_scope(shop), django_assert_num_queries(3):
        doc = invoice_document(merchant=shop, invoice_id=invoice.pk)

    assert doc.language == "en" and doc.page_format == "Letter"
    assert doc.merchant == Party(
        name="Vélo Café",
        address_lines=("12 rue de l’Église", "Montréal QC H2X 1Y4"),
        email="hello@velo.example",
        phone="+1 514-555-0100",
    )
    assert doc.customer == Party(
        name="Zoë Ørsted", address_lines=("5 Main St", "Springfield, IL 62701"), email="zoe@example.com"
    )
    assert (doc.number, doc.status, doc.issue_date, doc.due_date) == (
        invoice.number,
        Status.PARTIALLY_PAID,
        "Mar 3, 2025",
        "Mar 3, 2025",
    )
    assert doc.lines == (
        Line("Tune-up", "1.5", "$40.00", "8.25%", "$60.00"),
        Line("Inner tube", "2", "$8.50", "0%", "$17.00"),
    )
    # 77.00 − 10.00 discount spread over the lines; tax on the tune-up's discounted 52.21.
    assert doc.totals.subtotal == "$77.00"
    assert doc.totals.discount == "$10.00"
    assert doc.totals.total == Money(invoice.total_minor, "USD").format("en_US")
    assert doc.totals.paid == "$30.00"
    assert doc.totals.amount_due == Money(invoice.total_minor - 3_000, "USD").format("en_US")
    assert doc.payments == (Row("Mar 4, 2025", f"{payment.number} · Check", "$30.00", reference=payment.number),)
    assert (doc.po_number, doc.memo) == ("PO-77", "Ride safe.")


def test_an_invoice_document_in_french_lists_credit_memos_too(shop: Merchant, zoe: Customer) -> None:
    invoice = make_bike_invoice(shop, zoe)
    with merchant_scope(shop):
        memo = credit_memo_create(merchant=shop, customer_id=zoe.pk, amount=Money(500, "USD"), reason="Goodwill")
        credit_apply(merchant=shop, customer_id=zoe.pk, credit_memo_id=memo.pk, invoice_ids=[invoice.pk])

        doc = invoice_document(merchant=shop, invoice_id=invoice.pk, locale="fr_CA")

    assert doc.language == "fr" and doc.page_format == "Letter"
    assert doc.issue_date == "3 mars 2025"
    assert doc.lines[0] == Line("Tune-up", "1,5", cad_style(4_000), "8,25\u00a0%", cad_style(6_000))
    assert len(doc.payments) == 1
    assert doc.payments[0].description == f"Avoir {memo.number}"
    assert doc.payments[0].amount == cad_style(500) == "5,00\u00a0$\u00a0US"
    assert doc.customer.address_lines[-1] == "États-Unis"  # another country than the reader's


def test_a_void_invoice_document_has_no_amount_due_and_is_stamped(shop: Merchant, zoe: Customer) -> None:
    invoice = make_bike_invoice(shop, zoe)
    with merchant_scope(shop):
        invoice_void(merchant=shop, invoice_id=invoice.pk)
        doc = invoice_document(merchant=shop, invoice_id=invoice.pk)

    assert doc.status == Status.VOID
    assert doc.totals.amount_due == ""
    assert "VOID" in pdf_text(invoice_pdf(doc))


def test_zero_and_three_decimal_currencies(db: None) -> None:
    tokyo = make_merchant(currency="JPY", locale="ja_JP", time_zone="Asia/Tokyo")
    kuwait = make_merchant(currency="KWD", locale="en_US", time_zone="Asia/Kuwait")
    yen = make_invoice(tokyo, make_customer(tokyo), 123_456)
    dinar = make_invoice(kuwait, make_customer(kuwait), 1_234_567)

    with merchant_scope(tokyo):
        yen_doc = invoice_document(merchant=tokyo, invoice_id=yen.pk)
    with merchant_scope(kuwait):
        dinar_doc = invoice_document(merchant=kuwait, invoice_id=dinar.pk)

    assert yen_doc.totals.total == "￥123,456" and yen_doc.page_format == "A4"
    assert "¥123,456" in pdf_text(invoice_pdf(yen_doc))
    assert dinar_doc.totals.total == "KWD1,234.567"
    assert "Amount due KWD1,234.567" in pdf_text(invoice_pdf(dinar_doc))


def test_every_invoice_status_has_a_document_status() -> None:
    assert {Status(status) for status in InvoiceStatus.values} <= set(Status)


def test_another_merchants_invoice_or_payment_is_missing(
    shop: Merchant, zoe: Customer, other_merchant: Merchant
) -> None:
    invoice = make_bike_invoice(shop, zoe)
    payment = make_payment(shop, zoe, 1_000, [invoice])

    with merchant_scope(other_merchant):
        with pytest.raises(Invoice.DoesNotExist):
            invoice_document(merchant=other_merchant, invoice_id=invoice.pk)
        with pytest.raises(Payment.DoesNotExist):
            receipt_document(merchant=other_merchant, payment_id=payment.pk)


def test_a_receipt_document_lists_invoices_credit_and_refunds(
    shop: Merchant, zoe: Customer, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    first = make_invoice(shop, zoe, 10_000, issue_date=MARCH_3)
    second = make_invoice(shop, zoe, 5_000, issue_date=MARCH_3)
    payment = make_payment(
        shop,
        zoe,
        20_000,
        [first, second],
        keep_excess_as_credit=True,
        received_on=dt.date(2025, 3, 4),
        reference="Front desk",
    )
    with merchant_scope(shop):
        refund_create(
            merchant=shop,
            payment_id=payment.pk,
            amount=Money(2_000, "USD"),
            invoice_id=second.pk,
            reason="Returned",
            now=dt.datetime(2025, 3, 6, 3, tzinfo=dt.UTC),  # still March 5 in New York
        )

    with merchant_scope(shop), django_assert_num_queries(3):
        doc = receipt_document(merchant=shop, payment_id=payment.pk)

    assert (doc.number, doc.status, doc.payment_date) == (payment.number, Status.PAID, "Mar 4, 2025")
    assert doc.method == MethodShown("Cash")
    assert doc.amount == "$200.00"
    assert doc.invoices == (
        Row("Mar 3, 2025", first.number, "$100.00"),
        Row("Mar 3, 2025", second.number, "$30.00"),
    )
    assert doc.unapplied == "$50.00"
    assert doc.refunds == (Row("Mar 5, 2025", "Returned", "$20.00"),)
    assert (doc.refunded, doc.net, doc.reference) == ("$20.00", "$180.00", "Front desk")
    text = pdf_text(receipt_pdf(doc))
    assert "Returned Mar 5, 2025 $20.00" in text and "Net received $180.00" in text


def test_a_fully_refunded_payment_is_a_refunded_receipt_and_french_names_the_method(
    shop: Merchant, zoe: Customer
) -> None:
    payment = make_payment(shop, zoe, 4_000, method="check", check_number="1042", keep_excess_as_credit=True)
    with merchant_scope(shop):
        refund_create(merchant=shop, payment_id=payment.pk, amount=Money(4_000, "USD"))
        doc = receipt_document(merchant=shop, payment_id=payment.pk, locale="fr_FR")

    assert doc.status == Status.REFUNDED
    assert doc.method == MethodShown("Chèque")
    assert doc.check_number == "1042"
    assert doc.refunds[0].description == "—"
    assert (doc.refunded, doc.net) == (Money(4_000, "USD").format("fr_FR"), Money(0, "USD").format("fr_FR"))
    assert doc.page_format == "A4"


def test_a_brand_name_method_stays_as_it_is(shop: Merchant, zoe: Customer) -> None:
    payment = make_payment(shop, zoe, 4_000, method="venmo", keep_excess_as_credit=True)
    with merchant_scope(shop):
        doc = receipt_document(merchant=shop, payment_id=payment.pk, locale="fr_FR")

    assert doc.method == MethodShown("Venmo")


def test_the_logo_comes_from_storage_and_a_missing_file_is_left_out(
    shop: Merchant, zoe: Customer, tmp_path: Path
) -> None:
    invoice = make_bike_invoice(shop, zoe)

    with override_settings(MEDIA_ROOT=tmp_path), merchant_scope(shop):
        shop.logo.save("logo.png", ContentFile(png()), save=True)
        with_logo = invoice_document(merchant=shop, invoice_id=invoice.pk)
        Path(shop.logo.path).unlink()
        without = invoice_document(merchant=shop, invoice_id=invoice.pk)

    assert with_logo.merchant.logo == png()
    assert without.merchant.logo is None
