"""Background work for gateway payments. Thin: take ids, enter the merchant's scope, call a service."""

from __future__ import annotations

from collections.abc import Callable

from django_tasks import task

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.tenants.models import Merchant

from . import charges, services, webhooks


def _as_merchant(merchant_id: int, work: Callable[[Merchant], object]) -> None:
    """Run `work` in the merchant's scope; a merchant gone since leaves nothing to do."""
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is not None:
        with merchant_scope(merchant):
            work(merchant)


@task()
def charge_attempt_reconcile_task(*, merchant_id: int, attempt_id: int, failed_too: bool = False) -> None:
    """Ask the gateway about one attempt (a failed one too, with `failed_too`); a settled one is left
    as it is."""
    _as_merchant(
        merchant_id,
        lambda merchant: charges.charge_attempt_reconcile(
            merchant=merchant, attempt_id=attempt_id, now=clock.now(), failed_too=failed_too
        ),
    )


@task()
def charge_attempts_reconcile_due() -> None:
    """Enqueue the reconciliation of every attempt due a check; schedule it every minute."""
    charges.charge_attempts_reconcile_due(now=clock.now())


@task()
def refund_reconcile_task(*, merchant_id: int, refund_id: int) -> None:
    """Ask the gateway about one pending refund; a finished one is left as it is."""
    _as_merchant(
        merchant_id, lambda merchant: services.refund_reconcile(merchant=merchant, refund_id=refund_id, now=clock.now())
    )


@task()
def refunds_reconcile_due() -> None:
    """Enqueue the check of every pending refund due one; schedule it every minute."""
    for refund_id, merchant_id in services.refunds_due(now=clock.now()):
        refund_reconcile_task.enqueue(merchant_id=merchant_id, refund_id=refund_id)


@task()
def inbound_event_process_task(*, event_id: int) -> None:
    """Process one stored webhook event; a processed one is left as it is."""
    webhooks.inbound_event_process(event_id=event_id, now=clock.now())


@task()
def inbound_events_process_due() -> None:
    """Enqueue every stored webhook event not yet processed whose retry has come; every minute."""
    webhooks.inbound_events_process_due(now=clock.now())
