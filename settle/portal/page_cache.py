"""Customer pages remembered as rendered HTML, per process, under a digest of everything they show.

A pay page is a pure function of its context (the invoice's document, the ways to pay, the apps,
the labels, the merchant's name, phone and logo) and the page's language; only the CSRF token and
the checkout key differ from one view to the next. So the page is kept with those two left as
blanks, under the digest of its context, and a view that finds it fills in its own. Anything the
page shows that changes makes another digest: nothing is ever invalidated, only no longer asked
for. Each process keeps its own pages, a few minutes each (a deploy starts afresh), and a page
with a notice for this browser (a decline, a thank-you) is never kept."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.contrib.messages import get_messages
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import translation

# Bump when a template changes in a way its context does not show, within one process's life.
PAGE_FORMAT = 1
# What a checkout key and a CSRF token are rendered as in a kept page, replaced by the view's own:
# random per process (as the pages are), so no text a merchant or customer typed can stand for one.
CHECKOUT_BLANK = f"checkout-{secrets.token_hex(12)}"
_CSRF_BLANK = f"csrf-{secrets.token_hex(12)}"

_PAGES = LocMemCache("settle-customer-pages", {"TIMEOUT": 300, "OPTIONS": {"MAX_ENTRIES": 1000}})
_CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def _key(template_name: str, context: Mapping[str, Any]) -> str:
    merchant = context["merchant"]
    shown = (
        PAGE_FORMAT,
        template_name,
        translation.get_language(),
        (merchant.pk, merchant.name, merchant.phone, merchant.logo.name),
        sorted((name, repr(value)) for name, value in context.items() if name != "merchant"),
    )
    return f"page:{hashlib.sha256(repr(shown).encode()).hexdigest()}"


def page_render(
    request: HttpRequest, template_name: str, context: Mapping[str, Any], *, checkout_key: str
) -> HttpResponse:
    """`template_name` rendered with `context` — whose only model is `merchant`; every other value
    must show all it holds in its repr (dataclasses, strings, lists of them) — with the checkout
    key rendered as CHECKOUT_BLANK replaced by `checkout_key`, and this browser's CSRF token."""
    if len(get_messages(request)):  # a storage has a length: the notices this browser is to see
        html: str = render_to_string(template_name, context, request)
    else:
        key = _key(template_name, context)
        blank: str | None = _PAGES.get(key)
        if blank is None:
            blank = _CSRF_VALUE.sub(rf"\g<1>{_CSRF_BLANK}\g<2>", render_to_string(template_name, context, request))
            _PAGES.set(key, blank)
        html = blank.replace(_CSRF_BLANK, get_token(request))
    return HttpResponse(html.replace(CHECKOUT_BLANK, checkout_key))
