"""Sending to a customer, at service level: quick payment requests made and sent at once, statement
links for several invoices, plain messages, and the refusals that leave nothing written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from settle.core.errors import InvalidInput, NotAllowed, NotFound, SettleError
from settle.core.idempotency import IdempotencyConflict
from settle.core.money import Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.invoicing.services import LineInput, invoice_create, invoice_void
from settle.messaging.models import LocalSms, Message, MessageAttachment, MessageStatus, Purpose
from settle.messaging.services import template_save
from settle.payments.models import LinkPurpose, SecureLink
from settle.payments.requests import (
    Sending,
    customer_message_send,
    payment_request_send,
    quick_payment_request_send,
    statement_request_send,
)
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

LINK = re.compile(re.escape(settings.SETTLE_BASE_URL) + r"/l/[A-Za-z0-9_-]{43}/")


def sent_rows() -> dict[str, int]:
    with all_merchants():
        models = (Message, MessageAttachment, LocalSms, SecureLink, Invoice, Activity)
        return {model.__name__: model.objects.count() for model in models}


@contextmanager
def sends_nothing() -> Iterator[None]:
    """The block (a refused send) writes no invoice, journal, link, message or timeline row."""
    before = sent_rows()
    with writes_nothing():
        yield
    assert sent_rows() == before


def opens_the_pay_page(url: str) -> bool:
    opened = Client().get(url.removeprefix(settings.SETTLE_BASE_URL))
    return opened.status_code == 303 and opened["Location"] == "/l/invoice/"


# ---- Quick payment requests ----


def test_a_quick_request_by_text_makes_the_invoice_and_texts_its_link(
    merchant: Merchant, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="sms", contact_id=contact.pk, idempotency_key="k1"),
            customer_id=customer.pk,
            amount=Money(4500, "USD"),
            reference="RO-991",
        )

    invoice = Invoice.objects.get()
    assert (invoice.reference, invoice.total_minor, invoice.status) == ("RO-991", 4500, InvoiceStatus.OPEN)
    message.refresh_from_db()
    assert (message.status, message.purpose, message.concerns_invoice_id) == (
        MessageStatus.SENT,
        Purpose.PAYMENT_REQUEST,
        invoice.pk,
    )
    text = LocalSms.objects.get()
    link = LINK.search(text.body)
    assert text.to == "+15145550123" and link is not None and link.group(0) == message.link
    assert invoice.number in text.body and "$45.00" in text.body
    link_row = SecureLink.objects.get()
    assert (link_row.purpose, link_row.public, list(link_row.invoices.all())) == (
        LinkPurpose.PAY_INVOICE,
        False,
        [invoice],
    )
    assert opens_the_pay_page(link.group(0))
    assert Activity.objects.filter(
        verb="invoice.sent", summary=f"Invoice {invoice.number} sent by text message to +15145550123"
    ).exists()


def test_a_public_quick_payment_link_is_copied_and_opens_the_pay_page(merchant: Merchant, customer: Customer) -> None:
    message = quick_payment_request_send(
        merchant=merchant,
        sending=Sending(channel="link"),
        customer_id=customer.pk,
        amount=Money(2000, "USD"),
        reference="Q1",
        public=True,
    )
    assert message.status == MessageStatus.COPIED and LINK.fullmatch(message.share_url)
    assert SecureLink.objects.get().public
    assert opens_the_pay_page(message.share_url) and opens_the_pay_page(message.share_url)  # reusable


def test_the_same_key_twice_makes_one_invoice_one_link_one_message(merchant: Merchant, customer: Customer) -> None:
    def send() -> Message:
        return quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="link", idempotency_key="same"),
            customer_id=customer.pk,
            amount=Money(4500, "USD"),
            reference="RO-1",
        )

    first = send()
    with sends_nothing():
        again = send()
    assert again.pk == first.pk and again.share_url == first.share_url
    assert (Invoice.objects.count(), SecureLink.objects.count(), Message.objects.count()) == (1, 1, 1)


def test_the_same_key_for_another_amount_or_wording_is_refused(merchant: Merchant, customer: Customer) -> None:
    sending = Sending(channel="link", idempotency_key="k")
    quick_payment_request_send(
        merchant=merchant, sending=sending, customer_id=customer.pk, amount=Money(100, "USD"), reference="R"
    )
    for other, amount in ((sending, 200), (replace(sending, body="Pay here: {payment.link}"), 100)):
        with sends_nothing(), pytest.raises(IdempotencyConflict):
            quick_payment_request_send(
                merchant=merchant, sending=other, customer_id=customer.pk, amount=Money(amount, "USD"), reference="R"
            )


@pytest.mark.parametrize(
    ("amount", "reference", "message"),
    [
        (0, "R", "Enter an amount greater than zero."),
        (-500, "R", "Enter an amount greater than zero."),
        (10**15, "R", "That amount is too large."),
        (500, "  ", "Enter a reference number."),
    ],
)
def test_a_bad_amount_or_a_missing_reference_writes_nothing(
    merchant: Merchant, customer: Customer, amount: int, reference: str, message: str
) -> None:
    with sends_nothing(), pytest.raises(InvalidInput, match=re.escape(message)):
        quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="sms"),
            customer_id=customer.pk,
            amount=Money(amount, "USD"),
            reference=reference,
        )


def test_a_quick_request_that_cannot_be_delivered_leaves_no_invoice_and_no_number_spent(
    merchant: Merchant, customer: Customer
) -> None:
    with sends_nothing(), pytest.raises(InvalidInput, match="Ann Customer has no mobile phone number"):
        quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="sms"),
            customer_id=customer.pk,
            amount=Money(500, "USD"),
            reference="R",
        )
    assert make_invoice(merchant, customer).number == f"{merchant.invoice_prefix}00001"


def test_another_merchants_customer_is_not_found(merchant: Merchant, other_merchant: Merchant) -> None:
    with merchant_scope(other_merchant):
        theirs = make_customer(other_merchant)
    with sends_nothing(), pytest.raises(NotFound):
        quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="link"),
            customer_id=theirs.pk,
            amount=Money(500, "USD"),
            reference="R",
        )


# ---- Statements ----


@pytest.fixture
def two_invoices(merchant: Merchant, customer: Customer, contact: Contact) -> list[Invoice]:
    return [make_invoice(merchant, customer, 12_000), make_invoice(merchant, customer, 3_050)]


def test_a_statement_by_email_lists_the_invoices_attaches_them_and_links_to_pay_them_together(
    merchant: Merchant, customer: Customer, two_invoices: list[Invoice], django_capture_on_commit_callbacks: Any
) -> None:
    first, second = two_invoices
    with django_capture_on_commit_callbacks(execute=True):
        message = statement_request_send(
            merchant=merchant,
            sending=Sending(channel="email", contact_id=first.customer.contacts.get().pk),
            customer_id=customer.pk,
            invoice_ids=[second.pk, first.pk],
        )

    link = SecureLink.objects.get()
    assert link.purpose == LinkPurpose.PAY_STATEMENT
    assert sorted(link.invoices.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert message.purpose == Purpose.STATEMENT and message.concerns_invoice_id is None
    [sent] = mail.outbox
    body = str(sent.body)
    assert sent.to == ["ann@example.com"] and LINK.search(body)
    assert "Your balance with" in body and "$150.50" in body  # {statement.balance}: what the chosen ones owe
    assert f"{first.number} · " in body and f"{second.number} · " in body and "$120.00" in body and "$30.50" in body
    assert body.index(first.number) < body.index(second.number)  # oldest due first
    assert [name for name, _, _ in sent.attachments] == [f"{first.number}.pdf", f"{second.number}.pdf"]
    assert Activity.objects.get(verb="statement.sent").summary == (
        f"Statement of {first.number}, {second.number} sent by e-mail to ann@example.com"
    )


def test_a_french_statement_of_a_canadian_shop_writes_every_amount_alike(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    shop = make_merchant(name="Garage Tremblay", currency="CAD", locale="en_CA", time_zone="America/Toronto")
    customer = make_customer(shop, "Marie Roy", emails=["marie@example.com"])
    invoice = make_invoice(shop, customer, 1_235_50)
    with merchant_scope(shop), django_capture_on_commit_callbacks(execute=True):
        statement_request_send(
            merchant=shop,
            sending=Sending(channel="email", language="fr", body="Solde : {statement.balance}. {statement.link}"),
            customer_id=customer.pk,
            invoice_ids=[invoice.pk],
        )

    body = str(mail.outbox[0].body)
    assert "Solde : 1\xa0235,50\xa0$" in body and body.endswith("= 1\xa0235,50\xa0$")  # fr_CA: no "$CA"


def test_a_statement_by_text_carries_the_link_without_the_list(
    merchant: Merchant, customer: Customer, two_invoices: list[Invoice], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        statement_request_send(
            merchant=merchant,
            sending=Sending(
                channel="sms",
                to="+15145550123",
                body="Hi {customer.name}, pay {statement.balance} here: {payment.link}",
            ),
            customer_id=customer.pk,
            invoice_ids=[i.pk for i in two_invoices],
        )
    text = LocalSms.objects.get().body
    assert text.startswith("Hi Ann Customer, pay $150.50 here: ") and LINK.search(text)
    assert two_invoices[0].number not in text


@pytest.mark.parametrize("state", ["paid", "void", "draft", "another customer's"])
def test_a_statement_refuses_an_invoice_that_cannot_be_paid_and_writes_nothing(
    merchant: Merchant, customer: Customer, two_invoices: list[Invoice], state: str
) -> None:
    if state == "paid":
        make_payment(merchant, customer, 12_000, [two_invoices[0]])
        odd, expected = two_invoices[0], "is paid: there is nothing left to pay"
    elif state == "void":
        invoice_void(merchant=merchant, invoice_id=two_invoices[0].pk)
        odd, expected = two_invoices[0], "is void and cannot be paid"
    elif state == "draft":
        odd, expected = make_invoice(merchant, customer, draft=True), "is a draft: issue it before sending it"
    else:
        odd, expected = make_invoice(merchant, make_customer(merchant, "Bob")), "is another customer’s"
    with sends_nothing(), pytest.raises(NotAllowed, match=f"Invoice {odd.number} {expected}"):
        statement_request_send(
            merchant=merchant,
            sending=Sending(channel="email"),
            customer_id=customer.pk,
            invoice_ids=[two_invoices[1].pk, odd.pk],
        )


def test_a_statement_refuses_other_merchants_ids_no_invoice_and_mixed_currencies(
    merchant: Merchant, other_merchant: Merchant, customer: Customer, two_invoices: list[Invoice]
) -> None:
    with merchant_scope(other_merchant):
        theirs = make_invoice(other_merchant, make_customer(other_merchant))
    euros = invoice_create(
        merchant=merchant, customer_id=customer.pk, currency="EUR", lines=[LineInput("Service", 1, Money(500, "EUR"))]
    )
    attempts: list[tuple[dict[str, Any], type[SettleError], str]] = [
        ({"invoice_ids": [two_invoices[0].pk, theirs.pk]}, NotFound, "No such invoice."),
        ({"invoice_ids": [two_invoices[0].pk, "x"]}, NotFound, "No such invoice."),
        ({"invoice_ids": [2**80]}, NotFound, "No such invoice."),
        ({"invoice_ids": []}, InvalidInput, "Choose the invoices to send."),
        ({"invoice_ids": [two_invoices[0].pk, euros.pk]}, InvalidInput, "different currencies"),
        ({"invoice_ids": [two_invoices[0].pk], "customer_id": theirs.customer_id}, NotFound, "No such customer."),
    ]
    for changes, error, text in attempts:
        asked: dict[str, Any] = {"merchant": merchant, "sending": Sending(channel="link"), "customer_id": customer.pk}
        asked |= changes
        with sends_nothing(), pytest.raises(error, match=re.escape(text)):
            statement_request_send(**asked)


def test_a_statement_must_keep_its_link_and_known_placeholders(
    merchant: Merchant, customer: Customer, two_invoices: list[Invoice]
) -> None:
    ids = [i.pk for i in two_invoices]
    wordings = [
        ("Please pay what you owe.", "Keep the {statement.link} placeholder"),
        ("Pay {statement.lnk} now {statement.link}", "“{statement.lnk}” is not a placeholder Settle knows"),
        ("Pay {invoice.number}: {statement.link}", "{invoice.number} cannot be used in a statement"),
    ]
    for body, error in wordings:
        with sends_nothing(), pytest.raises(InvalidInput, match=re.escape(error)):
            statement_request_send(
                merchant=merchant, sending=Sending(channel="sms", body=body), customer_id=customer.pk, invoice_ids=ids
            )


def test_a_repeated_statement_key_sends_once(
    merchant: Merchant, customer: Customer, two_invoices: list[Invoice]
) -> None:
    asked: dict[str, Any] = {
        "merchant": merchant,
        "sending": Sending(channel="sms", to="+15145550123", idempotency_key="statement-1"),
        "customer_id": customer.pk,
        "invoice_ids": [i.pk for i in two_invoices],
    }
    first = statement_request_send(**asked)
    with sends_nothing():
        assert statement_request_send(**asked).pk == first.pk


# ---- One invoice for a given customer, plain messages ----


def test_an_invoice_sent_for_a_customer_must_be_theirs(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    bobs = make_invoice(merchant, make_customer(merchant, "Bob"))
    with sends_nothing(), pytest.raises(NotAllowed, match="another customer’s"):
        payment_request_send(
            merchant=merchant, sending=Sending(channel="link"), invoice_id=bobs.pk, customer_id=customer.pk
        )


def test_a_plain_message_by_text_goes_to_the_local_outbox_and_the_log(
    merchant: Merchant, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = customer_message_send(
            merchant=merchant,
            sending=Sending(channel="sms", contact_id=contact.pk, body="Hi {contact.name}, your bike is ready."),
            customer_id=customer.pk,
        )
    assert LocalSms.objects.get().body == "Hi Ann Contact, your bike is ready."
    message.refresh_from_db()
    assert (message.status, message.link, message.customer_id) == (MessageStatus.SENT, "", customer.pk)
    assert not SecureLink.objects.exists()
    assert Activity.objects.filter(customer=customer, verb="message.queued").exists()


def test_a_plain_message_refuses_what_it_cannot_fill_and_what_does_not_exist(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    attempts = [
        ("sms", "Pay here {payment.link}", "A message without a link cannot fill {payment.link}"),
        ("sms", "Hi {customer.nmae}", "“{customer.nmae}” is not a placeholder Settle knows"),
        ("link", "Hi", "A message without a link goes by e-mail or text message."),
    ]
    for channel, body, error in attempts:
        with sends_nothing(), pytest.raises(InvalidInput, match=re.escape(error)):
            customer_message_send(
                merchant=merchant, sending=Sending(channel=channel, body=body), customer_id=customer.pk
            )
    with sends_nothing(), pytest.raises(InvalidInput, match="Write a message."):  # no default wording
        customer_message_send(
            merchant=merchant, sending=Sending(channel="sms", to="+15145550123"), customer_id=customer.pk
        )


def test_a_plain_message_uses_a_saved_reply_in_its_language(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    reply = template_save(
        merchant=merchant,
        purpose=Purpose.SAVED_REPLY,
        language="fr",
        name="Prêt",
        subject="Votre vélo",
        body="Bonjour {customer.name}, votre vélo est prêt. {company.name}",
    )
    message = customer_message_send(
        merchant=merchant,
        sending=Sending(channel="email", contact_id=contact.pk, subject=reply.subject, body=reply.body, language="fr"),
        customer_id=customer.pk,
    )
    assert message.language == "fr" and message.body == f"Bonjour Ann Customer, votre vélo est prêt. {merchant.name}"


def test_a_statement_by_email_reads_its_invoices_in_a_fixed_number_of_queries(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    def queries_to_send(count: int) -> int:
        invoices = [make_invoice(merchant, customer, 10_00) for _ in range(count)]
        with CaptureQueriesContext(connection) as captured:
            statement_request_send(
                merchant=merchant,
                sending=Sending(channel="email", contact_id=contact.pk),
                customer_id=customer.pk,
                invoice_ids=[i.pk for i in invoices],
            )
        return len(captured.captured_queries)

    one, six = queries_to_send(1), queries_to_send(6)

    assert six == one  # the link's invoices and the message's attachments go in one statement each
