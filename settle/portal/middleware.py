"""Language negotiation for the pages customers see."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
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
