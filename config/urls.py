from django.conf import settings
from django.conf.urls.static import static
from django.urls import include, path

from settle.backoffice.views.auth import password_reset

urlpatterns = [
    path("", include("settle.backoffice.urls")),
    path("join/", include("settle.portal.urls")),
    path("sandbox/", include("settle.sandbox.urls")),
    # Before Django's auth URLs: the reset e-mail is queued, with links built from SETTLE_BASE_URL.
    path("accounts/password_reset/", password_reset, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
]
# Uploaded logos in development (empty unless DEBUG; production serves MEDIA_ROOT itself).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
