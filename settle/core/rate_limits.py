"""Slowing down one client that floods a page: a count per key in the cache, for a window of time."""

from __future__ import annotations

from django.core.cache import cache


def over_limit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one more for `key`; True once more than `limit` were counted in the current window.
    Key it by REMOTE_ADDR only: a forwarded header is the client's to forge."""
    cache.add(key, 0, window_seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window_seconds)
        count = 1
    return bool(count > limit)
