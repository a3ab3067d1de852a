"""Sending from the task queue. Thin: take ids, enter the merchant's scope, call a service."""

from __future__ import annotations

from django_tasks import task

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.tenants.models import Merchant

from . import services


@task()
def message_send(*, merchant_id: int, message_id: int) -> None:
    """Send one message; a duplicate or late task finds it no longer due and does nothing."""
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        return
    with merchant_scope(merchant):
        services.message_deliver(merchant=merchant, message_id=message_id, now=clock.now())


@task()
def messages_sweep() -> None:
    """Re-enqueue every message due for an attempt (failed ones after their backoff, queued ones
    whose task was lost); schedule it every minute."""
    services.message_sweep(now=clock.now())
