"""Sending to a customer from anywhere in the back office.

The invoice's Send page sends that invoice: by e-mail with the PDF, by text message, as a Messenger
share or as a link to copy. The New message screen finds a customer by name or phone number and
sends them a plain message, a payment request (an amount and a reference, made into an invoice as
it is sent), or open invoices (one: its pay link; several: one statement link). One tab per channel,
so the recipients offered are the contacts who have that channel's address. Every page works
without JavaScript."""

from __future__ import annotations

import copy
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
    Sending,
    customer_message_send,
    payment_request_send,
    quick_payment_request_send,
    statement_request_send,
)
from settle.payments.selectors import invoice_has_public_link
from settle.tenants.models import Merchant

from ..forms_money import QuickRequestForm
from .common import (
    IdempotentForm,
    add_domain_error,
    current,
    get_scoped_or_404,
    merchant_required,
    money_role_required,
    set_form_currency,
)
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
# Why open invoices ticked on submit cannot go with the wording the page showed, by what the ticks
# make of the send.
TICKS_CHANGED: dict[str, str] = {
    Purpose.PAYMENT_REQUEST: "One invoice goes as a payment request, but this message was written for a statement "
    "of several. Tick them again, or start over with this invoice for a payment request’s wording.",
    Purpose.STATEMENT: "Several invoices go as one statement, but this message was written for a payment request "
    "of one. Tick just one again, or start over with these invoices for a statement’s wording.",
}


class ServiceCheckedChoice:
    """Offers the usual choices but lets any id through: the service says why one cannot be used
    (no e-mail address, paid since the page was drawn, another customer's invoice) better than "not
    one of the available choices"."""

    def valid_value(self, value: Any) -> bool:
        return True


class ContactChoiceField(ServiceCheckedChoice, forms.TypedChoiceField):
    pass


class InvoiceChoiceField(ServiceCheckedChoice, forms.TypedMultipleChoiceField):
    pass


class SendForm(IdempotentForm):
    """Who to send to and the wording, in the language it is written in (a template's own)."""

    contact = ContactChoiceField(label="Contact", coerce=int, empty_value=None, required=False)
    to = forms.CharField(required=False, max_length=254)
    subject = forms.CharField(required=False, max_length=200)
    body = forms.CharField(label="Message", max_length=20_000, widget=forms.Textarea(attrs={"rows": 10}))
    language = forms.ChoiceField(choices=settings.LANGUAGES, widget=forms.HiddenInput)

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
    """The New message form: the Send form, plus the amount and reference of a payment request (the
    quick payment form's) or the open invoices to send."""

    def __init__(self, *args: Any, kind: str, merchant: Merchant, invoices: Sequence[Invoice], **kwargs: Any):
        super().__init__(*args, **kwargs)
        if kind == "request":
            for name in ("amount", "reference"):
                self.fields[name] = copy.deepcopy(QuickRequestForm.base_fields[name])
            set_form_currency(self, merchant.currency, merchant.locale)
        elif kind == "invoices":
            choices = [(i.pk, f"{i.number} · {i.balance.format(merchant.locale)}") for i in invoices]
            self.fields["invoices"] = InvoiceChoiceField(
                label="Invoices", coerce=int, choices=choices, widget=forms.CheckboxSelectMultiple
            )


def recipients(merchant: Merchant, customer_id: int, channel: str) -> list[Contact]:
    """The customer's contacts who can receive `channel`, the default billing contact first."""
    contacts = contacts_for_customer(merchant=merchant, customer_id=customer_id)
    address = ADDRESSED.get(channel)
    usable = [c for c in contacts if address is None or getattr(c, address[0])]
    return sorted(usable, key=lambda c: not c.is_default_billing)


def send_initial(customer: Customer, channel: str, contacts: list[Contact], wording: TemplateText) -> dict[str, Any]:
    """A Send form as it starts: to the first of `contacts`, else typed to the customer's own
    address for `channel`, in `wording`."""
    typed: dict[str, str] = {MessageChannel.EMAIL: customer.primary_email, MessageChannel.SMS: customer.primary_phone}
    return {
        "contact": contacts[0].pk if contacts else None,
        "to": "" if contacts else typed.get(channel, ""),
        "subject": wording.subject,
        "body": wording.body,
        "language": wording.language,
    }


def default_wording(merchant: Merchant, purpose: str) -> TemplateText:
    """The wording a message for `purpose` starts with: the merchant's default, in their language."""
    return template_text_for(merchant=merchant, purpose=purpose, language=merchant_language(merchant))


def channel_asked(request: HttpRequest, allowed: Sequence[str] = tuple(MessageChannel.values)) -> str:
    """The channel in the address (`?channel=`) when it is one of `allowed`, else e-mail."""
    channel = request.GET.get("channel", "")
    return channel if channel in allowed else MessageChannel.EMAIL


def contact_posted_or_404(request: HttpRequest, customer_id: int) -> None:
    """A posted contact that is not one of the customer's is missing, exactly as in a URL: the form
    offers only theirs, so another merchant's or another customer's id was never on the page."""
    contact_id = request.POST.get("contact", "") if request.method == "POST" else ""
    if contact_id:
        get_scoped_or_404(Contact, request, contact_id, customer_id=customer_id)


def sender_choices(request: HttpRequest, channel: str, values: dict[str, Any]) -> Sending:
    """What the sender chose on a Send form, as the sending services take it."""
    return Sending(
        channel=channel,
        contact_id=values.get("contact"),
        to=values.get("to", ""),
        subject=values.get("subject"),
        body=values["body"],
        language=values.get("language", ""),
        idempotency_key=values["idempotency_key"],
        actor=request.user,
    )


@money_role_required
def invoice_send(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    invoice = get_scoped_or_404(Invoice, request, pk)
    channel = channel_asked(request)
    contact_posted_or_404(request, invoice.customer_id)
    contacts = recipients(merchant, invoice.customer_id, channel)
    form = SendForm(
        request.POST if request.method == "POST" else None,
        channel=channel,
        customer=invoice.customer,
        contacts=contacts,
        initial=send_initial(invoice.customer, channel, contacts, default_wording(merchant, Purpose.PAYMENT_REQUEST)),
    )
    shared = None
    if form.is_bound and form.is_valid():
        try:
            sending = sender_choices(request, channel, form.cleaned_data)
            message = payment_request_send(merchant=merchant, sending=sending, invoice_id=invoice.pk)
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


def _purpose(kind: str, invoice_ids: Sequence[int]) -> str:
    """What is sent: a plain message, or a payment request (an amount and a reference, or one open
    invoice), or a statement (several open invoices)."""
    if kind == "message":
        return Purpose.SAVED_REPLY
    return Purpose.STATEMENT if kind == "invoices" and len(invoice_ids) > 1 else Purpose.PAYMENT_REQUEST


def _wording(request: HttpRequest, merchant: Merchant, kind: str, purpose: str) -> TemplateText:
    """The subject and body the form starts with: the chosen saved reply (`?template=`), else the
    merchant's default for `purpose`."""
    template_id = query_id(request, "template")
    if template_id is None and kind == "message":
        return TemplateText("", "", "", merchant_language(merchant), None)  # a blank page until a reply is picked
    if template_id is None:
        return default_wording(merchant, purpose)
    chosen = get_scoped_or_404(MessageTemplate, request, template_id)
    return TemplateText(chosen.name, chosen.subject, chosen.body, chosen.language, chosen.pk)


def _same_text(posted: str, shown: str) -> bool:
    """Whether a text box came back as it was shown: browsers send line ends as CRLF, and the form
    strips both ends."""
    return posted.replace("\r\n", "\n").strip() == shown.replace("\r\n", "\n").strip()


def _worded_for_ticks(merchant: Merchant, shown: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The open invoices form's values, worded for what the ticked invoices make of the send (one: a
    payment request, several: a statement) when that is not `shown`, the purpose of the invoices the
    page was opened with: the new purpose's default wording takes the place of the untouched
    default. None when the sender had edited the body, which then no longer fits what is sent."""
    ticked = _purpose("invoices", values["invoices"])
    if ticked == shown:
        return values
    was = default_wording(merchant, shown)
    if not _same_text(values["body"], was.body):
        return None
    wording = default_wording(merchant, ticked)
    replaced = {"body": wording.body, "language": wording.language}
    if values.get("subject") is not None and _same_text(values["subject"], was.subject):
        replaced["subject"] = wording.subject
    return values | replaced


def _send(
    request: HttpRequest, form: ComposeForm, customer: Customer, kind: str, channel: str, values: dict[str, Any]
) -> Message | None:
    """Send what the form asks for; None when the service refuses, its reason shown on the form."""
    merchant, _ = current(request)
    sending = sender_choices(request, channel, values)
    try:
        if kind == "request":
            return quick_payment_request_send(
                merchant=merchant,
                sending=sending,
                customer_id=customer.pk,
                amount=values["amount"],
                reference=values["reference"],
            )
        if kind == "message":
            return customer_message_send(merchant=merchant, sending=sending, customer_id=customer.pk)
        if _purpose(kind, values["invoices"]) == Purpose.STATEMENT:
            return statement_request_send(
                merchant=merchant, sending=sending, customer_id=customer.pk, invoice_ids=values["invoices"]
            )
        return payment_request_send(
            merchant=merchant, sending=sending, customer_id=customer.pk, invoice_id=values["invoices"][0]
        )
    except SettleError as error:
        add_domain_error(form, error)
        return None


@money_role_required
def message_new(request: HttpRequest) -> HttpResponse:
    """Find the customer (`?q=`), then write to them (`?customer=`): what to send (`?kind=`), how
    (`?channel=`), the invoices ticked on the profile (`?invoice=`) and a saved reply
    (`?template=`) all come from the address, so every step is a link or a plain form."""
    merchant, _ = current(request)
    customer_id = query_id(request, "customer")
    if customer_id is None:
        query = request.GET.get("q", "")[:100]
        search = _search_text(query)
        results = customer_list(merchant=merchant, search=search)[:SEARCH_RESULTS] if search else []
        return render(request, "backoffice/send/message_new.html", {"query": query, "results": results})
    customer = get_scoped_or_404(Customer, request, customer_id)
    selected = query_ids(request, "invoice")
    kind = request.GET.get("kind", "")
    if kind not in KINDS:
        kind = "invoices" if selected else "message"
    channel = channel_asked(request, KINDS[kind][1])
    contacts = recipients(merchant, customer.pk, channel)
    invoices = list(open_invoices(merchant=merchant, customer_id=customer.pk))
    purpose = _purpose(kind, selected)
    wording = _wording(request, merchant, kind, purpose)
    data = request.POST if request.method == "POST" else None
    contact_posted_or_404(request, customer.pk)
    if data is not None:
        _ids_of_merchant_or_404(request, Invoice, data.getlist("invoices"))
    form = ComposeForm(
        data,
        kind=kind,
        merchant=merchant,
        invoices=invoices,
        channel=channel,
        customer=customer,
        contacts=contacts,
        initial=send_initial(customer, channel, contacts, wording) | {"invoices": selected},
    )
    here = {"customer": customer.pk, "invoice": selected}
    shared, restart = None, ""
    if form.is_bound and form.is_valid():
        values = _worded_for_ticks(merchant, purpose, form.cleaned_data) if kind == "invoices" else form.cleaned_data
        if values is None:
            ticked = form.cleaned_data["invoices"]
            form.add_error("invoices", TICKS_CHANGED[_purpose(kind, ticked)])
            restart = _address(here | {"invoice": ticked, "kind": kind, "channel": channel})
        elif (message := _send(request, form, customer, kind, channel, values)) is not None:
            if channel in ADDRESSED:
                messages.success(request, f"Sent to {customer.display_name} at {message.recipient}.")
                return redirect("backoffice:customer_detail", pk=customer.pk)
            shared = message
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
        "restart": restart,
    }
    return render(request, "backoffice/send/message_new.html", context)


def _address(query: dict[str, Any]) -> str:
    """The New message screen's URL with `query` (lists become repeated parameters)."""
    return reverse("backoffice:message_new") + "?" + urlencode(query, doseq=True)


@merchant_required
def quick_request_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A payment request's link just copied: the link, the ways to send it to the customer, and,
    for a quick payment's public link, that it may be shared anywhere."""
    merchant, _ = current(request)
    message = get_scoped_or_404(
        Message,
        request,
        pk,
        purpose=Purpose.PAYMENT_REQUEST,
        status=MessageStatus.COPIED,
        concerns_invoice_id__isnull=False,
    )
    invoice = get_scoped_or_404(Invoice, request, message.concerns_invoice_id)
    context = {
        "message": message,
        "invoice": invoice,
        "public": invoice_has_public_link(merchant=merchant, invoice_id=invoice.pk),
    }
    return render(request, "backoffice/send/quick_request_link.html", context)
