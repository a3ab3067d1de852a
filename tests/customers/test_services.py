"""Customers and contacts: normalised phones and e-mails, bounded text, one default billing
contact, revoking portal access, the public contact form's de-duplication, and the timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from settle.core.errors import InvalidInput, NotFound
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.selectors import timeline
from settle.customers.services import (
    contact_form_submit,
    contact_profile_save,
    contact_revoke_access,
    contact_save,
    customer_create,
    customer_update,
    email_normalize,
    phone_normalize,
)
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_merchant, writes_nothing

NOW = dt.datetime(2024, 5, 6, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "typed",
    [
        "(201) 555-0123",
        "201.555.0123",
        "201-555-0123",
        "2015550123",
        "1-201-555-0123",
        "+1 201 555 0123",
        " +12015550123 ",
    ],
)
def test_phones_are_stored_as_e164_whatever_the_format(merchant: Merchant, typed: str) -> None:
    customer = customer_create(merchant=merchant, display_name="Ann", phones=[typed])
    assert customer.phones == ["+12015550123"]


def test_phone_region_comes_from_the_address_country_then_the_merchant_locale(db: None) -> None:
    assert phone_normalize("01 42 68 53 00", region="FR") == "+33142685300"
    french = make_merchant(locale="fr_FR", currency="EUR", time_zone="Europe/Paris")
    assert make_customer(french, phones=["01 42 68 53 00"]).phones == ["+33142685300"]
    us = make_merchant()
    customer = make_customer(us, phones=["01 42 68 53 00"], address={"country": "fr"})
    assert customer.phones == ["+33142685300"]
    assert customer.country == "FR"


def test_duplicate_phones_and_emails_are_kept_once(merchant: Merchant) -> None:
    customer = customer_create(
        merchant=merchant,
        display_name="Ann",
        phones=["(201) 555-0123", "+12015550123", " "],
        emails=["Ann@Example.com", "ann@example.com ", ""],
    )
    assert customer.phones == ["+12015550123"]
    assert customer.emails == ["ann@example.com"]


@pytest.mark.parametrize("phone", ["555-0123", "12345", "call me", "+1 201 555 01234567"])
def test_malformed_phone_is_refused_and_nothing_written(merchant: Merchant, phone: str) -> None:
    with writes_nothing(), pytest.raises(InvalidInput, match="phone number") as refused:
        customer_create(merchant=merchant, display_name="Ann", phones=[phone])
    assert refused.value.field == "phones"


@pytest.mark.parametrize(
    "email", ["ann", "ann@", "@example.com", "ann@example", "ann example@x.com", "a" * 250 + "@x.com"]
)
def test_malformed_email_is_refused_and_nothing_written(merchant: Merchant, email: str) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        customer_create(merchant=merchant, display_name="Ann", emails=[email])
    assert refused.value.field == "emails"
    with pytest.raises(InvalidInput):
        email_normalize(email)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"display_name": "x" * 201}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "Ann", "notes": "n" * 10_001}, "notes"),
        ({"display_name": "Ann", "tags": ["t" * 41]}, "tags"),
        ({"display_name": "Ann", "address": {"city": "c" * 201}}, "city"),
        ({"display_name": "Ann", "address": {"country": "USA"}}, "country"),
        ({"display_name": "Ann", "address": {"planet": "Mars"}}, "address"),
        ({"display_name": "Ann", "kind": "robot"}, "kind"),
    ],
)
def test_bad_customer_fields_are_refused_and_nothing_written(
    merchant: Merchant, kwargs: dict[str, Any], field: str
) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        customer_create(merchant=merchant, **kwargs)
    assert refused.value.field == field


def test_create_records_the_customer_on_its_timeline(merchant: Merchant) -> None:
    customer = customer_create(merchant=merchant, display_name="  Ann Lee ", tags=["vip", "vip", "net30"], now=NOW)
    assert customer.display_name == "Ann Lee"
    assert customer.tags == ["net30", "vip"]
    [activity] = timeline(merchant=merchant, customer_id=customer.pk)
    assert (activity.verb, activity.summary, activity.created_at) == (
        "customer.created",
        "Customer Ann Lee created",
        NOW,
    )
    assert (activity.object_type, activity.object_id) == ("customer", customer.pk)


def test_update_validates_like_create(merchant: Merchant, customer: Customer) -> None:
    customer_update(
        merchant=merchant,
        customer_id=customer.pk,
        display_name="Ann B.",
        kind="company",
        emails=["B@x.com"],
        phones=["201 555 0123"],
        address={"city": "Newark", "country": "us"},
        tags=[],
        notes="",
    )
    customer.refresh_from_db()
    assert (customer.display_name, customer.kind, customer.emails, customer.phones, customer.country) == (
        "Ann B.",
        "company",
        ["b@x.com"],
        ["+12015550123"],
        "US",
    )
    with pytest.raises(InvalidInput):
        customer_update(
            merchant=merchant,
            customer_id=customer.pk,
            display_name="Ann",
            kind="person",
            emails=[],
            phones=["12"],
            address=None,
            tags=[],
            notes="",
        )
    customer.refresh_from_db()
    assert customer.phones == ["+12015550123"]


def test_contact_phone_and_email_are_normalised(merchant: Merchant, customer: Customer) -> None:
    contact = contact_save(
        merchant=merchant, customer_id=customer.pk, name="Bo", email=" Bo@Example.COM", phone="(201) 555-0123"
    )
    assert (contact.email, contact.phone) == ("bo@example.com", "+12015550123")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bo"}, "email"),
        ({"name": "Bo", "email": "bo@"}, "email"),
        ({"name": "Bo", "phone": "555"}, "phone"),
        ({"name": "Bo", "phone": "201 555 0123"}, "email"),  # e-mail preferred but missing
        ({"name": "Bo", "email": "bo@x.com", "preferred_channel": "sms"}, "phone"),
        ({"name": "Bo", "email": "bo@x.com", "preferred_channel": "pigeon"}, "preferred_channel"),
        ({"name": "", "email": "bo@x.com"}, "name"),
        ({"name": "B" * 201, "email": "bo@x.com"}, "name"),
    ],
)
def test_bad_contact_is_refused_and_nothing_written(
    merchant: Merchant, customer: Customer, kwargs: dict[str, Any], field: str
) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        contact_save(merchant=merchant, customer_id=customer.pk, **kwargs)
    assert refused.value.field == field


def test_only_one_default_billing_contact_per_customer(merchant: Merchant, customer: Customer) -> None:
    other_customer = make_customer(merchant, "Other")
    elsewhere = contact_save(
        merchant=merchant, customer_id=other_customer.pk, name="Zed", email="z@x.com", is_default_billing=True
    )
    first = contact_save(merchant=merchant, customer_id=customer.pk, name="A", email="a@x.com", is_default_billing=True)
    second = contact_save(
        merchant=merchant, customer_id=customer.pk, name="B", email="b@x.com", is_default_billing=True
    )

    defaults = Contact.objects.filter(customer=customer, is_default_billing=True)
    assert list(defaults) == [second]
    first.refresh_from_db()
    assert not first.is_default_billing
    elsewhere.refresh_from_db()
    assert elsewhere.is_default_billing

    # Making the first default again by editing it moves the flag back.
    contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        contact_id=first.pk,
        name="A",
        email="a@x.com",
        is_default_billing=True,
    )
    assert list(Contact.objects.filter(customer=customer, is_default_billing=True)) == [first]


def test_revoke_access_keeps_the_contact_and_records_it(merchant: Merchant, customer: Customer) -> None:
    profile = contact_profile_save(merchant=merchant, name="Billing", can_pay=True, can_view_credits=True)
    contact = contact_save(
        merchant=merchant, customer_id=customer.pk, name="Bo", email="bo@x.com", profile_id=profile.pk
    )
    assert contact.has_access

    revoked = contact_revoke_access(merchant=merchant, customer_id=customer.pk, contact_id=contact.pk, now=NOW)

    revoked.refresh_from_db()
    assert (revoked.profile_id, revoked.access_revoked_at, revoked.has_access) == (None, NOW, False)
    assert Contact.objects.filter(pk=contact.pk).exists()
    recorded = Activity.objects.get(customer=customer, verb="contact.revoked")
    assert (recorded.summary, recorded.object_id, recorded.created_at) == ("Access revoked for Bo", contact.pk, NOW)

    # Granting a profile again restores access.
    again = contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        contact_id=contact.pk,
        name="Bo",
        email="bo@x.com",
        profile_id=profile.pk,
    )
    assert again.has_access and again.access_revoked_at is None


def test_revoke_access_of_another_customers_contact_is_not_found(merchant: Merchant, customer: Customer) -> None:
    contact = contact_save(merchant=merchant, customer_id=customer.pk, name="Bo", email="bo@x.com")
    stranger = make_customer(merchant, "Stranger")
    with writes_nothing(), pytest.raises(NotFound):
        contact_revoke_access(merchant=merchant, customer_id=stranger.pk, contact_id=contact.pk)


def test_contact_profile_names_are_unique_and_permissions_known(merchant: Merchant) -> None:
    profile = contact_profile_save(merchant=merchant, name="Viewer", can_pay=False)
    with pytest.raises(InvalidInput, match="exists") as refused:
        contact_profile_save(merchant=merchant, name="Viewer")
    assert refused.value.field == "name"
    with pytest.raises(InvalidInput, match="Unknown permissions"):
        contact_profile_save(merchant=merchant, name="Other", can_fly=True)
    renamed = contact_profile_save(merchant=merchant, profile_id=profile.pk, name="Viewer", can_pay=True)
    assert (renamed.pk, renamed.can_pay) == (profile.pk, True)


def test_contact_form_creates_a_customer_with_a_default_billing_contact(merchant: Merchant) -> None:
    contact = contact_form_submit(merchant=merchant, name="Cy", email="Cy@Example.com", company="Cy Corp", now=NOW)
    customer = contact.customer
    assert (customer.display_name, customer.kind, customer.emails) == ("Cy Corp", "company", ["cy@example.com"])
    assert (contact.email, contact.is_default_billing, contact.preferred_channel) == ("cy@example.com", True, "email")
    verbs = [a.verb for a in timeline(merchant=merchant, customer_id=customer.pk)]
    assert sorted(verbs) == ["contact.added", "customer.created"]


def test_contact_form_by_phone_prefers_text(merchant: Merchant) -> None:
    contact = contact_form_submit(merchant=merchant, name="Di", phone="201.555.0123")
    assert (contact.phone, contact.preferred_channel, contact.customer.kind) == ("+12015550123", "sms", "person")
    assert contact.customer.display_name == "Di"


def test_contact_form_dedupes_by_email(merchant: Merchant) -> None:
    first = contact_form_submit(merchant=merchant, name="Cy", email="cy@example.com")
    with writes_nothing():
        again = contact_form_submit(merchant=merchant, name="Cyrus", email=" CY@example.com ", phone="201 555 0123")
    assert again.pk == first.pk
    assert Customer.objects.filter(merchant=merchant).count() == 1


def test_contact_form_dedupes_by_phone(merchant: Merchant) -> None:
    first = contact_form_submit(merchant=merchant, name="Di", phone="(201) 555-0123")
    with writes_nothing():
        again = contact_form_submit(merchant=merchant, name="Di", email="di@example.com", phone="+1 201 555 0123")
    assert again.pk == first.pk


def test_contact_form_does_not_match_another_merchants_contacts(merchant: Merchant, other_merchant: Merchant) -> None:
    contact_form_submit(merchant=merchant, name="Cy", email="cy@example.com")
    with merchant_scope(other_merchant):
        theirs = contact_form_submit(merchant=other_merchant, name="Cy", email="cy@example.com")
        assert theirs.merchant_id == other_merchant.pk
    assert Customer.objects.filter(merchant=merchant).count() == 1


def test_contact_form_refuses_bad_input_and_writes_nothing(merchant: Merchant) -> None:
    cases: list[dict[str, Any]] = [
        {"name": "Cy"},
        {"name": "Cy", "email": "nope"},
        {"name": "Cy", "phone": "123"},
        {"name": "", "email": "cy@x.com"},
    ]
    for kwargs in cases:
        with writes_nothing(), pytest.raises(InvalidInput):
            contact_form_submit(merchant=merchant, **kwargs)


def test_activity_rows_carry_actor_time_and_object(merchant: Merchant, customer: Customer) -> None:
    contact = contact_save(merchant=merchant, customer_id=customer.pk, name="Bo", email="bo@x.com", now=NOW)
    contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        contact_id=contact.pk,
        name="Bo B",
        email="bo@x.com",
        now=NOW + dt.timedelta(minutes=1),
    )
    rows = list(Activity.objects.filter(customer=customer, verb__startswith="contact.").order_by("created_at"))
    assert [(a.verb, a.summary, a.created_at) for a in rows] == [
        ("contact.added", "Contact Bo added", NOW),
        ("contact.updated", "Contact Bo B updated", NOW + dt.timedelta(minutes=1)),
    ]
