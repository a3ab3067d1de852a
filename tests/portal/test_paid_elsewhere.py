""" "I've paid with Venmo" on the pay page: a plain CSRF-protected form beside each app the merchant
set; pressing it gives the merchant one To-Do to confirm and record the payment, thanks the customer
in their language, and marks nothing paid. Twice is once, an app the merchant did not set is
refused, and a client pressing too often is slowed down."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.messaging.models import Message, Purpose
from settle.notifications.models import Notification, NotificationKind
from settle.payments.links import secure_link_create
from settle.payments.models import LinkPurpose, Payment
from settle.portal.social_views import CLAIM_LIMIT
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, make_payment
from tests.portal.conftest import payment_settings_set

pytestmark = pytest.mark.django_db

INVOICE_URL = "/l/invoice/"
CLAIM_URL = "/l/invoice/paid-elsewhere/"


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer) -> Invoice:
    payment_settings_set(merchant, venmo_username="Jane-Doe", zelle_recipient="jane@example.com")
    return make_invoice(merchant, customer, 123_45)


def opened(
    client: Client, merchant: Merchant, invoices: list[Invoice], purpose: str = LinkPurpose.PAY_INVOICE
) -> Client:
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=purpose,
            customer_id=invoices[0].customer_id,
            invoice_ids=[i.pk for i in invoices],
        )
    assert client.get(f"/l/{token}/").status_code == 303
    return client


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def todos() -> list[Notification]:
    with all_merchants():
        return list(Notification.objects.filter(kind=NotificationKind.PAID_ELSEWHERE).order_by("pk"))


def test_each_app_the_merchant_set_has_its_button(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    html = opened(client, merchant, [invoice]).get(INVOICE_URL).content.decode()

    [form] = re.findall(
        r'<form class="paid-elsewhere" method="post" action="/l/invoice/paid-elsewhere/">(.*?)</form>', html, re.S
    )
    assert "csrfmiddlewaretoken" in form
    buttons = re.findall(r'<button[^>]*name="app" value="(\w+)">([^<]*)</button>', form)
    assert buttons == [("venmo", "I’ve paid with Venmo"), ("zelle", "I’ve paid with Zelle")]
    assert "paypal" not in form


def test_pressing_it_makes_a_to_do_and_marks_nothing_paid(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, [invoice])

    response = client.post(CLAIM_URL, {"app": "venmo"})

    assert response.status_code == 303 and response["Location"] == INVOICE_URL
    [todo] = todos()
    assert todo.title == f"Confirm a Venmo payment of $123.45 from Ann Customer for invoice {invoice.number}"
    assert "Record the payment when you see it in Venmo" in todo.body
    assert todo.needs_action and todo.done_at is None
    assert (todo.merchant_id, todo.customer_id, todo.invoice_id, todo.payment_id) == (
        merchant.pk,
        invoice.customer_id,
        invoice.pk,
        None,
    )
    assert todo.action_path == f"/payments/new/?customer={invoice.customer_id}&invoice={invoice.pk}"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN and invoice.balance_minor == 123_45
    assert Payment.objects.count() == 0
    with all_merchants():
        assert Message.objects.filter(purpose=Purpose.STAFF_NOTICE).count() == 1
    page = text(client.get(INVOICE_URL).content.decode())
    assert f"Thanks — {merchant.name} will confirm your payment once it arrives." in page


def test_pressing_twice_makes_one_to_do_and_another_app_another(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, [invoice])

    for _ in range(2):
        assert client.post(CLAIM_URL, {"app": "venmo"}).status_code == 303
    client.post(CLAIM_URL, {"app": "zelle"})

    assert [t.title.split()[2] for t in todos()] == ["Venmo", "Zelle"]
    with all_merchants():
        assert Message.objects.filter(purpose=Purpose.STAFF_NOTICE).count() == 2


def test_another_browser_is_another_claim(merchant: Merchant, invoice: Invoice) -> None:
    for _ in range(2):
        browser = opened(Client(), merchant, [invoice])
        browser.post(CLAIM_URL, {"app": "venmo"})

    assert len(todos()) == 2


@pytest.mark.parametrize("app", ["paypal", "cash_app", "bitcoin", "", "VENMO"])
def test_an_app_the_merchant_did_not_set_is_refused(
    client: Client, merchant: Merchant, invoice: Invoice, app: str
) -> None:
    opened(client, merchant, [invoice])

    response = client.post(CLAIM_URL, {"app": app})

    assert response.status_code == 303
    assert todos() == []
    assert "This way of paying is not available." in text(client.get(INVOICE_URL).content.decode())


def test_a_paid_invoice_takes_no_claim(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    opened(client, merchant, [invoice])
    make_payment(merchant, customer, 123_45, [invoice])

    client.post(CLAIM_URL, {"app": "venmo"})

    assert todos() == []


def test_without_a_session_nothing_happens(client: Client, invoice: Invoice) -> None:
    response = client.post(CLAIM_URL, {"app": "venmo"})

    assert response.status_code == 404
    assert todos() == []


def test_the_form_needs_its_csrf_token_and_a_post(merchant: Merchant, invoice: Invoice) -> None:
    browser = opened(Client(enforce_csrf_checks=True), merchant, [invoice])

    assert browser.post(CLAIM_URL, {"app": "venmo"}).status_code == 403
    assert browser.get(CLAIM_URL).status_code == 405
    assert todos() == []


def test_a_client_pressing_too_often_is_slowed_down(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, [invoice])
    for _ in range(CLAIM_LIMIT):
        client.post(CLAIM_URL, {"app": "venmo"})

    client.post(CLAIM_URL, {"app": "zelle"})

    assert [t.title.split()[2] for t in todos()] == ["Venmo"]
    assert "Too many attempts." in text(client.get(INVOICE_URL).content.decode())


@pytest.mark.parametrize(
    ("language", "button", "thanks"),
    [
        ("fr", "J’ai payé avec Venmo", "Merci! {name} confirmera votre paiement dès qu’il sera reçu."),
        ("es", "Ya pagué con Venmo", "Gracias. {name} confirmará su pago en cuanto lo reciba."),
    ],
)
def test_in_the_customers_language(
    merchant: Merchant, invoice: Invoice, language: str, button: str, thanks: str
) -> None:
    browser = opened(Client(HTTP_ACCEPT_LANGUAGE=language), merchant, [invoice])
    assert button in browser.get(INVOICE_URL).content.decode()

    browser.post(CLAIM_URL, {"app": "venmo"})

    assert thanks.format(name=merchant.name) in text(browser.get(INVOICE_URL).content.decode())
    assert todos()[0].title.startswith("Confirm a Venmo payment of $123.45")  # the merchant reads English


def test_a_statement_claim_covers_its_invoices(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    second = make_invoice(merchant, customer, 10_00)
    opened(client, merchant, [invoice, second], LinkPurpose.PAY_STATEMENT)

    response = client.post(CLAIM_URL, {"app": "venmo"})

    assert response.status_code == 303 and response["Location"] == "/l/statement/"
    [todo] = todos()
    assert (
        todo.title
        == f"Confirm a Venmo payment of $133.45 from Ann Customer for invoices {invoice.number}, {second.number}"
    )
    assert todo.action_path.endswith(f"&invoice={invoice.pk}&invoice={second.pk}")
