"""URLs the processor hands out and the return URLs it accepts.

It only ever sends a browser back to Settle (`SETTLE_BASE_URL`): a return URL anywhere else is
refused, so its pages can never be used as an open redirect."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.urls import reverse


def absolute_url(name: str, *args: str, query: dict[str, str] | None = None) -> str:
    """A sandbox page's full URL (it is served beside Settle, at SETTLE_BASE_URL)."""
    url = settings.SETTLE_BASE_URL + reverse(name, args=args)
    return f"{url}?{urlencode(query)}" if query else url


def settle_origin() -> str:
    base = urlsplit(settings.SETTLE_BASE_URL)
    return f"{base.scheme}://{base.netloc}"


def return_url_allowed(url: str) -> bool:
    """True when `url` is an absolute URL on Settle's own origin and path."""
    if not url or len(url) > 2000 or any(ord(char) < 0x21 or char == "\\" for char in url):
        return False
    base = urlsplit(settings.SETTLE_BASE_URL)
    try:
        target = urlsplit(url)
    except ValueError:
        return False
    same_origin = (target.scheme.lower(), target.netloc.lower()) == (base.scheme.lower(), base.netloc.lower())
    return same_origin and target.path.startswith(base.path.rstrip("/") + "/")


def url_with_params(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to its query string (what it already carries is kept)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
