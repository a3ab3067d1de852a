"""Placeholder routes (replaced as the people pages are built)."""

from django.http import HttpResponse
from django.urls import path


def _todo(request, **kwargs):  # type: ignore[no-untyped-def]
    return HttpResponse("Not built yet", status=501)


NAMES = [
    ("", "dashboard"), ("customers/", "customer_list"), ("customers/new/", "customer_new"),
    ("customers/<int:pk>/", "customer_detail"), ("customers/<int:pk>/edit/", "customer_edit"),
    ("customers/<int:pk>/contacts/new/", "contact_new"), ("customers/<int:pk>/contacts/<int:contact_pk>/", "contact_edit"),
    ("customers/<int:pk>/contacts/<int:contact_pk>/revoke/", "contact_revoke"),
    ("customers/<int:pk>/references/", "external_reference_new"),
    ("settings/", "settings"), ("settings/contact-profiles/", "contact_profiles"), ("settings/staff/", "staff"),
    ("switch/<int:merchant_id>/", "switch_merchant"),
]
urlpatterns = [path(route, _todo, name=name) for route, name in NAMES]
