"""Staff sign-ins."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest


@receiver(user_logged_in)
def staff_session_keeps_its_own_age(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """A browser that opened a customer's pay link has a session that ends with that link's claim;
    signing in to the back office with it gives it the staff session's usual age again."""
    if request is not None:
        request.session.set_expiry(None)
