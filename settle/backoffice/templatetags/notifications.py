"""The notification count in the back-office nav."""

from __future__ import annotations

from django import template

from settle.notifications.selectors import NotificationCounts, notification_counts
from settle.tenants.models import Merchant

register = template.Library()


@register.simple_tag
def notifications_count(merchant: Merchant) -> NotificationCounts:
    """Unread notifications and open To-Dos of `merchant`: one query per page."""
    return notification_counts(merchant=merchant)
