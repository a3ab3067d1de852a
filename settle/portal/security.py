"""Security headers for the pages a customer reaches through a secure link."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

# No script at all, styles from our own files only, nothing framing us, forms posting back here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def customer_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every response of `view`, refusals and redirects included: a strict Content-Security-Policy,
    no caching (a shared computer's history must not keep an invoice), no MIME sniffing, and no
    Referer to anyone (the forms still pass CSRF: see `SameOriginCsrfMiddleware`). HSTS comes from
    SecurityMiddleware (SECURE_HSTS_SECONDS) on secure requests."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper
