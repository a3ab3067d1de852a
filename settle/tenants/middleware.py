"""Resolves the signed-in user's current merchant and seals every query in the request to it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django_scopes import scope

from .selectors import memberships_for_user

SESSION_KEY = "merchant_id"


class CurrentMerchantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        memberships = list(memberships_for_user(request.user))
        wanted = request.session.get(SESSION_KEY)
        current = next((m for m in memberships if m.merchant_id == wanted), memberships[0] if memberships else None)
        merchant = current.merchant if current else None
        request.membership = current  # type: ignore[attr-defined]
        request.merchant = merchant  # type: ignore[attr-defined]
        request.memberships = memberships  # type: ignore[attr-defined]
        with scope(merchant=merchant):
            return self.get_response(request)
