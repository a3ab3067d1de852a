from django.urls import path
from django.views.i18n import set_language

from . import pay_views
from .security import customer_page

app_name = "pay"
urlpatterns = [
    path("invoice/", pay_views.invoice_page, name="invoice"),
    path("invoice/pdf/", pay_views.invoice_pdf_download, name="invoice_pdf"),
    path("invoice/pay/", pay_views.pay_start, name="start"),
    path("invoice/return/", pay_views.pay_return, name="return"),
    path("invoice/paid/", pay_views.paid_page, name="paid"),
    path("invoice/receipt/", pay_views.receipt_pdf_download, name="receipt_pdf"),
    path("language/", customer_page(set_language), name="language"),
    path("<str:token>/", pay_views.link_open, name="open"),
]
