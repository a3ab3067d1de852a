"""Document downloads: an invoice or a payment receipt as a PDF, in the merchant's language."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header

from settle.documents.pdf import invoice_pdf, receipt_pdf
from settle.payments.receipts import invoice_document, receipt_document

from .common import current, merchant_required
from .money_common import selected_or_404

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _pdf_response(pdf: bytes, number: str) -> HttpResponse:
    """The PDF as a download named after the document (INV-00012.pdf); never cached on the way,
    since it holds a customer's details."""
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"{_UNSAFE_IN_FILENAME.sub('-', number).strip('-') or 'document'}.pdf"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


@merchant_required
def invoice_pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    document = selected_or_404(invoice_document, merchant=merchant, invoice_id=pk)
    return _pdf_response(invoice_pdf(document), document.number)


@merchant_required
def receipt_pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    document = selected_or_404(receipt_document, merchant=merchant, payment_id=pk)
    return _pdf_response(receipt_pdf(document), document.number)
