from django.urls import include, path

urlpatterns = [
    path("", include("settle.backoffice.urls")),
    path("join/", include("settle.portal.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]
