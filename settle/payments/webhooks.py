"""The webhook inbox: a gateway's event is verified, stored once per (gateway, event id) and
answered at once; it is processed after commit by a task, and again by the sweeper until that
succeeds, so a crash or an error loses nothing and a repeated delivery changes nothing.

Processing a `charge.*` event records what it says about the charge exactly as a reply would
(`settle.payments.charges`): the attempt's transition table ignores stale or repeated news.
Refunds are recorded when the gateway confirms them to `refund_create`; a `refund.*` event about a
refund still pending here (its reply was lost) has it checked at once rather than at the next
sweep."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping

from django.db import transaction

from settle.core.periodic import rows_due_leased
from settle.core.tasks import enqueue_on_commit
from settle.core.tenancy import all_merchants
from settle.gateways.base import ChargeResult, Outcome
from settle.gateways.registry import gateway_get
from settle.tenants.models import Merchant

from . import charges, tasks
from .models import InboundEvent
from .services import refund_news

logger = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=6)


def inbound_event_receive(*, gateway: str, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> InboundEvent:
    """Check an inbound event's signature and store it once; its processing is enqueued when it is
    new. Returns the stored event (the first one, for a repeated id). Raises InvalidWebhook or
    UnknownGateway, storing nothing."""
    event = gateway_get(gateway).verify_webhook(headers=headers, body=body, now=now)
    with all_merchants(), transaction.atomic():
        stored, created = InboundEvent.objects.get_or_create(
            gateway=gateway,
            event_id=event.id[:100],
            defaults={"type": event.type[:60], "body": body.decode(), "received_at": now, "next_attempt_at": now},
        )
        if created:
            enqueue_on_commit(tasks.inbound_event_process_task, event_id=stored.pk)
    return stored


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2**attempts), MAX_BACKOFF)


def _charge_result(data: Mapping[str, object]) -> ChargeResult:
    """A `charge.*` event's data as the reply `fetch_charge` would give at that moment."""
    return ChargeResult(
        outcome=Outcome(str(data["outcome"])),
        reference=str(data.get("reference", "")),
        decline_code=str(data.get("decline_code", "")),
        message=str(data.get("message", "")),
        action_url=str(data.get("action_url", "")),
    )


def _event_apply(event: InboundEvent, *, now: dt.datetime) -> Merchant | None:
    """Do what the event says; the merchant it concerned, if any."""
    if event.type.startswith("refund."):
        data = json.loads(event.body)["data"]
        refund = refund_news(gateway_key=str(data["idempotency_key"]))
        return refund.merchant if refund is not None else None
    if not event.type.startswith("charge."):
        return None
    data = json.loads(event.body)["data"]
    attempt = charges.charge_attempt_news(
        gateway=event.gateway, gateway_key=str(data["idempotency_key"]), result=_charge_result(data), now=now
    )
    return attempt.merchant if attempt is not None else None


def inbound_event_process(*, event_id: int, now: dt.datetime) -> None:
    """Process a stored event once. An error is kept on the row and the event retried later with
    backoff (the sweeper); a processed event is left as it is."""
    with all_merchants(), transaction.atomic():
        # The event's row lock makes concurrent processing of one event queue, then find it done.
        event = InboundEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.processed_at is not None:
            return
        try:
            with transaction.atomic():
                merchant = _event_apply(event, now=now)
        except Exception as exc:
            logger.exception("Webhook event %s %s failed", event.gateway, event.event_id)
            event.attempts += 1
            event.last_error = f"{type(exc).__name__}: {exc}"[:300]
            event.next_attempt_at = now + _backoff(event.attempts)
            event.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            return
        event.merchant = merchant
        event.processed_at = now
        event.next_attempt_at = None
        event.save(update_fields=["merchant", "processed_at", "next_attempt_at"])


def inbound_events_process_due(*, now: dt.datetime) -> int:
    """Enqueue the processing of every stored event not processed whose next attempt has come
    (a failed one after its backoff, one whose task was lost); returns how many."""
    with all_merchants():
        waiting = InboundEvent.objects.filter(processed_at__isnull=True)
        lease = {"next_attempt_at": now + _backoff(0)}
        due = rows_due_leased(waiting, due_field="next_attempt_at", now=now, columns=(), lease=lease)
    for (event_id,) in due:
        enqueue_on_commit(tasks.inbound_event_process_task, event_id=event_id)
    return len(due)
