"""Customers: the list, create/edit, the profile, contacts and external references."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.core.errors import SettleError
from settle.customers import selectors as customer_selectors
from settle.customers.models import Contact, Customer
from settle.customers.services import (
    contact_revoke_access,
    contact_save,
    customer_create,
    customer_update,
    external_reference_set,
)
from settle.invoicing import selectors as invoice_selectors
from settle.payments import selectors as payment_selectors

from ..forms_people import ContactForm, ContactListForm, CustomerForm, CustomerSearchForm, ExternalReferenceForm
from .common import add_domain_error, current, get_scoped_or_404, merchant_required, money_role_required

CUSTOMERS_PER_PAGE = 25
PROFILE_HISTORY_ROWS = 20


@merchant_required
def customer_list(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    search = CustomerSearchForm(request.GET)
    search.is_valid()
    query = search.cleaned_data.get("q", "")
    only_open = bool(search.cleaned_data.get("open"))
    customers = customer_selectors.customer_list(merchant=merchant, search=query, only_with_open_invoices=only_open)
    page = Paginator(customers, CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "backoffice/customers/list.html",
        {"search": search, "page": page, "query": query, "only_open": only_open, "filtered": bool(query or only_open)},
    )


@money_role_required
def customer_new(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = customer_create(merchant=merchant, actor=request.user, **form.service_kwargs())
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{customer.display_name} added.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    return render(request, "backoffice/customers/form.html", {"form": form, "customer": None})


@money_role_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    form = CustomerForm(request.POST or None, initial=CustomerForm.initial_for(customer))
    if request.method == "POST" and form.is_valid():
        try:
            customer_update(merchant=merchant, customer_id=customer.pk, **form.service_kwargs())
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Customer saved.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    return render(request, "backoffice/customers/form.html", {"form": form, "customer": customer})


@merchant_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The profile. Every section is one selector call with its relations joined or prefetched, so
    the page costs the same number of queries for one invoice or ten thousand."""
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    today = clock.local_date(clock.now(), merchant.time_zone)
    contact_list = ContactListForm(request.GET)
    contact_list.is_valid()
    contacts = customer_selectors.contacts_for_customer(
        merchant=merchant,
        customer_id=customer.pk,
        search=contact_list.cleaned_data.get("contact_q", ""),
        sort=contact_list.cleaned_data.get("contact_sort") or "name",
    )
    credit_rows, credit_total, credit_count = payment_selectors.credits_list(merchant=merchant, customer_id=customer.pk)
    context = {
        "customer": customer,
        "today": today,
        "references": list(customer.external_references.order_by("system", "label")),
        "reference_form": ExternalReferenceForm(),
        "contacts": list(contacts),
        "contact_list": contact_list,
        "balance": invoice_selectors.customer_balance_summary(merchant=merchant, customer_id=customer.pk, today=today),
        "open_invoices": list(invoice_selectors.open_invoices(merchant=merchant, customer_id=customer.pk)),
        "invoices": list(
            invoice_selectors.invoice_list(merchant=merchant, customer_id=customer.pk)[:PROFILE_HISTORY_ROWS]
        ),
        "payments": list(
            payment_selectors.payment_list(merchant=merchant, customer_id=customer.pk)[:PROFILE_HISTORY_ROWS]
        ),
        "credit_rows": credit_rows,
        "credit_total": credit_total,
        "credit_count": credit_count,
        "timeline": list(customer_selectors.timeline(merchant=merchant, customer_id=customer.pk, limit=30)),
        "saved_methods": list(payment_selectors.saved_methods_for_customer(merchant=merchant, customer_id=customer.pk)),
        "history_rows": PROFILE_HISTORY_ROWS,
    }
    return render(request, "backoffice/customers/detail.html", context)


@money_role_required
def contact_new(request: HttpRequest, pk: int) -> HttpResponse:
    return _contact_form(request, get_scoped_or_404(Customer, request, pk), None)


@money_role_required
def contact_edit(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = get_scoped_or_404(Customer, request, pk)
    return _contact_form(request, customer, get_scoped_or_404(Contact, request, contact_pk, customer=customer))


def _contact_form(request: HttpRequest, customer: Customer, contact: Contact | None) -> HttpResponse:
    merchant, _ = current(request)
    initial: dict[str, Any] = {"preferred_channel": "email"}
    if contact is not None:
        initial = {
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
            "preferred_channel": contact.preferred_channel,
            "profile": contact.profile_id,
            "is_default_billing": contact.is_default_billing,
        }
    profiles = customer_selectors.contact_profiles(merchant=merchant)
    form = ContactForm(request.POST or None, initial=initial, profiles=profiles)
    if request.method == "POST" and form.is_valid():
        try:
            saved = contact_save(
                merchant=merchant,
                customer_id=customer.pk,
                contact_id=contact.pk if contact else None,
                actor=request.user,
                **form.service_kwargs(),
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{saved.name} saved.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    return render(
        request, "backoffice/customers/contact_form.html", {"form": form, "customer": customer, "contact": contact}
    )


@require_POST
@money_role_required
def contact_revoke(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    contact = get_scoped_or_404(Contact, request, contact_pk, customer=customer)
    try:
        contact_revoke_access(merchant=merchant, customer_id=customer.pk, contact_id=contact.pk, actor=request.user)
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Portal access revoked for {contact.name}.")
    return redirect("backoffice:customer_detail", pk=customer.pk)


@money_role_required
def external_reference_new(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    form = ExternalReferenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            external_reference_set(merchant=merchant, customer_id=customer.pk, **form.cleaned_data)
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Reference saved.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    return render(request, "backoffice/customers/reference_form.html", {"form": form, "customer": customer})
