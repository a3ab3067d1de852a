"""What the merchant's staff are told: a payment came in, a bank debit came back, a customer says
they paid with an app. A notification that needs action is a To-Do until someone marks it done.

Notifications sit below payments (which call them) and above invoicing: a payment is kept as a
plain id (`payment_id`), like a customer's timeline keeps its objects."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from settle.core.tenancy import TenantModel


class NotificationKind(models.TextChoices):
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    PAYMENT_RETURNED = "payment_returned", "Payment returned"
    PAID_ELSEWHERE = "paid_elsewhere", "Paid elsewhere, to confirm"
    PAID_BACK_TWICE = "refund_reversed", "Money paid back twice (a refund and a return)"
    LATE_CHARGE = "late_charge", "Charge taken after it was recorded as failed"


class Notification(TenantModel):
    """One thing the merchant is told, with what it concerns. `key` makes it happen once: the same
    event told twice (a retried or reconciled recording) finds the first row."""

    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invoice = models.ForeignKey("invoicing.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payment_id = models.BigIntegerField(null=True, blank=True)
    # The back-office page where the To-Do is done (e.g. record a payment, prefilled).
    action_path = models.CharField(max_length=300, blank=True)
    needs_action = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    key = models.CharField(max_length=120)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "-created_at"]),
            models.Index(fields=["merchant"], condition=models.Q(read_at__isnull=True), name="notification_unread"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="notification_key_unique"),
            models.CheckConstraint(
                condition=models.Q(done_at__isnull=True) | models.Q(needs_action=True),
                name="notification_done_only_if_todo",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open_todo(self) -> bool:
        return self.needs_action and self.done_at is None
