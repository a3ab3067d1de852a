"""Reads about customers and contacts."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

from settle.tenants.models import Merchant

from .models import Activity, Contact, ContactProfile, Customer


def customer_list(*, merchant: Merchant, search: str = "", only_with_open_invoices: bool = False) -> QuerySet[Customer]:
    """Customers by name, each annotated with `open_balance_minor` (merchant currency); search
    matches names, e-mails, phones and contact names. Status names are spelled out because
    customers sits below invoicing."""
    query = Customer.objects.filter(merchant=merchant).annotate(
        open_balance_minor=Sum(
            "invoices__balance_minor",
            filter=Q(invoices__status__in=("open", "partially_paid"), invoices__currency=merchant.currency),
        ),
    )
    if search := search.strip():
        contact_match = Contact.objects.filter(merchant=merchant, customer=OuterRef("pk")).filter(
            Q(name__icontains=search) | Q(email__icontains=search) | Q(phone__icontains=search)
        )
        query = query.filter(
            Q(display_name__icontains=search)
            | Q(emails__icontains=search)
            | Q(phones__icontains=search)
            | Exists(contact_match)
        )
    if only_with_open_invoices:
        query = query.filter(open_balance_minor__gt=0)
    return query.order_by("display_name", "pk")


CONTACT_SORTS = {"name": "name", "email": "email", "newest": "-created_at", "access": "profile__name"}


def contacts_for_customer(
    *, merchant: Merchant, customer_id: int, search: str = "", sort: str = "name"
) -> QuerySet[Contact]:
    query = Contact.objects.filter(merchant=merchant, customer_id=customer_id).select_related("profile")
    if search := search.strip():
        query = query.filter(Q(name__icontains=search) | Q(email__icontains=search) | Q(phone__icontains=search))
    return query.order_by(CONTACT_SORTS.get(sort, "name"), "pk")


def contact_profiles(*, merchant: Merchant) -> QuerySet[ContactProfile]:
    return ContactProfile.objects.filter(merchant=merchant).order_by("name")


def timeline(*, merchant: Merchant, customer_id: int, limit: int = 100) -> QuerySet[Activity]:
    return Activity.objects.filter(merchant=merchant, customer_id=customer_id).select_related("actor")[:limit]


def recent_activity(*, merchant: Merchant, limit: int = 15) -> QuerySet[Activity]:
    return Activity.objects.filter(merchant=merchant).select_related("actor", "customer")[:limit]
