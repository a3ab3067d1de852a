"""Idempotency keys: a retried or double-submitted request returns what the first one made.

Same key and same request → the stored first result; same key, different request → a clear
error; two at once → the unique constraint on (merchant, idempotency_key) lets one win and the
caller replays it. "Same request" is judged by a fingerprint of everything the caller asked for,
stored with the row."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction

from .errors import InvalidInput

MAX_IDEMPOTENCY_KEY = 80

M = TypeVar("M", bound=models.Model)


class IdempotencyConflict(InvalidInput):
    """The key was already used for a different request."""


def request_fingerprint(**request: Any) -> str:
    """A stable digest of a request's parameters (ids, amounts, dates…), for `idempotent_replay`."""
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_replay(model: type[M], *, merchant: Any, key: str | None, fingerprint: str) -> M | None:
    """The row this merchant already made with `key`, or None when the key is new (or absent).
    Raises IdempotencyConflict when that row was made by a different request."""
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput("Idempotency key too long.", field="idempotency_key")
    found = model._default_manager.filter(merchant=merchant, idempotency_key=key).first()
    if found is None:
        return None
    if getattr(found, "request_fingerprint") != fingerprint:  # noqa: B009 (M is any keyed model)
        raise IdempotencyConflict("This request was already submitted with different details.", field="idempotency_key")
    return found


def idempotent_create(
    model: type[M], *, merchant: Any, key: str | None, fingerprint: str, create: Callable[[], M]
) -> M:
    """Run `create` in its own transaction. When a concurrent request with the same key committed
    first, the unique constraint refuses this one and the first request's row is the answer."""
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        replay = idempotent_replay(model, merchant=merchant, key=key, fingerprint=fingerprint)
        if replay is None:
            raise
        return replay
