"""Downloading an invoice or a receipt as a PDF from the back office."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from settle.customers.models import Customer
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer, make_invoice, make_payment
from tests.documents.pdftext import pdf_text


def signed_in(merchant: Merchant, role: str = Role.OWNER) -> Client:
    owner = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    membership = (
        owner
        if role == Role.OWNER
        else membership_set(merchant=merchant, acting=owner, email=f"{role}@example.com", role=role)
    )
    client = Client()
    client.force_login(membership.user)
    return client


def test_an_invoice_downloads_as_a_pdf_named_after_its_number(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 12_345)
    make_payment(merchant, customer, 12_345, [invoice])

    response = signed_in(merchant).get(reverse("backoffice:invoice_pdf", args=[invoice.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert invoice.number == "INV-00001"
    assert "no-store" in response["Cache-Control"]
    text = pdf_text(response.content)
    assert invoice.number in text and "$123.45" in text and "PAID" in text


def test_a_receipt_downloads_as_a_pdf_for_read_only_staff_too(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    payment = make_payment(merchant, customer, 5_000, [invoice])

    response = signed_in(merchant, Role.READ_ONLY).get(reverse("backoffice:receipt_pdf", args=[payment.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{payment.number}.pdf"'
    text = pdf_text(response.content)
    assert payment.number in text and invoice.number in text and "Method Cash" in text


def test_the_detail_pages_link_to_the_pdfs(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    payment = make_payment(merchant, customer, 5_000, [invoice])
    client = signed_in(merchant)

    invoice_page = client.get(reverse("backoffice:invoice_detail", args=[invoice.pk])).content.decode()
    payment_page = client.get(reverse("backoffice:payment_detail", args=[payment.pk])).content.decode()

    assert f'href="{reverse("backoffice:invoice_pdf", args=[invoice.pk])}"' in invoice_page
    assert f'href="{reverse("backoffice:receipt_pdf", args=[payment.pk])}"' in payment_page


@pytest.mark.parametrize("name", ["invoice_pdf", "receipt_pdf"])
def test_another_merchants_document_is_not_found(merchant: Merchant, other_merchant: Merchant, name: str) -> None:
    theirs = make_customer(other_merchant)
    invoice = make_invoice(other_merchant, theirs, 5_000)
    payment = make_payment(other_merchant, theirs, 5_000, [invoice])
    pk = invoice.pk if name == "invoice_pdf" else payment.pk

    assert signed_in(merchant).get(reverse(f"backoffice:{name}", args=[pk])).status_code == 404
    assert signed_in(merchant).get(reverse(f"backoffice:{name}", args=[pk + 1000])).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5_000)

    response = Client().get(reverse("backoffice:invoice_pdf", args=[invoice.pk]))

    assert response.status_code == 302 and reverse("login") in response["Location"]
