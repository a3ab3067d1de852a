"""Requesting a payment method from the customer profile: a single-use link to add a card or bank
account, sent to a contact by e-mail or text message with the merchant's profile request wording,
lasting as long as the merchant chooses. Asked for from one of the customer's saved methods
(`?replaces=<id>`, then a hidden field), the method saved through the link replaces that one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from settle.core.errors import SettleError
from settle.customers.models import Contact, Customer
from settle.customers.selectors import contacts_for_customer
from settle.messaging.models import MessageChannel, Purpose
from settle.messaging.selectors import merchant_language, template_text_for
from settle.payments.models import SavedMethod
from settle.payments.profile_requests import PROFILE_REQUEST_CHANNELS, payment_profile_request_send
from settle.payments.selectors import saved_methods_for_customer
from settle.tenants.models import Merchant

from .common import add_domain_error, current, get_scoped_or_404, money_role_required
from .send import ADDRESSED, SendForm

# How long the link may last, in seconds; within links.LIFETIMES for adding a payment method.
LIFETIME_CHOICES = [
    (3600, "1 hour"),
    (86_400, "24 hours"),
    (3 * 86_400, "3 days"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
]
DEFAULT_LIFETIME = 7 * 86_400


class ProfileRequestForm(SendForm):
    expires_in = forms.TypedChoiceField(label="The link lasts", choices=LIFETIME_CHOICES, coerce=int)


def _replaced(merchant: Merchant, customer: Customer, method_id: str) -> SavedMethod | None:
    """The customer's saved method, not removed, that the request is to replace: 404 for another
    customer's or merchant's, or a removed one."""
    if not method_id:
        return None
    try:
        return saved_methods_for_customer(merchant=merchant, customer_id=customer.pk).get(pk=method_id)
    except (SavedMethod.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404 from None


def _recipients(merchant: Merchant, customer: Customer, channel: str) -> list[Contact]:
    """The customer's contacts with an address for `channel`, the default billing contact first."""
    field = ADDRESSED[channel][0]
    contacts = contacts_for_customer(merchant=merchant, customer_id=customer.pk)
    return sorted((c for c in contacts if getattr(c, field)), key=lambda c: not c.is_default_billing)


def _initial(merchant: Merchant, customer: Customer, channel: str, contacts: list[Contact]) -> dict[str, Any]:
    wording = template_text_for(
        merchant=merchant, purpose=Purpose.PROFILE_REQUEST, language=merchant_language(merchant)
    )
    typed = customer.primary_email if channel == MessageChannel.EMAIL else customer.primary_phone
    return {
        "contact": contacts[0].pk if contacts else None,
        "to": "" if contacts else typed,
        "subject": wording.subject,
        "body": wording.body,
        "expires_in": DEFAULT_LIFETIME,
    }


@money_role_required
def payment_profile_request(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    if request.method == "POST" and request.POST.get("contact"):
        get_scoped_or_404(Contact, request, request.POST["contact"], customer=customer)
    query = request.POST if request.method == "POST" else request.GET
    replaces = _replaced(merchant, customer, query.get("replaces", ""))
    channel = request.GET.get("channel", "")
    if channel not in PROFILE_REQUEST_CHANNELS:
        channel = MessageChannel.EMAIL
    contacts = _recipients(merchant, customer, channel)
    form = ProfileRequestForm(
        request.POST if request.method == "POST" else None,
        channel=channel,
        customer=customer,
        contacts=contacts,
        initial=_initial(merchant, customer, channel, contacts),
    )
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            message = payment_profile_request_send(
                merchant=merchant,
                customer_id=customer.pk,
                channel=channel,
                contact_id=values.get("contact"),
                replaces_method_id=replaces.pk if replaces else None,
                to=values.get("to", ""),
                subject=values.get("subject"),
                body=values["body"],
                expires_in=dt.timedelta(seconds=values["expires_in"]),
                idempotency_key=values["idempotency_key"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"A link to add a payment method is on its way to {message.recipient}.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    channels = [(key, label) for key, label in MessageChannel.choices if key in PROFILE_REQUEST_CHANNELS]
    context = {"customer": customer, "form": form, "channel": channel, "channels": channels, "replaces": replaces}
    return render(request, "backoffice/customers/profile_request.html", context)
