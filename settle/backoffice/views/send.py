"""Sending to a customer from anywhere in the back office.

The invoice's Send page sends that invoice: by e-mail with the PDF, by text message, as a Messenger
share or as a link to copy. The New message screen finds a customer by name or phone number and
sends them a plain message, a payment request (an amount and a reference, made into an invoice as
it is sent), or open invoices (one: its pay link; several: one statement link). One tab per channel,
so the recipients offered are the contacts who have that channel's address. Every page works
without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from settle.core.errors import SettleError
from settle.customers.models import Contact, Customer
from settle.customers.selectors import contacts_for_customer, customer_list
from settle.invoicing.models import Invoice
from settle.invoicing.selectors import open_invoices
from settle.messaging.models import Message, MessageChannel, MessageStatus, MessageTemplate, Purpose
from settle.messaging.selectors import TemplateText, merchant_language, template_list, template_text_for
from settle.payments.requests import (
    customer_message_send,
    payment_request_send,
    quick_payment_request_send,
    statement_request_send,
)
from settle.tenants.models import Merchant

from ..forms_money import PositiveMoneyField
from .common import IdempotentForm, add_domain_error, current, get_scoped_or_404, merchant_required, money_role_required
from .money_common import query_id, query_ids

# What each channel sends to: the contact's address field and how the typed address is asked for.
ADDRESSED: dict[str, tuple[str, str]] = {
    MessageChannel.EMAIL: ("email", "E-mail address"),
    MessageChannel.SMS: ("phone", "Mobile phone number"),
}
# What the New message screen sends, and the channels each can go by (a plain message has no link
# to share or copy).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "message": ("Message", (MessageChannel.EMAIL, MessageChannel.SMS)),
    "request": ("Payment request", tuple(MessageChannel.values)),
    "invoices": ("Open invoices", tuple(MessageChannel.values)),
}
SEARCH_RESULTS = 20
PHONE_LIKE = re.compile(r"[\d\s().+-]{4,}")


class ServiceCheckedChoice:
    """Offers the usual choices but lets any id through: the service says why one cannot be used
    (no e-mail address, paid since the page was drawn, another customer's) better than "not one of
    the available choices"."""

    def valid_value(self, value: Any) -> bool:
        return True


class ContactChoiceField(ServiceCheckedChoice, forms.TypedChoiceField):
    pass


class InvoiceChoiceField(ServiceCheckedChoice, forms.TypedMultipleChoiceField):
    pass


class SendForm(IdempotentForm):
    contact = ContactChoiceField(label="Contact", coerce=int, empty_value=None, required=False)
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
            # Said as the customer, not a contact: a contact may have the customer's very name.
            contact.choices = [("", f"Customer ({customer.display_name}) — no contact"), *choices]
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


class ComposeForm(SendForm):
    """The New message form: the Send form, plus the amount and reference of a payment request or
    the open invoices to send, and the language of the wording (a saved reply's own)."""

    language = forms.ChoiceField(choices=settings.LANGUAGES, widget=forms.HiddenInput)

    def __init__(self, *args: Any, kind: str, merchant: Merchant, invoices: Sequence[Invoice], **kwargs: Any):
        super().__init__(*args, **kwargs)
        if kind == "request":
            self.fields["amount"] = PositiveMoneyField(currency=merchant.currency, locale=merchant.locale)
            self.fields["reference"] = forms.CharField(max_length=60, label="Reference number")
        elif kind == "invoices":
            choices = [(i.pk, f"{i.number} · {i.balance.format(merchant.locale)}") for i in invoices]
            self.fields["invoices"] = InvoiceChoiceField(
                label="Invoices", coerce=int, choices=choices, widget=forms.CheckboxSelectMultiple
            )


def _recipients(merchant: Merchant, customer_id: int, channel: str) -> list[Contact]:
    """The customer's contacts who can receive `channel`, the default billing contact first."""
    contacts = contacts_for_customer(merchant=merchant, customer_id=customer_id)
    address = ADDRESSED.get(channel)
    usable = [c for c in contacts if address is None or getattr(c, address[0])]
    return sorted(usable, key=lambda c: not c.is_default_billing)


def _initial(customer: Customer, channel: str, contacts: list[Contact], wording: TemplateText) -> dict[str, Any]:
    typed: dict[str, str] = {MessageChannel.EMAIL: customer.primary_email, MessageChannel.SMS: customer.primary_phone}
    return {
        "contact": contacts[0].pk if contacts else None,
        "to": "" if contacts else typed.get(channel, ""),
        "subject": wording.subject,
        "body": wording.body,
        "language": wording.language,
    }


def _channel(request: HttpRequest, allowed: Sequence[str] = tuple(MessageChannel.values)) -> str:
    channel = request.GET.get("channel", "")
    return channel if channel in allowed else MessageChannel.EMAIL


def _chosen(request: HttpRequest, channel: str, values: dict[str, Any]) -> dict[str, Any]:
    """What the sender chose on a Send form, as the sending services take it."""
    merchant, _ = current(request)
    return {
        "merchant": merchant,
        "channel": channel,
        "contact_id": values.get("contact"),
        "to": values.get("to", ""),
        "subject": values.get("subject"),
        "body": values["body"],
        "language": values.get("language", ""),
        "idempotency_key": values["idempotency_key"],
        "actor": request.user,
    }


@money_role_required
def invoice_send(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    invoice = get_scoped_or_404(Invoice, request, pk)
    channel = _channel(request)
    contacts = _recipients(merchant, invoice.customer_id, channel)
    wording = template_text_for(
        merchant=merchant, purpose=Purpose.PAYMENT_REQUEST, language=merchant_language(merchant)
    )
    form = SendForm(
        request.POST if request.method == "POST" else None,
        channel=channel,
        customer=invoice.customer,
        contacts=contacts,
        initial=_initial(invoice.customer, channel, contacts, wording),
    )
    shared = None
    if form.is_bound and form.is_valid():
        try:
            message = payment_request_send(invoice_id=invoice.pk, **_chosen(request, channel, form.cleaned_data))
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


# --- New message ----------------------------------------------------------------------------------


def _search_text(query: str) -> str:
    """A phone number is searched by its digits, however it was typed ("(514) 555-0123" finds
    +15145550123); anything else as typed."""
    query = query.strip()
    if PHONE_LIKE.fullmatch(query):
        return re.sub(r"\D", "", query)
    return query


def _ids_of_merchant_or_404(request: HttpRequest, model: type[Model], ids: Sequence[str]) -> None:
    """Ids posted that are not this merchant's are missing, exactly as in a URL."""
    merchant, _ = current(request)
    wanted = {value for value in ids if value != ""}
    if not wanted:
        return
    try:
        found = model._default_manager.filter(merchant=merchant, pk__in=wanted).count()
    except (ValueError, TypeError, OverflowError):
        raise Http404 from None
    if found != len(wanted):
        raise Http404


def _wording(
    request: HttpRequest, merchant: Merchant, kind: str, invoice_ids: Sequence[int]
) -> tuple[TemplateText, str]:
    """The subject and body the form starts with, and the purpose whose templates fit: the chosen
    saved reply (`?template=`), else the merchant's default for what is being sent."""
    purpose = {"message": Purpose.SAVED_REPLY, "request": Purpose.PAYMENT_REQUEST}.get(kind) or (
        Purpose.STATEMENT if len(invoice_ids) > 1 else Purpose.PAYMENT_REQUEST
    )
    template_id = query_id(request, "template")
    language = merchant_language(merchant)
    if template_id is None and kind == "message":
        return TemplateText("", "", "", language, None), purpose  # a blank page until a reply is picked
    if template_id is None:
        return template_text_for(merchant=merchant, purpose=purpose, language=language), purpose
    chosen = get_scoped_or_404(MessageTemplate, request, template_id)
    wording = TemplateText(chosen.name, chosen.subject, chosen.body, chosen.language, chosen.pk)
    return wording, purpose


def _send(request: HttpRequest, customer: Customer, kind: str, channel: str, values: dict[str, Any]) -> Message:
    sending = _chosen(request, channel, values)
    if kind == "request":
        return quick_payment_request_send(
            customer_id=customer.pk, amount=values["amount"], reference=values["reference"], **sending
        )
    if kind == "invoices" and len(values["invoices"]) == 1:
        return payment_request_send(customer_id=customer.pk, invoice_id=values["invoices"][0], **sending)
    if kind == "invoices":
        return statement_request_send(customer_id=customer.pk, invoice_ids=values["invoices"], **sending)
    return customer_message_send(customer_id=customer.pk, **sending)


@money_role_required
def message_new(request: HttpRequest) -> HttpResponse:
    """Find the customer (`?q=`), then write to them (`?customer=`): what to send (`?kind=`), how
    (`?channel=`), the invoices ticked on the profile (`?invoice=`) and a saved reply
    (`?template=`) all come from the address, so every step is a link or a plain form."""
    merchant, _ = current(request)
    customer_id = query_id(request, "customer")
    if customer_id is None:
        query = request.GET.get("q", "")[:100]
        results = customer_list(merchant=merchant, search=_search_text(query))[:SEARCH_RESULTS] if query.strip() else []
        return render(request, "backoffice/send/message_new.html", {"query": query, "results": results})
    customer = get_scoped_or_404(Customer, request, customer_id)
    selected = query_ids(request, "invoice")
    kind = request.GET.get("kind", "")
    if kind not in KINDS:
        kind = "invoices" if selected else "message"
    channel = _channel(request, KINDS[kind][1])
    contacts = _recipients(merchant, customer.pk, channel)
    invoices = list(open_invoices(merchant=merchant, customer_id=customer.pk))
    wording, purpose = _wording(request, merchant, kind, selected)
    data = request.POST if request.method == "POST" else None
    if data is not None:
        _ids_of_merchant_or_404(request, Contact, data.getlist("contact"))
        _ids_of_merchant_or_404(request, Invoice, data.getlist("invoices"))
    form = ComposeForm(
        data,
        kind=kind,
        merchant=merchant,
        invoices=invoices,
        channel=channel,
        customer=customer,
        contacts=contacts,
        initial=_initial(customer, channel, contacts, wording) | {"invoices": selected},
    )
    shared = None
    if form.is_bound and form.is_valid():
        try:
            message = _send(request, customer, kind, channel, form.cleaned_data)
        except SettleError as error:
            add_domain_error(form, error)
        else:
            if channel in ADDRESSED:
                messages.success(request, f"Sent to {customer.display_name} at {message.recipient}.")
                return redirect("backoffice:customer_detail", pk=customer.pk)
            shared = message
    here = {"customer": customer.pk, "invoice": selected}
    context = {
        "customer": customer,
        "form": form,
        "kind": kind,
        "kinds": [(key, label, _address(here | {"kind": key})) for key, (label, _) in KINDS.items()],
        "channel": channel,
        "channels": [
            (key, label, _address(here | {"kind": kind, "channel": key}))
            for key, label in MessageChannel.choices
            if key in KINDS[kind][1]
        ],
        "here": here | {"kind": kind, "channel": channel},
        "selected": selected,
        "templates": template_list(merchant=merchant).filter(purpose__in=(purpose, Purpose.SAVED_REPLY)),
        "template_id": wording.template_id,
        "shared": shared,
    }
    return render(request, "backoffice/send/message_new.html", context)


def _address(query: dict[str, Any]) -> str:
    """The New message screen's URL with `query` (lists become repeated parameters)."""
    return reverse("backoffice:message_new") + "?" + urlencode(query, doseq=True)


@merchant_required
def quick_request_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A quick payment request just made: its public link to copy and share anywhere, and the
    ways to send it to the customer."""
    message = get_scoped_or_404(
        Message,
        request,
        pk,
        purpose=Purpose.PAYMENT_REQUEST,
        status=MessageStatus.COPIED,
        concerns_invoice_id__isnull=False,
    )
    invoice = get_scoped_or_404(Invoice, request, message.concerns_invoice_id)
    return render(request, "backoffice/send/quick_request_link.html", {"message": message, "invoice": invoice})
