"""A statement link: the customer sees the statement's invoices, ticks the ones to pay (all at
first), and one payment pays them oldest due first through the same checkout as a single invoice;
paid ones show as paid, and the confirmation lists what was paid."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice, InvoiceStatus, JournalEntry
from settle.notifications.models import Notification, NotificationKind
from settle.payments.links import secure_link_create
from settle.payments.models import Application, ChargeAttempt, LinkPurpose, Payment
from settle.payments.verify import ledger_verify
from settle.sandbox.models import Charge
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_payment, writes_nothing
from tests.portal.conftest import payment_settings_set
from tests.portal.test_pay_by_card import PAID_URL, PAY_URL, enter_card, local, start, text

pytestmark = pytest.mark.django_db

STATEMENT_URL = "/l/statement/"


@pytest.fixture
def invoices(merchant: Merchant, customer: Customer) -> list[Invoice]:
    """Three invoices, the second past due; listed (and paid) oldest due first whatever their order."""
    today = clock.local_date(clock.now(), merchant.time_zone)
    issued = today - dt.timedelta(days=40)

    def owed(minor: int, due_in: int) -> Invoice:
        due_date = today + dt.timedelta(days=due_in)
        return make_invoice(merchant, customer, minor, issue_date=issued, due_date=due_date, terms="custom")

    newest, oldest, middle = owed(30_00, 30), owed(20_00, -10), owed(10_00, 5)
    return [oldest, middle, newest]


def statement(client: Client, merchant: Merchant, invoices: list[Invoice], **headers: Any) -> Client:
    """This browser holds a session for a fresh statement link to `invoices`."""
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_STATEMENT,
            customer_id=invoices[0].customer_id,
            invoice_ids=[invoice.pk for invoice in reversed(invoices)],
        )
    response = client.get(f"/l/{token}/", **headers)
    assert (response.status_code, response["Location"]) == (303, STATEMENT_URL)
    return client


def page(client: Client, query: str = "", **headers: Any) -> str:
    response = client.get(STATEMENT_URL + query, **headers)
    assert response.status_code == 200
    return response.content.decode()


def ticked(html: str) -> list[str]:
    return re.findall(r'name="invoice" value="(\d+)" checked', html)


def checkboxes(html: str) -> list[str]:
    return re.findall(r'name="invoice" value="(\d+)"', html)


def test_the_statement_lists_its_invoices_oldest_due_first_all_ticked(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    html = page(statement(client, merchant, invoices))

    words = text(html)
    oldest, middle, newest = invoices
    assert words.index(oldest.number) < words.index(middle.number) < words.index(newest.number)
    assert ticked(html) == [str(invoice.pk) for invoice in invoices]
    assert "Amount due $60.00" in words and "Total of the invoices ticked $60.00" in words
    assert words.count("Past due") == 1 and re.search(rf"{oldest.number} \S+ \d+, \d+ Past due \$20.00", words)
    for invoice in invoices:
        assert f'<label for="invoice-{invoice.pk}">' in html
    assert "Pay by card" in words and 'action="/l/invoice/pay/"' in html
    assert "<script" not in html and "style=" not in html


def test_updating_the_total_keeps_the_ticks_without_script(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    oldest, _middle, newest = invoices
    statement(client, merchant, invoices)

    response = client.post(STATEMENT_URL, {"invoice": [str(oldest.pk), str(newest.pk)]})

    assert response.status_code == 303 and response["Location"].startswith(STATEMENT_URL + "?")
    html = page(client, response["Location"].removeprefix(STATEMENT_URL))
    assert ticked(html) == [str(oldest.pk), str(newest.pk)]
    assert "Total of the invoices ticked $50.00" in text(html)
    none = page(client, client.post(STATEMENT_URL, {})["Location"].removeprefix(STATEMENT_URL))
    assert ticked(none) == [] and "Pay by card" not in text(none)


def test_one_card_payment_pays_the_ticked_invoices_oldest_first(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    oldest, middle, newest = invoices
    statement(client, merchant, invoices)
    entries = JournalEntry.objects.count()

    fields = start(client, "card", invoice=[str(newest.pk), str(oldest.pk)])  # type: ignore[arg-type]
    response = client.get(enter_card(client, fields, "4242424242424242"))

    assert response["Location"] == PAID_URL
    payment = Payment.objects.get()
    assert payment.amount_minor == 50_00 and payment.unapplied_minor == 0
    assert ChargeAttempt.objects.get().invoice_ids == [oldest.pk, newest.pk]
    applied = dict(Application.objects.filter(payment=payment).values_list("invoice_id", "amount_minor"))
    assert applied == {oldest.pk: 20_00, newest.pk: 30_00}
    for invoice in invoices:
        invoice.refresh_from_db()
    assert (oldest.status, newest.status) == (InvoiceStatus.PAID, InvoiceStatus.PAID)
    assert (middle.status, middle.balance_minor) == (InvoiceStatus.OPEN, 10_00)
    assert JournalEntry.objects.count() == entries + 1 and ledger_verify().ok  # one balanced entry
    words = text(client.get(PAID_URL).content.decode())
    assert "Payment received" in words and "$50.00" in words
    assert f"Invoices paid Invoice Amount {oldest.number} $20.00 {newest.number} $30.00" in words
    assert middle.number not in words and "Back to the statement" in words

    after = page(client)
    assert checkboxes(after) == [str(middle.pk)]
    assert text(after).count("Paid") == 2 and "Amount due $10.00" in text(after)


def test_a_part_of_the_ticked_invoices_pays_the_oldest_first(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    payment_settings_set(merchant, partial_payments_allowed=True)
    oldest, middle, newest = invoices
    assert 'value="60.00"' in page(statement(client, merchant, invoices))

    every = [str(invoice.pk) for invoice in invoices]
    client.get(enter_card(client, start(client, "card", invoice=every, amount="25.00"), "4242424242424242"))  # type: ignore[arg-type]

    for invoice in invoices:
        invoice.refresh_from_db()
    assert (oldest.balance_minor, middle.balance_minor, newest.balance_minor) == (0, 5_00, 30_00)
    assert ChargeAttempt.objects.get().allow_partial and ledger_verify().ok


def test_the_whole_statement_can_be_paid_with_a_wallet(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    statement(client, merchant, invoices)
    every = [str(invoice.pk) for invoice in invoices]

    sheet = start(client, "apple_pay", invoice=every)  # type: ignore[arg-type]
    client.get(local(client.post(sheet, {"card": "4242"})["Location"]))

    assert Payment.objects.get().amount_minor == 60_00
    assert all(invoice.status == InvoiceStatus.PAID for invoice in Invoice.objects.all())
    assert ledger_verify().ok


@pytest.mark.parametrize("case", ["nothing ticked", "another customer's invoice", "a paid one"])
def test_what_cannot_be_paid_from_the_statement_is_refused_before_any_gateway(
    client: Client, merchant: Merchant, customer: Customer, invoices: list[Invoice], case: str
) -> None:
    statement(client, merchant, invoices)
    if case == "nothing ticked":
        chosen: list[str] = []
        message = "Choose at least one invoice to pay."
    elif case == "another customer's invoice":
        stranger = make_invoice(merchant, make_customer(merchant, "Bob Other"), 99_00)
        chosen = [str(invoices[0].pk), str(stranger.pk)]
        message = "An invoice you chose is no longer open. Check the list and try again."
    else:
        make_payment(merchant, customer, 20_00, [invoices[0]])
        chosen = [str(invoices[0].pk)]
        message = "An invoice you chose is no longer open. Check the list and try again."

    with writes_nothing():
        response = client.post(PAY_URL, {"kind": "card", "invoice": chosen})

    assert (response.status_code, response["Location"]) == (303, STATEMENT_URL)
    assert message in text(page(client))
    assert not ChargeAttempt.objects.exists() and not Charge.objects.exists()


def test_a_fully_paid_statement_says_so_and_offers_nothing(
    client: Client, merchant: Merchant, customer: Customer, invoices: list[Invoice]
) -> None:
    make_payment(merchant, customer, 60_00, invoices)

    html = page(statement(client, merchant, invoices))

    words = text(html)
    assert "Everything on this statement is paid. Thank you." in words
    assert checkboxes(html) == [] and words.count("Paid") == 3
    assert "Pay by card" not in words and "Amount due $0.00" in words


def test_the_statement_is_written_in_the_customers_language(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    html = page(statement(client, merchant, invoices, HTTP_ACCEPT_LANGUAGE="fr"), HTTP_ACCEPT_LANGUAGE="fr")

    words = text(html)
    assert "Relevé de compte" in words and "En retard" in words and "Mettre le total à jour" in words
    assert re.search(r"Total des factures cochées 60,00\W*\$", words)


def test_statement_and_invoice_pages_answer_only_their_own_links(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    statement(client, merchant, invoices)
    assert client.get("/l/invoice/").status_code == 404

    invoice_only = Client()
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoices[0].customer_id,
            invoice_ids=[invoices[0].pk],
        )
    invoice_only.get(f"/l/{token}/")
    assert invoice_only.get(STATEMENT_URL).status_code == 404
    assert Client().get(STATEMENT_URL).status_code == 404


def test_ive_paid_with_an_app_claims_only_the_invoices_ticked(
    client: Client, merchant: Merchant, invoices: list[Invoice]
) -> None:
    oldest, middle, newest = invoices
    payment_settings_set(merchant, venmo_username="north-bikes")
    statement(client, merchant, invoices)
    query = client.post(STATEMENT_URL, {"invoice": [str(oldest.pk), str(newest.pk)]})["Location"]
    html = page(client, query.removeprefix(STATEMENT_URL))
    [form] = re.findall(r'<form class="paid-elsewhere"[^>]*>(.*?)</form>', html, re.S)
    claimed = re.findall(r'<input type="hidden" name="invoice" value="(\d+)">', form)
    assert claimed == [str(oldest.pk), str(newest.pk)]

    client.post("/l/invoice/paid-elsewhere/", {"app": "venmo", "invoice": claimed})
    client.post(
        "/l/invoice/paid-elsewhere/", {"app": "venmo", "invoice": [str(make_invoice(merchant, oldest.customer).pk)]}
    )

    with merchant_scope(merchant):
        [todo] = Notification.objects.filter(kind=NotificationKind.PAID_ELSEWHERE)
    assert "$50.00" in todo.title and middle.number not in todo.title
    assert oldest.number in todo.title and newest.number in todo.title
