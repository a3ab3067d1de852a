"""Customers, contacts, access profiles and the timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from settle.core import clock
from settle.core.contact_points import email_normalize, phone_normalize, region_of_locale
from settle.core.errors import InvalidInput, NotFound
from settle.core.locking import lock_ids
from settle.tenants.models import Merchant

from .models import Activity, Channel, Contact, ContactProfile, Customer, CustomerKind, ExternalReference

MAX_NAME = 200
MAX_NOTES = 10_000
MAX_TAG = 40


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput("This field is required.", field=field)
    if len(value) > limit:
        raise InvalidInput(f"Keep this under {limit} characters.", field=field)
    return value


def activity_record(
    *,
    merchant: Merchant,
    customer_id: int,
    verb: str,
    summary: str,
    actor: Any = None,
    obj: Any = None,
    now: dt.datetime | None = None,
) -> Activity:
    """Append one line to a customer's timeline (inside the caller's transaction)."""
    return Activity.objects.create(
        merchant=merchant,
        customer_id=customer_id,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        verb=verb,
        summary=summary[:300],
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "pk", None),
        created_at=now or clock.now(),
    )


def _customer_fields(
    *,
    merchant: Merchant,
    display_name: str,
    emails: Iterable[str],
    phones: Iterable[str],
    tags: Iterable[str],
    notes: str,
    country: str,
) -> dict[str, Any]:
    region = country or region_of_locale(merchant.locale)
    clean_tags = sorted({_text(t, field="tags", limit=MAX_TAG) for t in tags if t.strip()})
    return {
        "display_name": _text(display_name, field="display_name", limit=MAX_NAME, required=True),
        "emails": list(dict.fromkeys(email_normalize(e, field="emails") for e in emails if e.strip())),
        "phones": list(dict.fromkeys(phone_normalize(p, region=region, field="phones") for p in phones if p.strip())),
        "tags": clean_tags,
        "notes": _text(notes, field="notes", limit=MAX_NOTES),
    }


ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")


def _address(address: dict[str, str] | None) -> dict[str, str]:
    address = address or {}
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown address fields: {', '.join(sorted(unknown))}.", field="address")
    clean = {k: _text(address.get(k, ""), field=k, limit=200) for k in ADDRESS_FIELDS}
    clean["country"] = clean["country"].upper()
    if clean["country"] and (len(clean["country"]) != 2 or not clean["country"].isalpha()):
        raise InvalidInput("Use a two-letter country code.", field="country")
    return clean


@transaction.atomic
def customer_create(
    *,
    merchant: Merchant,
    display_name: str,
    kind: str = CustomerKind.PERSON,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    address: dict[str, str] | None = None,
    tags: Sequence[str] = (),
    notes: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Customer:
    """Create a customer; e-mails and phones are validated (phones stored as E.164)."""
    if kind not in CustomerKind.values:
        raise InvalidInput("Choose person or company.", field="kind")
    clean_address = _address(address)
    fields = _customer_fields(
        merchant=merchant,
        display_name=display_name,
        emails=emails,
        phones=phones,
        tags=tags,
        notes=notes,
        country=clean_address["country"],
    )
    customer = Customer.objects.create(merchant=merchant, kind=kind, **fields, **clean_address)
    activity_record(
        merchant=merchant,
        customer_id=customer.pk,
        verb="customer.created",
        summary=f"Customer {customer.display_name} created",
        actor=actor,
        obj=customer,
        now=now,
    )
    return customer


@transaction.atomic
def customer_update(
    *,
    merchant: Merchant,
    customer_id: int,
    display_name: str,
    kind: str,
    emails: Sequence[str],
    phones: Sequence[str],
    address: dict[str, str] | None,
    tags: Sequence[str],
    notes: str,
) -> Customer:
    customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    if kind not in CustomerKind.values:
        raise InvalidInput("Choose person or company.", field="kind")
    clean_address = _address(address)
    fields = _customer_fields(
        merchant=merchant,
        display_name=display_name,
        emails=emails,
        phones=phones,
        tags=tags,
        notes=notes,
        country=clean_address["country"],
    )
    for name, value in {**fields, **clean_address, "kind": kind}.items():
        setattr(customer, name, value)
    customer.save()
    return customer


def customer_lock(*, merchant: Merchant, customer_id: int) -> None:
    """Lock a customer's row until the transaction ends. Every change to what a customer owes or
    has paid takes this lock first, so concurrent changes for one customer queue in one order.
    Another merchant's customer is NotFound."""
    try:
        wanted = [int(customer_id)]
    except (ValueError, TypeError):
        raise NotFound("No such customer.") from None
    if not lock_ids(Customer, merchant_id=merchant.pk, ids=wanted):
        raise NotFound("No such customer.")


def customer_get_for_update(*, merchant: Merchant, customer_id: int) -> Customer:
    try:
        return Customer.objects.select_for_update().get(merchant=merchant, pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such customer.") from None


@transaction.atomic
def external_reference_set(
    *, merchant: Merchant, customer_id: int, system: str, label: str, external_id: str
) -> ExternalReference:
    customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    reference, _ = ExternalReference.objects.update_or_create(
        merchant=merchant,
        customer=customer,
        system=system,
        label=_text(label, field="label", limit=60, required=True),
        defaults={"external_id": _text(external_id, field="external_id", limit=120, required=True)},
    )
    return reference


@transaction.atomic
def contact_profile_save(
    *, merchant: Merchant, name: str, profile_id: int | None = None, **permissions: bool
) -> ContactProfile:
    """Create or change a merchant's contact access level."""
    unknown = set(permissions) - set(ContactProfile.PERMISSION_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown permissions: {', '.join(sorted(unknown))}.")
    name = _text(name, field="name", limit=60, required=True)
    same_name = ContactProfile.objects.filter(merchant=merchant, name=name)
    if profile_id is not None:
        same_name = same_name.exclude(pk=profile_id)
    if same_name.exists():
        raise InvalidInput("A profile with that name exists.", field="name")
    if profile_id is None:
        return ContactProfile.objects.create(merchant=merchant, name=name, **permissions)
    try:
        profile = ContactProfile.objects.select_for_update().get(merchant=merchant, pk=profile_id)
    except ContactProfile.DoesNotExist:
        raise NotFound("No such contact profile.") from None
    profile.name = name
    for key, value in permissions.items():
        setattr(profile, key, value)
    profile.save()
    return profile


def _contact_fields(*, merchant: Merchant, name: str, email: str, phone: str, preferred_channel: str) -> dict[str, Any]:
    if preferred_channel not in Channel.values:
        raise InvalidInput("Choose a channel.", field="preferred_channel")
    fields = {
        "name": _text(name, field="name", limit=MAX_NAME, required=True),
        "email": email_normalize(email) if email.strip() else "",
        "phone": phone_normalize(phone, region=region_of_locale(merchant.locale)) if phone.strip() else "",
        "preferred_channel": preferred_channel,
    }
    if not fields["email"] and not fields["phone"]:
        raise InvalidInput("Give an e-mail address or a phone number.", field="email")
    if preferred_channel == Channel.EMAIL and not fields["email"]:
        raise InvalidInput("E-mail is the preferred channel but there is no e-mail address.", field="email")
    if preferred_channel == Channel.SMS and not fields["phone"]:
        raise InvalidInput("Text is the preferred channel but there is no phone number.", field="phone")
    return fields


def _profile(merchant: Merchant, profile_id: int | None) -> ContactProfile | None:
    if profile_id is None:
        return None
    try:
        return ContactProfile.objects.get(merchant=merchant, pk=profile_id)
    except (ContactProfile.DoesNotExist, ValueError):
        raise NotFound("No such contact profile.") from None


@transaction.atomic
def contact_save(
    *,
    merchant: Merchant,
    customer_id: int,
    name: str,
    email: str = "",
    phone: str = "",
    preferred_channel: str = Channel.EMAIL,
    is_default_billing: bool = False,
    profile_id: int | None = None,
    contact_id: int | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Contact:
    """Add or edit a contact. Only one contact per customer is the default billing contact."""
    customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    fields = _contact_fields(
        merchant=merchant, name=name, email=email, phone=phone, preferred_channel=preferred_channel
    )
    profile = _profile(merchant, profile_id)
    if contact_id is None:
        contact = Contact(merchant=merchant, customer=customer)
        verb, summary = "contact.added", f"Contact {fields['name']} added"
    else:
        contact = contact_get(merchant=merchant, customer_id=customer.pk, contact_id=contact_id)
        verb, summary = "contact.updated", f"Contact {fields['name']} updated"
    for key, value in fields.items():
        setattr(contact, key, value)
    contact.profile = profile
    if profile is not None:
        contact.access_revoked_at = None
    contact.is_default_billing = is_default_billing
    if is_default_billing:
        Contact.objects.filter(merchant=merchant, customer=customer).exclude(pk=contact.pk).update(
            is_default_billing=False
        )
    contact.save()
    activity_record(
        merchant=merchant, customer_id=customer.pk, verb=verb, summary=summary, actor=actor, obj=contact, now=now
    )
    return contact


def contact_get(*, merchant: Merchant, customer_id: int, contact_id: int) -> Contact:
    try:
        return Contact.objects.get(merchant=merchant, customer_id=customer_id, pk=contact_id)
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such contact.") from None


@transaction.atomic
def contact_revoke_access(
    *, merchant: Merchant, customer_id: int, contact_id: int, actor: Any = None, now: dt.datetime | None = None
) -> Contact:
    """Take away a contact's portal access; the contact stays on file."""
    now = now or clock.now()
    customer_get_for_update(merchant=merchant, customer_id=customer_id)
    contact = contact_get(merchant=merchant, customer_id=customer_id, contact_id=contact_id)
    contact.profile = None
    contact.access_revoked_at = now
    contact.save(update_fields=["profile", "access_revoked_at"])
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="contact.revoked",
        summary=f"Access revoked for {contact.name}",
        actor=actor,
        obj=contact,
        now=now,
    )
    return contact


@transaction.atomic
def contact_form_submit(
    *,
    merchant: Merchant,
    name: str,
    email: str = "",
    phone: str = "",
    company: str = "",
    now: dt.datetime | None = None,
) -> Contact:
    """Someone added themselves through the merchant's public contact form.

    A repeat e-mail or phone joins the customer who already has it instead of making a duplicate;
    the merchant row is locked so two submissions with the same e-mail cannot both create one."""
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    fields = _contact_fields(
        merchant=merchant,
        name=name,
        email=email,
        phone=phone,
        preferred_channel=Channel.EMAIL if email.strip() else Channel.SMS,
    )
    existing = Contact.objects.filter(merchant=merchant).select_related("customer")
    match = None
    if fields["email"]:
        match = existing.filter(email=fields["email"]).first()
    if match is None and fields["phone"]:
        match = existing.filter(phone=fields["phone"]).first()
    if match is not None:
        return match
    customer = customer_create(
        merchant=merchant,
        display_name=_text(company, field="company", limit=MAX_NAME) or fields["name"],
        kind=CustomerKind.COMPANY if company.strip() else CustomerKind.PERSON,
        emails=[fields["email"]] if fields["email"] else [],
        phones=[fields["phone"]] if fields["phone"] else [],
        now=now,
    )
    return contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        name=fields["name"],
        email=fields["email"],
        phone=fields["phone"],
        preferred_channel=fields["preferred_channel"],
        is_default_billing=True,
        now=now,
    )
