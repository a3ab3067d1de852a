from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def _contact_form_token() -> str:
    return secrets.token_urlsafe(12)


class Merchant(models.Model):
    """A business using Settle: the tenant every other row belongs to."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    address = models.TextField(blank=True)
    logo = models.FileField(upload_to="logos/", blank=True)
    currency = models.CharField(max_length=3, default="USD")
    locale = models.CharField(max_length=10, default="en_US")
    time_zone = models.CharField(max_length=64, default="America/New_York")
    invoice_prefix = models.CharField(max_length=12, default="INV-")
    invoice_next_number = models.PositiveIntegerField(default=1)
    contact_form_token = models.CharField(max_length=32, unique=True, default=_contact_form_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    STAFF = "staff", "Staff"
    READ_ONLY = "read_only", "Read-only"


class Membership(models.Model):
    """A staff user's role at one merchant; a user may belong to several merchants."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "merchant"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"

    @property
    def can_change_money(self) -> bool:
        return self.role != Role.READ_ONLY

    @property
    def can_manage_staff(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)
