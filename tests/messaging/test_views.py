"""The back-office message pages: the log with statuses, errors and filters, Retry, the text outbox,
templates with inline placeholder errors, starters, "send a test"; tenant isolation and read-only
staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Contact, Customer
from settle.messaging.models import LocalSms, Message, MessageChannel, MessageStatus, MessageTemplate, Purpose
from settle.messaging.services import message_queue, template_save, template_starters_load
from settle.messaging.starters import STARTERS
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer
from tests.messaging.conftest import NOW, Clock

LINK = "http://127.0.0.1:8000/pay/k3y"


def owner_of(merchant: Merchant) -> User:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER).user


@pytest.fixture
def owner(client: Client, merchant: Merchant, frozen: Clock) -> Client:
    client.force_login(owner_of(merchant))
    return client


@pytest.fixture
def viewer(merchant: Merchant, frozen: Clock) -> Client:
    acting = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    user = membership_set(merchant=merchant, acting=acting, email="viewer@example.com", role=Role.READ_ONLY).user
    client = Client()
    client.force_login(user)
    return client


def queue(merchant: Merchant, channel: str = MessageChannel.EMAIL, **kwargs: Any) -> Message:
    return message_queue(
        merchant=merchant,
        channel=channel,
        purpose=Purpose.PAYMENT_REQUEST,
        context={"invoice.number": "INV-00012", "invoice.amount_due": Money(5_000, "USD"), "payment.link": LINK},
        now=NOW,
        **kwargs,
    )


def failed(message: Message, error: str = "ConnectionRefusedError: [Errno 111] Connection refused") -> Message:
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.FAILED, attempts=6, next_attempt_at=None, last_error=error
    )
    message.refresh_from_db()
    return message


def test_the_log_shows_each_message_with_its_status_error_and_a_retry_button(
    owner: Client, merchant: Merchant, contact: Contact
) -> None:
    sent = queue(merchant, contact_id=contact.pk)
    broken = failed(queue(merchant, contact_id=contact.pk, to="other@example.com"))
    page = owner.get(reverse("backoffice:message_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "ann@example.com" in html and "other@example.com" in html
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in html
    assert html.count(reverse("backoffice:message_retry", args=[broken.pk])) == 1
    assert reverse("backoffice:message_retry", args=[sent.pk]) not in html
    assert 'aria-label="Messages"' in html


def test_the_log_filters_by_channel_status_and_customer(owner: Client, merchant: Merchant, contact: Contact) -> None:
    other = make_customer(merchant, "Bob Other", phones=["+15145550177"])
    by_email = queue(merchant, contact_id=contact.pk)
    by_text = queue(merchant, MessageChannel.SMS, customer_id=other.pk)
    broken = failed(queue(merchant, contact_id=contact.pk))

    def shown(**query: str) -> set[int]:
        page = owner.get(reverse("backoffice:message_list"), query)
        assert page.status_code == 200
        return {message.pk for message, _ in page.context["rows"]}

    assert shown() == {by_email.pk, by_text.pk, broken.pk}
    assert shown(channel="sms") == {by_text.pk}
    assert shown(status="failed") == {broken.pk}
    assert shown(customer=str(other.pk)) == {by_text.pk}
    assert shown(customer=str(contact.customer_id), status="queued") == {by_email.pk}
    assert shown(channel="pigeon") == {by_email.pk, by_text.pk, broken.pk}
    assert owner.get(reverse("backoffice:message_list"), {"customer": "x"}).status_code == 404


def test_retry_from_the_back_office_sends_the_failed_message(
    owner: Client, merchant: Merchant, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    broken = failed(queue(merchant, contact_id=contact.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(reverse("backoffice:message_retry", args=[broken.pk]))
    assert response.status_code == 302
    broken.refresh_from_db()
    assert broken.status == MessageStatus.SENT
    assert len(mail.outbox) == 1
    again = owner.post(reverse("backoffice:message_retry", args=[broken.pk]), follow=True)
    assert "Only a failed message can be retried." in again.content.decode()
    assert len(mail.outbox) == 1


def test_read_only_staff_see_messages_but_cannot_retry(viewer: Client, merchant: Merchant, contact: Contact) -> None:
    broken = failed(queue(merchant, contact_id=contact.pk))
    page = viewer.get(reverse("backoffice:message_list"))
    assert page.status_code == 200
    assert reverse("backoffice:message_retry", args=[broken.pk]) not in page.content.decode()
    assert viewer.get(reverse("backoffice:message_detail", args=[broken.pk])).status_code == 200
    refused = viewer.post(reverse("backoffice:message_retry", args=[broken.pk]))
    assert refused.status_code == 403
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == ("failed", 6)
    assert mail.outbox == []


def test_another_merchants_message_is_a_404(owner: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    theirs_customer = make_customer(other_merchant, emails=["t@example.com"])
    with merchant_scope(other_merchant):
        theirs = failed(queue(other_merchant, customer_id=theirs_customer.pk))
    assert owner.get(reverse("backoffice:message_detail", args=[theirs.pk])).status_code == 404
    assert owner.post(reverse("backoffice:message_retry", args=[theirs.pk])).status_code == 404
    with merchant_scope(other_merchant):
        theirs.refresh_from_db()
        assert theirs.status == MessageStatus.FAILED
    assert owner.get(reverse("backoffice:message_list"), {"customer": theirs_customer.pk}).status_code == 404


def test_the_detail_page_shows_the_whole_message(owner: Client, merchant: Merchant, customer: Customer) -> None:
    message = queue(merchant, MessageChannel.LINK, customer_id=customer.pk, concerns_invoice_id=12)
    html = owner.get(reverse("backoffice:message_detail", args=[message.pk])).content.decode()
    assert "Here is invoice INV-00012 for $50.00." in html
    assert f'value="{LINK}"' in html
    assert "Copied" in html
    assert reverse("backoffice:invoice_detail", args=[12]) in html


def test_the_text_outbox_shows_what_would_have_gone_out(
    owner: Client, merchant: Merchant, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        queue(merchant, MessageChannel.SMS, contact_id=contact.pk)
    text = LocalSms.objects.get()
    html = owner.get(reverse("backoffice:message_sms_outbox")).content.decode()
    assert "+15145550123" in html
    assert f"Here is invoice INV-00012 for $50.00. You can review it and pay securely online:<br>{LINK}" in html
    assert "kept here exactly as it would have gone out" in html
    assert text.body.startswith("Hello Ann Customer,")


def test_saving_a_template_with_an_unknown_placeholder_shows_the_error_inline(
    owner: Client, merchant: Merchant
) -> None:
    data = {
        "purpose": Purpose.PAYMENT_REQUEST,
        "language": "en",
        "name": "Mine",
        "subject": "Invoice",
        "body": "Hi {customer.nmae}: {payment.link}",
    }
    page = owner.post(reverse("backoffice:message_template_new"), data)
    assert page.status_code == 200
    assert page.context["form"].errors["body"] == [
        "“{customer.nmae}” is not a placeholder Settle knows. Check the spelling or remove the braces."
    ]
    assert not MessageTemplate.objects.exists()
    profile = {**data, "purpose": Purpose.PROFILE_REQUEST, "subject": "", "body": "Add a card please"}
    missing = owner.post(reverse("backoffice:message_template_new"), profile)
    assert "Keep the {Secure Link} placeholder" in missing.context["form"].errors["body"][0]
    saved = owner.post(
        reverse("backoffice:message_template_new"), {**data, "body": "Hi { customer.name }: {payment.link}"}
    )
    template = MessageTemplate.objects.get()
    assert saved.status_code == 302 and saved["Location"] == reverse(
        "backoffice:message_template_edit", args=[template.pk]
    )
    assert template.body == "Hi { customer.name }: {payment.link}"


def test_the_templates_page_lists_and_loads_starters(owner: Client, merchant: Merchant) -> None:
    empty = owner.get(reverse("backoffice:message_templates")).content.decode()
    assert "No templates yet." in empty
    loaded = owner.post(reverse("backoffice:message_template_starters"), follow=True)
    assert f"{2 * len(STARTERS)} starter templates added." in loaded.content.decode()
    assert MessageTemplate.objects.count() == 2 * len(STARTERS)
    french = owner.get(reverse("backoffice:message_templates"), {"language": "fr", "purpose": "payment_request"})
    names = [template.name for template, _ in french.context["rows"]]
    assert sorted(names) == sorted(
        ["Facture", "Secteur automobile", "Magasins de vélos", "Gestion immobilière", "Vétérinaires"]
    )
    again = owner.post(reverse("backoffice:message_template_starters"), follow=True)
    assert "You already have every starter template." in again.content.decode()


def test_send_a_test_of_the_payment_confirmation(
    owner: Client, merchant: Merchant, django_capture_on_commit_callbacks: Any
) -> None:
    template_starters_load(merchant=merchant)
    confirmation = MessageTemplate.objects.get(purpose=Purpose.PAYMENT_CONFIRMATION, language="en", is_default=True)
    edit = owner.get(reverse("backoffice:message_template_edit", args=[confirmation.pk]))
    assert edit.context["test_form"]["to"].value() == owner_of(merchant).email
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            reverse("backoffice:message_template_test", args=[confirmation.pk]),
            {"channel": "email", "to": "me@example.com"},
        )
    message = Message.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "backoffice:message_detail", args=[message.pk]
    )
    assert (message.is_test, message.customer_id, message.purpose) == (True, None, Purpose.PAYMENT_CONFIRMATION)
    [sent] = mail.outbox
    assert sent.to == ["me@example.com"] and sent.subject == "[Test] Thank you for your payment"
    assert sent.body.startswith("Hi Alex Sample, Thank you for making your secure online payment.")
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(
            reverse("backoffice:message_template_test", args=[confirmation.pk]),
            {"channel": "sms", "to": "514-555-0144"},
        )
    assert LocalSms.objects.get().to == "+15145550144"
    bad = owner.post(
        reverse("backoffice:message_template_test", args=[confirmation.pk]), {"channel": "email", "to": "nope"}
    )
    assert bad.status_code == 200
    assert bad.context["test_form"].errors["to"] == ["“nope” is not a valid e-mail address."]


def test_read_only_staff_see_templates_but_change_nothing(viewer: Client, merchant: Merchant) -> None:
    template = template_save(
        merchant=merchant,
        purpose=Purpose.PAYMENT_REQUEST,
        language="en",
        name="Mine",
        subject="S",
        body="{payment.link}",
    )
    assert viewer.get(reverse("backoffice:message_templates")).status_code == 200
    page = viewer.get(reverse("backoffice:message_template_edit", args=[template.pk]))
    assert page.status_code == 200 and "Send a test" not in page.content.decode()
    data = {
        "purpose": Purpose.PAYMENT_REQUEST,
        "language": "en",
        "name": "Changed",
        "subject": "S",
        "body": "{payment.link}",
    }
    assert viewer.post(reverse("backoffice:message_template_edit", args=[template.pk]), data).status_code == 403
    assert viewer.post(reverse("backoffice:message_template_starters")).status_code == 403
    assert viewer.post(reverse("backoffice:message_template_delete", args=[template.pk])).status_code == 403
    test = {"channel": "email", "to": "me@example.com"}
    assert viewer.post(reverse("backoffice:message_template_test", args=[template.pk]), test).status_code == 403
    template.refresh_from_db()
    assert template.name == "Mine" and MessageTemplate.objects.count() == 1 and not Message.objects.exists()


def test_another_merchants_template_is_a_404(
    owner: Client, other_merchant: Merchant, their_template: MessageTemplate
) -> None:
    theirs = their_template
    assert owner.get(reverse("backoffice:message_template_edit", args=[theirs.pk])).status_code == 404
    assert owner.post(reverse("backoffice:message_template_delete", args=[theirs.pk])).status_code == 404
    with merchant_scope(other_merchant):
        assert MessageTemplate.objects.filter(pk=theirs.pk).exists()


def test_delete_a_template(owner: Client, merchant: Merchant) -> None:
    template = template_save(
        merchant=merchant,
        purpose=Purpose.PAYMENT_REQUEST,
        language="en",
        name="Mine",
        subject="S",
        body="{payment.link}",
    )
    response = owner.post(reverse("backoffice:message_template_delete", args=[template.pk]))
    assert response.status_code == 302 and not MessageTemplate.objects.exists()
