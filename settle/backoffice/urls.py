"""Back-office URLs, split by area: people (dashboard, customers, contacts, settings) and money
(invoices, orders, payments, credits)."""

from django.urls import include, path

app_name = "backoffice"
urlpatterns = [
    path("", include("settle.backoffice.urls_people")),
    path("", include("settle.backoffice.urls_money")),
    path("", include("settle.backoffice.urls_messaging")),
    path("", include("settle.backoffice.urls_documents")),
    path("", include("settle.backoffice.urls_payment_settings")),
    path("", include("settle.backoffice.urls_send")),
    path("", include("settle.backoffice.urls_notifications")),
]
