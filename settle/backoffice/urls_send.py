"""Sending an invoice or payment request from the back office."""

from django.urls import path

from .views import send

urlpatterns = [
    path("invoices/<int:pk>/send/", send.invoice_send, name="invoice_send"),
]
