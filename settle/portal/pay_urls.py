from django.urls import path
from django.views.i18n import set_language

from . import method_views, pay_views, receipt_views, social_views
from .security import customer_page

app_name = "pay"
urlpatterns = [
    path("invoice/", pay_views.invoice_page, name="invoice"),
    path("invoice/pdf/", pay_views.invoice_pdf_download, name="invoice_pdf"),
    path("statement/", pay_views.statement_page, name="statement"),
    path("invoice/pay/", pay_views.pay_start, name="start"),
    path("invoice/return/", pay_views.pay_return, name="return"),
    path("invoice/paid/", pay_views.paid_page, name="paid"),
    path("invoice/receipt/", pay_views.receipt_pdf_download, name="receipt_pdf"),
    path("invoice/paid-elsewhere/", social_views.paid_elsewhere, name="paid_elsewhere"),
    path("receipt/", receipt_views.receipt_page, name="receipt"),
    path("receipt/pdf/", receipt_views.receipt_pdf_download, name="receipt_download"),
    path("method/", method_views.method_page, name="method"),
    path("method/return/", method_views.method_return, name="method_return"),
    path("method/saved/", method_views.method_saved, name="method_saved"),
    path("language/", customer_page(set_language), name="language"),
    path("<str:token>/", pay_views.link_open, name="open"),
]
