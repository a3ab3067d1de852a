"""The customer's invoice behind a secure link: /l/<token>/ trades the token for a short session and
redirects to /l/invoice/, which shows the invoice, its PDF and the ways to pay it, in the
customer's language.

Paying by card or bank account: /l/invoice/pay/ keeps a checkout in the session under a random
`state` and sends the customer to the gateway's own fields; the gateway sends them back to
/l/invoice/return/ with that state and a setup token, which is vaulted and charged with the
checkout's idempotency key (a reload or a second tab replays the same charge, never a new one);
/l/invoice/paid/ confirms it."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any, NamedTuple, TypedDict

from babel import localedata
from babel.numbers import format_decimal
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from settle.core import clock
from settle.core.errors import SettleError
from settle.core.money import Money, currency_exponent
from settle.core.tenancy import all_merchants, merchant_scope
from settle.documents.data import InvoiceDocument, Status
from settle.documents.labels import LANGUAGES, label
from settle.documents.pdf import invoice_pdf, receipt_pdf
from settle.gateways.base import MethodKind, VaultFailed
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
from settle.payments.models import ChargeAttempt, ChargeState, LinkPurpose, PaymentSettings
from settle.payments.payment_settings import payment_settings_get, payment_types_offered
from settle.payments.receipts import invoice_document, receipt_document
from settle.payments.social import social_options
from settle.tenants.models import Merchant

from .security import customer_page

# The Babel locale for a page language when the merchant's country has none of its own.
DEFAULT_LOCALES = {"en": "en_US", "fr": "fr_FR", "es": "es_ES"}

# Where each kind of link lands once its token is exchanged for a session.
LANDING_PAGES: dict[str, str] = {LinkPurpose.PAY_INVOICE: "pay:invoice"}

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


def _refused(request: HttpRequest, reason: Refusal | None) -> HttpResponse:
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
        return _refused(request, refused.reason)
    landing = LANDING_PAGES.get(link.purpose)
    if landing is None:
        return _refused(request, Refusal.UNKNOWN)
    portal_session_grant(request, link, now=now)
    return HttpResponseRedirect(reverse(landing), status=303)


def _voided(claim: Any) -> bool:
    """Whether the session `claim` (read before `portal_session_link` drops a dead one) was for a
    link whose invoice has since been voided: the customer is told it was cancelled."""
    if not isinstance(claim, dict) or not isinstance(claim.get("link_id"), int):
        return False
    with all_merchants():
        return Invoice.objects.filter(secure_links__pk=claim["link_id"], status=InvoiceStatus.VOID).exists()


class _Viewing(NamedTuple):
    merchant: Merchant
    invoice: Invoice
    locale: str  # Babel's, for amounts and dates
    doc: InvoiceDocument


def _session_invoice(request: HttpRequest, now: dt.datetime, *, for_pdf: bool = False) -> _Viewing | HttpResponse:
    """The session's invoice and its document in the page's locale, or the refusal page. Only a PDF
    needs the logo's bytes; a page shows it by its URL."""
    claim = request.session.get(PORTAL_SESSION_KEY)
    link = portal_session_link(request, now=now)
    if link is None or link.purpose != LinkPurpose.PAY_INVOICE:
        return _refused(request, Refusal.INVOICE_VOID if link is None and _voided(claim) else None)
    merchant = link.merchant
    locale = babel_locale(translation.get_language(), merchant.locale)
    with merchant_scope(merchant):
        invoice = link.invoices.get()
        doc = invoice_document(merchant=merchant, invoice_id=invoice.pk, locale=locale, with_logo=for_pdf)
    return _Viewing(merchant, invoice, locale, doc)


@customer_page
@require_safe
def invoice_page(request: HttpRequest) -> HttpResponse:
    """The invoice: amount due, due date, lines, totals, the PDF, and the ways to pay it (card or
    bank account through the merchant's gateway, the merchant's social payment apps); a paid one
    shows its PAID stamp and the payments received instead."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    merchant, invoice, locale, doc = found
    options: list[Any] = []
    gateway_kinds: list[MethodKind] = []
    partial = False
    if invoice.is_collectible:
        with merchant_scope(merchant):
            payment_settings = payment_settings_get(merchant=merchant)
        options = social_options(payment_settings, invoice.balance, invoice.number, locale=locale)
        gateway_kinds = _gateway_kinds(payment_settings, invoice.balance)
        partial = payment_settings.partial_payments_allowed
    context = {
        "merchant": merchant,
        "doc": doc,
        "labels": LANGUAGES[doc.language],
        "status_label": label(doc.language, f"status.{doc.status}"),
        "paid_stamp": label(doc.language, "stamp.paid") if doc.status == Status.PAID else "",
        "options": options,
        "gateway_kinds": gateway_kinds,
        "partial": partial,
        "amount_value": _amount_text(invoice.balance, locale),
    }
    return render(request, "portal/pay/invoice.html", context)


@customer_page
@require_safe
def invoice_pdf_download(request: HttpRequest) -> HttpResponse:
    """The invoice's PDF, written in the page's language."""
    found = _session_invoice(request, clock.now(), for_pdf=True)
    if isinstance(found, HttpResponse):
        return found
    doc = found.doc
    response = HttpResponse(invoice_pdf(doc), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=f"{doc.number}.pdf")
    return response


# The session's checkouts by state, and the last finished one (for its confirmation page).
CHECKOUTS_KEY = "settle.pay.checkouts"
FINISHED_KEY = "settle.pay.finished"
# A browser with more open checkouts than this forgets the oldest.
MAX_CHECKOUTS = 5

# The decline reasons a customer is told in their own language; others show the gateway's words.
DECLINES = {
    "insufficient_funds": _("Your card has insufficient funds."),
    "expired_card": _("Your card has expired."),
    "incorrect_cvc": _("Your card's security code is incorrect."),
    "processing_error": _("An error occurred while processing your card. Try again in a little bit."),
}


class _Checkout(TypedDict, total=False):
    link_id: int
    invoice_id: int
    kind: str
    amount_minor: int
    allow_partial: bool
    idempotency_key: str
    # Once vaulted: what to charge, so a reload repeats the same request under the same key.
    token: str
    brand: str
    last4: str
    attempt_id: int


class _Finished(TypedDict):
    link_id: int
    state: str
    attempt_id: int


def _gateway_kinds(payment_settings: PaymentSettings, amount: Money) -> list[MethodKind]:
    """The payment types the pay page takes through the gateway's hosted fields."""
    offered = payment_types_offered(payment_settings, amount)
    return [kind for kind in (MethodKind.CARD, MethodKind.ACH) if kind in offered]


def _amount_text(amount: Money, locale: str) -> str:
    """An amount as the customer would type it: the locale's decimal mark, no grouping, no symbol."""
    exponent = currency_exponent(amount.currency)
    pattern = "0." + "0" * exponent if exponent else "0"
    return format_decimal(amount.decimal, format=pattern, locale=locale, group_separator=False)


def _back_to_invoice(request: HttpRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return HttpResponseRedirect(reverse("pay:invoice"), status=303)


def _return_url(state: str) -> str:
    return f"{settings.SETTLE_BASE_URL}{reverse('pay:return')}?{urlencode({'state': state})}"


@customer_page
@require_POST
def pay_start(request: HttpRequest) -> HttpResponse:
    """Check the chosen way and amount, keep a checkout for them under a new `state`, and send the
    customer to the gateway's own page for their card or bank details."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    merchant, invoice, locale, _doc = found
    if not invoice.is_collectible:
        return _back_to_invoice(request, gettext("This invoice has nothing left to pay."))
    with merchant_scope(merchant):
        payment_settings = payment_settings_get(merchant=merchant)
    kinds = _gateway_kinds(payment_settings, invoice.balance)
    kind = next((k for k in kinds if k.value == request.POST.get("kind")), None)
    if kind is None:
        return _back_to_invoice(request, gettext("This way of paying is not available."))
    amount = invoice.balance
    typed = request.POST.get("amount", "").strip()
    if typed:
        if not payment_settings.partial_payments_allowed:
            return _back_to_invoice(request, gettext("This invoice must be paid in full."))
        try:
            amount = Money.parse(typed, amount.currency, locale)
        except SettleError:
            return _back_to_invoice(
                request, gettext("Enter the amount as a number, like %s.") % _amount_text(amount, locale)
            )
        if not 0 < amount.minor <= invoice.balance_minor:
            return _back_to_invoice(request, gettext("Enter an amount up to %s.") % invoice.balance.format(locale))
    state = secrets.token_urlsafe(16)
    checkouts: dict[str, _Checkout] = request.session.get(CHECKOUTS_KEY, {})
    checkouts = dict(list(checkouts.items())[-(MAX_CHECKOUTS - 1) :])
    checkouts[state] = {
        "link_id": request.session[PORTAL_SESSION_KEY]["link_id"],
        "invoice_id": invoice.pk,
        "kind": kind.value,
        "amount_minor": amount.minor,
        "idempotency_key": uuid.uuid4().hex,
        "allow_partial": amount.minor < invoice.balance_minor,
    }
    request.session[CHECKOUTS_KEY] = checkouts
    gateway = gateway_get(payment_settings.gateway)
    url = gateway.hosted_fields_url(kind=kind, return_url=settings.SETTLE_BASE_URL + reverse("pay:return"), state=state)
    return HttpResponseRedirect(url, status=303)


@customer_page
@require_safe
def pay_return(request: HttpRequest) -> HttpResponse:
    """Where the gateway sends the customer back (from its fields, or from a 3-D Secure style
    confirmation): charge the checkout named by `state`, or ask the gateway what became of its
    charge, and show the customer where it stands."""
    now = clock.now()
    found = _session_invoice(request, now)
    if isinstance(found, HttpResponse):
        return found
    merchant = found.merchant
    link_id = request.session[PORTAL_SESSION_KEY]["link_id"]
    state = request.GET.get("state", "")
    finished: _Finished | None = request.session.get(FINISHED_KEY)
    if finished and finished["state"] == state and finished["link_id"] == link_id:
        return HttpResponseRedirect(reverse("pay:paid"), status=303)
    checkouts: dict[str, _Checkout] = request.session.get(CHECKOUTS_KEY, {})
    checkout = checkouts.get(state)
    if checkout is None or checkout["link_id"] != link_id:
        return _refused(request, None)
    if "attempt_id" in checkout:
        with merchant_scope(merchant):
            attempt = charge_attempt_reconcile(merchant=merchant, attempt_id=checkout["attempt_id"], now=now)
        return _route(request, state, checkout, attempt)
    if request.GET.get("error"):
        _checkout_drop(request, state)
        return _back_to_invoice(request, gettext("Payment cancelled. Nothing was charged."))
    if "token" not in checkout:
        with merchant_scope(merchant):
            gateway = gateway_get(payment_settings_get(merchant=merchant).gateway)
        try:
            method = gateway.vault_complete(setup_token=request.GET.get("setup_token", ""))
        except VaultFailed:
            _checkout_drop(request, state)
            return _back_to_invoice(
                request, gettext("We could not read your payment details. Please enter them again.")
            )
        checkout["token"], checkout["brand"], checkout["last4"] = method.token, method.brand, method.last4
        request.session.modified = True
    with merchant_scope(merchant):
        try:
            attempt = charge_attempt_start(
                merchant=merchant,
                customer_id=found.invoice.customer_id,
                invoice_ids=[checkout["invoice_id"]],
                amount=Money(checkout["amount_minor"], merchant.currency),
                kind=checkout["kind"],
                token=checkout["token"],
                idempotency_key=checkout["idempotency_key"],
                return_url=_return_url(state),
                allow_partial=checkout["allow_partial"],
                card_brand=checkout["brand"],
                last4=checkout["last4"],
                now=now,
            )
        except SettleError as refused:
            _checkout_drop(request, state)
            return _back_to_invoice(request, refused.message)
    return _route(request, state, checkout, attempt)


def _checkout_drop(request: HttpRequest, state: str) -> None:
    checkouts: dict[str, _Checkout] = request.session.get(CHECKOUTS_KEY, {})
    checkouts.pop(state, None)
    request.session[CHECKOUTS_KEY] = checkouts


def _route(request: HttpRequest, state: str, checkout: _Checkout, attempt: ChargeAttempt) -> HttpResponse:
    """Send the customer where the attempt's state says: the confirmation, the gateway's
    confirmation step, the invoice with the decline, or a page saying it is being confirmed."""
    if attempt.state in (ChargeState.SUCCEEDED, ChargeState.PENDING):
        _checkout_drop(request, state)
        request.session[FINISHED_KEY] = _Finished(link_id=checkout["link_id"], state=state, attempt_id=attempt.pk)
        return HttpResponseRedirect(reverse("pay:paid"), status=303)
    if attempt.state in (ChargeState.FAILED, ChargeState.RETURNED):
        _checkout_drop(request, state)
        return _back_to_invoice(request, _decline_text(attempt))
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
    else:
        title = gettext("Your card was declined.")
    detail = str(DECLINES[attempt.decline_code]) if attempt.decline_code in DECLINES else attempt.message
    return title if not detail or detail == title else f"{title} {detail}"


class _Paid(NamedTuple):
    payment_id: int
    processing: bool  # a bank debit still on its way


def _finished_payment(request: HttpRequest, found: _Viewing) -> _Paid | None:
    """The payment of the session's last finished charge for this link."""
    finished: _Finished | None = request.session.get(FINISHED_KEY)
    if not finished or finished["link_id"] != request.session[PORTAL_SESSION_KEY]["link_id"]:
        return None
    with merchant_scope(found.merchant):
        row = (
            ChargeAttempt.objects.filter(merchant=found.merchant, pk=finished["attempt_id"], payment__isnull=False)
            .values_list("payment_id", "state")
            .first()
        )
    return _Paid(row[0], row[1] == ChargeState.PENDING) if row else None


@customer_page
@require_safe
def paid_page(request: HttpRequest) -> HttpResponse:
    """The confirmation: the amount, the method as brand and last four digits, the PAID stamp and
    the receipt; a bank debit says it is still on its way."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    paid = _finished_payment(request, found)
    if paid is None:
        return HttpResponseRedirect(reverse("pay:invoice"), status=303)
    with merchant_scope(found.merchant):
        receipt = receipt_document(
            merchant=found.merchant, payment_id=paid.payment_id, locale=found.locale, with_logo=False
        )
    context = {
        "merchant": found.merchant,
        "doc": found.doc,
        "receipt": receipt,
        "labels": LANGUAGES[receipt.language],
        "paid_stamp": label(receipt.language, "stamp.paid"),
        "processing": paid.processing,
    }
    return render(request, "portal/pay/paid.html", context)


@customer_page
@require_safe
def receipt_pdf_download(request: HttpRequest) -> HttpResponse:
    """The receipt of the session's last payment as a PDF, in the page's language."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    paid = _finished_payment(request, found)
    if paid is None:
        return _refused(request, None)
    with merchant_scope(found.merchant):
        receipt = receipt_document(merchant=found.merchant, payment_id=paid.payment_id, locale=found.locale)
    response = HttpResponse(receipt_pdf(receipt), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=f"{receipt.number}.pdf")
    return response
