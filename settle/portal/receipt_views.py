"""A payment's receipt behind a secure link: /l/<token>/ trades the token for a short session and
redirects to /l/receipt/, which shows the receipt in the customer's language (PAID, refunded in
part or in full, or returned by the bank) with its PDF."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe

from settle.core import clock
from settle.core.http import pdf_response
from settle.core.tenancy import merchant_scope
from settle.documents.data import ReceiptDocument, Status
from settle.documents.labels import LANGUAGES, label
from settle.documents.pdf import receipt_pdf
from settle.payments.models import LinkPurpose, Payment, PaymentStatus
from settle.payments.receipts import receipt_document
from settle.tenants.models import Merchant

from .pay_views import babel_locale, refused_page, session_link
from .security import customer_page


class _Receipt(NamedTuple):
    merchant: Merchant
    payment: Payment
    doc: ReceiptDocument


def _session_receipt(request: HttpRequest, now: dt.datetime, *, for_pdf: bool = False) -> _Receipt | HttpResponse:
    """The session's payment and its receipt in the page's language, or the refusal page. Only a
    PDF needs the logo's bytes; a page shows it by its URL."""
    link = session_link(request, (LinkPurpose.VIEW_RECEIPT,), now)
    if isinstance(link, HttpResponse):
        return link
    if link.payment is None:
        return refused_page(request, None)
    merchant = link.merchant
    locale = babel_locale(translation.get_language(), merchant.locale)
    with merchant_scope(merchant):
        doc = receipt_document(merchant=merchant, payment_id=link.payment.pk, locale=locale, with_logo=for_pdf)
    return _Receipt(merchant, link.payment, doc)


@customer_page
@require_safe
def receipt_page(request: HttpRequest) -> HttpResponse:
    """The receipt: amount, date, method as brand and last four digits, the invoices it paid,
    refunds, and its stamp; a bank payment still on its way or sent back by the bank says so."""
    found = _session_receipt(request, clock.now())
    if isinstance(found, HttpResponse):
        return found
    doc = found.doc
    context = {
        "merchant": found.merchant,
        "receipt": doc,
        "labels": LANGUAGES[doc.language],
        "stamp": label(doc.language, f"stamp.{doc.status}"),
        "partly_refunded": doc.status == Status.PAID and bool(doc.refunded),
        "returned": doc.status == Status.RETURNED,
        "processing": found.payment.status == PaymentStatus.PENDING,
    }
    return render(request, "portal/pay/receipt.html", context)


@customer_page
@require_safe
def receipt_pdf_download(request: HttpRequest) -> HttpResponse:
    """The receipt as a PDF, written in the page's language."""
    found = _session_receipt(request, clock.now(), for_pdf=True)
    if isinstance(found, HttpResponse):
        return found
    return pdf_response(receipt_pdf(found.doc), found.doc.number)
