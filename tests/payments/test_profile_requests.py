"""Payment profile requests: one transaction writes the single-use link, the message and the
timeline entry (or nothing), a repeated key sends once, the template keeps its {Secure Link}, the
link lasts what the merchant chose within bounds; saving through the link spends it once. A request
that names a saved method replaces it (or adds, when it was removed meanwhile)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.money import Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save
from settle.gateways.base import MethodKind
from settle.gateways.sandbox import SandboxGateway
from settle.messaging.models import Message, MessageStatus, MessageTemplate, Purpose
from settle.messaging.services import template_save
from settle.payments.links import Refusal, SecureLinkRefused, secure_link_create, secure_link_resolve
from settle.payments.models import LinkPurpose, PaymentSettings, SavedMethod, SecureLink
from settle.payments.payment_settings import payment_settings_get
from settle.payments.profile_requests import (
    payment_profile_request_complete,
    payment_profile_request_send,
    profile_request_kinds,
)
from settle.payments.requests import Sending
from settle.payments.vault import saved_method_add, saved_method_remove
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, writes_nothing
from tests.sandbox.factories import CARDS, bank_account, card, wallet_payment

pytestmark = pytest.mark.django_db

LINK = re.compile(re.escape(settings.SETTLE_BASE_URL) + r"/l/([A-Za-z0-9_-]{43})/")
BODY = "Hello {contact.name}, add a card here: {Secure Link} (until {link.expires})."


def rows() -> dict[str, int]:
    with all_merchants():
        return {model.__name__: model.objects.count() for model in (Message, SecureLink, SavedMethod)}


def send(
    merchant: Merchant,
    customer: Customer,
    *,
    channel: str = "email",
    replaces_method_id: int | None = None,
    expires_in: dt.timedelta | None = None,
    **chosen: Any,
) -> Message:
    """A profile request sent by e-mail unless `channel` says otherwise; `chosen` is the rest of
    the sender's choices (contact, recipient, wording, key, time)."""
    return payment_profile_request_send(
        merchant=merchant,
        sending=Sending(channel=channel, **chosen),
        customer_id=customer.pk,
        replaces_method_id=replaces_method_id,
        expires_in=expires_in,
    )


def test_an_email_carries_a_single_use_link_that_lasts_what_was_chosen(
    merchant: Merchant, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    now = clock.now()
    with django_capture_on_commit_callbacks(execute=True):
        message = send(
            merchant,
            customer,
            contact_id=contact.pk,
            body=BODY,
            subject="A card for {company.name}",
            expires_in=dt.timedelta(hours=24),
            now=now,
        )

    link = SecureLink.objects.get()
    assert (link.purpose, link.single_use, link.customer_id, link.contact_id) == (
        LinkPurpose.ADD_PAYMENT_METHOD,
        True,
        customer.pk,
        contact.pk,
    )
    assert link.expires_at == now + dt.timedelta(hours=24)
    message.refresh_from_db()
    assert (message.purpose, message.channel, message.recipient) == (
        Purpose.PROFILE_REQUEST,
        "email",
        "ann@example.com",
    )
    assert message.status == MessageStatus.SENT and message.subject == f"A card for {merchant.name}"
    [sent] = mail.outbox
    found = LINK.search(str(sent.body))
    assert found is not None and message.link == found.group(0)
    assert str(sent.body).startswith("Hello Ann Contact, add a card here: ")
    assert secure_link_resolve(found.group(1)).pk == link.pk
    timeline = Activity.objects.filter(customer=customer).values_list("summary", flat=True)
    assert "Payment profile request queued by e-mail to ann@example.com" in timeline
    assert "Secure link created: add a payment method." in timeline


def test_the_default_wording_is_the_merchants_profile_request(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    message = send(merchant, customer, contact_id=contact.pk, channel="sms")

    assert (message.channel, message.recipient) == ("sms", "+15145550123")
    assert "The link works once and expires" in message.body and LINK.search(message.body)


def test_a_repeated_key_sends_one_link_and_one_message(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    first = send(merchant, customer, contact_id=contact.pk, idempotency_key="send-1")
    again = send(merchant, customer, contact_id=contact.pk, idempotency_key="send-1")

    assert first.pk == again.pk
    assert rows() == {"Message": 1, "SecureLink": 1, "SavedMethod": 0}
    with pytest.raises(InvalidInput, match="different details"):
        send(merchant, customer, contact_id=contact.pk, channel="sms", idempotency_key="send-1")


@pytest.mark.parametrize("lifetime", [dt.timedelta(minutes=5), dt.timedelta(days=31)])
def test_a_lifetime_out_of_bounds_is_refused(merchant: Merchant, customer: Customer, lifetime: dt.timedelta) -> None:
    with writes_nothing():
        before = rows()
        with pytest.raises(InvalidInput) as refused:
            send(merchant, customer, to="ann@example.com", expires_in=lifetime)
        assert rows() == before
    assert refused.value.field == "expires_in"


def test_only_email_or_text(merchant: Merchant, customer: Customer) -> None:
    with pytest.raises(InvalidInput, match="by e-mail or text message"):
        send(merchant, customer, channel="link")
    assert rows()["SecureLink"] == 0


def test_a_message_without_the_link_is_refused(merchant: Merchant, customer: Customer) -> None:
    with writes_nothing():
        with pytest.raises(InvalidInput, match=r"Keep the \{Secure Link\} placeholder"):
            send(merchant, customer, to="ann@example.com", body="Please add a card.")
    assert rows() == {"Message": 0, "SecureLink": 0, "SavedMethod": 0}


def test_a_template_without_the_link_cannot_be_saved(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput, match=r"Keep the \{Secure Link\} placeholder") as refused:
        template_save(
            merchant=merchant,
            purpose=Purpose.PROFILE_REQUEST,
            language="en",
            name="Mine",
            subject="Add a card",
            body="Hello {customer.name}, please call us with your card.",
        )
    assert refused.value.field == "body"
    saved = template_save(
        merchant=merchant,
        purpose=Purpose.PROFILE_REQUEST,
        language="en",
        name="Mine",
        subject="Add a card",
        body="Hello {customer.name}: { secure link }",
    )
    with pytest.raises(InvalidInput, match=r"Keep the \{Secure Link\} placeholder"):
        template_save(
            merchant=merchant,
            purpose=Purpose.PROFILE_REQUEST,
            language="en",
            name="Mine",
            subject="Add a card",
            body="Hello {customer.name}.",
            template_id=saved.pk,
        )
    saved.refresh_from_db()
    assert saved.body == "Hello {customer.name}: { secure link }" and MessageTemplate.objects.count() == 1


def test_another_merchants_customer_or_another_customers_contact_is_not_found(
    merchant: Merchant, customer: Customer, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = make_customer(other_merchant, "Theirs")
        their_contact = contact_save(
            merchant=other_merchant, customer_id=theirs.pk, name="Them", email="them@example.com"
        )
    stranger = contact_save(
        merchant=merchant, customer_id=make_customer(merchant, "Bob").pk, name="Bob", email="bob@example.com"
    )

    with writes_nothing():
        before = rows()
        with pytest.raises(NotFound):
            send(merchant, theirs, to="x@example.com")
        with pytest.raises(NotFound):
            send(merchant, customer, contact_id=their_contact.pk)
        with pytest.raises(NotFound):
            send(merchant, customer, contact_id=stranger.pk)
        assert rows() == before


def link_for(merchant: Merchant, customer: Customer, **kwargs: Any) -> SecureLink:
    link, _ = secure_link_create(
        merchant=merchant, purpose=LinkPurpose.ADD_PAYMENT_METHOD, customer_id=customer.pk, **kwargs
    )
    return link


def complete(merchant: Merchant, link: SecureLink, **kwargs: Any) -> SavedMethod:
    values: dict[str, Any] = {
        "vaulted": card(SandboxGateway()),
        "friendly_name": "Mary's business Visa",
        "billing_address": "12 Main Street",
        "consent_text": "I authorize Shop to keep this card on file.",
        "consent_ip": "198.51.100.7",
    }
    return payment_profile_request_complete(merchant=merchant, link_id=link.pk, **(values | kwargs))


def test_saving_through_the_link_spends_it_once(merchant: Merchant, customer: Customer) -> None:
    link = link_for(merchant, customer)

    method = complete(merchant, link)

    assert (method.customer_id, method.consent_text, method.consent_ip) == (
        customer.pk,
        "I authorize Shop to keep this card on file.",
        "198.51.100.7",
    )
    link.refresh_from_db()
    assert link.used_at is not None
    with pytest.raises(SecureLinkRefused) as refused:
        complete(merchant, link, vaulted=bank_account(SandboxGateway()))
    assert refused.value.reason == Refusal.USED and SavedMethod.objects.count() == 1


def test_an_expired_link_saves_nothing(merchant: Merchant, customer: Customer) -> None:
    link = link_for(merchant, customer, now=clock.now() - dt.timedelta(days=8))

    with pytest.raises(SecureLinkRefused) as refused:
        complete(merchant, link)

    assert refused.value.reason == Refusal.EXPIRED and not SavedMethod.objects.exists()


def test_a_refused_save_leaves_the_link_usable(merchant: Merchant, customer: Customer) -> None:
    link = link_for(merchant, customer)
    payment_settings_get(merchant=merchant)
    PaymentSettings.objects.filter(merchant=merchant).update(card_enabled=False)

    with pytest.raises(NotAllowed, match="not accepted"):
        complete(merchant, link)
    with pytest.raises(NotAllowed):
        complete(merchant, link, vaulted=wallet_payment(SandboxGateway(), Money(30_00, "USD")))

    link.refresh_from_db()
    assert link.used_at is None and not SavedMethod.objects.exists()
    assert complete(merchant, link, vaulted=bank_account(SandboxGateway())).kind == "ach"


def test_only_an_add_payment_method_link_saves(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer)
    link, _ = secure_link_create(
        merchant=merchant, purpose=LinkPurpose.PAY_INVOICE, customer_id=customer.pk, invoice_ids=[invoice.pk]
    )

    with pytest.raises(NotAllowed):
        complete(merchant, link)
    assert not SavedMethod.objects.exists()


def test_what_can_be_saved_follows_the_payment_settings(merchant: Merchant) -> None:
    settings_row = payment_settings_get(merchant=merchant)
    assert profile_request_kinds(settings_row) == [MethodKind.CARD, MethodKind.ACH]
    settings_row.ach_enabled = False
    assert profile_request_kinds(settings_row) == [MethodKind.CARD]
    settings_row.gateway = ""
    assert profile_request_kinds(settings_row) == []


# ---- Replacing a saved method ----


def saved(merchant: Merchant, customer: Customer, number: str = CARDS["success"], name: str = "") -> SavedMethod:
    return saved_method_add(
        merchant=merchant,
        customer_id=customer.pk,
        vaulted=card(SandboxGateway(), number),
        friendly_name=name,
        billing_address="",
        consent_text="I authorize Shop to keep this card on file.",
        consent_ip=None,
        now=clock.now(),
    )


def test_a_request_that_replaces_a_method_says_so_and_carries_it(
    merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    visa = saved(merchant, customer, name="Mary's business Visa")

    send(merchant, customer, contact_id=contact.pk, replaces_method_id=visa.pk, idempotency_key="send-1")

    link = SecureLink.objects.get()
    assert (link.purpose, link.replaces_method_id) == (LinkPurpose.ADD_PAYMENT_METHOD, visa.pk)
    timeline = Activity.objects.filter(customer=customer).values_list("summary", flat=True)
    assert "Secure link created: add a payment method (to replace Visa •••• 4242)." in timeline
    with pytest.raises(InvalidInput, match="different details"):  # the key is for the replacing request
        send(merchant, customer, contact_id=contact.pk, idempotency_key="send-1")
    assert rows() == {"Message": 1, "SecureLink": 1, "SavedMethod": 1}


def test_completing_a_replacing_request_puts_the_new_method_in_the_old_ones_place(
    merchant: Merchant, customer: Customer
) -> None:
    old = saved(merchant, customer, name="Mary's business Visa")
    other = saved(merchant, customer, CARDS["charges_fail"])
    link = link_for(merchant, customer, replaces_method_id=old.pk)

    new = complete(merchant, link, friendly_name="New Visa")

    old.refresh_from_db()
    other.refresh_from_db()
    link.refresh_from_db()
    assert old.removed_at is not None and not old.is_default
    assert (new.is_default, new.friendly_name, new.consent_ip) == (True, "New Visa", "198.51.100.7")
    assert new.consent_text == "I authorize Shop to keep this card on file."
    assert other.removed_at is None and not other.is_default
    assert link.used_at is not None
    assert list(SavedMethod.objects.filter(removed_at__isnull=True).order_by("pk")) == [other, new]
    activity = Activity.objects.get(customer=customer, verb="payment_method.replaced")
    assert (
        activity.summary == "Payment method Visa •••• 4242 — Mary's business Visa replaced by Visa •••• 4242 — New Visa"
    )
    assert not Activity.objects.filter(customer=customer, verb="payment_method.saved", object_id=new.pk).exists()


def test_a_method_that_is_not_the_default_is_replaced_by_one_that_is_not_either(
    merchant: Merchant, customer: Customer
) -> None:
    default = saved(merchant, customer)
    old = saved(merchant, customer, CARDS["charges_fail"])
    link = link_for(merchant, customer, replaces_method_id=old.pk)

    new = complete(merchant, link)

    default.refresh_from_db()
    assert not new.is_default and default.is_default
    assert SavedMethod.objects.get(pk=old.pk).removed_at is not None


def test_a_method_removed_meanwhile_is_added_instead(merchant: Merchant, customer: Customer) -> None:
    old = saved(merchant, customer)
    link = link_for(merchant, customer, replaces_method_id=old.pk)
    saved_method_remove(merchant=merchant, saved_method_id=old.pk, now=clock.now())

    new = complete(merchant, link, friendly_name="New Visa")

    assert new.removed_at is None and new.is_default
    assert SavedMethod.objects.filter(removed_at__isnull=True).get() == new
    assert Activity.objects.get(customer=customer, verb="payment_method.saved", object_id=new.pk).summary == (
        "Payment method saved: Visa •••• 4242 — New Visa"
    )
    assert not Activity.objects.filter(customer=customer, verb="payment_method.replaced").exists()
    link.refresh_from_db()
    assert link.used_at is not None


def test_another_customers_or_merchants_or_a_removed_method_is_not_found(
    merchant: Merchant, customer: Customer, other_merchant: Merchant
) -> None:
    bob = make_customer(merchant, "Bob")
    bobs = saved(merchant, bob)
    removed = saved(merchant, customer)
    saved_method_remove(merchant=merchant, saved_method_id=removed.pk, now=clock.now())
    with merchant_scope(other_merchant):
        theirs = saved(other_merchant, make_customer(other_merchant, "Theirs"))

    with writes_nothing():
        before = rows()
        for method in (bobs, removed, theirs):
            with pytest.raises(NotFound, match="No such payment method"):
                send(merchant, customer, to="ann@example.com", replaces_method_id=method.pk)
        assert rows() == before


def test_only_a_profile_request_replaces_a_method(merchant: Merchant, customer: Customer) -> None:
    method = saved(merchant, customer)
    invoice = make_invoice(merchant, customer)

    with writes_nothing():
        with pytest.raises(InvalidInput, match="Only a link to add a payment method") as refused:
            secure_link_create(
                merchant=merchant,
                purpose=LinkPurpose.PAY_INVOICE,
                customer_id=customer.pk,
                invoice_ids=[invoice.pk],
                replaces_method_id=method.pk,
            )
    assert refused.value.field == "replaces_method_id"
