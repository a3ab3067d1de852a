"""Requesting a payment method from the customer profile: the form filled from the merchant's
profile request template, sent by e-mail or text with a link that lasts the chosen time; refusals
shown on the form with nothing written, read-only staff and other merchants kept out. Asked for
from a saved method, the screen names the method and the link sent replaces it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from settle.core import clock
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Contact, Customer
from settle.customers.services import contact_save
from settle.gateways.sandbox import SandboxGateway
from settle.messaging.models import LocalSms, Message, MessageStatus, Purpose
from settle.payments.models import LinkPurpose, SavedMethod, SecureLink
from settle.payments.vault import saved_method_add, saved_method_remove
from settle.tenants.models import Merchant
from tests.backoffice.conftest import owner_of
from tests.conftest import make_customer, writes_nothing
from tests.sandbox.factories import card

pytestmark = pytest.mark.django_db

LINK = re.compile(re.escape(settings.SETTLE_BASE_URL) + r"/l/[A-Za-z0-9_-]{43}/")


def request_url(customer: Customer, channel: str = "email") -> str:
    return reverse("backoffice:payment_profile_request", args=[customer.pk]) + f"?channel={channel}"


def page_form(client: Client, customer: Customer, channel: str = "email") -> dict[str, Any]:
    """The form as the page fills it in."""
    form = client.get(request_url(customer, channel)).context["form"]
    return {name: value for name, value in form.initial.items() if name in form.fields and value is not None}


def outbox_rows() -> dict[str, int]:
    with all_merchants():
        return {model.__name__: model.objects.count() for model in (Message, SecureLink, LocalSms)}


def test_the_profile_offers_the_request(owner: Client, customer: Customer) -> None:
    page = owner.get(reverse("backoffice:customer_detail", args=[customer.pk]))
    assert reverse("backoffice:payment_profile_request", args=[customer.pk]).encode() in page.content
    assert b"Request a payment method" in page.content


def test_an_email_goes_to_the_contact_with_a_link_to_add_a_method(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    page = owner.get(request_url(customer))
    form = page.context["form"]
    assert form.initial["contact"] == contact.pk and "{Secure Link}" in form.initial["body"]
    assert b"Ann Contact (ann@example.com)" in page.content and b"30 days" in page.content
    data = page_form(owner, customer) | {"expires_in": "3600", "body": form.initial["body"] + "\nSee you soon."}

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(request_url(customer), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:customer_detail", args=[customer.pk])
    message = Message.objects.get()
    assert (message.purpose, message.status, message.recipient) == (
        Purpose.PROFILE_REQUEST,
        MessageStatus.SENT,
        "ann@example.com",
    )
    link = SecureLink.objects.get()
    assert (link.purpose, link.single_use, link.contact_id) == (LinkPurpose.ADD_PAYMENT_METHOD, True, contact.pk)
    assert link.expires_at - link.created_at == dt.timedelta(hours=1)
    assert link.created_by == owner_of(merchant)
    [sent] = mail.outbox
    found = LINK.search(str(sent.body))
    assert found is not None and str(sent.body).endswith("See you soon.")
    opened = Client().get(found.group(0).removeprefix(settings.SETTLE_BASE_URL))
    assert (opened.status_code, opened["Location"]) == (303, "/l/method/")
    profile = owner.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    assert "A link to add a payment method is on its way to ann@example.com." in profile
    assert "Payment profile request queued by e-mail to ann@example.com" in profile


def test_a_text_message_goes_to_the_local_outbox(
    owner: Client, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    assert "subject" not in owner.get(request_url(customer, "sms")).context["form"].fields
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(request_url(customer, "sms"), page_form(owner, customer, "sms"))

    text = LocalSms.objects.get()
    assert text.to == "+15145550123" and LINK.search(text.body)
    assert SecureLink.objects.get().expires_at - SecureLink.objects.get().created_at == dt.timedelta(days=7)


def test_a_message_without_the_link_is_refused_on_the_form(owner: Client, customer: Customer, contact: Contact) -> None:
    data = page_form(owner, customer) | {"body": "Please call us with your card number."}

    with writes_nothing():
        before = outbox_rows()
        response = owner.post(request_url(customer), data)
        assert outbox_rows() == before

    assert response.status_code == 200
    assert "Keep the {Secure Link} placeholder" in response.context["form"].errors["body"][0]


@pytest.mark.parametrize("lifetime", ["60", "31536000", "soon"])
def test_a_lifetime_not_offered_is_refused(owner: Client, customer: Customer, contact: Contact, lifetime: str) -> None:
    data = page_form(owner, customer) | {"expires_in": lifetime}

    response = owner.post(request_url(customer), data)

    assert response.status_code == 200 and response.context["form"].errors["expires_in"]
    assert outbox_rows() == {"Message": 0, "SecureLink": 0, "LocalSms": 0}


def test_a_double_submit_sends_once(owner: Client, customer: Customer, contact: Contact) -> None:
    data = page_form(owner, customer)

    first = owner.post(request_url(customer), data)
    again = owner.post(request_url(customer), data)

    assert first.status_code == again.status_code == 302
    assert outbox_rows()["Message"] == outbox_rows()["SecureLink"] == 1


def test_read_only_staff_cannot_send(viewer: Client, customer: Customer, contact: Contact) -> None:
    assert viewer.get(request_url(customer)).status_code == 403
    with writes_nothing():
        response = viewer.post(request_url(customer), {"body": "{Secure Link}", "expires_in": "3600"})
    assert response.status_code == 403
    assert outbox_rows()["Message"] == 0
    profile = viewer.get(reverse("backoffice:customer_detail", args=[customer.pk]))
    assert b"Request a payment method" not in profile.content


def test_another_merchants_customer_or_anothers_contact_is_not_found(
    owner: Client, customer: Customer, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = make_customer(other_merchant, "Theirs")
        their_contact = contact_save(merchant=other_merchant, customer_id=theirs.pk, name="Them", email="t@example.com")
    data = page_form(owner, customer) | {"to": "x@example.com"}

    assert owner.get(request_url(theirs)).status_code == 404
    assert owner.post(request_url(theirs), data).status_code == 404
    assert owner.post(request_url(customer), data | {"contact": str(their_contact.pk)}).status_code == 404
    bob = make_customer(customer.merchant, "Bob")
    bobs_contact = contact_save(merchant=customer.merchant, customer_id=bob.pk, name="Bob", email="bob@example.com")
    assert owner.post(request_url(customer), data | {"contact": str(bobs_contact.pk)}).status_code == 404
    assert outbox_rows()["Message"] == 0


def test_the_message_is_in_the_language_of_its_wording(owner: Client, customer: Customer, contact: Contact) -> None:
    form = page_form(owner, customer)
    assert form["language"] == "en"
    owner.post(request_url(customer), form | {"language": "fr"})
    assert Message.objects.get().language == "fr"


def saved_visa(merchant: Merchant, customer: Customer, name: str = "Mary's business Visa") -> SavedMethod:
    with merchant_scope(merchant):
        return saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=card(SandboxGateway()),
            friendly_name=name,
            billing_address="",
            consent_text="I authorize Shop to keep this card on file.",
            consent_ip=None,
            now=clock.now(),
        )


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").split())


def test_asking_for_a_new_one_names_the_method_and_the_link_replaces_it(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    visa = saved_visa(merchant, customer)
    profile = owner.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    asked = request_url(customer).replace("?channel=email", f"?replaces={visa.pk}")
    assert f'href="{asked}">Ask for a new one</a>' in profile

    page = owner.get(asked)
    html = page.content.decode()

    assert page.status_code == 200
    assert "Replaces Visa •••• 4242 — Mary's business Visa" in words(html)
    assert f'<input type="hidden" name="replaces" value="{visa.pk}">' in html
    assert f'href="?channel=sms&amp;replaces={visa.pk}"' in html  # another channel keeps it
    data = page_form(owner, customer) | {"replaces": str(visa.pk)}
    response = owner.post(request_url(customer), data)

    assert response.status_code == 302
    link = SecureLink.objects.get()
    assert (link.purpose, link.replaces_method_id) == (LinkPurpose.ADD_PAYMENT_METHOD, visa.pk)


def test_the_plain_request_replaces_nothing(owner: Client, customer: Customer, contact: Contact) -> None:
    page = owner.get(request_url(customer))
    assert "Replaces" not in words(page.content.decode()) and 'name="replaces"' not in page.content.decode()

    owner.post(request_url(customer), page_form(owner, customer))

    assert SecureLink.objects.get().replaces_method_id is None


def test_another_merchants_or_customers_or_a_removed_method_is_not_found(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = saved_visa(other_merchant, make_customer(other_merchant, "Theirs"))
    bobs = saved_visa(merchant, make_customer(merchant, "Bob"))
    removed = saved_visa(merchant, customer)
    with merchant_scope(merchant):
        saved_method_remove(merchant=merchant, saved_method_id=removed.pk, now=clock.now())
    data = page_form(owner, customer)

    with writes_nothing():
        for method_id in (str(theirs.pk), str(bobs.pk), str(removed.pk), "x"):
            url = request_url(customer) + f"&replaces={method_id}"
            assert owner.get(url).status_code == 404, method_id
            assert owner.post(request_url(customer), data | {"replaces": method_id}).status_code == 404, method_id
    assert outbox_rows() == {"Message": 0, "SecureLink": 0, "LocalSms": 0}
