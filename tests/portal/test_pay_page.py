"""The customer's invoice behind a secure link: the token is traded for a session and leaves the URL,
the page shows the invoice in the customer's language with what can be paid today, refusals are
friendly and say why, guessing is slowed down, and every page sends strict security headers."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from settle.core import clock
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice
from settle.invoicing.services import invoice_void
from settle.payments.links import GUESS_LIMIT, secure_link_create, secure_link_revoke, secure_link_use
from settle.payments.models import LinkPurpose, SecureLink
from settle.portal.pay_views import babel_locale
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment
from tests.portal.conftest import payment_settings_set
from tests.portal.test_logo import PNG

INVOICE_URL = "/l/invoice/"
PDF_URL = "/l/invoice/pdf/"


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer) -> Invoice:
    return make_invoice(merchant, customer, 1_234_50, due_date=dt.date(2031, 3, 15), terms="custom")


def link_for(merchant: Merchant, invoice: Invoice, **kwargs: Any) -> tuple[SecureLink, str]:
    with merchant_scope(merchant):
        return secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoice.customer_id,
            invoice_ids=[invoice.pk],
            **kwargs,
        )


def open_link(client: Client, token: str, **headers: Any) -> Any:
    return client.get(f"/l/{token}/", **headers)


def opened(client: Client, merchant: Merchant, invoice: Invoice, **headers: Any) -> str:
    """Open a fresh link to `invoice` and return the invoice page's HTML."""
    _, token = link_for(merchant, invoice)
    assert open_link(client, token, **headers).status_code == 303
    page = client.get(INVOICE_URL, **headers)
    assert page.status_code == 200
    return page.content.decode()


def social(merchant: Merchant, **handles: str) -> None:
    payment_settings_set(merchant, **handles)


def text(html: str) -> str:
    """The page's words without tags, spaces collapsed, so assertions read like the page."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_link_trades_its_token_for_a_session_and_a_token_free_url(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    _, token = link_for(merchant, invoice)

    response = open_link(client, token)

    assert response.status_code == 303
    assert response["Location"] == INVOICE_URL
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert token not in html
    words = text(html)
    assert f"Invoice {invoice.number}" in words
    assert "Amount due $1,234.50" in words
    assert "Due date Mar 15, 2031" in words
    assert "Service 1 $1,234.50" in words  # description, quantity, amount
    assert "Total $1,234.50" in words
    assert merchant.name in words
    assert "Open" in words


def test_the_page_follows_a_french_browser_with_the_merchants_canadian_formats(client: Client, db: None) -> None:
    merchant = make_merchant(name="Garage Tremblay", locale="fr_CA", currency="CAD", time_zone="America/Montreal")
    customer = make_customer(merchant)
    invoice = make_invoice(merchant, customer, 1_234_50, due_date=dt.date(2031, 3, 15), terms="custom")

    html = opened(client, merchant, invoice, HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9,en;q=0.5")

    words = text(html)
    assert '<html lang="fr">' in html
    assert f"Facture {invoice.number}" in words
    assert "Montant dû 1 234,50 $" in words.replace("\u202f", " ").replace("\xa0", " ")
    assert "Échéance 15 mars 2031" in words
    assert "Télécharger le PDF" in words and "Détail" in words


def test_a_spanish_browser_gets_spanish(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    html = opened(client, merchant, invoice, HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")

    words = text(html)
    assert '<html lang="es">' in html
    assert f"Factura {invoice.number}" in words
    assert "Importe adeudado $1,234.50" in words  # es_US: a US merchant's dollars
    assert "Descargar PDF" in words


@pytest.mark.parametrize(
    ("language", "merchant_locale", "expected"),
    [
        ("fr", "fr_CA", "fr_CA"),
        ("fr", "en_CA", "fr_CA"),
        ("fr", "en_US", "fr_FR"),
        ("es", "fr_FR", "es_ES"),
        ("es", "en_US", "es_US"),
        ("en", "fr_CA", "en_CA"),
        ("en-us", "de_DE", "en_DE"),
        ("es", "", "es_ES"),
    ],
)
def test_amounts_and_dates_follow_the_page_language_in_the_merchants_country(
    language: str, merchant_locale: str, expected: str
) -> None:
    assert babel_locale(language, merchant_locale) == expected


def test_the_language_switcher_changes_the_page_and_keeps_the_session(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    html = opened(client, merchant, invoice)
    assert 'name="csrfmiddlewaretoken"' in html and 'value="fr"' in html

    csrf = Client(enforce_csrf_checks=True)
    _, token = link_for(merchant, invoice)
    csrf.get(f"/l/{token}/")
    csrf.get(INVOICE_URL)
    refused = csrf.post("/l/language/", {"language": "fr", "next": INVOICE_URL})
    assert refused.status_code == 403
    switched = csrf.post(
        "/l/language/",
        {"language": "fr", "next": INVOICE_URL, "csrfmiddlewaretoken": csrf.cookies["csrftoken"].value},
    )

    assert switched.status_code == 302 and switched["Location"] == INVOICE_URL
    page = csrf.get(INVOICE_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert f"Facture {invoice.number}" in text(page.content.decode())
    assert "Montant dû" in page.content.decode()


def test_a_language_switch_never_redirects_off_site(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    response = client.post("/l/language/", {"language": "es", "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    ("spoil", "status", "title"),
    [
        ("expire", 410, "This link has expired"),
        ("use", 410, "This link has already been used"),
        ("revoke", 410, "This link was cancelled"),
        ("void", 410, "This invoice was cancelled"),
    ],
)
def test_a_link_that_stopped_working_says_why(
    client: Client, merchant: Merchant, invoice: Invoice, spoil: str, status: int, title: str
) -> None:
    issued = clock.now() - dt.timedelta(days=61 if spoil == "expire" else 0)  # links last 60 days
    link, token = link_for(merchant, invoice, single_use=spoil == "use", now=issued)
    if spoil == "use":
        secure_link_use(merchant=merchant, link_id=link.pk)
    elif spoil == "revoke":
        secure_link_revoke(merchant=merchant, link_id=link.pk)
    elif spoil == "void":
        invoice_void(merchant=merchant, invoice_id=invoice.pk)

    response = open_link(client, token)

    assert response.status_code == status
    words = text(response.content.decode())
    assert title in words
    assert merchant.name not in words and invoice.number not in words
    assert client.get(INVOICE_URL).status_code == 404  # no session was granted


def test_refusals_speak_the_customers_language(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    link, token = link_for(merchant, invoice)
    secure_link_revoke(merchant=merchant, link_id=link.pk)

    french = open_link(client, token, HTTP_ACCEPT_LANGUAGE="fr")
    spanish = open_link(client, "x" * 43, HTTP_ACCEPT_LANGUAGE="es")

    assert "Ce lien a été annulé" in french.content.decode()
    assert "Este enlace no es válido" in spanish.content.decode()


@pytest.mark.parametrize("token", ["x" * 43, "too-short", "A" * 42 + "!"])
def test_an_unknown_or_tampered_link_is_not_valid_and_says_nothing_more(
    client: Client, merchant: Merchant, invoice: Invoice, token: str
) -> None:
    _, real = link_for(merchant, invoice)
    tampered = real[:-1] + ("A" if real[-1] != "A" else "B")

    for attempt in (token, tampered):
        response = open_link(client, attempt)
        html = response.content.decode()
        assert response.status_code == 404
        assert "This link is not valid" in html
        assert merchant.name not in html and invoice.number not in html


@pytest.mark.parametrize("url", [INVOICE_URL, PDF_URL])
def test_a_void_invoice_ends_an_open_session_with_a_cancelled_page(
    client: Client, merchant: Merchant, invoice: Invoice, url: str
) -> None:
    social(merchant, venmo_username="jane-doe")
    opened(client, merchant, invoice)

    invoice_void(merchant=merchant, invoice_id=invoice.pk)

    response = client.get(url)
    assert response.status_code == 410
    assert "This invoice was cancelled" in response.content.decode()
    assert "Pay with" not in response.content.decode()
    assert client.get(url).status_code == 404  # the session is gone


def test_without_a_session_there_is_nothing_to_see(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    for url in (INVOICE_URL, PDF_URL):
        response = client.get(url)
        assert response.status_code == 404
        assert "This page has expired or the link is not valid" in response.content.decode()


def test_a_session_shows_only_the_invoice_of_its_own_link(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    first = make_invoice(merchant, customer, 1_000)
    second = make_invoice(merchant, make_customer(merchant, "Bob Other"), 2_000)
    other_merchant = make_merchant(name="Far Away Shop")
    elsewhere = make_invoice(other_merchant, make_customer(other_merchant), 3_000)

    mine = opened(client, merchant, first)
    theirs = opened(Client(), merchant, second)
    far = opened(Client(), other_merchant, elsewhere)

    assert first.number in mine and "$10.00" in mine and "$20.00" not in mine
    assert second.number in theirs and "$20.00" in theirs and "$10.00" not in theirs
    assert "Far Away Shop" in far and merchant.name not in far
    assert "$10.00" in text(client.get(INVOICE_URL).content.decode())  # the first session is unchanged


def test_guessing_is_slowed_down_with_a_friendly_page(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    _, token = link_for(merchant, invoice)
    for _ in range(GUESS_LIMIT):
        assert open_link(client, "x" * 43).status_code == 404

    response = open_link(client, token)

    assert response.status_code == 429
    assert "Please wait a moment" in response.content.decode()
    assert open_link(Client(REMOTE_ADDR="10.0.0.9"), token).status_code == 303  # other clients are not slowed


def assert_strict_headers(response: Any) -> None:
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"


def test_every_page_sends_strict_security_headers(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    link, token = link_for(merchant, invoice)
    responses = [open_link(client, token), client.get(INVOICE_URL), client.get(PDF_URL)]
    responses.append(client.post("/l/language/", {"language": "fr", "next": INVOICE_URL}))
    responses.append(open_link(Client(), "x" * 43))
    secure_link_revoke(merchant=merchant, link_id=link.pk)
    responses += [open_link(Client(), token), client.get(INVOICE_URL)]
    for _ in range(GUESS_LIMIT):
        open_link(client, "y" * 43)
    responses.append(open_link(client, token))

    assert [r.status_code for r in responses] == [303, 200, 200, 302, 404, 410, 404, 429]
    for response in responses:
        assert_strict_headers(response)


def test_hsts_is_sent_over_https(merchant: Merchant, invoice: Invoice) -> None:
    _, token = link_for(merchant, invoice)
    with override_settings(SECURE_HSTS_SECONDS=31536000):
        response = Client().get(f"/l/{token}/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_the_pdf_downloads_in_the_page_language(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice, HTTP_ACCEPT_LANGUAGE="fr")

    response = client.get(PDF_URL, HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert b"/Lang (fr)" in response.content


def test_a_paid_invoice_shows_its_stamp_and_payments_and_nothing_to_pay(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    social(merchant, venmo_username="jane-doe")
    _, token = link_for(merchant, invoice)
    payment = make_payment(merchant, customer, 1_234_50, [invoice])

    open_link(client, token)
    words = text(client.get(INVOICE_URL).content.decode())

    assert "PAID" in words
    assert "Payments and credits" in words and f"{payment.number} · Cash" in words
    assert "Amount due $0.00" in words
    assert "Pay with" not in words and "venmo.com" not in words


def test_social_apps_appear_only_when_configured_with_exact_urls(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    payment_settings_set(merchant, wallets_enabled=False)  # "Pay with Apple Pay" is the gateway's, not an app's
    bare = opened(client, merchant, invoice)
    assert "Pay with" not in bare

    social(
        merchant,
        venmo_username="jane-doe",
        paypal_handle="JaneDoe",
        cashapp_cashtag="$JaneDoe",
        zelle_recipient="jane@example.com",
    )
    html = opened(Client(), merchant, invoice)

    number = invoice.number
    assert f'href="https://venmo.com/jane-doe?txn=pay&amp;amount=1234.50&amp;note={number}"' in html
    assert 'href="https://paypal.me/JaneDoe/1234.50USD"' in html
    assert 'href="https://cash.app/$JaneDoe/1234.50"' in html
    words = text(html)
    assert "Pay with Venmo" in words and "Pay with PayPal" in words and "Pay with Cash App" in words
    assert f"send $1,234.50 with Zelle to jane@example.com and type “{number}” as the memo" in words
    assert "Pay with Zelle" not in words  # Zelle has no link: it says what to type
    for absent in ("Apple Pay", "coming soon"):
        assert absent not in words and absent not in html
    assert html.count("disabled") == 1  # only the pay form's hidden default button, which keeps Enter from paying


def test_call_and_text_buttons_only_with_a_phone(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    assert "tel:" not in opened(client, merchant, invoice)

    Merchant.objects.filter(pk=merchant.pk).update(phone="+15145550123")
    html = opened(Client(), merchant, invoice)

    assert 'href="tel:+15145550123"' in html and 'href="sms:+15145550123"' in html
    assert "Call" in text(html) and "Text" in text(html)


def test_the_page_is_built_for_assistive_technology_and_no_script(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    html = opened(client, merchant, invoice)

    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert "<main" in html and "<header" in html and "<footer" in html
    assert '<h1 id="invoice-title">' in html and '<th scope="col">' in html
    assert 'href="#content"' in html  # skip link
    assert reverse("pay:invoice") == INVOICE_URL


CHROMIUM = shutil.which("chromium")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_a_french_phone_opens_the_link_and_reads_its_invoice(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    merchant = make_merchant(
        name="Garage Tremblay", locale="fr_CA", currency="CAD", time_zone="America/Montreal", phone="+15145550123"
    )
    customer = make_customer(merchant, "Marie Gagnon")
    invoice = make_invoice(merchant, customer, 1_234_50, due_date=dt.date(2031, 3, 15), terms="custom")
    _, token = link_for(merchant, invoice)
    # Playwright's sync API runs an event loop in this thread; the ORM calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="fr-CA"
            )
            page = context.new_page()
            violations: list[str] = []

            def on_console(message: Any) -> None:
                if "Content Security Policy" in message.text:
                    violations.append(message.text)

            page.on("console", on_console)
            page.goto(f"{live_server.url}/l/{token}/")

            assert page.url == f"{live_server.url}{INVOICE_URL}"
            assert page.get_by_role("heading", level=1).inner_text() == f"Facture {invoice.number}"
            assert page.locator(".amount-due").inner_text().replace("\u202f", " ").replace("\xa0", " ") == "1 234,50 $"
            assert page.get_by_role("link", name="Appeler").get_attribute("href") == "tel:+15145550123"
            assert token not in page.content()
            page.screenshot(path=Path(tempfile.gettempdir()) / "settle-pay-page-fr.png", full_page=True)

            page.get_by_role("button", name="English").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", level=1).inner_text() == f"Invoice {invoice.number}"
            assert violations == []
        finally:
            browser.close()
            connections.close_all()


def test_only_the_pdf_reads_the_logo_file(
    client: Client, merchant: Merchant, invoice: Invoice, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDIA_ROOT = tmp_path
    with all_merchants():
        merchant.logo.save("shop.png", ContentFile(PNG))
    reads: list[str] = []
    real_open = FileSystemStorage.open

    def counting_open(storage: FileSystemStorage, name: str, mode: str = "rb") -> Any:
        reads.append(name)
        return real_open(storage, name, mode)

    monkeypatch.setattr(FileSystemStorage, "open", counting_open)
    opened(client, merchant, invoice)
    assert reads == []
    assert client.get("/l/invoice/pdf/").content.startswith(b"%PDF")
    assert reads == [merchant.logo.name]
