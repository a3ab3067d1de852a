"""Sending an invoice from the back office: the page, the e-mail with its PDF and link, a text to
the local outbox, copy-link and Messenger, and refusals shown on the form with nothing written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save
from settle.invoicing.models import Invoice
from settle.invoicing.services import invoice_void
from settle.messaging.models import LocalSms, Message, MessageAttachment, MessageStatus
from settle.payments.models import SecureLink
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer, make_invoice, make_payment, writes_nothing

LINK = re.compile(re.escape(settings.SETTLE_BASE_URL) + r"/l/[A-Za-z0-9_-]{43}/")


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer, contact: Contact) -> Invoice:
    return make_invoice(merchant, customer, 12_345)


def send_url(invoice: Invoice, channel: str = "email") -> str:
    return reverse("backoffice:invoice_send", args=[invoice.pk]) + f"?channel={channel}"


def outbox_rows() -> dict[str, int]:
    with all_merchants():
        return {model.__name__: model.objects.count() for model in (Message, MessageAttachment, LocalSms, SecureLink)}


def page_form(client: Client, invoice: Invoice, channel: str) -> dict[str, Any]:
    """The form as the page fills it in."""
    form = client.get(send_url(invoice, channel)).context["form"]
    return {name: value for name, value in form.initial.items() if name in form.fields and value is not None}


def test_email_sends_the_invoice_pdf_and_a_link_that_opens_the_invoice(
    owner: Client, merchant: Merchant, invoice: Invoice, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    page = owner.get(send_url(invoice))
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["contact"] == contact.pk and "{payment.link}" in form.initial["body"]
    assert b"Ann Contact (ann@example.com)" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(send_url(invoice), page_form(owner, invoice, "email"))

    assert response.status_code == 302 and response["Location"] == reverse(
        "backoffice:invoice_detail", args=[invoice.pk]
    )
    message = Message.objects.get()
    assert (message.channel, message.status, message.recipient) == ("email", MessageStatus.SENT, "ann@example.com")
    assert (message.concerns_invoice_id, message.contact_id) == (invoice.pk, contact.pk)
    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    link = LINK.search(str(sent.body))
    assert link is not None and message.link == link.group(0)
    [(filename, content, content_type)] = sent.attachments
    assert (filename, content_type) == (f"{invoice.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    activity = Activity.objects.get(customer_id=invoice.customer_id, verb="invoice.sent")
    assert activity.summary == f"Invoice {invoice.number} sent by e-mail to ann@example.com"

    customer_browser = Client()
    opened = customer_browser.get(link.group(0).removeprefix(settings.SETTLE_BASE_URL))
    assert opened.status_code == 303 and opened["Location"] == "/l/invoice/"
    assert invoice.number.encode() in customer_browser.get("/l/invoice/").content


def test_a_typed_address_wins_over_the_contact(
    owner: Client, invoice: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    data = page_form(owner, invoice, "email") | {"to": "Books@Example.com"}
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(send_url(invoice), data)
    assert mail.outbox[0].to == ["books@example.com"]


def test_text_message_goes_to_the_local_outbox(
    owner: Client, invoice: Invoice, django_capture_on_commit_callbacks: Any
) -> None:
    form = owner.get(send_url(invoice, "sms")).context["form"]
    assert "subject" not in form.fields
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(send_url(invoice, "sms"), page_form(owner, invoice, "sms"))
    assert response.status_code == 302
    text = LocalSms.objects.get()
    assert text.to == "+15145550123" and LINK.search(text.body)
    assert mail.outbox == [] and not MessageAttachment.objects.exists()
    assert Activity.objects.filter(verb="invoice.sent", summary__contains="by text message to +15145550123").exists()


def test_copy_link_shows_the_link_on_the_page(owner: Client, invoice: Invoice) -> None:
    response = owner.post(send_url(invoice, "link"), page_form(owner, invoice, "link"))
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.status == MessageStatus.COPIED and LINK.fullmatch(message.share_url)
    assert f'value="{message.share_url}"'.encode() in response.content
    assert Activity.objects.get(verb="invoice.sent").summary == f"Invoice {invoice.number} link copied"


def test_messenger_shows_the_share_link(owner: Client, invoice: Invoice) -> None:
    response = owner.post(send_url(invoice, "messenger"), page_form(owner, invoice, "messenger"))
    message = Message.objects.get()
    assert message.status == MessageStatus.SHARED and message.share_url.startswith("fb-messenger://share/?link=")
    assert message.share_url.encode() in response.content.replace(b"&amp;", b"&")


@pytest.mark.parametrize("state", ["void", "paid"])
def test_a_void_or_paid_invoice_is_refused_on_the_form(
    owner: Client, merchant: Merchant, customer: Customer, invoice: Invoice, state: str
) -> None:
    form = page_form(owner, invoice, "email")
    if state == "void":
        invoice_void(merchant=merchant, invoice_id=invoice.pk)
    else:
        make_payment(merchant, customer, 12_345, [invoice])
    with writes_nothing():
        before = outbox_rows()
        response = owner.post(send_url(invoice), form)
        assert outbox_rows() == before
    expected = "is void and cannot be paid" if state == "void" else "is paid: there is nothing left to pay"
    assert response.status_code == 200 and expected in response.context["form"].non_field_errors()[0]
    assert mail.outbox == []


def test_a_message_without_the_link_is_refused_on_the_form(owner: Client, invoice: Invoice) -> None:
    data = page_form(owner, invoice, "email") | {"body": "Please pay invoice {invoice.number}."}
    with writes_nothing():
        before = outbox_rows()
        response = owner.post(send_url(invoice), data)
        assert outbox_rows() == before
    assert response.status_code == 200
    assert "Keep the {payment.link} placeholder" in response.context["form"].errors["body"][0]


def test_read_only_staff_cannot_send(merchant: Merchant, invoice: Invoice) -> None:
    acting = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    viewer = membership_set(merchant=merchant, acting=acting, email="viewer@example.com", role=Role.READ_ONLY).user
    client = Client()
    client.force_login(viewer)
    assert client.get(send_url(invoice)).status_code == 403
    with writes_nothing():
        assert client.post(send_url(invoice), {"body": "{payment.link}"}).status_code == 403
    assert not Message.objects.exists()


def test_another_merchants_invoice_is_not_found(owner: Client, other_merchant: Merchant) -> None:
    with merchant_scope(other_merchant):
        theirs = make_invoice(other_merchant, make_customer(other_merchant))
    assert owner.get(send_url(theirs)).status_code == 404
    assert owner.post(send_url(theirs), {"body": "{payment.link}"}).status_code == 404
    assert outbox_rows()["Message"] == 0


def test_another_merchants_or_customers_contact_is_not_found(
    owner: Client, merchant: Merchant, invoice: Invoice, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = make_customer(other_merchant)
        their_contact = contact_save(merchant=other_merchant, customer_id=theirs.pk, name="X", email="x@example.com")
    bob = make_customer(merchant, "Bob")
    bobs_contact = contact_save(merchant=merchant, customer_id=bob.pk, name="Bob", email="bob@example.com")
    form = page_form(owner, invoice, "email")
    with writes_nothing():
        for contact_id in (their_contact.pk, bobs_contact.pk, "abc"):
            assert owner.post(send_url(invoice), form | {"contact": contact_id}).status_code == 404, contact_id


def test_the_message_is_in_the_language_of_its_wording(owner: Client, invoice: Invoice) -> None:
    owner.post(send_url(invoice, "link"), page_form(owner, invoice, "link") | {"language": "fr"})
    assert Message.objects.get().language == "fr"


def test_the_invoice_page_offers_send(owner: Client, invoice: Invoice) -> None:
    page = owner.get(reverse("backoffice:invoice_detail", args=[invoice.pk]))
    assert reverse("backoffice:invoice_send", args=[invoice.pk]).encode() in page.content


def test_a_double_submitted_or_reloaded_send_makes_one_link_and_one_message(owner: Client, invoice: Invoice) -> None:
    form = page_form(owner, invoice, "link")
    first = owner.post(send_url(invoice, "link"), form)
    again = owner.post(send_url(invoice, "link"), form)
    assert first.status_code == again.status_code == 200
    message = Message.objects.get()
    assert SecureLink.objects.count() == 1
    assert f'value="{message.share_url}"'.encode() in again.content
    assert Activity.objects.filter(verb="invoice.sent").count() == 1
