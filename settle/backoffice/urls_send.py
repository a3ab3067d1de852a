"""Sending from the back office: an invoice, a new message to a customer, a quick payment link."""

from django.urls import path

from .views import send

urlpatterns = [
    path("invoices/<int:pk>/send/", send.invoice_send, name="invoice_send"),
    path("messages/new/", send.message_new, name="message_new"),
    path("requests/link/<int:pk>/", send.quick_request_link, name="quick_request_link"),
]
