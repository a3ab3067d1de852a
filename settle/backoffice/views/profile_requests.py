"""Requesting a payment method from the customer profile: a single-use link to add a card or bank
account, sent to a contact by e-mail or text message with the merchant's profile request wording,
lasting as long as the merchant chooses. Asked for from one of the customer's saved methods
(`?replaces=<id>`, then a hidden field), the method saved through the link replaces that one."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from settle.core.errors import SettleError
from settle.customers.models import Customer
from settle.messaging.models import MessageChannel, Purpose
from settle.payments.models import SavedMethod
from settle.payments.profile_requests import PROFILE_REQUEST_CHANNELS, payment_profile_request_send
from settle.payments.selectors import saved_methods_for_customer
from settle.tenants.models import Merchant

from .common import add_domain_error, current, get_scoped_or_404, money_role_required
from .send import (
    SendForm,
    channel_asked,
    contact_posted_or_404,
    default_wording,
    recipients,
    send_initial,
    sender_choices,
)

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


@money_role_required
def payment_profile_request(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    contact_posted_or_404(request, customer.pk)
    query = request.POST if request.method == "POST" else request.GET
    replaces = _replaced(merchant, customer, query.get("replaces", ""))
    channel = channel_asked(request, PROFILE_REQUEST_CHANNELS)
    contacts = recipients(merchant, customer.pk, channel)
    wording = default_wording(merchant, Purpose.PROFILE_REQUEST)
    form = ProfileRequestForm(
        request.POST if request.method == "POST" else None,
        channel=channel,
        customer=customer,
        contacts=contacts,
        initial=send_initial(customer, channel, contacts, wording) | {"expires_in": DEFAULT_LIFETIME},
    )
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            message = payment_profile_request_send(
                merchant=merchant,
                sending=sender_choices(request, channel, values),
                customer_id=customer.pk,
                replaces_method_id=replaces.pk if replaces else None,
                expires_in=dt.timedelta(seconds=values["expires_in"]),
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"A link to add a payment method is on its way to {message.recipient}.")
            return redirect("backoffice:customer_detail", pk=customer.pk)
    channels = [(key, label) for key, label in MessageChannel.choices if key in PROFILE_REQUEST_CHANNELS]
    context = {"customer": customer, "form": form, "channel": channel, "channels": channels, "replaces": replaces}
    return render(request, "backoffice/customers/profile_request.html", context)
