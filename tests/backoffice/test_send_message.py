"""The New message screen and the customer profile's ways into it: finding the customer, plain
messages, payment requests made as they are sent, open invoices (one link or a statement link),
saved replies, and every refusal shown on the form with nothing written."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save
from settle.invoicing.models import Invoice
from settle.messaging.models import LocalSms, Message, MessageStatus, Purpose
from settle.messaging.services import template_save
from settle.payments.models import LinkPurpose, SecureLink
from settle.tenants.models import Merchant
from tests.backoffice.conftest import owner_of
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

LINK = re.compile(re.escape(settings.SETTLE_BASE_URL) + r"/l/[A-Za-z0-9_-]{43}/")


def compose(**query: Any) -> str:
    return reverse("backoffice:message_new") + ("?" + urlencode(query, doseq=True) if query else "")


def page_form(client: Client, url: str, **typed: Any) -> dict[str, Any]:
    """The form as the page fills it in, with what the merchant typed."""
    form = client.get(url).context["form"]
    filled = {name: value for name, value in form.initial.items() if name in form.fields and value is not None}
    return filled | typed


def sent_rows() -> dict[str, int]:
    with all_merchants():
        return {model.__name__: model.objects.count() for model in (Message, LocalSms, SecureLink, Invoice, Activity)}


def opens_the_pay_page(url: str) -> bool:
    opened = Client().get(url.removeprefix(settings.SETTLE_BASE_URL))
    return opened.status_code == 303 and opened["Location"] == "/l/invoice/"


# ---- Getting there ----


def test_new_message_is_in_the_nav_and_on_the_profile_for_staff_who_can_send(
    owner: Client, viewer: Client, customer: Customer, merchant: Merchant
) -> None:
    make_invoice(merchant, customer)
    dashboard = owner.get(reverse("backoffice:dashboard")).content.decode()
    assert f'href="{compose()}"' in dashboard
    profile = owner.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    assert f'href="{compose()}?customer={customer.pk}"' in profile
    assert f'href="{compose()}?customer={customer.pk}&amp;kind=request"' in profile
    assert f'formaction="{compose()}"' in profile  # "Send Selected" on the open invoices

    assert (
        f'href="{compose()}'
        not in viewer.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    )
    assert viewer.get(compose(customer=customer.pk)).status_code == 403
    with writes_nothing():
        assert viewer.post(compose(customer=customer.pk), {"body": "Hi", "idempotency_key": "k"}).status_code == 403
    assert not Message.objects.exists()


def test_customers_are_found_by_name_or_by_phone_however_it_is_typed(
    owner: Client, merchant: Merchant, other_merchant: Merchant
) -> None:
    mary = make_customer(merchant, "Mary Major", phones=["+1 514 555 0199"])
    make_customer(merchant, "Zed Zulu", phones=["+1 438 555 0100"])
    with merchant_scope(other_merchant):
        make_customer(other_merchant, "Mary Other", phones=["+1 514 555 0199"])

    for typed in ("mary", "(514) 555-0199", "514 555 0199", "+1 514-555-0199"):
        page = owner.get(compose(q=typed))
        assert [c.display_name for c in page.context["results"]] == ["Mary Major"], typed
        assert f'href="{compose()}?customer={mary.pk}"'.encode() in page.content
    assert b"No customer matches" in owner.get(compose(q="nobody")).content
    assert owner.get(compose()).context["results"] == []


@pytest.mark.parametrize("typed", ["((((", "----", "( ) . +", "   "])
def test_a_search_of_nothing_searchable_finds_nobody(owner: Client, merchant: Merchant, typed: str) -> None:
    make_customer(merchant, "Mary Major", phones=["+1 514 555 0199"])

    page = owner.get(compose(q=typed))

    assert page.status_code == 200 and page.context["results"] == []


# ---- A plain message ----


def test_a_plain_text_message_reaches_the_local_outbox_the_log_and_the_timeline(
    owner: Client, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    url = compose(customer=customer.pk, kind="message", channel="sms")
    page = owner.get(url)
    assert page.context["form"].initial["body"] == "" and [k for k, *_ in page.context["channels"]] == ["email", "sms"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(url, page_form(owner, url, body="Hi {customer.name}, your bike is ready."))

    assert response.status_code == 302 and response["Location"] == reverse(
        "backoffice:customer_detail", args=[customer.pk]
    )
    assert LocalSms.objects.get().body == "Hi Ann Customer, your bike is ready."
    message = Message.objects.get()
    assert (message.channel, message.contact_id, message.status) == ("sms", contact.pk, MessageStatus.SENT)
    log = owner.get(reverse("backoffice:message_list") + f"?customer={customer.pk}")
    assert message in log.context["page"].object_list
    assert Activity.objects.filter(customer=customer, verb="message.queued").exists()


def test_a_saved_reply_fills_the_editable_message(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, other_merchant: Merchant
) -> None:
    reply = template_save(
        merchant=merchant,
        purpose=Purpose.SAVED_REPLY,
        language="fr",
        name="Vélo prêt",
        subject="Votre vélo",
        body="Bonjour {customer.name}, votre vélo est prêt.",
    )
    url = compose(customer=customer.pk, kind="message", channel="email")
    assert reply in owner.get(url).context["templates"]

    chosen = compose(customer=customer.pk, kind="message", channel="email", template=reply.pk)
    page = owner.get(chosen)
    initial = page.context["form"].initial
    assert (initial["subject"], initial["body"], initial["language"]) == (reply.subject, reply.body, "fr")
    assert f'<option value="{reply.pk}" selected>'.encode() in page.content

    owner.post(chosen, page_form(owner, chosen))
    message = Message.objects.get()
    assert (message.recipient, message.subject, message.language) == ("ann@example.com", "Votre vélo", "fr")
    assert message.body == "Bonjour Ann Customer, votre vélo est prêt."

    with merchant_scope(other_merchant):
        theirs = template_save(
            merchant=other_merchant, purpose=Purpose.SAVED_REPLY, language="en", name="T", subject="", body="Hi"
        )
    assert owner.get(compose(customer=customer.pk, template=theirs.pk)).status_code == 404


def test_an_unknown_or_unfillable_placeholder_is_a_form_error(
    owner: Client, customer: Customer, contact: Contact
) -> None:
    url = compose(customer=customer.pk, kind="message", channel="sms")
    for body, error in [
        ("Hi {customer.nmae}", "“{customer.nmae}” is not a placeholder Settle knows"),
        ("Pay {payment.link}", "A message without a link cannot fill {payment.link}"),
    ]:
        with writes_nothing():
            before = sent_rows()
            response = owner.post(url, page_form(owner, url, body=body))
            assert sent_rows() == before
        assert response.status_code == 200 and error in response.context["form"].errors["body"][0]


def test_an_email_to_someone_without_an_address_is_a_form_error(owner: Client, merchant: Merchant) -> None:
    customer = make_customer(merchant, "Phone Only", phones=["+15145550111"])
    texted = contact_save(
        merchant=merchant, customer_id=customer.pk, name="Pat Phone", phone="+15145550112", preferred_channel="sms"
    )
    url = compose(customer=customer.pk, kind="message", channel="email")
    with writes_nothing():
        before = sent_rows()
        no_address = owner.post(url, page_form(owner, url, body="Hello"))
        to_the_contact = owner.post(url, page_form(owner, url, body="Hello", contact=texted.pk))
        assert sent_rows() == before
    assert no_address.context["form"].errors["to"] == ["Phone Only has no e-mail address."]
    assert to_the_contact.context["form"].errors["to"] == ["Phone Only has no e-mail address."]

    texting = compose(customer=make_customer(merchant, "Mail Only", emails=["m@example.com"]).pk, channel="sms")
    with writes_nothing():
        refused = owner.post(texting, page_form(owner, texting, body="Hello"))
    assert refused.context["form"].errors["to"] == ["Mail Only has no mobile phone number."]


# ---- A payment request ----


def request_url(customer: Customer, channel: str = "sms") -> str:
    return compose(customer=customer.pk, kind="request", channel=channel)


def test_a_payment_request_is_made_and_texted_once_however_often_it_is_submitted(
    owner: Client, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    url = request_url(customer)
    form = page_form(owner, url, amount="1,245.50", reference="RO-991")
    assert "{payment.link}" in form["body"]
    with django_capture_on_commit_callbacks(execute=True):
        first = owner.post(url, form)
        again = owner.post(url, form)

    assert first.status_code == again.status_code == 302
    invoice = Invoice.objects.get()
    assert (invoice.reference, invoice.total_minor) == ("RO-991", 124_550)
    assert (Message.objects.count(), SecureLink.objects.count()) == (1, 1)
    text = LocalSms.objects.get()
    link = LINK.search(text.body)
    assert text.to == "+15145550123" and link is not None and "$1,245.50" in text.body
    assert opens_the_pay_page(link.group(0))
    assert Activity.objects.filter(verb="invoice.sent", customer=customer).count() == 1


@pytest.mark.parametrize(
    ("amount", "reference", "errors"),
    [
        ("0", "R", {"amount": ["Enter an amount greater than zero."]}),
        ("-5", "R", {"amount": ["Enter an amount greater than zero."]}),
        ("99999999999", "R", {"amount": ["That amount is too large."]}),
        ("12,5,0", "R", {"amount": ["“12,5,0” is not an amount."]}),
        ("1.234", "R", {"amount": ["USD amounts have at most 2 decimal places."]}),
        ("", "R", {"amount": ["This field is required."]}),
        ("10", "", {"reference": ["This field is required."]}),
    ],
)
def test_a_bad_amount_or_a_missing_reference_is_refused_inline(
    owner: Client, customer: Customer, contact: Contact, amount: str, reference: str, errors: dict[str, list[str]]
) -> None:
    url = request_url(customer)
    with writes_nothing():
        before = sent_rows()
        response = owner.post(url, page_form(owner, url, amount=amount, reference=reference))
        assert sent_rows() == before
    assert response.status_code == 200
    assert {name: list(messages) for name, messages in response.context["form"].errors.items()} == errors


def test_the_amount_is_typed_the_way_the_merchant_writes_numbers(client: Client, db: None) -> None:
    shop = make_merchant(currency="CAD", locale="fr_CA")
    customer = make_customer(shop, phones=["+15145550123"])
    client.force_login(owner_of(shop))
    with merchant_scope(shop):
        url = request_url(customer, "link")
        response = client.post(url, page_form(client, url, amount="1 245,50", reference="R"))
        assert response.status_code == 200 and Invoice.objects.get().total_minor == 124_550


def test_a_payment_request_must_keep_its_link(owner: Client, customer: Customer, contact: Contact) -> None:
    url = request_url(customer)
    with writes_nothing():
        before = sent_rows()
        response = owner.post(url, page_form(owner, url, amount="10", reference="R", body="Please pay."))
        assert sent_rows() == before
    assert "Keep the {payment.link} placeholder" in response.context["form"].errors["body"][0]


def test_a_payment_request_link_to_copy_is_shown_and_survives_a_reload(
    owner: Client, customer: Customer, contact: Contact
) -> None:
    url = request_url(customer, "link")
    form = page_form(owner, url, amount="20", reference="R")
    first = owner.post(url, form)
    again = owner.post(url, form)
    message = Message.objects.get()
    assert message.status == MessageStatus.COPIED and LINK.fullmatch(message.share_url)
    for response in (first, again):
        assert f'value="{message.share_url}"'.encode() in response.content
    assert b"backoffice/send.js" in first.content and b"<script>" not in first.content
    assert Invoice.objects.count() == 1


# ---- Open invoices ----


def test_invoices_ticked_on_the_profile_arrive_ticked_and_go_as_one_statement_link(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)
    url = compose(customer=customer.pk, invoice=[first.pk, second.pk])
    page = owner.get(url)
    assert page.context["kind"] == "invoices" and page.context["form"].initial["invoices"] == [first.pk, second.pk]
    assert "{statement.link}" in page.context["form"].initial["body"]

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(url, page_form(owner, url))
    assert response.status_code == 302
    link = SecureLink.objects.get()
    assert link.purpose == LinkPurpose.PAY_STATEMENT and link.invoices.count() == 2
    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"] and LINK.search(str(sent.body)) and len(sent.attachments) == 2
    assert f"{first.number} · " in str(sent.body)


def test_one_invoice_goes_with_its_own_pay_link(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    invoice = make_invoice(merchant, customer, 1000)
    url = compose(customer=customer.pk, kind="invoices", channel="link", invoice=invoice.pk)
    response = owner.post(url, page_form(owner, url))
    link = SecureLink.objects.get()
    assert response.status_code == 200 and link.purpose == LinkPurpose.PAY_INVOICE
    assert Message.objects.get().concerns_invoice_id == invoice.pk


@pytest.mark.parametrize(
    ("opened_with", "ticked", "sent_as"), [(2, 1, LinkPurpose.PAY_INVOICE), (1, 2, LinkPurpose.PAY_STATEMENT)]
)
def test_untouched_wording_follows_what_the_ticks_make_of_the_send(
    owner: Client,
    merchant: Merchant,
    customer: Customer,
    contact: Contact,
    opened_with: int,
    ticked: int,
    sent_as: str,
) -> None:
    invoices = [make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)]
    url = compose(customer=customer.pk, channel="email", invoice=[i.pk for i in invoices[:opened_with]])
    form = page_form(owner, url)
    form["body"] = form["body"].replace("\n", "\r\n")  # as a browser sends a text box back

    response = owner.post(url, form | {"invoices": [i.pk for i in invoices[:ticked]]})

    assert response.status_code == 302
    assert SecureLink.objects.get().purpose == sent_as
    message = Message.objects.get()
    expected = Purpose.STATEMENT if ticked > 1 else Purpose.PAYMENT_REQUEST
    assert message.purpose == expected and "{" not in message.body + message.subject


@pytest.mark.parametrize(
    ("opened_with", "ticked", "error"),
    [(2, 1, "One invoice goes as a payment request"), (1, 2, "Several invoices go as one statement")],
)
def test_edited_wording_is_not_sent_as_something_else_when_the_ticks_change_it(
    owner: Client,
    merchant: Merchant,
    customer: Customer,
    contact: Contact,
    opened_with: int,
    ticked: int,
    error: str,
) -> None:
    invoices = [make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)]
    url = compose(customer=customer.pk, channel="email", invoice=[i.pk for i in invoices[:opened_with]])
    chosen = [i.pk for i in invoices[:ticked]]
    form = page_form(owner, url)
    edited = form | {"body": "Thanks! " + form["body"], "invoices": chosen}

    with writes_nothing():
        before = sent_rows()
        response = owner.post(url, edited)
        assert sent_rows() == before

    assert response.status_code == 200
    [refusal] = response.context["form"].errors["invoices"]
    assert refusal.startswith(error)
    restart = compose(customer=customer.pk, invoice=chosen, kind="invoices", channel="email")
    assert (
        response.context["restart"] == restart
        and f'href="{restart}"'.replace("&", "&amp;") in response.content.decode()
    )
    started_over = owner.post(restart, page_form(owner, restart))
    assert started_over.status_code == 302 and Message.objects.count() == 1


def test_an_invoice_paid_since_the_page_was_drawn_is_refused_with_its_reason(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    first, second = make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)
    url = compose(customer=customer.pk, channel="link", invoice=[first.pk, second.pk])
    form = page_form(owner, url)
    make_payment(merchant, customer, 1000, [first])
    bobs = make_invoice(merchant, make_customer(merchant, "Bob"))
    for invoices, error in [
        ([first.pk, second.pk], f"Invoice {first.number} is paid: there is nothing left to pay."),
        ([second.pk, bobs.pk], f"Invoice {bobs.number} is another customer’s."),
        ([], "This field is required."),
    ]:
        with writes_nothing():
            before = sent_rows()
            response = owner.post(url, form | {"invoices": invoices})
            assert sent_rows() == before
        assert response.status_code == 200 and error in str(response.context["form"].errors)


# ---- Other merchants ----


def test_another_merchants_customer_contact_or_invoice_is_not_found(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = make_customer(other_merchant)
        their_contact = contact_save(merchant=other_merchant, customer_id=theirs.pk, name="X", email="x@example.com")
        their_invoice = make_invoice(other_merchant, theirs)
    mine = make_invoice(merchant, customer)
    assert owner.get(compose(customer=theirs.pk)).status_code == 404
    assert owner.get(compose(customer="abc")).status_code == 404
    url = compose(customer=customer.pk, channel="email", invoice=mine.pk)
    form = page_form(owner, url)
    with writes_nothing():
        before = sent_rows()
        assert owner.post(compose(customer=theirs.pk), form).status_code == 404
        assert owner.post(url, form | {"contact": their_contact.pk}).status_code == 404
        assert owner.post(url, form | {"invoices": [mine.pk, their_invoice.pk]}).status_code == 404
        assert owner.post(url, form | {"invoices": ["nope"]}).status_code == 404
        assert owner.post(url, form | {"invoices": [str(2**80)]}).status_code == 404
        assert owner.post(url, form | {"contact": str(2**80)}).status_code == 404
        assert sent_rows() == before


def test_another_customers_contact_is_not_found(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    bob = make_customer(merchant, "Bob")
    bobs_contact = contact_save(merchant=merchant, customer_id=bob.pk, name="Bob", email="bob@example.com")
    url = compose(customer=customer.pk, kind="message", channel="email")
    with writes_nothing():
        assert owner.post(url, page_form(owner, url, body="Hi", contact=bobs_contact.pk)).status_code == 404


# ---- Quick payment ----


def quick(client: Client, customer: Customer, key: str = "quick-1", amount: str = "45.00") -> Any:
    data = {"customer": customer.pk, "amount": amount, "reference": "RO-7", "idempotency_key": key}
    return client.post(reverse("backoffice:quick_request_new"), data)


def test_quick_payment_shows_a_public_link_to_copy_that_opens_the_pay_page(
    owner: Client, customer: Customer, contact: Contact
) -> None:
    response = quick(owner, customer)
    message = Message.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "backoffice:quick_request_link", args=[message.pk]
    )
    invoice = Invoice.objects.get()
    assert SecureLink.objects.get().public and message.concerns_invoice_id == invoice.pk
    page = owner.get(response["Location"]).content.decode()
    assert f'value="{message.share_url}" readonly' in page and "backoffice/send.js" in page
    assert "<script>" not in page
    send = reverse("backoffice:invoice_send", args=[invoice.pk])
    assert f'href="{send}?channel=sms"' in page and f'href="{send}?channel=email"' in page
    assert opens_the_pay_page(message.share_url)


PUBLIC = "This link is public"


def test_an_invoices_copied_link_is_not_called_public(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    invoice = make_invoice(merchant, customer)
    url = reverse("backoffice:invoice_send", args=[invoice.pk]) + "?channel=link"
    owner.post(url, page_form(owner, url))
    copied = Message.objects.get()
    assert not SecureLink.objects.get().public

    page = owner.get(reverse("backoffice:quick_request_link", args=[copied.pk]))

    assert page.status_code == 200 and copied.share_url in page.content.decode()
    assert PUBLIC not in page.content.decode()
    assert PUBLIC in owner.get(quick(owner, customer)["Location"]).content.decode()


def test_a_double_submitted_quick_payment_makes_one_request(owner: Client, customer: Customer) -> None:
    first, again = quick(owner, customer), quick(owner, customer)
    assert first["Location"] == again["Location"]
    assert (Invoice.objects.count(), SecureLink.objects.count(), Message.objects.count()) == (1, 1, 1)
    assert quick(owner, customer, key="quick-2").status_code == 302 and Invoice.objects.count() == 2


def test_a_quick_payment_is_sent_to_the_customer_by_text(
    owner: Client, customer: Customer, contact: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    quick(owner, customer)
    invoice = Invoice.objects.get()
    url = reverse("backoffice:invoice_send", args=[invoice.pk]) + "?channel=sms"
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(url, page_form(owner, url)).status_code == 302
    text = LocalSms.objects.get()
    link = LINK.search(text.body)
    assert text.to == "+15145550123" and link is not None and opens_the_pay_page(link.group(0))


def test_the_quick_payment_page_is_the_merchants_own(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact, other_merchant: Merchant, viewer: Client
) -> None:
    with merchant_scope(other_merchant):
        other_owner = Client()
        other_owner.force_login(owner_of(other_merchant))
        quick(other_owner, make_customer(other_merchant))
        theirs = Message.objects.get(merchant=other_merchant)
    assert owner.get(reverse("backoffice:quick_request_link", args=[theirs.pk])).status_code == 404
    url = compose(customer=customer.pk, kind="message", channel="sms")
    owner.post(url, page_form(owner, url, body="Hello"))
    plain = Message.objects.get(merchant=merchant)
    assert owner.get(reverse("backoffice:quick_request_link", args=[plain.pk])).status_code == 404
    with writes_nothing():
        assert quick(viewer, customer).status_code == 403
