"""The sandbox processor's own tables. They belong to the stand-in for an outside company: nothing
in Settle reads them except through the sandbox gateway adapter, and none of them ever holds a
card number or CVC."""

from __future__ import annotations

import secrets

from django.db import models

from .catalogue import Behaviour


def new_id(prefix: str) -> str:
    """An unguessable id in the processor's style (`ch_…`, `src_…`). URL-safe base64 almost never
    makes a long run of digits, so ids never look like card numbers."""
    return f"{prefix}_{secrets.token_urlsafe(18)}"


def _source_token() -> str:
    return new_id("src")


def _setup_token() -> str:
    return new_id("seti")


def _charge_reference() -> str:
    return new_id("ch")


def _action_token() -> str:
    return new_id("act")


def _refund_reference() -> str:
    return new_id("re")


def _event_id() -> str:
    return new_id("evt")


class Kind(models.TextChoices):
    CARD = "card", "Card"
    ACH = "ach", "Bank account"
    WALLET = "wallet", "Wallet"
    BNPL = "bnpl", "Buy now, pay later"


class Operation(models.TextChoices):
    """The processor's API calls; faults are scripted per operation."""

    VAULT_COMPLETE = "vault_complete"
    CHARGE = "charge"
    FETCH_CHARGE = "fetch_charge"
    REFUND = "refund"
    FETCH_REFUND = "fetch_refund"
    VOID = "void"


class Clock(models.Model):
    """The processor's clock: the real time, or later once `sandbox_advance` has moved it (one row)."""

    advanced_to = models.DateTimeField()

    def __str__(self) -> str:
        return f"Sandbox time {self.advanced_to.isoformat()}"


class Source(models.Model):
    """A payment method the processor holds. The hosted page creates it with a one-time setup token
    that Settle exchanges for `token`. `single_use` sources (a wallet payment, a pay-later approval)
    pay once, exactly `amount_minor`."""

    token = models.CharField(max_length=40, unique=True, default=_source_token)
    setup_token = models.CharField(max_length=40, unique=True, default=_setup_token)
    setup_expires_at = models.DateTimeField()
    setup_used_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices)
    brand = models.CharField(max_length=30)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    holder_name = models.CharField(max_length=100, blank=True)
    single_use = models.BooleanField(default=False)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}" if self.last4 else self.brand


class ChargeStatus(models.TextChoices):
    REQUIRES_ACTION = "requires_action", "Waiting for the customer's confirmation"
    PENDING = "pending", "Pending (bank debit)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"
    RETURNED = "returned", "Returned by the bank"


class Charge(models.Model):
    """One charge per idempotency key. `first_reply` is what the first call answered, replayed to a
    repeat of the same request; `return_code` is the bank's return still to come (bank debits on the
    test accounts that bounce), hidden until `returns_at`."""

    reference = models.CharField(max_length=40, unique=True, default=_charge_reference)
    idempotency_key = models.CharField(max_length=255, unique=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="charges")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    return_url = models.CharField(max_length=2000, blank=True)
    status = models.CharField(max_length=20, choices=ChargeStatus.choices)
    decline_code = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=300, blank=True)
    action_token = models.CharField(max_length=40, unique=True, default=_action_token)
    return_code = models.CharField(max_length=3, blank=True)
    refunded_minor = models.BigIntegerField(default=0)
    first_reply = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    succeeded_at = models.DateTimeField(null=True, blank=True)
    settles_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    returns_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="sandbox_charge_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(refunded_minor__gte=0) & models.Q(refunded_minor__lte=models.F("amount_minor")),
                name="sandbox_charge_refunded_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class Refund(models.Model):
    """One refund attempt per idempotency key, refused ones included, so a repeat gets the same answer."""

    reference = models.CharField(max_length=40, unique=True, default=_refund_reference)
    idempotency_key = models.CharField(max_length=255, unique=True)
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    decline_code = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.reference


class Event(models.Model):
    """An outgoing webhook event, delivered at least once: `next_attempt_at` is when the next try is
    due (None once delivered or given up)."""

    event_id = models.CharField(max_length=40, unique=True, default=_event_id)
    type = models.CharField(max_length=40)
    data = models.JSONField()
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class FaultKind(models.TextChoices):
    ERROR_500 = "error_500", "Answer 500 without doing anything"
    TIMEOUT = "timeout", "Time out without doing anything"
    REPLY_LOST = "reply_lost", "Do it, then lose the reply"


class Fault(models.Model):
    """Scripted for tests: the next `remaining` calls of `operation` fail this way."""

    operation = models.CharField(max_length=20, choices=Operation.choices)
    kind = models.CharField(max_length=20, choices=FaultKind.choices)
    remaining = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.operation}: {self.kind} × {self.remaining}"
