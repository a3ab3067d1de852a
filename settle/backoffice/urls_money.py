"""Back-office money pages: invoices, quick payment requests, orders, payments, refunds, credits."""

from django.urls import path

from .views import credits, invoices, orders, payments

urlpatterns = [
    path("invoices/", invoices.invoice_list, name="invoice_list"),
    path("invoices/new/", invoices.invoice_new, name="invoice_new"),
    path("invoices/<int:pk>/", invoices.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/print/", invoices.invoice_print, name="invoice_print"),
    path("invoices/<int:pk>/void/", invoices.invoice_void, name="invoice_void"),
    path("invoices/<int:pk>/issue/", invoices.invoice_issue, name="invoice_issue"),
    path("invoices/<int:pk>/uncollectible/", invoices.invoice_uncollectible, name="invoice_uncollectible"),
    path("requests/new/", invoices.quick_request_new, name="quick_request_new"),
    path("applications/<int:pk>/to-credit/", invoices.application_move_to_credit, name="application_move_to_credit"),
    path("orders/", orders.order_list, name="order_list"),
    path("orders/new/", orders.order_new, name="order_new"),
    path("orders/<int:pk>/", orders.order_detail, name="order_detail"),
    path("orders/<int:pk>/checkout/", orders.order_checkout, name="order_checkout"),
    path("payments/", payments.payment_list, name="payment_list"),
    path("payments/new/", payments.payment_new, name="payment_new"),
    path("payments/<int:pk>/", payments.payment_detail, name="payment_detail"),
    path("payments/<int:pk>/refund/", payments.refund_new, name="refund_new"),
    path("payments/<int:pk>/void/", payments.payment_void, name="payment_void"),
    path("credits/", credits.credit_list, name="credit_list"),
    path("credits/new/", credits.credit_memo_new, name="credit_memo_new"),
    path("credits/apply/", credits.credit_apply, name="credit_apply"),
]
