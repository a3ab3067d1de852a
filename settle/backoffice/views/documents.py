"""Document downloads: an invoice or a payment receipt as a PDF, in the merchant's language."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from settle.core.http import pdf_response
from settle.documents.pdf import invoice_pdf, receipt_pdf
from settle.payments.receipts import invoice_document, receipt_document

from .common import current, merchant_required
from .money_common import selected_or_404


@merchant_required
def invoice_pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    document = selected_or_404(invoice_document, merchant=merchant, invoice_id=pk)
    return pdf_response(invoice_pdf(document), document.number)


@merchant_required
def receipt_pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    document = selected_or_404(receipt_document, merchant=merchant, payment_id=pk)
    return pdf_response(receipt_pdf(document), document.number)
