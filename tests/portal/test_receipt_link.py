"""A receipt behind a secure link: the token is traded for a session, and the page shows the
merchant, the stamp, the amount, date and method (brand and last four digits only), the invoices
paid and the refunds, with its PDF, in the customer's language and with the pay page's headers."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.gateways.registry import gateway_get
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Invoice
from settle.payments.links import secure_link_create
from settle.payments.models import LinkPurpose, Payment, PaymentStatus
from settle.payments.services import payment_return, refund_create
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, make_payment
from tests.documents.pdftext import pdf_text
from tests.payments.charges.conftest import pay
from tests.portal.test_pay_page import opened as invoice_opened
from tests.sandbox.factories import ACCOUNTS, bank_account, card

pytestmark = pytest.mark.django_db

RECEIPT_URL = "/l/receipt/"
PDF_URL = "/l/receipt/pdf/"


@pytest.fixture
def card_payment(merchant: Merchant, customer: Customer, invoice: Invoice) -> Payment:
    """The invoice paid in full by a sandbox Visa."""
    attempt = pay(merchant, customer, [invoice], card(SandboxGateway()))
    assert attempt.payment is not None
    return attempt.payment


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def receipt_link(merchant: Merchant, payment: Payment, **kwargs: Any) -> str:
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.VIEW_RECEIPT,
            customer_id=payment.customer_id,
            payment_id=payment.pk,
            **kwargs,
        )
    return f"/l/{token}/"


def opened(client: Client, merchant: Merchant, payment: Payment, **headers: Any) -> str:
    """Open a fresh receipt link in `client`; returns the receipt page's words."""
    response = client.get(receipt_link(merchant, payment), **headers)
    assert (response.status_code, response["Location"]) == (303, RECEIPT_URL)
    page = client.get(RECEIPT_URL, **headers)
    assert page.status_code == 200
    return text(page.content.decode())


def test_the_receipt_shows_what_was_paid_and_how(
    client: Client, merchant: Merchant, invoice: Invoice, card_payment: Payment
) -> None:
    words = opened(client, merchant, card_payment)

    assert merchant.name in words and f"Receipt {card_payment.number}" in words
    assert "PAID" in words and "REFUNDED" not in words and "Partially refunded" not in words
    assert "Amount paid $123.45" in words and "Visa •••• 4242" in words
    assert invoice.number in words and "Download receipt" in words
    today = clock.local_date(clock.now(), merchant.time_zone)
    assert f"{today:%b} {today.day}, {today.year}" in words
    assert "4242424242424242" not in words and "4242 4242" not in words


def test_the_receipt_sends_the_pay_pages_headers_and_leaves_the_token_behind(
    client: Client, merchant: Merchant, card_payment: Payment
) -> None:
    link = receipt_link(merchant, card_payment)
    opening = client.get(link)
    page = client.get(RECEIPT_URL)

    for response in (opening, page):
        assert response["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
    assert link.strip("/").split("/")[-1] not in page.content.decode()


def test_the_pdf_is_the_receipt(client: Client, merchant: Merchant, card_payment: Payment) -> None:
    opened(client, merchant, card_payment)

    response = client.get(PDF_URL)

    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert f'filename="{card_payment.number}.pdf"' in response["Content-Disposition"]
    pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert card_payment.number in pdf and "Visa •••• 4242" in pdf and "PAID" in pdf


def test_the_receipt_is_in_the_customers_language(merchant: Merchant, invoice: Invoice, card_payment: Payment) -> None:
    french = Client(HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")
    words = opened(french, merchant, card_payment, HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")

    assert f"Reçu {card_payment.number}" in words and "PAYÉ" in words
    assert "Montant payé 123,45 $" in words and "Télécharger le reçu" in words
    assert "Factures réglées" in words and invoice.number in words
    pdf = PdfReader(io.BytesIO(french.get(PDF_URL).content)).pages[0].extract_text()
    assert "Reçu" in pdf and "PAYÉ" in pdf

    switched = french.post("/l/language/", {"language": "es", "next": RECEIPT_URL})
    assert switched["Location"] == RECEIPT_URL
    assert f"Recibo {card_payment.number}" in text(french.get(RECEIPT_URL).content.decode())


def test_a_partly_refunded_receipt_says_so_and_lists_the_refund(
    client: Client, merchant: Merchant, card_payment: Payment
) -> None:
    refund_create(merchant=merchant, payment_id=card_payment.pk, amount=Money(23_45, "USD"), reason="Broken part")

    words = opened(client, merchant, card_payment)

    assert "PAID" in words and "Partially refunded" in words
    assert "Broken part" in words and "Refunded −$23.45" in words and "Net received $100.00" in words


def test_a_fully_refunded_receipt_is_stamped_refunded(client: Client, merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 50_00, [make_invoice(merchant, customer, 50_00)])
    refund_create(merchant=merchant, payment_id=payment.pk, amount=Money(50_00, "USD"), reason="Cancelled job")

    words = opened(client, merchant, payment)

    assert "REFUNDED" in words and "PAID" not in words and "Partially refunded" not in words
    assert "Cash" in words and "Cancelled job" in words
    pdf = PdfReader(io.BytesIO(client.get(PDF_URL).content)).pages[0].extract_text()
    assert "REFUNDED" in pdf


def test_a_bank_payment_on_its_way_then_returned_says_so(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    attempt = pay(merchant, customer, [invoice], bank_account(gateway_get("sandbox"), ACCOUNTS["R01"]))  # type: ignore[arg-type]
    assert attempt.payment is not None
    payment = attempt.payment
    assert payment.status == PaymentStatus.PENDING
    assert "Bank payments take a few business days to arrive." in opened(client, merchant, payment)

    payment_return(merchant=merchant, payment_id=payment.pk, code="R01", reason="Insufficient funds", now=clock.now())
    words = text(client.get(RECEIPT_URL).content.decode())

    assert "RETURNED" in words and "PAID" not in words
    assert "Your bank sent this payment back, so it paid nothing." in words
    pdf = PdfReader(io.BytesIO(client.get(PDF_URL).content)).pages[0].extract_text()
    assert "RETURNED" in pdf and "PAID" not in pdf


def test_no_session_or_another_kind_of_link_shows_no_receipt(
    client: Client, merchant: Merchant, invoice: Invoice, card_payment: Payment
) -> None:
    assert client.get(RECEIPT_URL).status_code == 404
    assert client.get(PDF_URL).status_code == 404
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoice.customer_id,
            invoice_ids=[invoice.pk],
        )
    client.get(f"/l/{token}/")

    assert client.get(RECEIPT_URL).status_code == 404
    assert client.get(PDF_URL).status_code == 404


def test_an_expired_receipt_link_is_refused(client: Client, merchant: Merchant, card_payment: Payment) -> None:
    link = receipt_link(merchant, card_payment, now=clock.now() - dt.timedelta(days=2), expires_in=dt.timedelta(days=1))

    response = client.get(link)

    assert response.status_code == 410 and "This link has expired" in text(response.content.decode())
    assert client.get(RECEIPT_URL).status_code == 404


def test_an_invoice_link_opened_later_offers_each_payments_receipt(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    """A customer opens the invoice's link again days after paying it (a new browser): each payment
    on it has its receipt, and only the payments that paid this invoice can be fetched."""
    first = make_payment(merchant, customer, 23_45, [invoice])
    second = make_payment(merchant, customer, 100_00, [invoice])
    elsewhere = make_payment(merchant, customer, 10_00, [make_invoice(merchant, customer, 10_00)])

    html = invoice_opened(client, merchant, invoice)

    for payment in (first, second):
        assert f'href="/l/invoice/receipt/?payment={payment.number}"' in html
        response = client.get(f"/l/invoice/receipt/?payment={payment.number}")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert payment.number in pdf_text(response.content)
    assert client.get(f"/l/invoice/receipt/?payment={elsewhere.number}").status_code == 404
    assert client.get("/l/invoice/receipt/?payment=nonsense").status_code == 404
    assert client.get(f"/l/invoice/receipt/?payment=PAY-{'9' * 30}").status_code == 404
    assert client.get("/l/invoice/receipt/").status_code == 404  # no payment made in this browser


def test_a_partly_paid_invoice_lists_what_was_paid_with_receipts(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    partial = make_payment(merchant, customer, 23_45, [invoice])

    html = invoice_opened(client, merchant, invoice)

    assert f'href="/l/invoice/receipt/?payment={partial.number}"' in html and "PAID" not in html


def test_a_public_link_offers_no_receipts(client: Client, merchant: Merchant, customer: Customer) -> None:
    """Anyone may hold a quick payment link: a receipt, which shows the customer's address, is not
    for them."""
    invoice = make_invoice(merchant, customer, 10_00)
    paid = make_payment(merchant, customer, 4_00, [invoice])
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=customer.pk,
            invoice_ids=[invoice.pk],
            public=True,
        )
    client.get(f"/l/{token}/")

    assert paid.number in client.get("/l/invoice/").content.decode()
    assert "/l/invoice/receipt/" not in client.get("/l/invoice/").content.decode()
    assert client.get(f"/l/invoice/receipt/?payment={paid.number}").status_code == 404
