"""The processor's background work, thin: load, call the service."""

from __future__ import annotations

from django_tasks import task

from settle.core import clock

from . import selectors, services, webhooks


@task()
def event_deliver_task(*, event_id: str) -> None:
    webhooks.event_deliver(event_id=event_id, now=selectors.sandbox_now())


@task()
def sandbox_advance_task() -> None:
    """The processor's heartbeat: catch its clock up with the real time, then retry due deliveries."""
    report = services.sandbox_advance(now=clock.now())
    webhooks.events_deliver_due(now=report.now)
