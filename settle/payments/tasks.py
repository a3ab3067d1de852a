"""Background work for gateway payments. Thin: take ids, enter the merchant's scope, call a service."""

from __future__ import annotations

from django_tasks import task

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.tenants.models import Merchant

from . import charges, webhooks


@task()
def charge_attempt_reconcile_task(*, merchant_id: int, attempt_id: int) -> None:
    """Ask the gateway about one attempt; a settled one is left as it is."""
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        return
    with merchant_scope(merchant):
        charges.charge_attempt_reconcile(merchant=merchant, attempt_id=attempt_id, now=clock.now())


@task()
def charge_attempts_reconcile_due() -> None:
    """Enqueue the reconciliation of every attempt due a check; schedule it every minute."""
    charges.charge_attempts_reconcile_due(now=clock.now())


@task()
def inbound_event_process_task(*, event_id: int) -> None:
    """Process one stored webhook event; a processed one is left as it is."""
    webhooks.inbound_event_process(event_id=event_id, now=clock.now())


@task()
def inbound_events_process_due() -> None:
    """Enqueue every stored webhook event not yet processed whose retry has come; every minute."""
    webhooks.inbound_events_process_due(now=clock.now())
