from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from settle.core.money import MoneyAttribute
from settle.core.tenancy import TenantModel
from settle.customers.models import Customer


class Order(TenantModel):
    """What a customer bought; checking out turns it into an invoice."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    currency = models.CharField(max_length=3)
    discount_minor = models.BigIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]


class OrderItem(TenantModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price_minor = models.BigIntegerField()
    tax_rate_bp = models.PositiveIntegerField(default=0, help_text="basis points: 825 = 8.25%")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class Terms(models.TextChoices):
    DUE_ON_RECEIPT = "due_on_receipt", "Due on receipt"
    NET_15 = "net_15", "Net 15"
    NET_30 = "net_30", "Net 30"
    NET_60 = "net_60", "Net 60"
    CUSTOM = "custom", "Custom due date"


TERMS_DAYS = {Terms.DUE_ON_RECEIPT: 0, Terms.NET_15: 15, Terms.NET_30: 30, Terms.NET_60: 60}
COLLECTIBLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


class Invoice(TenantModel):
    """What a customer owes. `balance_minor`, `paid_minor` and `refunded_minor` are caches of the
    journal, kept by `invoice_totals_apply` and checked by `settle verify`."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice")
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    currency = models.CharField(max_length=3)
    issue_date = models.DateField()
    terms = models.CharField(max_length=16, choices=Terms.choices, default=Terms.DUE_ON_RECEIPT)
    due_date = models.DateField()
    po_number = models.CharField(max_length=60, blank=True)
    contract_reference = models.CharField(max_length=60, blank=True)
    reference = models.CharField(max_length=60, blank=True, help_text="quick payment request reference")
    memo = models.CharField(max_length=1000, blank=True)
    subtotal_minor = models.BigIntegerField(default=0)
    discount_minor = models.BigIntegerField(default=0)
    tax_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    balance_minor = models.BigIntegerField(default=0)
    paid_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issue_date", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "sequence"], name="invoice_sequence_unique"),
            models.UniqueConstraint(fields=["merchant", "number"], name="invoice_number_unique"),
            models.CheckConstraint(condition=models.Q(balance_minor__gte=0), name="invoice_balance_not_negative"),
            models.CheckConstraint(condition=models.Q(total_minor__gte=0), name="invoice_total_not_negative"),
        ]
        indexes = [models.Index(fields=["merchant", "customer", "status"])]

    def __str__(self) -> str:
        return self.number

    total = MoneyAttribute("total_minor")

    balance = MoneyAttribute("balance_minor")

    paid = MoneyAttribute("paid_minor")

    refunded = MoneyAttribute("refunded_minor")

    @property
    def is_collectible(self) -> bool:
        return self.status in COLLECTIBLE_STATUSES

    def is_past_due(self, today: dt.date) -> bool:
        return self.is_collectible and self.balance_minor > 0 and self.due_date < today

    @property
    def refund_label(self) -> str:
        """Refunded / Partially refunded, shown beside the status."""
        if not self.refunded_minor:
            return ""
        return "Partially refunded" if self.paid_minor else "Refunded"


class InvoiceLine(TenantModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price_minor = models.BigIntegerField()
    tax_rate_bp = models.PositiveIntegerField(default=0)
    amount_minor = models.BigIntegerField(help_text="quantity × unit price")
    discount_minor = models.BigIntegerField(default=0, help_text="this line's share of the discount")
    tax_minor = models.BigIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class CreditMemo(TenantModel):
    """Credit granted to a customer (a return, goodwill); applied to invoices like a payment."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_memos")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    remaining_minor = models.BigIntegerField()
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # NULL, not "", when absent: the unique constraint must allow any number of keyless rows.
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, help_text="what the keyed request asked for")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="credit_memo_idempotency_key_unique"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="credit_memo_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(remaining_minor__gte=0) & models.Q(remaining_minor__lte=models.F("amount_minor")),
                name="credit_memo_remaining_in_range",
            ),
        ]

    @property
    def number(self) -> str:
        return f"CM-{self.pk:05d}"

    remaining = MoneyAttribute("remaining_minor")


class Account(models.TextChoices):
    """The chart of accounts. Debits are positive, credits negative."""

    RECEIVABLE = "receivable", "Accounts receivable"
    REVENUE = "revenue", "Sales"
    TAX_PAYABLE = "tax_payable", "Sales tax payable"
    SALES_RETURNS = "sales_returns", "Sales returns and allowances"
    BAD_DEBT = "bad_debt", "Bad debt"
    UNAPPLIED = "unapplied_payments", "Unapplied payments"
    CUSTOMER_CREDIT = "customer_credit", "Customer credit"
    CLEARING = "clearing", "Cash and clearing"


class EntryKind(models.TextChoices):
    """What an entry records, as the back office names it. Money going back out of clearing has a
    kind per cause (a refund, a bank return, a void), so the books say why it left."""

    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    INVOICE_VOIDED = "invoice_voided", "Invoice voided"
    INVOICE_WRITTEN_OFF = "invoice_written_off", "Invoice written off"
    CREDIT_MEMO_ISSUED = "credit_memo_issued", "Credit memo issued"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    CREDIT_APPLIED = "credit_applied", "Credit applied"
    APPLICATION_REVERSED = "application_reversed", "Moved to credit"
    REFUND_ISSUED = "refund_issued", "Refund"
    PAYMENT_RETURNED = "payment_returned", "Returned by the bank"
    PAYMENT_VOIDED = "payment_voided", "Payment voided"


class JournalEntry(TenantModel):
    """One balanced double-entry posting; append-only."""

    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    memo = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class JournalLine(TenantModel):
    """One leg of an entry. `payment_id` names a payments.Payment; it is a plain column because the
    journal sits below the payments app (verify checks that every one exists)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=24, choices=EntryKind.choices, help_text="copy of entry.kind")
    account = models.CharField(max_length=20, choices=Account.choices)
    method = models.CharField(max_length=20, blank=True, help_text="clearing sub-account: cash, check…")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    credit_memo = models.ForeignKey(CreditMemo, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
