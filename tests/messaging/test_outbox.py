"""The outbox: a message is a row written in the caller's transaction and sent after commit; the
recipient is validated and a refusal writes nothing; texts land in the local outbox; Messenger and
copy-link are recorded as shared/copied; the wording is filled in the message's language."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from django.core import mail
from django.db import transaction

from settle.core.errors import InvalidInput, NotFound
from settle.core.money import Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save
from settle.messaging.channels.base import Attachment
from settle.messaging.models import LocalSms, Message, MessageChannel, MessageStatus, MessageTemplate, Purpose
from settle.messaging.services import message_queue, template_save
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_merchant
from tests.messaging.conftest import NOW, Clock, outbox_rows

LINK = "http://127.0.0.1:8000/pay/k3y"
REQUEST = {"invoice.number": "INV-00012", "invoice.amount_due": Money(12_345, "USD"), "payment.link": LINK}


def request_by(merchant: Merchant, channel: str, **kwargs: Any) -> Message:
    kwargs.setdefault("context", REQUEST)
    return message_queue(merchant=merchant, channel=channel, purpose=Purpose.PAYMENT_REQUEST, now=NOW, **kwargs)


def test_queueing_writes_the_row_and_sends_after_commit(
    merchant: Merchant, contact: Contact, frozen: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = request_by(merchant, MessageChannel.EMAIL, contact_id=contact.pk, concerns_invoice_id=12)
        assert message.status == MessageStatus.QUEUED and mail.outbox == []
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at, message.next_attempt_at) == ("sent", 1, NOW, None)
    assert (message.recipient, message.customer_id, message.contact_id) == (
        "ann@example.com",
        contact.customer_id,
        contact.pk,
    )
    assert (message.concerns_invoice_id, message.link) == (12, LINK)
    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    assert sent.subject == f"Invoice INV-00012 from {merchant.name}"
    assert sent.body == (
        "Hello Ann Customer,\n\nHere is invoice INV-00012 for $123.45. You can review it and pay securely online:\n"
        f"{LINK}\n\nThank you!\n{merchant.name}"
    )
    assert sent.from_email == f"{merchant.name} <no-reply@settle.local>"
    assert sent.reply_to == [merchant.email]
    activity = Activity.objects.get(customer_id=contact.customer_id, verb="message.queued")
    assert activity.summary == "Payment request queued by e-mail to ann@example.com"


def test_the_message_is_filled_in_its_language_with_local_amounts_and_dates(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    shop = make_merchant(name="Garage Tremblay", currency="CAD", locale="fr_CA", time_zone="America/Toronto")
    customer = make_customer(shop, "Marie Roy", emails=["marie@example.com"])
    with merchant_scope(shop), django_capture_on_commit_callbacks(execute=True):
        template = template_save(
            merchant=shop,
            purpose=Purpose.REMINDER,
            language="fr",
            name="Rappel",
            subject="Rappel {invoice.number}",
            body="Bonjour {customer.name}, {invoice.amount_due} était dû le {invoice.due_date}. {payment.link}",
        )
        message = message_queue(
            merchant=shop,
            channel=MessageChannel.EMAIL,
            purpose=Purpose.REMINDER,
            customer_id=customer.pk,
            template_id=template.pk,
            now=NOW,
            context={
                "invoice.number": "F-7",
                "invoice.amount_due": Money(123_456, "CAD"),
                "invoice.due_date": NOW.date(),
                "payment.link": LINK,
            },
        )
    assert message.language == "fr" and message.recipient == "marie@example.com"
    amount = Money(123_456, "CAD").format("fr_CA")
    assert mail.outbox[0].body == f"Bonjour Marie Roy, {amount} était dû le 20 mars 2024. {LINK}"


def test_an_edited_body_is_checked_and_filled_like_a_template(merchant: Merchant, customer: Customer) -> None:
    with pytest.raises(InvalidInput) as refused:
        request_by(
            merchant, MessageChannel.EMAIL, customer_id=customer.pk, to="ann@example.com", body="Pay {paymnet.link}"
        )
    assert "{paymnet.link}" in refused.value.message
    with pytest.raises(InvalidInput) as no_link:
        request_by(merchant, MessageChannel.EMAIL, to="ann@example.com", body="Please pay soon.")
    assert "Keep the {payment.link} placeholder" in no_link.value.message
    message = request_by(
        merchant,
        MessageChannel.SMS,
        customer_id=customer.pk,
        to="+15145550123",
        body="Hi {customer.name} {customer.meta_rent_due}: {payment.link}",
    )
    assert message.body == f"Hi Ann Customer : {LINK}"
    assert message.subject == ""


def test_a_required_link_needs_a_value(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        request_by(merchant, MessageChannel.EMAIL, to="ann@example.com", context={"invoice.number": "INV-1"})
    assert refused.value.message == "There is no link for {payment.link}."
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("channel", "to", "error"),
    [
        (MessageChannel.EMAIL, "not-an-email", "“not-an-email” is not a valid e-mail address."),
        (MessageChannel.EMAIL, "ann@@example.com", "“ann@@example.com” is not a valid e-mail address."),
        (MessageChannel.SMS, "12", "“12” is not a valid phone number."),
        (MessageChannel.SMS, "call me", "“call me” is not a phone number."),
    ],
)
def test_a_malformed_recipient_is_refused_and_nothing_is_written(
    merchant: Merchant, customer: Customer, django_capture_on_commit_callbacks: Any, channel: str, to: str, error: str
) -> None:
    before = outbox_rows()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(InvalidInput) as refused:
        request_by(merchant, channel, customer_id=customer.pk, to=to)
    assert (refused.value.message, refused.value.field) == (error, "to")
    assert outbox_rows() == before and callbacks == []


def test_a_contact_without_the_channels_address_is_a_clear_error(merchant: Merchant, customer: Customer) -> None:
    by_email_only = contact_save(merchant=merchant, customer_id=customer.pk, name="Bo Email", email="bo@example.com")
    before = outbox_rows()
    with pytest.raises(InvalidInput) as refused:
        request_by(merchant, MessageChannel.SMS, contact_id=by_email_only.pk)
    assert refused.value.message == "Bo Email has no mobile phone number."
    with pytest.raises(InvalidInput) as nobody:
        request_by(merchant, MessageChannel.EMAIL, customer_id=customer.pk)
    assert nobody.value.message == "Ann Customer has no e-mail address."
    assert outbox_rows() == before


def test_the_customers_first_address_is_used_without_a_contact(merchant: Merchant) -> None:
    customer = make_customer(merchant, "Cy", emails=["cy@example.com", "cy2@example.com"], phones=["+15145550199"])
    assert request_by(merchant, MessageChannel.EMAIL, customer_id=customer.pk).recipient == "cy@example.com"
    assert request_by(merchant, MessageChannel.SMS, customer_id=customer.pk).recipient == "+15145550199"


def test_someone_elses_customer_contact_or_template_is_not_found(
    merchant: Merchant, other_merchant: Merchant, contact: Contact, their_template: MessageTemplate
) -> None:
    theirs = make_customer(other_merchant, "Theirs", emails=["t@example.com"])
    with pytest.raises(NotFound):
        request_by(merchant, MessageChannel.EMAIL, customer_id=theirs.pk)
    mine_elsewhere = make_customer(merchant, "Other customer")
    with pytest.raises(NotFound):
        request_by(merchant, MessageChannel.EMAIL, customer_id=mine_elsewhere.pk, contact_id=contact.pk)
    with pytest.raises(NotFound):
        request_by(merchant, MessageChannel.EMAIL, contact_id=contact.pk, template_id=their_template.pk)


def test_a_template_of_another_purpose_is_refused_but_a_saved_reply_fits(merchant: Merchant, contact: Contact) -> None:
    confirmation = template_save(
        merchant=merchant,
        purpose=Purpose.PAYMENT_CONFIRMATION,
        language="en",
        name="Thanks",
        subject="Thanks",
        body="Thank you {customer.name}!",
    )
    with pytest.raises(InvalidInput) as refused:
        request_by(merchant, MessageChannel.EMAIL, contact_id=contact.pk, template_id=confirmation.pk)
    assert refused.value.message == "“Thanks” is a payment confirmation template."
    reply = template_save(
        merchant=merchant,
        purpose=Purpose.SAVED_REPLY,
        language="en",
        name="Quick",
        subject="Your invoice",
        body="Here you go: {payment.link}",
    )
    message = request_by(merchant, MessageChannel.SMS, contact_id=contact.pk, template_id=reply.pk)
    assert message.body == f"Here you go: {LINK}"


def request_then_fail(merchant: Merchant, customer: Customer) -> None:
    """A business transaction that queues its messages, then fails."""
    with transaction.atomic():
        request_by(merchant, MessageChannel.EMAIL, customer_id=customer.pk)
        request_by(merchant, MessageChannel.SMS, customer_id=customer.pk, to="+15145550123")
        raise RuntimeError("the payment request failed after queueing")


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_when_the_business_transaction_rolls_back() -> None:
    shop = make_merchant()
    customer = make_customer(shop, emails=["ann@example.com"])
    with merchant_scope(shop):
        with pytest.raises(RuntimeError):
            request_then_fail(shop, customer)
        with all_merchants():
            assert not Message.objects.exists() and not LocalSms.objects.exists()
        assert mail.outbox == []
        with transaction.atomic():
            request_by(shop, MessageChannel.EMAIL, customer_id=customer.pk)
            assert mail.outbox == []  # still inside the transaction
    assert len(mail.outbox) == 1
    with all_merchants():
        assert Message.objects.get().status == MessageStatus.SENT


def test_attachments_are_kept_with_the_row_and_only_e_mails_carry_them(merchant: Merchant, contact: Contact) -> None:
    pdf = bytes(range(256)) * 4
    message = request_by(
        merchant,
        MessageChannel.EMAIL,
        contact_id=contact.pk,
        attachments=[Attachment("../../etc/INV-00012.pdf", pdf, "application/pdf")],
    )
    [stored] = message.attachments.all()
    assert (stored.filename, stored.content_type, bytes(stored.content), stored.size) == (
        "INV-00012.pdf",
        "application/pdf",
        pdf,
        1024,
    )
    with pytest.raises(InvalidInput) as refused:
        request_by(
            merchant,
            MessageChannel.SMS,
            contact_id=contact.pk,
            attachments=[Attachment("a.pdf", pdf, "application/pdf")],
        )
    assert refused.value.message == "Only e-mails carry attachments."


def test_a_text_lands_in_the_local_outbox_exactly_as_it_would_go_out(
    merchant: Merchant, contact: Contact, frozen: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = request_by(merchant, MessageChannel.SMS, contact_id=contact.pk, to="(514) 555-0188")
    message.refresh_from_db()
    text = LocalSms.objects.get()
    assert (text.to, text.message_id, text.created_at) == ("+15145550188", message.pk, NOW)
    assert (
        text.body
        == message.body
        == (
            "Hello Ann Customer,\n\nHere is invoice INV-00012 for $123.45. You can review it and pay securely online:\n"
            f"{LINK}\n\nThank you!\n{merchant.name}"
        )
    )
    assert (message.status, message.provider_id) == ("sent", f"local-{text.pk}")
    assert mail.outbox == []


def test_a_text_longer_than_a_provider_takes_is_refused(merchant: Merchant, contact: Contact) -> None:
    with pytest.raises(InvalidInput) as refused:
        request_by(merchant, MessageChannel.SMS, contact_id=contact.pk, body="{payment.link} " + "x" * 1600)
    assert refused.value.field == "body"
    assert not Message.objects.exists()


def test_messenger_builds_a_share_link_and_records_it_as_shared(
    merchant: Merchant, customer: Customer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        message = request_by(merchant, MessageChannel.MESSENGER, customer_id=customer.pk)
    assert callbacks == []  # handed to the merchant, not to a task
    assert (message.status, message.recipient, message.sent_at) == ("shared", "", NOW)
    assert message.share_url == f"fb-messenger://share/?link={quote(LINK, safe='')}"
    settings.FACEBOOK_APP_ID = "1234"
    with_app = request_by(merchant, MessageChannel.MESSENGER, customer_id=customer.pk)
    assert with_app.share_url == (
        f"https://www.facebook.com/dialog/send?app_id=1234&link={quote(LINK, safe='')}"
        f"&redirect_uri={quote(settings.SETTLE_BASE_URL + '/', safe='')}"
    )
    assert Activity.objects.filter(verb="message.shared", summary="Payment request shared on Messenger").count() == 2


def test_copy_link_records_the_link(merchant: Merchant, customer: Customer) -> None:
    message = request_by(merchant, MessageChannel.LINK, customer_id=customer.pk)
    assert (message.status, message.share_url, message.link) == ("copied", LINK, LINK)


def test_sharing_needs_a_link_and_writes_nothing_without_one(merchant: Merchant, customer: Customer) -> None:
    before = outbox_rows()
    with pytest.raises(InvalidInput) as refused:
        message_queue(
            merchant=merchant,
            channel=MessageChannel.MESSENGER,
            purpose=Purpose.SAVED_REPLY,
            customer_id=customer.pk,
            body="See you soon!",
        )
    assert refused.value.message == "There is no link to share."
    assert outbox_rows() == before


def test_a_link_must_be_a_web_address(merchant: Merchant, customer: Customer) -> None:
    with pytest.raises(InvalidInput) as refused:
        request_by(
            merchant, MessageChannel.LINK, customer_id=customer.pk, context={"payment.link": "javascript:alert(1)"}
        )
    assert refused.value.field == "link"
