"""Paying the invoice behind a link by card or bank account: the customer leaves for the sandbox's
own fields, comes back with a setup token, and is charged exactly once whatever they reload; a
decline, a 3-D Secure confirmation and a bank debit each land on the right page."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from settle.core.tenancy import merchant_scope
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.invoicing.services import invoice_void
from settle.payments.links import secure_link_create
from settle.payments.models import ChargeAttempt, ChargeState, LinkPurpose, Payment
from settle.payments.verify import ledger_verify
from settle.sandbox.models import Charge
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, writes_nothing
from tests.portal.conftest import payment_settings_set
from tests.sandbox.factories import ACCOUNTS, CARDS, ROUTING

pytestmark = pytest.mark.django_db

INVOICE_URL = "/l/invoice/"
PAY_URL = "/l/invoice/pay/"
PAID_URL = "/l/invoice/paid/"
EXPIRY = f"12/{(dt.datetime.now(dt.UTC).year + 2) % 100:02d}"


def opened(client: Client, merchant: Merchant, invoice: Invoice, *, public: bool = False) -> Client:
    """This browser holds a session for a fresh link to `invoice` (`public`: a quick payment link)."""
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoice.customer_id,
            invoice_ids=[invoice.pk],
            public=public,
        )
    assert client.get(f"/l/{token}/").status_code == 303
    return client


def local(url: str) -> str:
    """An absolute URL on Settle (or the sandbox beside it) as the test client asks for it."""
    assert url.startswith(settings.SETTLE_BASE_URL + "/"), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def start(client: Client, kind: str = "card", **data: str) -> str:
    """Press a pay button; returns the gateway page it sends the browser to."""
    response = client.post(PAY_URL, {"kind": kind, **data})
    assert response.status_code == 303, response.content.decode()
    return local(response["Location"])


def enter_card(client: Client, fields_url: str, number: str) -> str:
    """Type a card on the sandbox's fields; returns Settle's return URL with state and setup token."""
    response = client.post(fields_url, {"number": number, "exp": EXPIRY, "cvc": "123", "postal_code": "10001"})
    assert response.status_code == 302, response.content.decode()
    return local(response["Location"])


def enter_account(client: Client, fields_url: str, account: str) -> str:
    response = client.post(
        fields_url, {"routing_number": ROUTING, "account_number": account, "holder_name": "Mary Major"}
    )
    assert response.status_code == 302, response.content.decode()
    return local(response["Location"])


def notice(client: Client) -> str:
    """The invoice page's words after a refusal."""
    page = client.get(INVOICE_URL)
    assert page.status_code == 200
    return text(page.content.decode())


def partial_payments(merchant: Merchant, allowed: bool) -> None:
    payment_settings_set(merchant, partial_payments_allowed=allowed)


def test_the_invoice_page_offers_card_and_bank_account(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    html = opened(client, merchant, invoice).get(INVOICE_URL).content.decode()

    assert 'action="/l/invoice/pay/"' in html and "csrfmiddlewaretoken" in html
    assert 'value="card"' in html and 'value="ach"' in html
    assert "Pay by card" in html and "Pay by bank account" in html
    assert 'name="amount"' not in html  # the full amount due only


def test_a_card_pays_the_invoice_once(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    fields_url = start(client)
    assert fields_url.startswith("/sandbox/fields/card/")

    returned = enter_card(client, fields_url, CARDS["success"])
    assert returned.startswith("/l/invoice/return/?")
    response = client.get(returned)

    assert (response.status_code, response["Location"]) == (303, PAID_URL)
    assert response["Cache-Control"] == "no-store" and "Content-Security-Policy" in response
    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert invoice.status == InvoiceStatus.PAID and invoice.balance_minor == 0
    assert (payment.amount_minor, payment.card_brand, payment.last4) == (123_45, "Visa", "4242")
    assert ledger_verify().ok
    page = client.get(PAID_URL)
    words = text(page.content.decode())
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert "Payment received" in words and "$123.45" in words and "Visa •••• 4242" in words
    assert "PAID" in words
    assert CARDS["success"] not in page.content.decode() and "4242 4242" not in words
    receipt = client.get("/l/invoice/receipt/")
    assert (receipt.status_code, receipt["Content-Type"]) == (200, "application/pdf")
    assert receipt.content.startswith(b"%PDF")


def test_reloading_the_return_url_charges_once(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    returned = enter_card(client, start(client), CARDS["success"])

    first = client.get(returned)
    again = client.get(returned)

    assert first["Location"] == again["Location"] == PAID_URL
    assert Charge.objects.count() == ChargeAttempt.objects.count() == Payment.objects.count() == 1
    assert ledger_verify().ok


def test_a_declined_card_goes_back_to_the_invoice_and_records_nothing(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, invoice)
    returned = enter_card(client, start(client), CARDS["generic_decline"])

    with writes_nothing():
        response = client.get(returned)

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)
    assert "Your card was declined." in notice(client)
    invoice.refresh_from_db()
    assert invoice.status != InvoiceStatus.PAID and invoice.balance_minor == 123_45
    assert not Payment.objects.exists()
    assert ChargeAttempt.objects.get().state == ChargeState.FAILED
    again = client.get(returned)  # the checkout is over: its page, where pressing Pay starts anew
    assert (again.status_code, again["Location"]) == (303, INVOICE_URL)
    assert ChargeAttempt.objects.count() == 1


def test_a_decline_is_told_in_the_customers_language(merchant: Merchant, invoice: Invoice) -> None:
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    returned = enter_card(french, start(french), CARDS["insufficient_funds"])

    french.get(returned)

    words = notice(french)
    assert "Votre carte a été refusée." in words and "Votre carte n’a pas une provision suffisante." in words


def test_a_decline_the_page_has_no_words_for_is_never_told_in_english_on_a_french_page(
    merchant: Merchant, invoice: Invoice
) -> None:
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    returned = enter_card(french, start(french), CARDS["generic_decline"])

    french.get(returned)

    words = notice(french)
    assert "Votre carte a été refusée." in words and "declined" not in words


def test_three_d_secure_is_confirmed_then_paid(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    returned = enter_card(client, start(client), CARDS["three_d_secure"])

    to_confirm = client.get(returned)
    assert to_confirm.status_code == 303
    confirm_url = local(to_confirm["Location"])
    assert confirm_url.startswith("/sandbox/authenticate/")
    assert not Payment.objects.exists()
    approved = client.post(confirm_url, {"decision": "approve"})
    back = client.get(local(approved["Location"]))

    assert (back.status_code, back["Location"]) == (303, PAID_URL)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.count() == 1 and ledger_verify().ok
    assert "Payment received" in text(client.get(PAID_URL).content.decode())


def test_a_bank_account_payment_is_processing(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    fields_url = start(client, "ach")
    assert fields_url.startswith("/sandbox/fields/bank/")

    response = client.get(enter_account(client, fields_url, ACCOUNTS["success"]))

    assert (response.status_code, response["Location"]) == (303, PAID_URL)
    words = text(client.get(PAID_URL).content.decode())
    assert "Your bank payment is processing" in words and "•••• 6789" in words
    assert ChargeAttempt.objects.get().state == ChargeState.PENDING
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and ledger_verify().ok
    assert "PAID" in text(client.get(INVOICE_URL).content.decode())


def test_part_of_the_invoice_when_the_merchant_allows_it(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    partial_payments(merchant, allowed=True)
    opened(client, merchant, invoice)
    assert 'value="123.45"' in client.get(INVOICE_URL).content.decode()

    client.get(enter_card(client, start(client, amount="50.00"), CARDS["success"]))

    invoice.refresh_from_db()
    assert Payment.objects.get().amount_minor == 50_00 and invoice.balance_minor == 73_45
    assert "$50.00" in text(client.get(PAID_URL).content.decode())
    assert ledger_verify().ok


def test_a_part_is_typed_the_customers_way(merchant: Merchant, invoice: Invoice) -> None:
    partial_payments(merchant, allowed=True)
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    assert 'value="123,45"' in french.get(INVOICE_URL).content.decode()

    bad = french.post(PAY_URL, {"kind": "card", "amount": "beaucoup"})
    assert "Saisissez le montant en chiffres, par exemple 123,45." in notice(french)
    french.get(enter_card(french, start(french, amount="50,00"), CARDS["success"]))

    assert bad["Location"] == INVOICE_URL
    assert Payment.objects.get().amount_minor == 50_00


def test_more_than_owed_is_refused(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    partial_payments(merchant, allowed=True)
    opened(client, merchant, invoice)

    response = client.post(PAY_URL, {"kind": "card", "amount": "200.00"})

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)
    assert "Enter an amount up to $123.45." in notice(client)


def test_part_of_the_invoice_is_refused_when_not_allowed(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)

    with writes_nothing():
        response = client.post(PAY_URL, {"kind": "card", "amount": "50.00"})

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)
    assert "This invoice must be paid in full." in notice(client)


def test_a_payment_type_the_merchant_turned_off_is_refused(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    payment_settings_set(merchant, ach_enabled=False)
    opened(client, merchant, invoice)
    assert 'value="ach"' not in client.get(INVOICE_URL).content.decode()

    response = client.post(PAY_URL, {"kind": "ach"})

    assert response["Location"] == INVOICE_URL
    assert "This way of paying is not available." in notice(client)


def test_cancelling_on_the_gateway_page_charges_nothing(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    state = parse_qs(urlsplit(start(client)).query)["state"][0]

    response = client.get("/l/invoice/return/", {"state": state, "error": "cancelled"})

    assert response["Location"] == INVOICE_URL
    assert "Payment cancelled. Nothing was charged." in notice(client)
    assert not ChargeAttempt.objects.exists()


def test_another_links_session_cannot_use_a_state_it_did_not_create(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, invoice)
    returned = enter_card(client, start(client), CARDS["success"])
    stranger = opened(Client(), merchant, make_invoice(merchant, make_customer(merchant, "Bob"), 9_00))

    response = stranger.get(returned)

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)  # its own invoice
    assert not ChargeAttempt.objects.exists() and not Payment.objects.exists()


def test_the_paid_page_needs_a_payment_made_in_this_session(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, invoice)

    assert client.get(PAID_URL)["Location"] == INVOICE_URL
    assert client.get("/l/invoice/receipt/").status_code == 404
    assert Client().get(PAID_URL).status_code == 404


def test_an_invoice_voided_while_the_card_is_typed_is_not_charged(merchant: Merchant, invoice: Invoice) -> None:
    client = opened(Client(), merchant, invoice)
    fields = start(client)
    with merchant_scope(merchant):
        invoice_void(merchant=merchant, invoice_id=invoice.pk)

    returned = client.get(enter_card(client, fields, CARDS["success"]))

    assert returned.status_code == 410
    assert "This invoice was cancelled" in returned.content.decode()
    assert not Charge.objects.exists() and not ChargeAttempt.objects.exists() and not Payment.objects.exists()
