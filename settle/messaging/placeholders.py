"""The placeholder registry and the renderer.

A placeholder is a name between braces — `{customer.name}`, `{ customer.name }`, `{Secure Link}` —
matched without regard to case or spacing. Each purpose may use some placeholders and must keep
some (a payment request its `{payment.link}`, a profile request its `{Secure Link}`); templates are
checked when saved, so a typo is refused then, naming it, instead of reaching a customer.

Rendering is one pass over the text: a value is never read again as a template, so a customer
named "{Bob}" is fine, and no `{…}` written by the merchant survives into the output."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from babel.dates import format_date, format_datetime

from settle.core.errors import InvalidInput
from settle.core.money import Money

from .models import Purpose

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_META = re.compile(r"(customer|appointment)\.meta_[a-z0-9_]{1,40}")

CATALOGUE: dict[str, str] = {
    "customer.name": "The customer’s name",
    "contact.name": "The name of the contact it goes to (else the customer’s)",
    "company.name": "Your business name",
    "company.phone": "Your business phone number",
    "company.email": "Your business e-mail address",
    "invoice.number": "The invoice number or payment reference",
    "invoice.amount_due": "What is left to pay",
    "invoice.total": "The invoice total",
    "invoice.due_date": "The due date",
    "payment.link": "The secure link to pay",
    "payment.amount": "The amount paid or requested",
    "payment.date": "The date of the payment",
    "payment.method": "How it was paid (e.g. Visa •••• 4242)",
    "receipt.link": "The link to the receipt",
    "statement.link": "The link to the account statement",
    "statement.balance": "The customer’s total balance",
    "Secure Link": "The one-time secure link to add a payment method",
    "link.expires": "When the secure link expires",
}
META_HELP = {
    "customer.meta_…": "A custom value about the customer, e.g. {customer.meta_rent_due}",
    "appointment.meta_…": "A custom value about the appointment, e.g. {appointment.meta_animal_name}",
}

# Who a message is to and from: every message can fill these.
COMMON = frozenset({"customer.name", "contact.name", "company.name", "company.phone", "company.email"})
_INVOICE = frozenset({"invoice.number", "invoice.amount_due", "invoice.total", "invoice.due_date"})
_PAID = frozenset({"payment.amount", "payment.date", "payment.method", "receipt.link"})

ALLOWED: dict[str, frozenset[str]] = {
    Purpose.PAYMENT_REQUEST: COMMON | _INVOICE | {"payment.link", "payment.amount"},
    Purpose.REMINDER: COMMON | _INVOICE | {"payment.link", "payment.amount"},
    Purpose.PAYMENT_CONFIRMATION: COMMON | _INVOICE | _PAID,
    Purpose.RECEIPT: COMMON | _INVOICE | _PAID,
    Purpose.PROFILE_REQUEST: COMMON | {"Secure Link", "link.expires"},
    Purpose.STATEMENT: COMMON | {"statement.link", "statement.balance", "payment.link"},
    Purpose.SAVED_REPLY: frozenset(CATALOGUE),
}
# The link a purpose must keep: one of these (the first is the one named when it is missing).
REQUIRED: dict[str, tuple[str, ...]] = {
    Purpose.PAYMENT_REQUEST: ("payment.link",),
    Purpose.PROFILE_REQUEST: ("Secure Link",),
    Purpose.STATEMENT: ("statement.link", "payment.link"),
}
# The link a message of each purpose carries: what Messenger shares and "copy link" copies.
LINK_OF: dict[str, str] = {
    Purpose.PAYMENT_REQUEST: "payment.link",
    Purpose.REMINDER: "payment.link",
    Purpose.PAYMENT_CONFIRMATION: "receipt.link",
    Purpose.RECEIPT: "receipt.link",
    Purpose.PROFILE_REQUEST: "Secure Link",
    Purpose.STATEMENT: "statement.link",
}

_BY_KEY = {name.lower(): name for name in CATALOGUE}


def canonical(raw: str) -> str | None:
    """The registry's name for what is written between braces, or None if it is not a placeholder."""
    key = " ".join(raw.split()).lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    if _META.fullmatch(key):
        return key
    return None


def _allowed(name: str, purpose: str) -> bool:
    return name in ALLOWED[purpose] or _META.fullmatch(name) is not None


def placeholders_check(*, purpose: str, subject: str, body: str) -> None:
    """Refuse text with a placeholder that does not exist or does not fit the purpose, with a stray
    brace, or without a placeholder the purpose must keep (InvalidInput naming it, on its field)."""
    for field, text in (("subject", subject), ("body", body)):
        unknown, misplaced = [], []
        for match in PLACEHOLDER.finditer(text):
            name = canonical(match.group(1))
            if name is None:
                unknown.append(_shown(match.group(0)))
            elif not _allowed(name, purpose):
                misplaced.append(f"{{{name}}}")
        if unknown:
            listed = ", ".join(dict.fromkeys(unknown))
            noun = "is not a placeholder" if len(unknown) == 1 else "are not placeholders"
            raise InvalidInput(f"{listed} {noun} Settle knows. Check the spelling or remove the braces.", field=field)
        if misplaced:
            listed = ", ".join(dict.fromkeys(misplaced))
            raise InvalidInput(f"{listed} cannot be used in a {Purpose(purpose).label.lower()}.", field=field)
        if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
            raise InvalidInput("Braces are only for placeholders: remove the stray “{” or “}”.", field=field)
    required = REQUIRED.get(purpose, ())
    if required and not set(required).intersection(placeholders_in(body)):
        raise InvalidInput(
            f"Keep the {{{required[0]}}} placeholder: it is where the customer’s link goes.", field="body"
        )


def _shown(text: str) -> str:
    return f"“{text}”" if len(text) <= 60 else f"“{text[:57]}…”"


def placeholders_for(purpose: str) -> list[tuple[str, str, bool]]:
    """(placeholder, what it stands for, must be kept) for the template editor's help."""
    required = REQUIRED.get(purpose, ())[:1]
    rows = [(f"{{{name}}}", CATALOGUE[name], name in required) for name in CATALOGUE if name in ALLOWED[purpose]]
    return rows + [(f"{{{name}}}", text, False) for name, text in META_HELP.items()]


def placeholders_in(text: str) -> list[str]:
    """The registry names of the placeholders used in `text`, in order, once each."""
    names = (canonical(match.group(1)) for match in PLACEHOLDER.finditer(text))
    return list(dict.fromkeys(name for name in names if name is not None))


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder with its value ("" when there is none) in one pass; braces that
    belong to no placeholder are dropped, so the output never shows a raw `{…}`."""
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER.finditer(text):
        parts.append(_without_braces(text[position : match.start()]))
        name = canonical(match.group(1))
        parts.append(values.get(name, "") if name is not None else "")
        position = match.end()
    parts.append(_without_braces(text[position:]))
    return "".join(parts)


def _without_braces(text: str) -> str:
    return text.replace("{", "").replace("}", "")


def value_text(value: object, locale: str) -> str:
    """A context value as the reader sees it: amounts and dates in their locale, a moment in the
    time zone it carries (give it in the merchant's)."""
    if isinstance(value, Money):
        return value.format(locale)
    if isinstance(value, dt.datetime):
        return format_datetime(value, format="medium", tzinfo=value.tzinfo, locale=locale)
    if isinstance(value, dt.date):
        return format_date(value, format="long", locale=locale)
    return str(value)
