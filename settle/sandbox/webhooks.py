"""Outgoing webhook events: signed, POSTed to Settle, retried with backoff until Settle answers 2xx.

Delivery is at least once (a retry after a lost 2xx, or two workers racing, sends an event again
with the same id), so the receiver stores each event id once. Each attempt is signed anew:

    Sandbox-Signature: t=<unix time of sending>,v1=<hex HMAC-SHA256 of f"{t}.{body}">

`t` is the wall-clock time of sending, which the receiver compares with its own clock, even when
tests have moved the processor's clock ahead."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from django.conf import settings
from django.db import transaction

from settle.core import clock

from .models import Event

SIGNATURE_HEADER = "Sandbox-Signature"
WEBHOOK_PATH = "/webhooks/sandbox/"
DELIVERY_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 12  # about a day and a half of retries
MAX_BACKOFF = dt.timedelta(hours=6)

# POST (url, body, headers) and answer the HTTP status; raise OSError when nothing answered.
Transport = Callable[[str, bytes, Mapping[str, str]], int]


def signing_secret() -> bytes:
    """SANDBOX_WEBHOOK_SECRET, or one derived from SECRET_KEY (the same in every process)."""
    if secret := getattr(settings, "SANDBOX_WEBHOOK_SECRET", ""):
        return str(secret).encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"settle.sandbox.webhook-secret", hashlib.sha256).hexdigest().encode()


def signature(body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}.{body}"` under the signing secret."""
    return hmac.new(signing_secret(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={signature(body, timestamp)}"


def event_body(event: Event) -> bytes:
    """The JSON body POSTed for an event, the same bytes on every attempt."""
    payload = {
        "id": event.event_id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "data": event.data,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def http_post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    if not url.startswith(("http://", "https://")):
        raise OSError(f"Not an HTTP URL: {url}")
    # http(s) only (checked above), so S310's worry, a file: or custom scheme, cannot arise.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2**attempts), MAX_BACKOFF)


def event_deliver(*, event_id: str, now: dt.datetime, transport: Transport | None = None) -> bool:
    """Try to deliver one event if it is due; True once it is delivered. A failure schedules the
    next attempt with backoff, up to MAX_ATTEMPTS. No lock is held during the request."""
    event = Event.objects.filter(event_id=event_id).first()
    if event is None or event.delivered_at is not None:
        return event is not None
    if event.next_attempt_at is None or event.next_attempt_at > now:
        return False
    body = event_body(event)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(body, int(clock.now().timestamp())),
    }
    error = ""
    try:
        status = (transport or http_post)(settings.SETTLE_BASE_URL + WEBHOOK_PATH, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except OSError as exc:
        error = str(exc) or type(exc).__name__
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if event.delivered_at is not None:
            return True
        event.attempts += 1
        if error:
            event.last_error = error[:300]
            event.next_attempt_at = now + _backoff(event.attempts) if event.attempts < MAX_ATTEMPTS else None
        else:
            event.delivered_at = now
            event.next_attempt_at = None
        event.save(update_fields=["attempts", "last_error", "next_attempt_at", "delivered_at"])
    return not error


def events_deliver_due(*, now: dt.datetime, transport: Transport | None = None) -> tuple[int, int]:
    """Deliver every event due by `now`, oldest first: (delivered, failed)."""
    due = Event.objects.filter(next_attempt_at__lte=now, delivered_at__isnull=True).values_list("event_id", flat=True)
    delivered = failed = 0
    for event_id in list(due):
        if event_deliver(event_id=event_id, now=now, transport=transport):
            delivered += 1
        else:
            failed += 1
    return delivered, failed
