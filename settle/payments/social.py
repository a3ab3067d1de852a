"""Social payment apps (Venmo, PayPal.me, Cash App, Zelle): no gateway, only a link that opens the
customer's app with the amount, and the invoice number where the app takes one, filled in. Money
sent this way reaches the merchant outside Settle, so nothing is marked paid until the merchant
records it.

The handles are checked strictly: a typo sends a customer's money to a stranger. Amounts in links
are exact decimals of the merchant's currency; an app that cannot take that currency is not offered
(Venmo, Cash App and Zelle move US dollars only; PayPal.me names the currency in the link)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import phonenumbers
from django.utils.translation import gettext

from settle.core.contact_points import email_normalize, phone_normalize
from settle.core.errors import InvalidInput
from settle.core.money import CurrencyMismatch, Money

if TYPE_CHECKING:
    from .models import PaymentSettings


class SocialApp(StrEnum):
    """Same values as the matching `PaymentMethod`s, which record the payment once it arrives."""

    VENMO = "venmo"
    PAYPAL = "paypal"
    CASH_APP = "cash_app"
    ZELLE = "zelle"


LABELS: dict[SocialApp, str] = {
    SocialApp.VENMO: "Venmo",
    SocialApp.PAYPAL: "PayPal",
    SocialApp.CASH_APP: "Cash App",
    SocialApp.ZELLE: "Zelle",
}

# The `PaymentSettings` field holding each app's handle.
HANDLE_FIELDS: dict[SocialApp, str] = {
    SocialApp.VENMO: "venmo_username",
    SocialApp.PAYPAL: "paypal_handle",
    SocialApp.CASH_APP: "cashapp_cashtag",
    SocialApp.ZELLE: "zelle_recipient",
}

# Currencies each app can be sent; None: the link says which, and the app itself judges.
CURRENCIES: dict[SocialApp, frozenset[str] | None] = {
    SocialApp.VENMO: frozenset({"USD"}),
    SocialApp.PAYPAL: None,
    SocialApp.CASH_APP: frozenset({"USD"}),
    SocialApp.ZELLE: frozenset({"USD"}),
}

_VENMO = re.compile(r"[A-Za-z0-9_-]{5,30}")
_PAYPAL = re.compile(r"[A-Za-z0-9]{1,20}")
_CASHTAG = re.compile(r"\$[A-Za-z0-9]{1,20}")
# What people paste instead of the bare handle: the profile's address, or the handle's sigil.
_VENMO_PREFIX = re.compile(r"^(?:https?://)?(?:www\.|account\.)?venmo\.com/(?:u/)?|^@", re.I)
_PAYPAL_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?paypal\.(?:me|com/paypalme)/", re.I)
_CASHAPP_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?cash\.app/", re.I)


def handle_normalize(app: SocialApp, value: str, *, region: str = "US") -> str:
    """The handle as stored: Venmo username without "@", PayPal.me handle, cashtag with its "$",
    Zelle e-mail (lower-cased) or phone in E.164 (national numbers read in `region`). A pasted
    profile address is reduced to its handle; "" stays "" (the app is off). Raises InvalidInput
    naming the settings field."""
    field = HANDLE_FIELDS[app]
    value = value.strip()
    if not value:
        return ""
    if app is SocialApp.VENMO:
        username = _VENMO_PREFIX.sub("", value).rstrip("/")
        if not _VENMO.fullmatch(username):
            raise InvalidInput("A Venmo username has 5 to 30 letters, digits, hyphens or underscores.", field=field)
        return username
    if app is SocialApp.PAYPAL:
        handle = _PAYPAL_PREFIX.sub("", value).rstrip("/")
        if not _PAYPAL.fullmatch(handle):
            raise InvalidInput("A PayPal.me handle has 1 to 20 letters or digits.", field=field)
        return handle
    if app is SocialApp.CASH_APP:
        tag = _CASHAPP_PREFIX.sub("", value).rstrip("/")
        tag = tag if tag.startswith("$") else f"${tag}"
        if not _CASHTAG.fullmatch(tag) or not any(ch.isalpha() for ch in tag):
            raise InvalidInput(
                "A $Cashtag is “$” and 1 to 20 letters or digits, with at least one letter.", field=field
            )
        return tag
    if "@" in value:
        return email_normalize(value, field=field)
    return phone_normalize(value, region=region, field=field)


def app_takes(app: SocialApp, currency: str) -> bool:
    """Whether customers can send `currency` with this app."""
    currencies = CURRENCIES[app]
    return currencies is None or currency in currencies


def configured_apps(settings: PaymentSettings) -> list[SocialApp]:
    """The apps with a handle that can take the merchant's currency, in display order."""
    return [app for app in SocialApp if getattr(settings, HANDLE_FIELDS[app]) and app_takes(app, settings.currency)]


@dataclass(frozen=True, slots=True)
class SocialOption:
    """One way to pay with an app. `url` opens the app (None for Zelle, which has no links: the
    customer types `handle`, the amount and `memo` in their bank's app, as `instructions` say)."""

    app: SocialApp
    label: str
    url: str | None
    instructions: str
    handle: str  # as the customer sees it: @username, paypal.me/handle, $Cashtag, e-mail or phone
    amount: Money
    memo: str

    @property
    def pay_label(self) -> str:
        return gettext("Pay with %(app)s") % {"app": self.label}

    @property
    def paid_label(self) -> str:
        return gettext("I’ve paid with %(app)s") % {"app": self.label}


def social_options(
    settings: PaymentSettings, amount: Money, invoice_number: str, *, locale: str = "en_US"
) -> list[SocialOption]:
    """The configured apps, each opening with `amount` and (where the app takes a note)
    `invoice_number` filled in; texts in the active language, amounts formatted in `locale`.
    Nothing for an amount that is not positive. Raises CurrencyMismatch for an amount in another
    currency than the merchant's."""
    if amount.currency != settings.currency:
        raise CurrencyMismatch(f"Social payment links are in {settings.currency}, not {amount.currency}.")
    if amount.minor <= 0:
        return []
    return [
        _option(app, getattr(settings, HANDLE_FIELDS[app]), amount, invoice_number, locale)
        for app in configured_apps(settings)
    ]


def _option(app: SocialApp, handle: str, amount: Money, invoice_number: str, locale: str) -> SocialOption:
    # "12.50", "1000" (JPY), "12.345" (KWD): the exact amount, never a float or exponent notation.
    decimal = f"{amount.decimal:f}"
    shown = {"amount": amount.format(locale), "memo": invoice_number}
    if app is SocialApp.VENMO:
        query = urlencode({"txn": "pay", "amount": decimal, "note": invoice_number}, quote_via=quote)
        return SocialOption(
            app=app,
            label=LABELS[app],
            url=f"https://venmo.com/{quote(handle, safe='')}?{query}",
            instructions=gettext("Opens Venmo with %(amount)s and the invoice number filled in.") % shown,
            handle=f"@{handle}",
            amount=amount,
            memo=invoice_number,
        )
    if app is SocialApp.PAYPAL:
        return SocialOption(
            app=app,
            label=LABELS[app],
            url=f"https://paypal.me/{quote(handle, safe='')}/{decimal}{amount.currency}",
            instructions=gettext("Opens PayPal with %(amount)s filled in. Add “%(memo)s” as the note.") % shown,
            handle=f"paypal.me/{handle}",
            amount=amount,
            memo=invoice_number,
        )
    if app is SocialApp.CASH_APP:
        return SocialOption(
            app=app,
            label=LABELS[app],
            url=f"https://cash.app/{quote(handle, safe='$')}/{decimal}",
            instructions=gettext("Opens Cash App with %(amount)s filled in. Add “%(memo)s” as the note.") % shown,
            handle=handle,
            amount=amount,
            memo=invoice_number,
        )
    recipient = _phone_display(handle) if handle.startswith("+") else handle
    return SocialOption(
        app=app,
        label=LABELS[app],
        url=None,
        instructions=gettext(
            "In your bank’s app, send %(amount)s with Zelle to %(recipient)s and type “%(memo)s” as the memo."
        )
        % {**shown, "recipient": recipient},
        handle=recipient,
        amount=amount,
        memo=invoice_number,
    )


def _phone_display(e164: str) -> str:
    """+15145550123 → +1 514-555-0123, easier to type into a bank's app."""
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
