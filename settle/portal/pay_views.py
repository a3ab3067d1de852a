"""The customer's pay page behind a secure link: /l/<token>/ trades the token for a short session and
redirects to /l/invoice/ (one invoice: its lines, its PDF) or /l/statement/ (several invoices to
tick), each with the ways to pay, in the customer's language.

One checkout serves both. /l/invoice/pay/ checks what is paid, how much and how, keeps a checkout
in the session under a random `state`, and sends the customer to the gateway's own page: the card
or bank-account fields (optionally saving the method, with the authorization shown), a wallet's
sheet, or the pay-later lender's approval. The gateway sends them back to /l/invoice/return/ with
that state and a setup token, which is vaulted and charged with the checkout's idempotency key (a
reload or a second tab replays the same charge, never a new one). A saved method needs no gateway
page: it is charged at once. /l/invoice/paid/ confirms the payment and the invoices it paid."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

from babel import localedata
from babel.dates import format_date
from babel.numbers import format_decimal
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from settle.core import clock
from settle.core.errors import SettleError
from settle.core.http import pdf_response
from settle.core.money import Money, currency_exponent
from settle.core.tenancy import all_merchants, is_row_id, merchant_scope
from settle.documents.data import InvoiceDocument, Status
from settle.documents.labels import LANGUAGES, label, language_of
from settle.documents.pdf import invoice_pdf, receipt_pdf
from settle.gateways.base import MethodKind, VaultedMethod, VaultFailed, Wallet
from settle.gateways.registry import gateway_get
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.payments.charges import charge_attempt_reconcile, charge_attempt_start
from settle.payments.links import (
    PORTAL_SESSION_KEY,
    Refusal,
    SecureLinkRefused,
    portal_session_grant,
    portal_session_link,
    secure_link_guess_allowed,
    secure_link_resolve,
)
from settle.payments.models import (
    Application,
    ChargeAttempt,
    ChargeState,
    LinkPurpose,
    Payment,
    PaymentSettings,
    SavedMethod,
    SecureLink,
)
from settle.payments.payment_settings import payment_settings_get, payment_types_offered
from settle.payments.receipts import invoice_document, invoice_page_document, link_invoices, receipt_document
from settle.payments.selectors import saved_methods_chargeable
from settle.payments.social import social_options
from settle.payments.vault import SAVABLE_KINDS, saved_method_add
from settle.tenants.models import Merchant

from .page_cache import CHECKOUT_BLANK, page_render
from .security import customer_page

logger = logging.getLogger(__name__)

# The Babel locale for a page language when the merchant's country has none of its own.
DEFAULT_LOCALES = {"en": "en_US", "fr": "fr_FR", "es": "es_ES"}

# Where each kind of link lands once its token is exchanged for a session.
LANDING_PAGES: dict[str, str] = {
    LinkPurpose.PAY_INVOICE: "pay:invoice",
    LinkPurpose.PAY_STATEMENT: "pay:statement",
    LinkPurpose.VIEW_RECEIPT: "pay:receipt",
    LinkPurpose.ADD_PAYMENT_METHOD: "pay:method",
}

# The links that pay: one invoice, or a statement of several, through the same checkout.
PAY_PURPOSES = (LinkPurpose.PAY_INVOICE, LinkPurpose.PAY_STATEMENT)

# (title, explanation) per refusal; None: no session, or one whose time is up.
REFUSALS = {
    Refusal.UNKNOWN: (
        _("This link is not valid"),
        _("Check that you opened the whole link from your message, or ask the business that sent it for a new one."),
    ),
    Refusal.EXPIRED: (
        _("This link has expired"),
        _("Ask the business that sent it for a new link."),
    ),
    Refusal.USED: (
        _("This link has already been used"),
        _("It worked only once. Ask the business that sent it for a new link if you need one."),
    ),
    Refusal.REVOKED: (
        _("This link was cancelled"),
        _("The business that sent it cancelled it. Ask them for a new link if you need one."),
    ),
    Refusal.INVOICE_VOID: (
        _("This invoice was cancelled"),
        _("There is nothing to pay. Contact the business that sent it if you have a question."),
    ),
    None: (
        _("This page has expired or the link is not valid"),
        _("Open the link from your message again. If it has expired, ask the business that sent it for a new one."),
    ),
}


def babel_locale(language: str, merchant_locale: str) -> str:
    """How amounts and dates are written on a page in `language` ("fr", "es-mx"): that language as
    spoken in the merchant's country when Babel knows it (fr + fr_CA → fr_CA, es + en_US → es_US),
    else the language's usual locale (fr → fr_FR, es → es_ES)."""
    language = language.replace("-", "_").split("_")[0].lower()
    territory = merchant_locale.replace("-", "_").partition("_")[2]
    if territory and localedata.exists(f"{language}_{territory}"):
        return f"{language}_{territory}"
    return DEFAULT_LOCALES.get(language, merchant_locale)


def refused_page(request: HttpRequest, reason: Refusal | None) -> HttpResponse:
    """The friendly page for a link or session that cannot be used. It names no merchant: an
    unknown token has none, and the others need not tell a stranger whose link it was."""
    title, explanation = REFUSALS[reason]
    status = SecureLinkRefused(reason).status_code if reason else 404
    return render(request, "portal/pay/refused.html", {"title": title, "explanation": explanation}, status=status)


@customer_page
@require_safe
def link_open(request: HttpRequest, token: str) -> HttpResponse:
    """Check the token, give this browser a short session for its link, and 303 to a page whose
    URL does not hold the token (so it leaves the address bar, the history and any Referer)."""
    client_ip = request.META.get("REMOTE_ADDR", "")
    if not secure_link_guess_allowed(client_ip):
        return render(request, "portal/pay/rate_limited.html", status=429)
    now = clock.now()
    try:
        link = secure_link_resolve(token, now=now, client_ip=client_ip)
    except SecureLinkRefused as refused:
        return refused_page(request, refused.reason)
    landing = LANDING_PAGES.get(link.purpose)
    if landing is None:
        return refused_page(request, Refusal.UNKNOWN)
    portal_session_grant(request, link, now=now)
    return HttpResponseRedirect(reverse(landing), status=303)


def _voided(claim: Any) -> bool:
    """Whether the session `claim` (read before `portal_session_link` drops a dead one) was for a
    link whose invoice has since been voided: the customer is told it was cancelled."""
    if not isinstance(claim, dict) or not isinstance(claim.get("link_id"), int):
        return False
    with all_merchants():
        return Invoice.objects.filter(secure_links__pk=claim["link_id"], status=InvoiceStatus.VOID).exists()


class Paying(NamedTuple):
    """A session's payment link: its merchant, the link, its invoices (oldest due first) and the
    Babel locale of the page, for amounts and dates."""

    merchant: Merchant
    link: SecureLink
    invoices: list[Invoice]
    locale: str


def session_link(request: HttpRequest, purposes: Collection[str], now: dt.datetime) -> SecureLink | HttpResponse:
    """The link this session was granted, when it is for one of `purposes`, or the refusal page
    (which says so when the link ended because its invoice was voided)."""
    claim = request.session.get(PORTAL_SESSION_KEY)
    link = portal_session_link(request, now=now)
    if link is None or link.purpose not in purposes:
        return refused_page(request, Refusal.INVOICE_VOID if link is None and _voided(claim) else None)
    return link


def session_paying(
    request: HttpRequest, now: dt.datetime, purposes: Collection[str] = PAY_PURPOSES
) -> Paying | HttpResponse:
    """The session's link to pay one invoice or a statement of several (or only `purposes`) with
    its invoices, or the refusal page."""
    link = session_link(request, purposes, now)
    if isinstance(link, HttpResponse):
        return link
    merchant = link.merchant
    with merchant_scope(merchant):
        invoices = link_invoices(merchant=merchant, link_id=link.pk)
    return Paying(merchant, link, invoices, babel_locale(translation.get_language(), merchant.locale))


class _Viewing(NamedTuple):
    paying: Paying
    doc: InvoiceDocument


def _session_invoice(request: HttpRequest, now: dt.datetime, *, for_pdf: bool = False) -> _Viewing | HttpResponse:
    """The session's invoice link and its invoice's document in the page's locale, or the refusal
    page. Only a PDF needs the logo's bytes; a page shows it by its URL, and its document is built
    from the invoice already loaded (or taken from the cache when nothing it shows has changed)."""
    found = session_paying(request, now, (LinkPurpose.PAY_INVOICE,))
    if isinstance(found, HttpResponse):
        return found
    merchant, invoice = found.merchant, found.invoices[0]
    with merchant_scope(merchant):
        if for_pdf:
            doc = invoice_document(merchant=merchant, invoice_id=invoice.pk, locale=found.locale)
        else:
            doc = invoice_page_document(merchant=merchant, invoice=invoice, locale=found.locale)
    return _Viewing(found, doc)


@dataclass(frozen=True, slots=True)
class _Ways:
    """The ways the page offers to pay `amount_due`, each a button of the one pay form."""

    checkout_key: str  # sent back with the form: a double-tapped button asks for one charge
    saved: list[tuple[int, str]]  # (id, "Visa •••• 4242 — Mary's business Visa"), the default first
    hosted: list[MethodKind]  # card and bank account, on the gateway's own page
    consent_text: str  # beside the box to save a card or bank account; "" when it cannot be saved
    wallets: list[tuple[str, str]]  # (Wallet value, name)
    bnpl: bool
    bnpl_minimum: str  # said when the customer may type a smaller amount, which cannot pay later
    partial: bool
    amount_value: str
    amount_due: str

    @property
    def offered(self) -> bool:
        return bool(self.saved or self.hosted or self.wallets or self.bnpl)


def _consent_text(merchant: Merchant) -> str:
    """The authorization a customer gives by ticking the box to save a method: shown beside the box
    and stored word for word with the method."""
    return gettext(
        "I authorize %(name)s to keep this card or bank account on file with its payment processor and "
        "to charge it only when I choose to pay with it. Saving it charges nothing, and I can ask "
        "%(name)s to remove it at any time."
    ) % {"name": merchant.name}


def _saved_offered(paying: Paying, payment_settings: PaymentSettings, amount: Money) -> list[SavedMethod]:
    """The customer's saved methods the page may charge: none on a public link (anyone may hold
    it), else those kept at the merchant's gateway of a payment type offered for `amount`."""
    if paying.link.public:
        return []
    offered = [kind.value for kind in payment_types_offered(payment_settings, amount) if kind in SAVABLE_KINDS]
    return saved_methods_chargeable(
        merchant=paying.merchant, customer_id=paying.link.customer_id, gateway=payment_settings.gateway, kinds=offered
    )


def _ways(paying: Paying, payment_settings: PaymentSettings, amount: Money) -> _Ways:
    """What the page offers for `amount`: the customer's saved methods, card and bank account
    through the gateway's fields (with the box to save them, except on a public link), each wallet,
    and pay-later when `amount` reaches the merchant's minimum."""
    offered = payment_types_offered(payment_settings, amount)
    hosted = [kind for kind in HOSTED_KINDS if kind in offered]
    partial = payment_settings.partial_payments_allowed
    with merchant_scope(paying.merchant):
        saved = [(method.pk, method.label) for method in _saved_offered(paying, payment_settings, amount)]
    return _Ways(
        checkout_key=secrets.token_urlsafe(CHECKOUT_KEY_BYTES),
        saved=saved,
        hosted=hosted,
        consent_text=_consent_text(paying.merchant) if hosted and not paying.link.public else "",
        wallets=[(wallet.value, WALLET_NAMES[wallet]) for wallet in Wallet] if MethodKind.WALLET in offered else [],
        bnpl=MethodKind.BNPL in offered,
        bnpl_minimum=payment_settings.bnpl_minimum.format(paying.locale) if partial else "",
        partial=partial,
        amount_value=_amount_text(amount, paying.locale),
        amount_due=amount.format(paying.locale),
    )


@customer_page
@require_safe
def invoice_page(request: HttpRequest) -> HttpResponse:
    """The invoice: amount due, due date, lines, totals, the PDF, and the ways to pay it (saved
    methods, card or bank account, wallets and pay-later through the merchant's gateway, the
    merchant's social payment apps); a paid one shows its PAID stamp and the payments received
    instead."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    paying, doc = found
    invoice = paying.invoices[0]
    context: dict[str, Any] = {
        "merchant": paying.merchant,
        "doc": doc,
        "labels": LANGUAGES[doc.language],
        "status_label": label(doc.language, f"status.{doc.status}"),
        "paid_stamp": label(doc.language, "stamp.paid") if doc.status == Status.PAID else "",
        "receipts": not paying.link.public,  # see `_applied_payment`
        "options": [],
        "ways": None,
    }
    checkout_key = ""
    if invoice.is_collectible:
        with merchant_scope(paying.merchant):
            payment_settings = payment_settings_get(merchant=paying.merchant)
        context["options"] = social_options(payment_settings, invoice.balance, invoice.number, locale=paying.locale)
        ways = _ways(paying, payment_settings, invoice.balance)
        checkout_key = ways.checkout_key
        context["ways"] = dataclasses.replace(ways, checkout_key=CHECKOUT_BLANK)
    return page_render(request, "portal/pay/invoice.html", context, checkout_key=checkout_key)


@customer_page
@require_safe
def invoice_pdf_download(request: HttpRequest) -> HttpResponse:
    """The invoice's PDF, written in the page's language."""
    found = _session_invoice(request, clock.now(), for_pdf=True)
    if isinstance(found, HttpResponse):
        return found
    return pdf_response(invoice_pdf(found.doc), found.doc.number)


class _StatementRow(NamedTuple):
    invoice_id: int
    number: str
    due_date: str
    past_due: bool
    balance: str
    status: str  # the invoice's status in words when it cannot be paid (paid), else ""
    ticked: bool


@customer_page
@require_http_methods(["GET", "HEAD", "POST"])
def statement_page(request: HttpRequest) -> HttpResponse:
    """A statement: each of its invoices with its due date, a past-due marker and its balance, the
    open ones with a box to tick (all ticked at first), the total of those ticked and the ways to
    pay it; paid ones show as paid. Without script, "Update the total" posts the ticks here and
    comes back to the page with them in its query (?invoice=…)."""
    now = clock.now()
    found = session_paying(request, now, (LinkPurpose.PAY_STATEMENT,))
    if isinstance(found, HttpResponse):
        return found
    if request.method == "POST":
        query = urlencode({"invoice": request.POST.getlist("invoice") or [""]}, doseq=True)
        return HttpResponseRedirect(f"{reverse('pay:statement')}?{query}", status=303)
    merchant, _link, invoices, locale = found
    asked = request.GET.getlist("invoice") if "invoice" in request.GET else None
    today = clock.local_date(now, merchant.time_zone)
    language = language_of(locale)
    rows = [
        _StatementRow(
            invoice_id=invoice.pk,
            number=invoice.number,
            due_date=format_date(invoice.due_date, format="medium", locale=locale),
            past_due=invoice.is_past_due(today),
            balance=invoice.balance.format(locale),
            status="" if invoice.is_collectible else label(language, f"status.{invoice.status}"),
            ticked=invoice.is_collectible and (asked is None or str(invoice.pk) in asked),
        )
        for invoice in invoices
    ]
    chosen = [invoice for invoice, row in zip(invoices, rows, strict=True) if row.ticked]
    owed = Money(sum(invoice.balance_minor for invoice in chosen), merchant.currency)
    due = Money(sum(invoice.balance_minor for invoice in invoices if invoice.is_collectible), merchant.currency)
    context: dict[str, Any] = {
        "merchant": merchant,
        "labels": LANGUAGES[language],
        "rows": rows,
        "amount_due": due.format(locale),
        "total": owed.format(locale),
        "payable": due.minor > 0,
        "options": [],
        "ways": None,
    }
    if due.minor > 0:
        with merchant_scope(merchant):
            payment_settings = payment_settings_get(merchant=merchant)
        reference = " ".join(invoice.number for invoice in chosen)
        context["options"] = social_options(payment_settings, owed, reference, locale=locale)
        context["claimed_invoice_ids"] = [invoice.pk for invoice in chosen]
        context["ways"] = _ways(found, payment_settings, owed)
    return render(request, "portal/pay/statement.html", context)


# The session's checkouts by state, and the last finished one (for its confirmation page).
CHECKOUTS_KEY = "settle.pay.checkouts"
FINISHED_KEY = "settle.pay.finished"
# A browser with more open checkouts than this forgets the oldest (pay page and method page alike).
MAX_CHECKOUTS = 5
# The key the pay form is shown with: 128 random bits, as token_urlsafe writes them.
CHECKOUT_KEY_BYTES = 16
CHECKOUT_KEY_FORMAT = re.compile(r"[A-Za-z0-9_-]{22}")
MAX_SAVED_NAME = 80

# Typed on the gateway's own page; a wallet's sheet and the pay-later approval are pages of their own.
HOSTED_KINDS = (MethodKind.CARD, MethodKind.ACH)
WALLET_NAMES = {Wallet.APPLE_PAY: "Apple Pay", Wallet.GOOGLE_PAY: "Google Pay"}

# The decline reasons a customer is told in their own language; others show the gateway's words
# on an English page, and only the title on another.
DECLINES = {
    "insufficient_funds": _("Your card has insufficient funds."),
    "expired_card": _("Your card has expired."),
    "incorrect_cvc": _("Your card's security code is incorrect."),
    "processing_error": _("An error occurred while processing your card. Try again in a little bit."),
}

# What a charge the services refused tells the customer, by the refusal's code; the services' own
# messages are English. Any other code gets REFUSED_CHARGE.
REFUSED_CHARGES = {
    "invoice_paid": _("This has already been paid, so nothing was charged."),
    "invoice_not_payable": _("This invoice can no longer be paid, so nothing was charged."),
    "amount_above_balance": _(
        "That is more than what is owed now, so nothing was charged. Check the amount due and try again."
    ),
    "amount_below_balance": _("This must be paid in full, so nothing was charged."),
    "payment_type_unavailable": _("This way of paying is not available."),
    "charge_open": _(
        "An earlier payment of this invoice is still being confirmed, so nothing more was charged. "
        "Check back in a few minutes."
    ),
    "IdempotencyConflict": _(
        "This payment was already submitted with other details, so nothing more was charged. "
        "Reload the page to pay again."
    ),
}
REFUSED_CHARGE = _("This payment could not be made, and nothing was charged. Reload the page and try again.")


class _Unavailable(Exception):
    """What the customer asked for cannot be done; the message, in their language, says why."""


class VaultedCheckout(TypedDict, total=False):
    """What a checkout in the session keeps of its method once vaulted (see `checkout_vault`)."""

    kind: str  # a MethodKind
    token: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None


class _Checkout(VaultedCheckout, total=False):
    link_id: int
    invoice_ids: list[int]  # oldest due first
    amount_minor: int
    allow_partial: bool
    idempotency_key: str
    # A card or bank account to save once it has paid: the authorization shown, its IP and the
    # name given. Once vaulted (or a saved method), what it keeps of the method is what to charge,
    # so a reload repeats the same request under the same key.
    consent_text: str
    consent_ip: str
    consent_at: float  # when the box was ticked, as a POSIX timestamp
    saved_name: str
    attempt_id: int


class _Finished(TypedDict):
    link_id: int
    state: str
    attempt_id: int


def _amount_text(amount: Money, locale: str) -> str:
    """An amount as the customer would type it: the locale's decimal mark, no grouping, no symbol."""
    exponent = currency_exponent(amount.currency)
    pattern = "0." + "0" * exponent if exponent else "0"
    return format_decimal(amount.decimal, format=pattern, locale=locale, group_separator=False)


def _back(request: HttpRequest, link: SecureLink, message: str) -> HttpResponse:
    """Back to the link's page (the invoice or the statement), saying `message`."""
    messages.error(request, message)
    return HttpResponseRedirect(reverse(LANDING_PAGES[link.purpose]), status=303)


def _refusal_text(refused: SettleError) -> str:
    return str(REFUSED_CHARGES.get(refused.code, REFUSED_CHARGE))


def _return_url(state: str) -> str:
    return f"{settings.SETTLE_BASE_URL}{reverse('pay:return')}?{urlencode({'state': state})}"


def _chosen_invoices(paying: Paying, ticked: list[str]) -> list[Invoice]:
    """What the payment is for: an invoice link's invoice, or the ticked invoices of a statement,
    each still open. Raises _Unavailable for an invoice that is not open or not the statement's."""
    open_invoices = [invoice for invoice in paying.invoices if invoice.is_collectible]
    if paying.link.purpose == LinkPurpose.PAY_INVOICE:
        if not open_invoices:
            raise _Unavailable(gettext("This invoice has nothing left to pay."))
        return open_invoices
    if not ticked:
        raise _Unavailable(gettext("Choose at least one invoice to pay."))
    if not set(ticked) <= {str(invoice.pk) for invoice in open_invoices}:
        raise _Unavailable(gettext("An invoice you chose is no longer open. Check the list and try again."))
    return [invoice for invoice in open_invoices if str(invoice.pk) in ticked]


def _amount_chosen(typed: str, owed: Money, payment_settings: PaymentSettings, locale: str) -> Money:
    """The amount to pay: all that is `owed`, or the part the customer typed when the merchant
    allows it. Raises _Unavailable."""
    if not typed:
        return owed
    if not payment_settings.partial_payments_allowed:
        raise _Unavailable(gettext("This invoice must be paid in full."))
    try:
        amount = Money.parse(typed, owed.currency, locale)
    except SettleError:
        raise _Unavailable(gettext("Enter the amount as a number, like %s.") % _amount_text(owed, locale)) from None
    if not 0 < amount.minor <= owed.minor:
        raise _Unavailable(gettext("Enter an amount up to %s.") % owed.format(locale))
    return amount


def _saved_chosen(paying: Paying, payment_settings: PaymentSettings, amount: Money, saved_id: str) -> SavedMethod:
    """The saved method the customer chose, if the page may charge it. Raises _Unavailable for a
    public link, another customer's or merchant's method, a removed one, or one the gateway cannot
    charge today."""
    if paying.link.public:
        raise _Unavailable(gettext("Saved payment methods cannot be used from this link."))
    method = None
    # isdigit() alone takes "²" (which int() refuses) and "١" (which int() reads as 1).
    if saved_id.isascii() and saved_id.isdigit() and is_row_id(chosen := int(saved_id)):
        with merchant_scope(paying.merchant):
            method = next((m for m in _saved_offered(paying, payment_settings, amount) if m.pk == chosen), None)
    if method is None:
        raise _Unavailable(gettext("This payment method is no longer available. Choose another way to pay."))
    return method


def checkout_keep(request: HttpRequest, session_key: str, state: str, checkout: Mapping[str, object]) -> None:
    """Keep `checkout` under its `state` among the session's open checkouts at `session_key`; a
    browser with more than MAX_CHECKOUTS forgets the oldest."""
    checkouts: dict[str, object] = request.session.get(session_key, {})
    checkouts = dict(list(checkouts.items())[-(MAX_CHECKOUTS - 1) :])
    checkouts[state] = checkout
    request.session[session_key] = checkouts


def checkout_drop(request: HttpRequest, session_key: str, state: str) -> None:
    """Forget the checkout under `state` among the session's open checkouts at `session_key`."""
    checkouts: dict[str, object] = request.session.get(session_key, {})
    checkouts.pop(state, None)
    request.session[session_key] = checkouts


def _idempotency_key(link: SecureLink, form_key: str) -> str:
    """The charge's key: made from the key the pay form was shown with, so a double-tapped button
    or a resubmitted form asks for one charge; a form without one gets a fresh key."""
    if CHECKOUT_KEY_FORMAT.fullmatch(form_key):
        return f"pay-{link.pk}-{form_key}"
    return uuid.uuid4().hex


@customer_page
@require_POST
def pay_start(request: HttpRequest) -> HttpResponse:
    """Check what is paid (a statement's ticked invoices), how much and the way chosen, keep a
    checkout for them under a new `state`, and go on: to the gateway's page for card or bank
    details, the wallet's sheet or the pay-later lender's approval; a saved method is charged at
    once. Pay-later is refused here below the merchant's minimum, whatever the page showed."""
    now = clock.now()
    found = session_paying(request, now)
    if isinstance(found, HttpResponse):
        return found
    merchant, link, _invoices, _locale = found
    with merchant_scope(merchant):
        payment_settings = payment_settings_get(merchant=merchant)
    state = secrets.token_urlsafe(16)
    try:
        checkout, next_url = _checkout_make(request, found, payment_settings, state)
    except _Unavailable as refused:
        return _back(request, link, str(refused))
    checkout_keep(request, CHECKOUTS_KEY, state, checkout)
    if next_url is None:
        return _charge(request, found, state, checkout, now)
    return HttpResponseRedirect(next_url, status=303)


def _checkout_make(
    request: HttpRequest, paying: Paying, payment_settings: PaymentSettings, state: str
) -> tuple[_Checkout, str | None]:
    """The checkout the pay form asks for and the gateway page that comes next (None: a saved
    method, charged at once). Raises _Unavailable."""
    merchant, link, _invoices, locale = paying
    posted = request.POST
    invoices = _chosen_invoices(paying, posted.getlist("invoice"))
    owed = Money(sum(invoice.balance_minor for invoice in invoices), merchant.currency)
    amount = _amount_chosen(posted.get("amount", "").strip(), owed, payment_settings, locale)
    checkout: _Checkout = {
        "link_id": link.pk,
        "invoice_ids": [invoice.pk for invoice in invoices],
        "amount_minor": amount.minor,
        "allow_partial": amount.minor < owed.minor,
        "idempotency_key": _idempotency_key(link, posted.get("checkout", "")),
    }
    if "saved_method" in posted:
        method = _saved_chosen(paying, payment_settings, amount, posted["saved_method"])
        checkout["kind"], checkout["token"] = method.kind, method.token
        checkout["brand"], checkout["last4"] = method.brand, method.last4
        return checkout, None
    offered = payment_types_offered(payment_settings, amount)
    way = posted.get("kind", "")
    gateway = gateway_get(payment_settings.gateway)
    back_to = settings.SETTLE_BASE_URL + reverse("pay:return")
    if way in HOSTED_KINDS and MethodKind(way) in offered:
        checkout["kind"] = way
        if posted.get("save"):
            checkout.update(_consent(request, link))
        return checkout, gateway.hosted_fields_url(kind=MethodKind(way), return_url=back_to, state=state)
    if way in WALLET_NAMES and MethodKind.WALLET in offered:
        checkout["kind"] = MethodKind.WALLET.value
        url = gateway.wallet_sheet_url(
            wallet=Wallet(way), amount=amount, label=merchant.name, return_url=back_to, state=state
        )
        return checkout, url
    if way == MethodKind.BNPL and MethodKind.BNPL in offered:
        checkout["kind"] = MethodKind.BNPL.value
        description = f"{merchant.name} · {', '.join(invoice.number for invoice in invoices)}"
        return checkout, gateway.bnpl_checkout_url(
            amount=amount, description=description, return_url=back_to, state=state
        )
    if way == MethodKind.BNPL and payment_settings.bnpl_enabled and amount < payment_settings.bnpl_minimum:
        raise _Unavailable(
            gettext("Paying over time is available for %s or more.") % payment_settings.bnpl_minimum.format(locale)
        )
    raise _Unavailable(gettext("This way of paying is not available."))


def _consent(request: HttpRequest, link: SecureLink) -> _Checkout:
    """What saving the card or bank account about to be entered needs: the authorization the
    customer agreed to, word for word, the IP it came from and the name they gave it. Raises
    _Unavailable on a public link, which never saves, and for a name too long."""
    if link.public:
        raise _Unavailable(gettext("Payment methods cannot be saved from this link."))
    name = request.POST.get("saved_name", "").strip()
    if len(name) > MAX_SAVED_NAME:
        raise _Unavailable(gettext("Keep the name under %d characters.") % MAX_SAVED_NAME)
    return {
        "consent_text": _consent_text(link.merchant),
        "consent_ip": request.META.get("REMOTE_ADDR", ""),
        "consent_at": clock.now().timestamp(),
        "saved_name": name,
    }


@customer_page
@require_safe
def pay_return(request: HttpRequest) -> HttpResponse:
    """Where the gateway sends the customer back (from its fields, a wallet's sheet, the pay-later
    approval, or a 3-D Secure style confirmation): charge the checkout named by `state`, or ask the
    gateway what became of its charge, and show the customer where it stands."""
    now = clock.now()
    found = session_paying(request, now)
    if isinstance(found, HttpResponse):
        return found
    merchant, link = found.merchant, found.link
    state = request.GET.get("state", "")
    finished: _Finished | None = request.session.get(FINISHED_KEY)
    if finished and finished["state"] == state and finished["link_id"] == link.pk:
        return HttpResponseRedirect(reverse("pay:paid"), status=303)
    checkouts: dict[str, _Checkout] = request.session.get(CHECKOUTS_KEY, {})
    checkout = checkouts.get(state)
    if checkout is None or checkout["link_id"] != link.pk:
        # A finished or forgotten checkout (a reload after the answer, a tab whose twin saved the
        # session last): the link's page says where the invoices stand. Nothing is charged.
        return HttpResponseRedirect(reverse(LANDING_PAGES[link.purpose]), status=303)
    if "attempt_id" in checkout:
        with merchant_scope(merchant):
            attempt = charge_attempt_reconcile(merchant=merchant, attempt_id=checkout["attempt_id"], now=now)
        return _route(request, link, state, checkout, attempt)
    error = request.GET.get("error")
    if error:
        checkout_drop(request, CHECKOUTS_KEY, state)
        if error == "declined":
            return _back(request, link, gettext("Paying over time was not approved. Nothing was charged."))
        return _back(request, link, gettext("Payment cancelled. Nothing was charged."))
    if "token" not in checkout:
        refused = _vault(request, found, checkout)
        if refused:
            charged = _attempt_under_key(merchant, checkout)
            if charged is not None:
                return _route(request, link, state, checkout, charged)
            checkout_drop(request, CHECKOUTS_KEY, state)
            return _back(request, link, refused)
    return _charge(request, found, state, checkout, now)


def _attempt_under_key(merchant: Merchant, checkout: _Checkout) -> ChargeAttempt | None:
    """The charge a twin of this request (a double-submitted form, another tab of this session)
    already made under the checkout's key: its setup token, which works once, was spent there, so
    this request shows where that charge stands instead of asking for the details again."""
    with merchant_scope(merchant):
        return ChargeAttempt.objects.filter(merchant=merchant, idempotency_key=checkout["idempotency_key"]).first()


def checkout_vault(
    request: HttpRequest, payment_settings: PaymentSettings, checkout: VaultedCheckout
) -> VaultedMethod | None:
    """Exchange the setup token the gateway sent back for the method it vaulted, and keep that in
    the session's `checkout`: the token works once, so a retry must reuse what it gave. None when
    the gateway cannot read it or gives a method of another kind than the checkout's."""
    try:
        method = gateway_get(payment_settings.gateway).vault_complete(setup_token=request.GET.get("setup_token", ""))
    except VaultFailed:
        return None
    if method.kind != checkout["kind"]:
        return None
    checkout["token"], checkout["brand"], checkout["last4"] = method.token, method.brand, method.last4
    checkout["exp_month"], checkout["exp_year"] = method.exp_month, method.exp_year
    request.session.modified = True
    return method


def _vault(request: HttpRequest, paying: Paying, checkout: _Checkout) -> str | None:
    """Vault the method to charge (kept to be saved once it has paid, when the customer asked to;
    a wallet or pay-later token pays once and is never saved). The reason, in the customer's
    language, when it cannot be done."""
    with merchant_scope(paying.merchant):
        payment_settings = payment_settings_get(merchant=paying.merchant)
    method = checkout_vault(request, payment_settings, checkout)
    if method is None:
        return gettext("We could not read your payment details. Please enter them again.")
    if method.single_use:
        checkout.pop("consent_text", None)
    return None


def vaulted_method(checkout: VaultedCheckout) -> VaultedMethod:
    """The vaulted method a checkout kept in the session (its token, kind, brand, last 4 and
    expiry), as the gateway gave it."""
    return VaultedMethod(
        token=checkout["token"],
        kind=MethodKind(checkout["kind"]),
        brand=checkout["brand"],
        last4=checkout["last4"],
        exp_month=checkout.get("exp_month"),
        exp_year=checkout.get("exp_year"),
    )


def _save_paid_method(link: SecureLink, checkout: _Checkout) -> None:
    """Keep the card or bank account that has just paid, as the customer asked, with the
    authorization they agreed to. A declined one is never kept; and the payment stands even if
    keeping it is refused (a method already saved, say)."""
    vaulted = vaulted_method(checkout)
    ticked = checkout.get("consent_at")
    try:
        with merchant_scope(link.merchant):
            saved_method_add(
                merchant=link.merchant,
                customer_id=link.customer_id,
                vaulted=vaulted,
                friendly_name=checkout["saved_name"],
                billing_address="",
                consent_text=checkout["consent_text"],
                consent_ip=checkout["consent_ip"],
                consent_at=dt.datetime.fromtimestamp(ticked, tz=dt.UTC) if ticked else None,
                now=clock.now(),
            )
    except SettleError:
        logger.warning("A paid method could not be saved for link %s", link.pk, exc_info=True)


def _charge(request: HttpRequest, paying: Paying, state: str, checkout: _Checkout, now: dt.datetime) -> HttpResponse:
    """Charge the checkout's method under its key (the same request again gets the first answer,
    never a second charge) and send the customer where the answer says."""
    merchant = paying.merchant
    with merchant_scope(merchant):
        try:
            attempt = charge_attempt_start(
                merchant=merchant,
                customer_id=paying.link.customer_id,
                invoice_ids=checkout["invoice_ids"],
                amount=Money(checkout["amount_minor"], merchant.currency),
                kind=checkout["kind"],
                token=checkout["token"],
                idempotency_key=checkout["idempotency_key"],
                return_url=_return_url(state),
                allow_partial=checkout["allow_partial"],
                card_brand=checkout["brand"],
                last4=checkout["last4"],
                language=translation.get_language(),
                now=now,
            )
        except SettleError as refused:
            checkout_drop(request, CHECKOUTS_KEY, state)
            return _back(request, paying.link, _refusal_text(refused))
    return _route(request, paying.link, state, checkout, attempt)


def _route(
    request: HttpRequest, link: SecureLink, state: str, checkout: _Checkout, attempt: ChargeAttempt
) -> HttpResponse:
    """Send the customer where the attempt's state says: the confirmation, the gateway's
    confirmation step, their page with the decline, or a page saying it is being confirmed."""
    if attempt.state in (ChargeState.SUCCEEDED, ChargeState.PENDING):
        # A twin request that found the charge made under its key has no token of its own to save:
        # the request that vaulted it saves it.
        if "consent_text" in checkout and "token" in checkout:
            _save_paid_method(link, checkout)
        checkout_drop(request, CHECKOUTS_KEY, state)
        request.session[FINISHED_KEY] = _Finished(link_id=checkout["link_id"], state=state, attempt_id=attempt.pk)
        return HttpResponseRedirect(reverse("pay:paid"), status=303)
    if attempt.state in (ChargeState.FAILED, ChargeState.RETURNED):
        checkout_drop(request, CHECKOUTS_KEY, state)
        return _back(request, link, _decline_text(attempt))
    checkout["attempt_id"] = attempt.pk
    request.session.modified = True
    if attempt.state == ChargeState.REQUIRES_ACTION and attempt.action_url:
        return HttpResponseRedirect(attempt.action_url, status=303)
    context = {"check_url": f"{reverse('pay:return')}?{urlencode({'state': state})}"}
    return render(request, "portal/pay/confirming.html", context)


def _decline_text(attempt: ChargeAttempt) -> str:
    """Why the charge failed, in the customer's language where the reason is a known one."""
    if attempt.kind == MethodKind.ACH:
        title = gettext("Your bank account could not be charged.")
    elif attempt.kind == MethodKind.BNPL:
        title = gettext("Your pay-over-time plan could not be charged.")
    else:
        title = gettext("Your card was declined.")
    if attempt.decline_code in DECLINES:
        detail = str(DECLINES[attempt.decline_code])
    else:
        # The gateway's own words are English: another language's page keeps to its title.
        detail = attempt.message if translation.get_language().startswith("en") else ""
    return title if not detail or detail == title else f"{title} {detail}"


class _Paid(NamedTuple):
    payment_id: int
    processing: bool  # a bank debit still on its way


def _finished_payment(request: HttpRequest, paying: Paying) -> _Paid | None:
    """The payment of the session's last finished charge for this link."""
    finished: _Finished | None = request.session.get(FINISHED_KEY)
    if not finished or finished["link_id"] != paying.link.pk:
        return None
    with merchant_scope(paying.merchant):
        row = (
            ChargeAttempt.objects.filter(merchant=paying.merchant, pk=finished["attempt_id"], payment__isnull=False)
            .values_list("payment_id", "state")
            .first()
        )
    return _Paid(row[0], row[1] == ChargeState.PENDING) if row else None


def _applied_payment(paying: Paying, number: str) -> int | None:
    """The id of payment `number` if it paid one of the link's invoices, else None; always None on
    a public link, which anyone may hold (a receipt shows the customer's address)."""
    payment_id = Payment.id_from_number(number)
    if payment_id is None or paying.link.public:
        return None
    with merchant_scope(paying.merchant):
        return (
            Application.objects.filter(
                merchant=paying.merchant,
                invoice_id__in=[invoice.pk for invoice in paying.invoices],
                amount_minor__gt=0,
                payment_id=payment_id,
            )
            .values_list("payment_id", flat=True)
            .first()
        )


@customer_page
@require_safe
def paid_page(request: HttpRequest) -> HttpResponse:
    """The confirmation: the amount, the method as brand and last four digits, the invoices it paid,
    the PAID stamp and the receipt; a bank debit says it is still on its way."""
    found = session_paying(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    back = reverse(LANDING_PAGES[found.link.purpose])
    paid = _finished_payment(request, found)
    if paid is None:
        return HttpResponseRedirect(back, status=303)
    with merchant_scope(found.merchant):
        receipt = receipt_document(
            merchant=found.merchant, payment_id=paid.payment_id, locale=found.locale, with_logo=False
        )
    context = {
        "merchant": found.merchant,
        "receipt": receipt,
        "labels": LANGUAGES[receipt.language],
        "paid_stamp": label(receipt.language, "stamp.paid"),
        "processing": paid.processing,
        "back_url": back,
        "statement": found.link.purpose == LinkPurpose.PAY_STATEMENT,
    }
    return render(request, "portal/pay/paid.html", context)


@customer_page
@require_safe
def receipt_pdf_download(request: HttpRequest) -> HttpResponse:
    """The receipt of a payment as a PDF, in the page's language: the one named by `?payment=` (its
    number) among those applied to the link's invoices, else the session's last payment."""
    found = session_paying(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    number = request.GET.get("payment")
    paid = _finished_payment(request, found)
    payment_id = _applied_payment(found, number) if number is not None else paid and paid.payment_id
    if payment_id is None:
        return refused_page(request, None)
    with merchant_scope(found.merchant):
        receipt = receipt_document(merchant=found.merchant, payment_id=payment_id, locale=found.locale)
    return pdf_response(receipt_pdf(receipt), receipt.number)
