"""Reads about messages and templates."""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from django.conf import settings
from django.db.models import Case, Prefetch, QuerySet, Value, When

from settle.customers.models import Customer
from settle.tenants.models import Merchant

from .models import LocalSms, Message, MessageAttachment, MessageTemplate, Purpose
from .starters import starter_default


def language_codes() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


def reader_locale(merchant: Merchant, language: str) -> str:
    """`language` as written in the merchant's country (fr + en_CA → fr_CA), for amounts and dates."""
    try:
        territory = Locale.parse(merchant.locale.replace("-", "_")).territory
        return str(Locale(language, territory)) if territory else language
    except (ValueError, UnknownLocaleError):
        return language


def merchant_language(merchant: Merchant) -> str:
    """The language of the merchant's locale when Settle speaks it, else the site's."""
    code = merchant.locale.replace("-", "_").split("_")[0].lower()
    return code if code in language_codes() else settings.LANGUAGE_CODE


@dataclass(frozen=True)
class TemplateText:
    name: str
    subject: str
    body: str
    language: str
    template_id: int | None


def template_text_for(*, merchant: Merchant, purpose: str, language: str) -> TemplateText:
    """The wording used when the sender picks none, as compose screens show it (placeholders
    unfilled, editable): the merchant's default template for the purpose and language, else their
    first one, else the built-in starter (in English when there is none in that language)."""
    template = (
        MessageTemplate.objects.filter(merchant=merchant, purpose=purpose, language=language)
        .order_by("-is_default", "name", "pk")
        .first()
    )
    if template is not None:
        return TemplateText(template.name, template.subject, template.body, template.language, template.pk)
    found = starter_default(purpose, language)
    if found is None:
        return TemplateText("", "", "", language, None)
    starter, wording = found
    return TemplateText(
        wording.name, wording.subject, wording.body, language if language in starter.wordings else "en", None
    )


def template_list(*, merchant: Merchant, purpose: str = "", language: str = "") -> QuerySet[MessageTemplate]:
    """The merchant's templates by purpose (payment requests first), language, default first, name."""
    query = MessageTemplate.objects.filter(merchant=merchant)
    if purpose:
        query = query.filter(purpose=purpose)
    if language:
        query = query.filter(language=language)
    purpose_order = Case(*(When(purpose=value, then=Value(i)) for i, value in enumerate(Purpose.values)))
    return query.order_by(purpose_order, "language", "-is_default", "name", "pk")


def message_list(
    *,
    merchant: Merchant,
    channel: str = "",
    status: str = "",
    customer_id: int | None = None,
    contact_id: int | None = None,
    invoice_id: int | None = None,
    payment_id: int | None = None,
) -> QuerySet[Message]:
    """The message log, newest first: the audit trail of a customer, a contact, an invoice or a
    payment when one is given."""
    query = Message.objects.filter(merchant=merchant).select_related("customer", "contact")
    for field, value in (
        ("channel", channel),
        ("status", status),
        ("customer_id", customer_id),
        ("contact_id", contact_id),
        ("concerns_invoice_id", invoice_id),
        ("concerns_payment_id", payment_id),
    ):
        if value:
            query = query.filter(**{field: value})
    return query.order_by("-created_at", "-id")


def message_detail(*, merchant: Merchant, message_id: int) -> Message:
    """One message with its attachments' names and sizes (not their bytes); raises
    Message.DoesNotExist for another merchant's id."""
    attachments = MessageAttachment.objects.filter(merchant=merchant).defer("content")
    return (
        Message.objects.select_related("customer", "contact", "actor")
        .prefetch_related(Prefetch("attachments", queryset=attachments))
        .get(merchant=merchant, pk=message_id)
    )


def message_customers(*, merchant: Merchant) -> QuerySet[Customer]:
    """Customers who have been sent a message, by name (the log's customer filter)."""
    return (
        Customer.objects.filter(
            merchant=merchant, pk__in=Message.objects.filter(merchant=merchant).values("customer_id")
        )
        .only("pk", "display_name")
        .order_by("display_name", "pk")
    )


def local_sms_list(*, merchant: Merchant) -> QuerySet[LocalSms]:
    """The local text outbox, newest first."""
    return LocalSms.objects.filter(merchant=merchant).order_by("-created_at", "-id")
