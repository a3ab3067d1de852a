"""Placeholder routes (replaced as the money pages are built)."""

from django.http import HttpResponse
from django.urls import path


def _todo(request, **kwargs):  # type: ignore[no-untyped-def]
    return HttpResponse("Not built yet", status=501)


NAMES = [
    ("invoices/", "invoice_list"), ("invoices/new/", "invoice_new"), ("invoices/<int:pk>/", "invoice_detail"),
    ("invoices/<int:pk>/print/", "invoice_print"), ("invoices/<int:pk>/void/", "invoice_void"),
    ("invoices/<int:pk>/issue/", "invoice_issue"), ("invoices/<int:pk>/uncollectible/", "invoice_uncollectible"),
    ("requests/new/", "quick_request_new"), ("orders/", "order_list"), ("orders/new/", "order_new"),
    ("orders/<int:pk>/", "order_detail"), ("orders/<int:pk>/checkout/", "order_checkout"),
    ("payments/", "payment_list"), ("payments/new/", "payment_new"), ("payments/<int:pk>/", "payment_detail"),
    ("payments/<int:pk>/refund/", "refund_new"), ("credits/", "credit_list"), ("credits/new/", "credit_memo_new"),
    ("credits/apply/", "credit_apply"), ("applications/<int:pk>/to-credit/", "application_move_to_credit"),
]
urlpatterns = [path(route, _todo, name=name) for route, name in NAMES]
