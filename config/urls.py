from django.conf import settings
from django.urls import include, path

from settle.backoffice.views.auth import password_reset
from settle.portal.views import merchant_logo
from settle.portal.webhooks import gateway_webhook

urlpatterns = [
    path("", include("settle.backoffice.urls")),
    path("join/", include("settle.portal.urls")),
    path("l/", include("settle.portal.pay_urls")),
    path("sandbox/", include("settle.sandbox.urls")),
    path("webhooks/<str:gateway>/", gateway_webhook, name="gateway_webhook"),
    # Before Django's auth URLs: the reset e-mail is queued, with links built from SETTLE_BASE_URL.
    path("accounts/password_reset/", password_reset, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
]
# Merchants' logos, the only uploads: served by the app in every environment.
urlpatterns.append(path(f"{settings.MEDIA_URL.strip('/')}/logos/<str:name>", merchant_logo, name="merchant_logo"))
