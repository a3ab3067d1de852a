"""Reads about the merchant's notifications."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from settle.tenants.models import Merchant

from .models import Notification


def notification_list(*, merchant: Merchant, todo_only: bool = False) -> QuerySet[Notification]:
    """Newest first, with what they concern; `todo_only`: the To-Dos not done yet."""
    query = Notification.objects.filter(merchant=merchant).select_related("customer", "invoice", "done_by")
    if todo_only:
        query = query.filter(needs_action=True, done_at__isnull=True)
    return query.order_by("-created_at", "-id")


@dataclass(frozen=True)
class NotificationCounts:
    unread: int
    todo: int


def notification_counts(*, merchant: Merchant) -> NotificationCounts:
    """Unread notifications and open To-Dos, in one query (shown on every back-office page)."""
    counts = Notification.objects.filter(merchant=merchant).aggregate(
        unread=Count("pk", filter=Q(read_at__isnull=True)),
        todo=Count("pk", filter=Q(needs_action=True, done_at__isnull=True)),
    )
    return NotificationCounts(unread=counts["unread"], todo=counts["todo"])
