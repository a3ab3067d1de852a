from __future__ import annotations

from django.conf import settings
from django.db import models

from settle.core.tenancy import TenantModel


class CustomerKind(models.TextChoices):
    PERSON = "person", "Person"
    COMPANY = "company", "Company"


class Customer(TenantModel):
    """Someone who owes the merchant money: a person or a company."""

    kind = models.CharField(max_length=10, choices=CustomerKind.choices, default=CustomerKind.PERSON)
    display_name = models.CharField(max_length=200)
    emails = models.JSONField(default=list, blank=True)
    phones = models.JSONField(default=list, blank=True, help_text="E.164 numbers")
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "display_name"])]

    def __str__(self) -> str:
        return self.display_name

    @property
    def primary_email(self) -> str:
        return self.emails[0] if self.emails else ""

    @property
    def primary_phone(self) -> str:
        return self.phones[0] if self.phones else ""


class ExternalSystem(models.TextChoices):
    CRM = "crm", "CRM"
    ACCOUNTING = "accounting", "Accounting"
    GATEWAY = "gateway", "Payment gateway"


class ExternalReference(TenantModel):
    """A link to the same customer in another system, shown as a chip on the profile."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="external_references")
    system = models.CharField(max_length=12, choices=ExternalSystem.choices)
    label = models.CharField(max_length=60, help_text="e.g. ConnectWise, QuickBooks")
    external_id = models.CharField(max_length=120)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "system", "label"], name="external_reference_unique")
        ]


class ContactProfile(TenantModel):
    """A merchant-defined access level: what a contact may see and do in the portal."""

    name = models.CharField(max_length=60)
    can_view_invoices = models.BooleanField(default=True)
    can_pay = models.BooleanField(default=True)
    can_manage_payment_methods = models.BooleanField(default=False)
    can_manage_autopay = models.BooleanField(default=False)
    can_view_credits = models.BooleanField(default=False)
    receives_invoices = models.BooleanField(default=True)
    receives_receipts = models.BooleanField(default=True)

    PERMISSION_FIELDS = (
        "can_view_invoices",
        "can_pay",
        "can_manage_payment_methods",
        "can_manage_autopay",
        "can_view_credits",
        "receives_invoices",
        "receives_receipts",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "name"], name="contact_profile_name_unique")]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"
    MESSENGER = "messenger", "Messenger"


class Contact(TenantModel):
    """A person at a customer who receives invoices and may use the portal."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    is_default_billing = models.BooleanField(default=False)
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    profile = models.ForeignKey(ContactProfile, null=True, blank=True, on_delete=models.PROTECT)
    access_revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def has_access(self) -> bool:
        return self.profile_id is not None and self.access_revoked_at is None

    def __str__(self) -> str:
        return self.name


class Activity(TenantModel):
    """The append-only timeline of a customer: who did what, when."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    verb = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    object_type = models.CharField(max_length=30, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"])]
        ordering = ["-created_at", "-id"]
