"""Getting paid by link, end to end in a real browser. The merchant signs in and sends an invoice by
e-mail; the worker delivers it to an SMTP server started by the test; the customer opens the link
from that e-mail on a French phone, pays on the sandbox's own card page and gets the receipt; the
merchant sees the invoice paid and `settle verify` agrees. Also on the phone: a declined card is
told in French and charges nothing, and a 3-D Secure card is confirmed and paid."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import signal
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.customers.services import contact_save
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.invoicing.services import LineInput, invoice_create
from settle.messaging.models import Message, MessageStatus
from settle.payments.models import Payment
from settle.sandbox import webhooks
from settle.sandbox.models import Charge, ChargeStatus
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_merchant
from tests.documents.pdftext import pdf_text
from tests.messaging.conftest import Inbox, smtp_server  # noqa: F401 (the fixture)
from tests.portal.test_pay_by_card import EXPIRY
from tests.portal.test_pay_page import link_for
from tests.sandbox.factories import CARDS

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
]

OWNER = "sophie@garage-tremblay.example"
PASSWORD = "correct horse battery"
FRENCH_PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "locale": "fr-CA",
    "extra_http_headers": {"Accept-Language": "fr-CA,fr;q=0.9"},
}


@pytest.fixture
def browser(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chromium, with every link Settle builds pointing at the live server, and the processor's
    webhooks going nowhere."""
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 204)
    with override_settings(SETTLE_BASE_URL=live_server.url), sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()
            # Inside Playwright's loop Django keeps a separate connection for this thread.
            connections.close_all()


@pytest.fixture
def phone(browser: Any) -> Any:
    """A phone-sized page whose browser speaks French, watching for Content-Security-Policy errors."""
    page = browser.new_context(**FRENCH_PHONE).new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and page.csp_violations.append(message.text),
    )
    return page


@pytest.fixture
def merchant(db: None) -> Merchant:
    return make_merchant(
        name="Garage Tremblay", owner_email=OWNER, locale="fr_CA", currency="CAD", time_zone="America/Montreal"
    )


@pytest.fixture
def customer(merchant: Merchant) -> Customer:
    customer = make_customer(merchant, "Marie Gagnon")
    with merchant_scope(merchant):
        contact_save(
            merchant=merchant,
            customer_id=customer.pk,
            name="Marie Gagnon",
            email="marie@example.com",
            is_default_billing=True,
        )
    return customer


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer) -> Invoice:
    with merchant_scope(merchant):
        return invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=[
                LineInput("Vidange d’huile", 1, Money(89_95, "CAD")),
                LineInput("Pneus d’hiver (pose)", 4, Money(25_00, "CAD")),
            ],
        )


def link_opened(page: Any, live_server: LiveServer, merchant: Merchant, invoice: Invoice) -> None:
    """The customer opens a fresh pay link to `invoice` (for the tests that start on the phone)."""
    _, token = link_for(merchant, invoice)
    page.goto(f"{live_server.url}/l/{token}/")


def pay_by_card(page: Any, number: str) -> None:
    """Press « Payer par carte » and type the card on the sandbox's own page."""
    page.get_by_role("button", name="Payer par carte").click()
    page.wait_for_url("**/sandbox/fields/card/**")
    page.get_by_label("Card number").fill(" ".join(number[i : i + 4] for i in range(0, len(number), 4)))
    page.get_by_label("Expiry (MM/YY)").fill(EXPIRY)
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Postal code").fill("H2X 1Y4")
    page.get_by_role("button", name="Continue").click()


def words(text: str) -> str:
    """Text as a reader sees it: no-break spaces as spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def worker_runs_the_queue() -> None:
    """`settle worker --batch`: run what is queued, as the worker service does, then stop. The
    worker takes over the process's signals; they are given back."""
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("worker", batch=True, startup_delay=False, stdout=StringIO())
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def pay_link_in(inbox: Inbox, base_url: str) -> str:
    """The pay link in the one e-mail the server received, which carries the invoice's PDF."""
    [envelope] = inbox.received
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert envelope.rcpt_tos == ["marie@example.com"]
    body = received.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(re.escape(base_url) + r"/l/[A-Za-z0-9_-]{43}/", body)
    assert found is not None, body
    [pdf] = received.iter_attachments()
    assert pdf.get_payload(decode=True).startswith(b"%PDF-")  # type: ignore[union-attr]
    return found.group(0)


@override_settings(
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}},
    SETTLE_PERIODIC_TASKS={},
)
def test_an_invoice_e_mailed_by_the_merchant_is_paid_on_a_french_phone(
    browser: Any,
    phone: Any,
    live_server: LiveServer,
    merchant: Merchant,
    invoice: Invoice,
    smtp_server: Inbox,  # noqa: F811 (the fixture imported above)
) -> None:
    # The merchant signs in and sends the invoice by e-mail, as the page fills the message in.
    office = browser.new_page()
    office.goto(live_server.url + reverse("login"))
    office.get_by_label("E-mail").fill(OWNER)
    office.get_by_label("Password").fill(PASSWORD)
    office.get_by_role("button", name="Sign in").click()
    office.wait_for_url(live_server.url + reverse("backoffice:dashboard"))
    invoice_url = live_server.url + reverse("backoffice:invoice_detail", args=[invoice.pk])
    office.goto(invoice_url)
    office.get_by_role("link", name="Send", exact=True).click()
    office.get_by_role("button", name="Send", exact=True).click()
    office.wait_for_url(invoice_url)
    assert "marie@example.com" in office.content()

    # Queued in the outbox with the business change; the worker sends it.
    assert smtp_server.received == []
    with merchant_scope(merchant):
        assert Message.objects.get().status == MessageStatus.QUEUED
    worker_runs_the_queue()
    with merchant_scope(merchant):
        assert Message.objects.get().status == MessageStatus.SENT
    link = pay_link_in(smtp_server, live_server.url)

    # The customer opens it on a French phone: the token leaves the address bar, the page is French.
    phone.goto(link)
    phone.wait_for_url("**/l/invoice/")
    assert link.rsplit("/", 2)[1] not in phone.url
    assert phone.locator("html").get_attribute("lang") == "fr"
    assert phone.get_by_role("heading", level=1).inner_text() == f"Facture {invoice.number}"
    assert words(phone.locator(".amount-due").inner_text()) == "189,95 $"
    assert phone.get_by_role("cell", name="Vidange d’huile").is_visible()

    pay_by_card(phone, CARDS["success"])
    phone.wait_for_url("**/l/invoice/paid/")

    assert phone.get_by_role("heading", level=1).inner_text() == "Paiement reçu"
    assert phone.locator(".stamp").inner_text() == "PAYÉ"
    assert phone.locator(".method").inner_text() == "Visa •••• 4242"
    assert words(phone.locator(".amount-due").inner_text()) == "189,95 $"
    with phone.expect_download() as download:
        phone.get_by_role("link", name="Télécharger le reçu").click()
    receipt = Path(download.value.path()).read_bytes()
    assert receipt.startswith(b"%PDF-")
    assert "PAYÉ" in pdf_text(receipt) and "4242" in pdf_text(receipt)
    assert phone.csp_violations == []

    # The merchant's invoice shows it paid, and the books agree.
    office.goto(invoice_url)
    assert office.locator(".badge-paid").inner_text() == "Paid"
    with merchant_scope(merchant):
        invoice.refresh_from_db()
        payment = Payment.objects.get()
    assert (invoice.status, invoice.balance_minor) == (InvoiceStatus.PAID, 0)
    assert (payment.amount_minor, payment.card_brand, payment.last4) == (189_95, "Visa", "4242")
    assert Charge.objects.get().status == ChargeStatus.SUCCEEDED
    worker_runs_the_queue()  # what the payment queued (webhooks, messages) runs, and the books still agree
    out = StringIO()
    call_command("verify", stdout=out)
    assert "Every stored balance agrees with the journal." in out.getvalue()


def test_a_declined_card_is_told_in_french_and_charges_nothing(
    phone: Any, live_server: LiveServer, merchant: Merchant, invoice: Invoice
) -> None:
    link_opened(phone, live_server, merchant, invoice)

    pay_by_card(phone, CARDS["generic_decline"])
    phone.wait_for_url("**/l/invoice/")

    assert phone.get_by_role("alert").inner_text() == "Votre carte a été refusée."
    assert phone.get_by_role("button", name="Payer par carte").is_visible()
    assert Charge.objects.get().status == ChargeStatus.FAILED
    with merchant_scope(merchant):
        invoice.refresh_from_db()
        assert not Payment.objects.exists()
    assert (invoice.status, invoice.balance_minor) == (InvoiceStatus.OPEN, 189_95)
    assert phone.csp_violations == []


def test_a_three_d_secure_card_is_confirmed_then_paid(
    phone: Any, live_server: LiveServer, merchant: Merchant, invoice: Invoice
) -> None:
    link_opened(phone, live_server, merchant, invoice)

    pay_by_card(phone, CARDS["three_d_secure"])
    phone.wait_for_url("**/sandbox/authenticate/**")
    with merchant_scope(merchant):
        assert not Payment.objects.exists()
    phone.get_by_role("button", name="Approve").click()
    phone.wait_for_url("**/l/invoice/paid/")

    assert phone.get_by_role("heading", level=1).inner_text() == "Paiement reçu"
    assert phone.locator(".method").inner_text() == "Visa •••• 3184"
    with merchant_scope(merchant):
        invoice.refresh_from_db()
        assert Payment.objects.get().amount_minor == 189_95
    assert invoice.status == InvoiceStatus.PAID
    assert Charge.objects.get().status == ChargeStatus.SUCCEEDED
    assert phone.csp_violations == []
