from typing import Any

from django.http import HttpRequest


def current_merchant(request: HttpRequest) -> dict[str, Any]:
    return {
        "merchant": getattr(request, "merchant", None),
        "membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
    }
