"""A customer's saved payment methods on the profile and their live secure links on a page of
their own: listed with what a person recognises them by and never a token; made default, removed or revoked through the
services (which write the timeline); read-only staff see them but change nothing; another
merchant's ids are missing. And the Send form names the customer as such in its contact list."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from settle.core import clock
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Invoice
from settle.invoicing.services import invoice_void
from settle.payments.links import secure_link_create, secure_link_use
from settle.payments.models import LinkPurpose, SavedMethod, SecureLink
from settle.payments.vault import saved_method_remove
from settle.tenants.models import Merchant
from tests.backoffice.conftest import owner_of
from tests.conftest import make_customer, make_invoice, writes_nothing
from tests.payments.charges.test_vault import CONSENT, save
from tests.sandbox.factories import CARDS, bank_account, card

pytestmark = pytest.mark.django_db


def profile_url(customer: Customer) -> str:
    return reverse("backoffice:customer_detail", args=[customer.pk])


def profile(client: Client, customer: Customer) -> str:
    response = client.get(profile_url(customer))
    assert response.status_code == 200
    return response.content.decode()


def links_url(customer: Customer) -> str:
    return reverse("backoffice:customer_links", args=[customer.pk])


def links_page(client: Client, customer: Customer) -> str:
    """The customer's live links, as the page lists them."""
    response = client.get(links_url(customer))
    assert response.status_code == 200
    return section(response.content.decode(), "secure-links")


def section(html: str, anchor: str) -> str:
    """The profile card with id `anchor`."""
    found = re.search(rf'<section[^>]* id="{anchor}">(.*?)</section>', html, re.S)
    assert found is not None, anchor
    return found.group(1)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def default_url(customer: Customer, method: SavedMethod) -> str:
    return reverse("backoffice:saved_method_default", args=[customer.pk, method.pk])


def remove_url(customer: Customer, method: SavedMethod) -> str:
    return reverse("backoffice:saved_method_remove", args=[customer.pk, method.pk])


def revoke_url(customer: Customer, link: SecureLink) -> str:
    return reverse("backoffice:secure_link_revoke", args=[customer.pk, link.pk])


def pay_link(merchant: Merchant, invoice: Invoice, **kwargs: Any) -> tuple[SecureLink, str]:
    with merchant_scope(merchant):
        return secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoice.customer_id,
            invoice_ids=[invoice.pk],
            **kwargs,
        )


def method_rows() -> list[tuple[int, bool, bool]]:
    """(id, default, removed) of every saved method, across merchants."""
    with all_merchants():
        return [(m.pk, m.is_default, m.removed_at is not None) for m in SavedMethod.objects.order_by("pk")]


# ---- The list ----


def test_the_profile_lists_saved_methods_by_brand_and_last4_and_never_a_token(
    owner: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    visa = save(merchant, customer, card(gateway), name="Mary's business Visa")
    bank = save(merchant, customer, bank_account(gateway))
    gone = save(merchant, customer, card(gateway, CARDS["charges_fail"]), name="Old card")
    saved_method_remove(merchant=merchant, saved_method_id=gone.pk, now=clock.now())

    html = profile(owner, customer)
    methods = section(html, "payment-methods")
    words = text(methods)

    assert "Visa •••• 4242 Default" in words
    assert "“Mary's business Visa”" in words.replace("&#x27;", "'")
    assert f"Expires 12/{visa.exp_year}" in words
    assert f"{bank.brand} •••• {bank.last4}" in words and "Bank account" in words
    assert words.index("4242") < words.index(bank.last4)  # the default first
    assert "Old card" not in words and "0341" not in words  # removed: not listed
    assert "<details" in methods and CONSENT in words and "from 203.0.113.9" in words
    for method in (visa, bank, gone):
        assert method.token not in html
    assert methods.count(">Make default</button>") == 1  # only the one that is not the default
    assert methods.count(">Remove</button>") == 2 and "data-confirm=" in methods
    assert reverse("backoffice:payment_profile_request", args=[customer.pk]) in methods
    assert "Ask for a new one" in words and "enters it again through the link" in words


def test_a_customer_without_methods_or_links_says_so(owner: Client, customer: Customer) -> None:
    html = profile(owner, customer)
    assert "No saved payment methods." in text(section(html, "payment-methods"))
    assert links_url(customer) in section(html, "timeline")  # the profile leads to the live links
    assert "No link sent to this customer still opens." in text(links_page(owner, customer))


def test_the_profile_and_the_links_cost_the_same_queries_for_one_method_and_link_or_many(
    owner: Client, merchant: Merchant, gateway: SandboxGateway
) -> None:
    def build(name: str, size: int) -> Customer:
        customer = make_customer(merchant, name)
        for _ in range(size):
            save(merchant, customer, card(gateway))
            pay_link(merchant, make_invoice(merchant, customer))
        return customer

    small, large = build("Small", 1), build("Large", 6)

    def queries(customer: Customer) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as on_profile:
            profile(owner, customer)
        with CaptureQueriesContext(connection) as on_links:
            links_page(owner, customer)
        return len(on_profile), len(on_links)

    assert queries(small) == queries(large)


# ---- Make default, remove ----


def test_make_default_moves_the_default_and_writes_the_timeline(
    owner: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    first = save(merchant, customer, card(gateway))
    second = save(merchant, customer, card(gateway, CARDS["charges_fail"]))

    response = owner.post(default_url(customer, second))

    assert response.status_code == 302
    assert response["Location"] == profile_url(customer) + "#payment-methods"
    assert method_rows() == [(first.pk, False, False), (second.pk, True, False)]
    activity = Activity.objects.get(verb="payment_method.default")
    assert (activity.customer_id, activity.object_id) == (customer.pk, second.pk)
    html = owner.get(response["Location"]).content.decode()
    assert "Visa •••• 0341 is now the default payment method." in text(html)
    assert "Default payment method: Visa •••• 0341" in text(section(html, "timeline"))


def test_remove_takes_the_method_off_the_list_and_the_newest_becomes_the_default(
    owner: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    first = save(merchant, customer, card(gateway), name="Office card")
    second = save(merchant, customer, card(gateway, CARDS["charges_fail"]))

    response = owner.post(remove_url(customer, first))

    assert response.status_code == 302
    assert method_rows() == [(first.pk, False, True), (second.pk, True, False)]
    assert Activity.objects.filter(verb="payment_method.removed", object_id=first.pk).count() == 1
    html = owner.get(response["Location"]).content.decode()
    assert "Office card removed." in text(html)
    assert "Office card" not in text(section(html, "payment-methods"))
    assert "Payment method removed: Visa •••• 4242 — Office card" in text(section(html, "timeline"))

    again = owner.post(remove_url(customer, first), follow=True)

    assert "Office card was already removed." in text(again.content.decode())
    assert method_rows() == [(first.pk, False, True), (second.pk, True, False)]
    assert Activity.objects.filter(verb="payment_method.removed").count() == 1


def test_another_merchants_or_customers_method_is_a_404_and_changes_nothing(
    owner: Client, merchant: Merchant, other_merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    theirs_customer = make_customer(other_merchant, "Their Customer")
    theirs = save(other_merchant, theirs_customer, card(gateway))
    sibling = make_customer(merchant, "Sibling")
    siblings = save(merchant, sibling, card(gateway, CARDS["charges_fail"]))
    before = method_rows()

    with writes_nothing():
        for url in (
            default_url(customer, theirs),
            remove_url(customer, theirs),
            default_url(theirs_customer, theirs),
            remove_url(theirs_customer, theirs),
            default_url(customer, siblings),
            remove_url(customer, siblings),
        ):
            assert owner.post(url).status_code == 404, url

    assert method_rows() == before


def test_the_actions_are_posts_only(
    owner: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    method = save(merchant, customer, card(gateway))
    assert owner.get(remove_url(customer, method)).status_code == 405
    assert owner.get(default_url(customer, method)).status_code == 405
    assert method_rows() == [(method.pk, True, False)]


# ---- Read-only staff ----


def test_read_only_staff_see_the_methods_and_links_but_no_buttons_and_get_403(
    viewer: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    first = save(merchant, customer, card(gateway))
    second = save(merchant, customer, card(gateway, CARDS["charges_fail"]))
    link, _ = pay_link(merchant, make_invoice(merchant, customer))

    html = profile(viewer, customer)
    methods, links = section(html, "payment-methods"), links_page(viewer, customer)

    assert "Visa •••• 4242" in text(methods) and "Visa •••• 0341" in text(methods)
    assert "Pay an invoice" in text(links)
    for label in ("Make default", "Remove", "Ask for a new one", "Revoke link"):
        assert label not in text(methods + links), label
    assert "<form" not in methods and "<form" not in links
    assert reverse("backoffice:payment_profile_request", args=[customer.pk]) not in html

    before = method_rows()
    with writes_nothing():
        for url in (default_url(customer, second), remove_url(customer, first), revoke_url(customer, link)):
            response = viewer.post(url)
            assert response.status_code == 403, url
            assert "Read-only staff" in response.content.decode()
    assert method_rows() == before
    link.refresh_from_db()
    assert link.revoked_at is None


# ---- Secure links ----


def test_revoking_a_link_stops_it_opening_and_writes_the_timeline(
    owner: Client, merchant: Merchant, customer: Customer, contact: Contact
) -> None:
    invoice = make_invoice(merchant, customer)
    link, token = pay_link(merchant, invoice, contact_id=contact.pk)
    assert Client().get(f"/l/{token}/").status_code == 303  # it opens, before

    links = links_page(owner, customer)
    words = text(links)
    assert f"Pay an invoice: {invoice.number}" in words and "To Ann Contact" in words
    assert link.expires_at.astimezone(ZoneInfo(merchant.time_zone)).strftime("%b %-d, %Y") in words
    assert revoke_url(customer, link) in links and "data-confirm=" in links
    assert token not in links and link.token_hash not in links

    response = owner.post(revoke_url(customer, link))

    assert response.status_code == 302
    assert response["Location"] == links_url(customer)
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == owner_of(merchant)
    activity = Activity.objects.get(verb="secure_link_revoked")
    assert (activity.customer_id, activity.object_id, activity.actor) == (customer.pk, link.pk, owner_of(merchant))
    html = owner.get(response["Location"]).content.decode()
    assert "Link revoked: pay an invoice. It no longer opens." in text(html)
    assert "No link sent to this customer still opens." in text(section(html, "secure-links"))
    assert "Secure link revoked: pay an invoice." in text(section(profile(owner, customer), "timeline"))

    opened = Client().get(f"/l/{token}/")
    assert opened.status_code == 410
    assert "This link was cancelled" in text(opened.content.decode())

    assert owner.post(revoke_url(customer, link)).status_code == 302  # again: nothing changes
    assert Activity.objects.filter(verb="secure_link_revoked").count() == 1


def test_only_links_that_still_open_are_listed(
    owner: Client, merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    live_invoice, void_invoice, old_invoice = (make_invoice(merchant, customer) for _ in range(3))
    pay_link(merchant, live_invoice)
    pay_link(merchant, void_invoice)
    invoice_void(merchant=merchant, invoice_id=void_invoice.pk)
    pay_link(merchant, old_invoice, now=clock.now() - dt.timedelta(days=61))  # invoice links last 60 days
    with merchant_scope(merchant):
        spent, _ = secure_link_create(
            merchant=merchant, purpose=LinkPurpose.ADD_PAYMENT_METHOD, customer_id=customer.pk
        )
        secure_link_use(merchant=merchant, link_id=spent.pk)
        secure_link_create(merchant=merchant, purpose=LinkPurpose.ADD_PAYMENT_METHOD, customer_id=customer.pk)

    words = text(links_page(owner, customer))

    assert live_invoice.number in words
    assert void_invoice.number not in words and old_invoice.number not in words
    assert words.count("Add a payment method") == 1 and words.count("Single use") == 1


def test_another_merchants_or_customers_link_is_a_404(
    owner: Client, merchant: Merchant, other_merchant: Merchant, customer: Customer
) -> None:
    theirs_customer = make_customer(other_merchant, "Their Customer")
    theirs, _ = pay_link(other_merchant, make_invoice(other_merchant, theirs_customer))
    sibling = make_customer(merchant, "Sibling")
    siblings, _ = pay_link(merchant, make_invoice(merchant, sibling))

    with writes_nothing():
        for url in (revoke_url(customer, theirs), revoke_url(theirs_customer, theirs), revoke_url(customer, siblings)):
            assert owner.post(url).status_code == 404, url

    with all_merchants():
        assert not SecureLink.objects.filter(revoked_at__isnull=False).exists()


# ---- The Send form's contact list ----


def test_the_customer_is_not_offered_as_if_a_contact_when_a_contact_has_the_same_name(
    owner: Client, merchant: Merchant, customer: Customer
) -> None:
    namesake = contact_save(merchant=merchant, customer_id=customer.pk, name=customer.display_name, email="a@b.test")
    invoice = make_invoice(merchant, customer)

    for url in (
        reverse("backoffice:invoice_send", args=[invoice.pk]) + "?channel=link",
        reverse("backoffice:message_new") + f"?customer={customer.pk}&kind=request&channel=messenger",
    ):
        form = owner.get(url).context["form"]
        assert list(form.fields["contact"].choices) == [
            ("", f"Customer ({customer.display_name}) — no contact"),
            (namesake.pk, customer.display_name),
        ], url
