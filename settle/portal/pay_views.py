"""The customer's invoice behind a secure link: /l/<token>/ trades the token for a short session and
redirects to /l/invoice/, which shows the invoice, its PDF and the ways to pay it, in the
customer's language."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from babel import localedata
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from settle.core import clock
from settle.core.tenancy import all_merchants, merchant_scope
from settle.documents.data import InvoiceDocument, Status
from settle.documents.labels import LANGUAGES, label
from settle.documents.pdf import invoice_pdf
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.payments.links import (
    PORTAL_SESSION_KEY,
    Refusal,
    SecureLinkRefused,
    portal_session_grant,
    portal_session_link,
    secure_link_guess_allowed,
    secure_link_resolve,
)
from settle.payments.models import LinkPurpose
from settle.payments.payment_settings import payment_settings_get
from settle.payments.receipts import invoice_document
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


def _session_invoice(request: HttpRequest, now: dt.datetime) -> _Viewing | HttpResponse:
    """The session's invoice and its document in the page's locale, or the refusal page."""
    claim = request.session.get(PORTAL_SESSION_KEY)
    link = portal_session_link(request, now=now)
    if link is None or link.purpose != LinkPurpose.PAY_INVOICE:
        return _refused(request, Refusal.INVOICE_VOID if link is None and _voided(claim) else None)
    merchant = link.merchant
    locale = babel_locale(translation.get_language(), merchant.locale)
    with merchant_scope(merchant):
        invoice = link.invoices.get()
        doc = invoice_document(merchant=merchant, invoice_id=invoice.pk, locale=locale)
    return _Viewing(merchant, invoice, locale, doc)


@customer_page
@require_safe
def invoice_page(request: HttpRequest) -> HttpResponse:
    """The invoice: amount due, due date, lines, totals, the PDF, and the ways to pay it that work
    without a gateway (the merchant's social payment apps); a paid one shows its PAID stamp and
    the payments received instead."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    merchant, invoice, locale, doc = found
    options = []
    if invoice.is_collectible:
        with merchant_scope(merchant):
            payment_settings = payment_settings_get(merchant=merchant)
        options = social_options(payment_settings, invoice.balance, invoice.number, locale=locale)
    context = {
        "merchant": merchant,
        "doc": doc,
        "labels": LANGUAGES[doc.language],
        "status_label": label(doc.language, f"status.{doc.status}"),
        "paid_stamp": label(doc.language, "stamp.paid") if doc.status == Status.PAID else "",
        "options": options,
    }
    return render(request, "portal/pay/invoice.html", context)


@customer_page
@require_safe
def invoice_pdf_download(request: HttpRequest) -> HttpResponse:
    """The invoice's PDF, written in the page's language."""
    found = _session_invoice(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    doc = found.doc
    response = HttpResponse(invoice_pdf(doc), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=f"{doc.number}.pdf")
    return response
