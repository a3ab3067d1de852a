"""Rate counting: a count per key in the cache that trips past its limit, for one window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from settle.core.rate_limits import over_limit


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def test_a_key_is_over_its_limit_only_past_it_and_others_are_not() -> None:
    counted = [over_limit("client:a", limit=3, window_seconds=60) for _ in range(4)]

    assert counted == [False, False, False, True]
    assert not over_limit("client:b", limit=3, window_seconds=60)


def test_a_count_that_expired_between_add_and_incr_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def expired(key: str, delta: int = 1) -> int:
        raise ValueError(key)

    monkeypatch.setattr(cache, "incr", expired)

    assert not over_limit("client:a", limit=1, window_seconds=60)
    assert cache.get("client:a") == 1
