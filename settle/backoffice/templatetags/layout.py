"""Back-office layout helpers."""

from __future__ import annotations

from django import template
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Which nav entry a URL name belongs to (by prefix of the URL name).
NAV_SECTIONS = {
    "dashboard": ("dashboard",),
    "customers": ("customer_", "contact_edit", "contact_new", "contact_revoke", "external_reference_"),
    "invoices": ("invoice_", "quick_request_"),
    "orders": ("order_",),
    "payments": ("payment_", "refund_"),
    "credits": ("credit_", "application_"),
    "messages": ("message_",),
    "notifications": ("notification",),
    "settings": ("settings", "contact_profile", "staff"),
}
# URL names whose prefix names another section than the one they belong to.
NAV_OWNERS = {"message_new": "new_message", "payment_profile_request": "customers"}


@register.simple_tag(takes_context=True)
def nav_active(context: template.Context, section: str) -> SafeString | str:
    """`aria-current="page"` on the nav link of the section the current page belongs to."""
    request: HttpRequest | None = context.get("request")
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "url_name", None) or ""
    owner = NAV_OWNERS.get(name) or next((s for s, prefixes in NAV_SECTIONS.items() if name.startswith(prefixes)), "")
    return mark_safe('aria-current="page"') if owner == section else ""
