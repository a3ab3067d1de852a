"""Back-office document downloads."""

from django.urls import path

from .views import documents

urlpatterns = [
    path("invoices/<int:pk>/pdf/", documents.invoice_pdf_download, name="invoice_pdf"),
    path("payments/<int:pk>/receipt/pdf/", documents.receipt_pdf_download, name="receipt_pdf"),
]
