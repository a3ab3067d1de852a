"""The pay page reads each row once and keeps its invoice's document, and its rendered HTML, in the
cache under a key made of everything they show: a payment, a void, a renamed merchant or customer,
a new logo, other payment settings, a newly saved card or another language is a new key, so the
next view is never stale and never another merchant's. Every view has its own checkout key and
the browser's own CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import cast

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.middleware.csrf import _unmask_cipher_token  # type: ignore[attr-defined]  # how Django reads a token
from django.test import Client
from pytest_django.fixtures import DjangoAssertNumQueries

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.gateways.registry import gateway_get
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Invoice
from settle.invoicing.services import LineInput, invoice_create, invoice_void
from settle.payments.models import Application
from settle.payments.receipts import invoice_page_document, link_invoices
from settle.payments.services import application_move_to_credit
from settle.payments.vault import saved_method_add
from settle.portal.pay_views import CHECKOUT_KEY_FORMAT
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_merchant, make_payment
from tests.portal.conftest import payment_settings_set
from tests.portal.test_logo import PNG
from tests.portal.test_pay_page import INVOICE_URL, link_for, open_link, opened, text
from tests.sandbox.factories import card


def viewed(client: Client, accept_language: str | None = None) -> str:
    page = client.get(INVOICE_URL, headers={"accept-language": accept_language} if accept_language else None)
    assert page.status_code == 200
    return text(page.content.decode())


@pytest.fixture
def paying(client: Client, merchant: Merchant, invoice: Invoice) -> Client:
    """A browser that opened a link to `invoice` and has seen its page once (its document cached)."""
    payment_settings_set(merchant, partial_payments_allowed=True)
    _, token = link_for(merchant, invoice)
    assert open_link(client, token).status_code == 303
    viewed(client)
    return client


def test_a_view_runs_seven_queries_and_two_more_when_the_document_is_not_cached(
    client: Client, merchant: Merchant, invoice: Invoice, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    payment_settings_set(merchant, partial_payments_allowed=True)
    _, token = link_for(merchant, invoice)
    open_link(client, token)
    # The session, the link with its void check, the merchant, the invoice with its journal
    # version, the customer, the payment settings, the saved methods; then the lines and the
    # applications to build the document.
    with django_assert_num_queries(9):
        client.get(INVOICE_URL)
    with django_assert_num_queries(7):
        client.get(INVOICE_URL)


def test_a_payment_shows_on_the_next_view(
    paying: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    assert "Amount due $123.45" in viewed(paying)
    make_payment(merchant, customer, 23_45, [invoice])
    assert "Amount due $100.00" in viewed(paying)
    make_payment(merchant, customer, 100_00, [invoice])
    page = viewed(paying)
    assert "PAID" in page
    assert "Amount due $0.00" in page


def test_a_payment_taken_off_and_another_of_the_same_amount_put_on_shows_the_new_one(
    paying: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    first = make_payment(merchant, customer, 123_45, [invoice])
    assert first.number in viewed(paying)
    with merchant_scope(merchant):
        application = Application.objects.get(merchant=merchant, payment=first)
        application_move_to_credit(merchant=merchant, application_id=application.pk)
    second = make_payment(merchant, customer, 123_45, [invoice])
    # The invoice's row is as it was (paid, nothing due): only its journal says what changed.
    page = viewed(paying)
    assert second.number in page
    assert first.number not in page


def test_an_invoice_voided_after_a_view_is_refused_at_once(
    paying: Client, merchant: Merchant, invoice: Invoice
) -> None:
    with merchant_scope(merchant):
        invoice_void(merchant=merchant, invoice_id=invoice.pk)
    page = paying.get(INVOICE_URL)
    assert page.status_code == 410
    assert "This invoice was cancelled" in page.content.decode()


def test_a_renamed_merchant_and_a_new_logo_show_at_once(
    paying: Client, merchant: Merchant, invoice: Invoice, settings: object, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    assert "brand-logo" not in paying.get(INVOICE_URL).content.decode()
    Merchant.objects.filter(pk=merchant.pk).update(name="Renamed Bikes", address="1 New Street")
    merchant.refresh_from_db()
    merchant.logo.save("new.png", ContentFile(PNG))
    html = paying.get(INVOICE_URL).content.decode()
    assert "Renamed Bikes" in html
    assert f'class="brand-logo" src="{merchant.logo.url}"' in html
    with merchant_scope(merchant):
        doc = invoice_page_document(merchant=merchant, invoice=link_invoices_of(merchant, invoice)[0], locale="en_US")
    assert (doc.merchant.name, doc.merchant.address_lines) == ("Renamed Bikes", ("1 New Street",))


def test_english_and_french_views_of_one_invoice_never_mix(paying: Client) -> None:
    french = viewed(paying, accept_language="fr-CA,fr;q=0.9")
    english = viewed(paying, accept_language="en-US")
    assert "Montant dû 123,45 $" in french
    assert "Amount due" not in french
    assert "Amount due $123.45" in english
    assert "Montant dû" not in english
    assert "Montant dû 123,45 $" in viewed(paying, accept_language="fr-CA,fr;q=0.9")


def link_invoices_of(merchant: Merchant, invoice: Invoice) -> list[Invoice]:
    link, _ = link_for(merchant, invoice)
    return link_invoices(merchant=merchant, link_id=link.pk)


def twin_invoice(merchant: Merchant, customer_name: str, description: str) -> Invoice:
    customer = make_customer(merchant, customer_name)
    with merchant_scope(merchant):
        return invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=[LineInput(description, 1, Money(50_00, "USD"))],
            due_date=dt.date(2031, 3, 15),
            terms="custom",
        )


def test_one_merchants_document_is_never_served_for_anothers(db: None) -> None:
    # Two merchants of the same name, each with an invoice of the same number, amount and dates.
    mine, theirs = make_merchant(name="Twin Shop"), make_merchant(name="Twin Shop")
    my_invoice = twin_invoice(mine, "Mary Major", "Tune-up")
    their_invoice = twin_invoice(theirs, "Zoe Minor", "Wheel truing")
    assert my_invoice.number == their_invoice.number
    with merchant_scope(mine):
        my_doc = invoice_page_document(merchant=mine, invoice=link_invoices_of(mine, my_invoice)[0], locale="en_US")
    with merchant_scope(theirs):
        their_doc = invoice_page_document(
            merchant=theirs, invoice=link_invoices_of(theirs, their_invoice)[0], locale="en_US"
        )
    assert (my_doc.customer.name, my_doc.lines[0].description) == ("Mary Major", "Tune-up")
    assert (their_doc.customer.name, their_doc.lines[0].description) == ("Zoe Minor", "Wheel truing")


def test_another_merchants_link_id_finds_no_invoices(merchant: Merchant, invoice: Invoice) -> None:
    other = make_merchant()
    link, _ = link_for(merchant, invoice)
    with merchant_scope(other):
        assert link_invoices(merchant=other, link_id=link.pk) == []


def form_values(html: str, name: str) -> set[str]:
    return set(re.findall(rf'name="{name}" value="([^"]*)"', html))


def test_each_view_has_its_own_checkout_key_and_the_browsers_csrf_token(
    paying: Client, merchant: Merchant, invoice: Invoice
) -> None:
    first, second = (paying.get(INVOICE_URL).content.decode() for _ in range(2))
    other = Client()
    other_page = opened(other, merchant, invoice)

    keys = form_values(first, "checkout") | form_values(second, "checkout") | form_values(other_page, "checkout")
    assert len(keys) == 3 and all(CHECKOUT_KEY_FORMAT.fullmatch(key) for key in keys)
    mine, theirs = form_values(first, "csrfmiddlewaretoken"), form_values(other_page, "csrfmiddlewaretoken")
    assert len(mine) == len(theirs) == 1 and mine != theirs
    for browser, token in ((paying, mine.pop()), (other, theirs.pop())):
        secret = browser.cookies[settings.CSRF_COOKIE_NAME].value
        assert _unmask_cipher_token(token) == secret


def test_new_payment_settings_and_a_newly_saved_card_show_at_once(
    paying: Client, merchant: Merchant, customer: Customer
) -> None:
    assert "Pay with Venmo" not in viewed(paying) and "Visa •••• 4242" not in viewed(paying)
    payment_settings_set(merchant, venmo_username="north-bikes")
    with merchant_scope(merchant):
        saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=card(cast(SandboxGateway, gateway_get("sandbox"))),
            friendly_name="",
            billing_address="",
            consent_text="I agree.",
            consent_ip=None,
            now=clock.now(),
        )

    page = viewed(paying)

    assert "Pay with Venmo" in page and "Visa •••• 4242" in page
