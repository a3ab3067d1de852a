"""Language negotiation for the pages customers see, and CSRF checks that survive their
no-referrer policy."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

# Pages a merchant's customers open; they speak the browser's language (Accept-Language).
CUSTOMER_PATH_PREFIXES = ("/join/", "/l/")


class CustomerLanguageMiddleware(LocaleMiddleware):
    """Customer pages follow the browser's language; the back office stays in the site language so
    that its pages never mix two languages (Django's own messages translated, ours not)."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(CUSTOMER_PATH_PREFIXES):
            super().process_request(request)
            return
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()


class SameOriginCsrfMiddleware(CsrfViewMiddleware):
    """Django's CSRF protection, which also accepts a form posted from one of our own pages that
    sends `Referrer-Policy: no-referrer`. Under that policy browsers send `Origin: null` with a
    form's POST, which the stock check refuses; `Sec-Fetch-Site: same-origin`, which only the
    browser can set (a page cannot forge it), says the form was ours. The CSRF token is still
    checked as usual. It overrides Django's private `_origin_verified`: check it on every Django
    upgrade (tests/portal/test_csrf.py pins the behaviour)."""

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin":
            return True
        verified: bool = super()._origin_verified(request)  # type: ignore[misc]  # not in django-stubs
        return verified
