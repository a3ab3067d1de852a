"""Message templates, the message outbox (one row per message, whatever the channel) and the local
text-message outbox.

Messaging sits below invoicing and payments: what a message concerns is kept as plain ids
(`concerns_invoice_id`, `concerns_payment_id`), and the values of its placeholders are given by the
caller."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from settle.core.tenancy import TenantModel


class Purpose(models.TextChoices):
    PAYMENT_REQUEST = "payment_request", "Payment request"
    REMINDER = "reminder", "Reminder"
    PAYMENT_CONFIRMATION = "payment_confirmation", "Payment confirmation"
    PROFILE_REQUEST = "profile_request", "Payment profile request"
    RECEIPT = "receipt", "Receipt"
    STATEMENT = "statement", "Statement"
    SAVED_REPLY = "saved_reply", "Saved reply"
    STAFF_NOTICE = "staff_notice", "Notice to staff"


# What a merchant writes templates for; notices to staff are Settle's own words.
TEMPLATE_PURPOSES = [purpose for purpose in Purpose if purpose != Purpose.STAFF_NOTICE]


class MessageTemplate(TenantModel):
    """A merchant's wording for one purpose in one language; `{placeholders}` are checked against
    the purpose when saved. The default one of a purpose and language is used when the sender
    picks none."""

    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    language = models.CharField(max_length=8)
    name = models.CharField(max_length=80)
    subject = models.CharField(max_length=200, blank=True, help_text="E-mail only")
    body = models.TextField()
    is_default = models.BooleanField(default=False)
    starter_key = models.CharField(max_length=40, blank=True, help_text="The starter template it was loaded from")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["purpose", "language", "-is_default", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "purpose", "language", "name"], name="message_template_name_unique"
            ),
            models.UniqueConstraint(
                fields=["merchant", "purpose", "language"],
                condition=models.Q(is_default=True),
                name="message_template_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MessageChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"
    MESSENGER = "messenger", "Messenger"
    LINK = "link", "Copy link"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SHARED = "shared", "Shared"
    COPIED = "copied", "Copied"


class Message(TenantModel):
    """One message in the outbox, written in the business transaction that wanted it sent.

    E-mail and text messages are sent after commit by a task; `attempts` and `next_attempt_at`
    drive retries and the sweeper. A failed message keeps its row and its provider's error, and
    can be retried by hand. Messenger and copy-link messages are handed to the merchant at once
    (shared / copied)."""

    channel = models.CharField(max_length=10, choices=MessageChannel.choices)
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    is_test = models.BooleanField(default=False)
    language = models.CharField(max_length=8)
    recipient = models.CharField(max_length=254, blank=True, help_text="E-mail address or E.164 number")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    link = models.URLField(max_length=2000, blank=True, help_text="The link the message carries")
    share_url = models.CharField(max_length=2400, blank=True, help_text="Where the merchant shares it (Messenger)")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    contact = models.ForeignKey(
        "customers.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    concerns_invoice_id = models.BigIntegerField(null=True, blank=True)
    concerns_payment_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # NULL, not "", when absent: the unique constraint must allow any number of keyless rows.
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, help_text="what the keyed request asked for")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "-created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["merchant", "customer"]),
            models.Index(fields=["merchant", "concerns_invoice_id"]),
            models.Index(fields=["merchant", "concerns_payment_id"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="message_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient or 'merchant'} ({self.status})"

    @property
    def will_retry(self) -> bool:
        return self.status == MessageStatus.FAILED and self.next_attempt_at is not None


class MessageAttachment(TenantModel):
    """An e-mail attachment kept with its message, so a retry sends exactly the same bytes."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]


class LocalSms(TenantModel):
    """A text message the local SMS channel 'delivered': exactly what a provider would have been
    given, for the merchant to read in the back office."""

    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to = models.CharField(max_length=20)
    sender = models.CharField(max_length=40, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"])]
