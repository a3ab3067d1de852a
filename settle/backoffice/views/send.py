"""Sending an invoice to its customer: by e-mail with the PDF, by text message, as a Messenger share
or as a link to copy. One tab per channel, so the recipients offered are the contacts who have
that channel's address."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from settle.core.errors import SettleError
from settle.customers.models import Contact, Customer
from settle.customers.selectors import contacts_for_customer
from settle.invoicing.models import Invoice
from settle.messaging.models import MessageChannel, Purpose
from settle.messaging.selectors import merchant_language, template_text_for
from settle.payments.requests import payment_request_send
from settle.tenants.models import Merchant

from .common import IdempotentForm, add_domain_error, current, get_scoped_or_404, money_role_required

# What each channel sends to: the contact's address field and how the typed address is asked for.
ADDRESSED: dict[str, tuple[str, str]] = {
    MessageChannel.EMAIL: ("email", "E-mail address"),
    MessageChannel.SMS: ("phone", "Mobile phone number"),
}


class SendForm(IdempotentForm):
    contact = forms.TypedChoiceField(label="Contact", coerce=int, empty_value=None, required=False)
    to = forms.CharField(required=False, max_length=254)
    subject = forms.CharField(required=False, max_length=200)
    body = forms.CharField(label="Message", max_length=20_000, widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args: Any, channel: str, customer: Customer, contacts: list[Contact], **kwargs: Any):
        super().__init__(*args, **kwargs)
        address = ADDRESSED.get(channel)
        contact = cast(forms.TypedChoiceField, self.fields["contact"])
        if address is None:  # Messenger and copy-link: the merchant passes it on, nothing to type
            del self.fields["to"], self.fields["subject"]
            choices = [(c.pk, c.name) for c in contacts]
            contact.choices = [("", customer.display_name), *choices]
        else:
            field, label = address
            choices = [(c.pk, f"{c.name} ({getattr(c, field)})") for c in contacts]
            contact.choices = [("", "The address typed below"), *choices]
            self.fields["to"].label = label
            self.fields["to"].help_text = "Sends here instead of to the contact."
            if channel != MessageChannel.EMAIL:
                del self.fields["subject"]
        if not contacts:
            del self.fields["contact"]


def _recipients(merchant: Merchant, invoice: Invoice, channel: str) -> list[Contact]:
    """The customer's contacts who can receive `channel`, the default billing contact first."""
    contacts = contacts_for_customer(merchant=merchant, customer_id=invoice.customer_id)
    address = ADDRESSED.get(channel)
    usable = [c for c in contacts if address is None or getattr(c, address[0])]
    return sorted(usable, key=lambda c: not c.is_default_billing)


def _initial(merchant: Merchant, invoice: Invoice, channel: str, contacts: list[Contact]) -> dict[str, Any]:
    wording = template_text_for(
        merchant=merchant, purpose=Purpose.PAYMENT_REQUEST, language=merchant_language(merchant)
    )
    customer = invoice.customer
    typed: dict[str, str] = {MessageChannel.EMAIL: customer.primary_email, MessageChannel.SMS: customer.primary_phone}
    return {
        "contact": contacts[0].pk if contacts else None,
        "to": "" if contacts else typed.get(channel, ""),
        "subject": wording.subject,
        "body": wording.body,
    }


@money_role_required
def invoice_send(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    invoice = get_scoped_or_404(Invoice, request, pk)
    channel = request.GET.get("channel", "")
    if channel not in MessageChannel.values:
        channel = MessageChannel.EMAIL
    contacts = _recipients(merchant, invoice, channel)
    form = SendForm(
        request.POST if request.method == "POST" else None,
        channel=channel,
        customer=invoice.customer,
        contacts=contacts,
        initial=_initial(merchant, invoice, channel, contacts),
    )
    shared = None
    if form.is_bound and form.is_valid():
        values = form.cleaned_data
        try:
            message = payment_request_send(
                merchant=merchant,
                invoice_id=invoice.pk,
                channel=channel,
                contact_id=values.get("contact"),
                to=values.get("to", ""),
                subject=values.get("subject"),
                body=values["body"],
                idempotency_key=values["idempotency_key"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            if channel in ADDRESSED:
                messages.success(request, f"Invoice {invoice.number} is on its way to {message.recipient}.")
                return redirect("backoffice:invoice_detail", pk=invoice.pk)
            shared = message
    context = {
        "invoice": invoice,
        "form": form,
        "channel": channel,
        "channels": MessageChannel.choices,
        "shared": shared,
    }
    return render(request, "backoffice/invoice_send.html", context)
