"""Settings → Payments."""

from django.urls import path

from .views import payment_settings

urlpatterns = [
    path("settings/payments/", payment_settings.payment_settings, name="settings_payments"),
]
