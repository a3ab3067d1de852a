from __future__ import annotations

from django.conf import settings
from django.db import models

from settle.core.money import Money, MoneyAttribute
from settle.core.tenancy import TenantModel
from settle.customers.models import Customer
from settle.invoicing.models import CreditMemo, Invoice


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    VENMO = "venmo", "Venmo"
    PAYPAL = "paypal", "PayPal"
    CASH_APP = "cash_app", "Cash App"
    ZELLE = "zelle", "Zelle"
    CARD_TERMINAL = "card_terminal", "Card terminal"
    OTHER = "other", "Other"
    CARD = "card", "Card"
    BANK_ACCOUNT = "bank_account", "Bank account (ACH)"
    WALLET = "wallet", "Wallet"
    BNPL = "bnpl", "Buy now, pay later"


# The methods only a gateway takes: such a payment names its gateway and charge.
GATEWAY_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.BANK_ACCOUNT, PaymentMethod.WALLET, PaymentMethod.BNPL})


class PaymentStatus(models.TextChoices):
    """A manual payment is succeeded from the start. A bank debit is pending until it settles (the
    invoice already shows paid) and returned when the bank sends it back (the invoice owes again).
    A gateway payment voided before its funds settled never moved any money (the invoice owes
    again)."""

    SUCCEEDED = "succeeded", "Succeeded"
    PENDING = "pending", "Pending"
    RETURNED = "returned", "Returned"
    VOIDED = "voided", "Void"


class Payment(TenantModel):
    """Money received from a customer. What is not applied to invoices is customer credit
    (`unapplied_minor`). The `_minor` caches are derived from the journal."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    unapplied_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    check_number = models.CharField(max_length=30, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=500, blank=True)
    received_on = models.DateField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # NULL, not "", when absent: the unique constraint must allow any number of keyless rows.
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, help_text="what the keyed request asked for")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.SUCCEEDED)
    gateway = models.CharField(max_length=40, blank=True, help_text="the gateway that took it, if any")
    gateway_reference = models.CharField(max_length=100, blank=True, help_text="the gateway's id for the charge")
    card_brand = models.CharField(max_length=40, blank=True)
    last4 = models.CharField(max_length=4, blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="payment_idempotency_key_unique"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=models.Q(unapplied_minor__gte=0), name="payment_unapplied_not_negative"),
            models.CheckConstraint(
                condition=models.Q(refunded_minor__gte=0) & models.Q(refunded_minor__lte=models.F("amount_minor")),
                name="payment_refunded_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(last4="") | models.Q(last4__regex=r"^[0-9]{4}$"), name="payment_last4_digits"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "customer", "-received_on"])]

    @property
    def number(self) -> str:
        return f"PAY-{self.pk:05d}"

    @staticmethod
    def id_from_number(number: str) -> int | None:
        """The id a payment `number` names ("PAY-00012" → 12), None for anything else."""
        digits = number.removeprefix("PAY-")
        # At most 18 digits: any id a 64-bit column holds, and nothing a database would choke on.
        well_formed = number.startswith("PAY-") and digits.isascii() and digits.isdigit() and len(digits) <= 18
        return int(digits) if well_formed else None

    amount = MoneyAttribute("amount_minor")

    unapplied = MoneyAttribute("unapplied_minor")

    refunded = MoneyAttribute("refunded_minor")

    @property
    def refund_pending(self) -> Money:
        """Refunds waiting for the gateway's answer (prefetch `refunds` to read it without a query)."""
        return Money(sum(r.amount_minor for r in self.refunds.all() if r.status == RefundStatus.PENDING), self.currency)

    @property
    def refundable(self) -> Money:
        """What is left to refund: refunds waiting for the gateway's answer already count against it."""
        return Money(self.amount_minor - self.refunded_minor - self.refund_pending.minor, self.currency)

    @property
    def voidable(self) -> bool:
        """Whether a void may be asked for: a gateway payment, neither void nor returned, nothing
        refunded or waiting to be. Whether its funds have settled only the gateway knows."""
        live = self.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PENDING)
        return bool(self.gateway) and live and not self.refunded_minor and not self.refund_pending

    @property
    def refund_label(self) -> str:
        """Refunded / Partially refunded beside the payment; a returned bank debit or a voided
        payment says so instead."""
        if self.status in (PaymentStatus.RETURNED, PaymentStatus.VOIDED):
            return self.get_status_display()
        if not self.refunded_minor:
            return ""
        return "Refunded" if self.refunded_minor == self.amount_minor else "Partially refunded"


class Application(TenantModel):
    """How much of one payment or credit memo currently pays one invoice (net of reversals)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="applications")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="applications")
    credit_memo = models.ForeignKey(
        CreditMemo, null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    amount_minor = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(payment__isnull=True) ^ models.Q(credit_memo__isnull=True),
                name="application_one_source",
            ),
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="application_not_negative"),
            models.UniqueConstraint(
                fields=["payment", "invoice"],
                condition=models.Q(payment__isnull=False),
                name="application_payment_unique",
            ),
            models.UniqueConstraint(
                fields=["credit_memo", "invoice"],
                condition=models.Q(credit_memo__isnull=False),
                name="application_credit_memo_unique",
            ),
        ]


class RefundStatus(models.TextChoices):
    """A manual refund succeeds as it is recorded. A gateway refund is pending from before the
    gateway is asked until its answer is recorded: succeeded (the journal has it) or failed
    (nothing moved)."""

    PENDING = "pending", "Refund pending"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Refund failed"


class Refund(TenantModel):
    """Money given back from a payment. A gateway refund is committed as pending before the gateway
    is called, with what it plans to take off each invoice (`plan`, invoice id → minor units; the
    rest comes out of unapplied credit), so a crash or a lost reply leaves a row to reconcile.
    Lifecycle: `settle.payments.services`, `refund_*`."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED)
    plan = models.JSONField(default=dict, blank=True, help_text="pending: invoice id → minor units to take off it")
    gateway_reference = models.CharField(max_length=100, blank=True, help_text="the gateway's id for the refund")
    decline_code = models.CharField(max_length=60, blank=True)
    message = models.CharField(max_length=300, blank=True, help_text="why the gateway refused it")
    attempts = models.PositiveIntegerField(default=0, help_text="reconciliation checks made")
    next_check_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # NULL, not "", when absent: the unique constraint must allow any number of keyless rows.
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, help_text="what the keyed request asked for")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="refund_idempotency_key_unique"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["status", "next_check_at"])]


class LinkPurpose(models.TextChoices):
    PAY_INVOICE = "pay_invoice", "Pay an invoice"
    PAY_STATEMENT = "pay_statement", "Pay several invoices"
    ADD_PAYMENT_METHOD = "add_payment_method", "Add a payment method"
    VIEW_RECEIPT = "view_receipt", "View a receipt"


class SecureLink(TenantModel):
    """A link that lets a customer act without signing in: pay invoices, add a payment method,
    see a receipt. Only the SHA-256 of its token is stored; the token itself lives in the message
    that carries it and nowhere else. Lifecycle and checks: `settle.payments.links`."""

    purpose = models.CharField(max_length=20, choices=LinkPurpose.choices)
    token_hash = models.CharField(max_length=64, unique=True, help_text="hex SHA-256 of the token")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="secure_links")
    contact = models.ForeignKey(
        "customers.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="secure_links"
    )
    invoices = models.ManyToManyField(Invoice, through="SecureLinkInvoice", related_name="secure_links")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.CASCADE, related_name="secure_links")
    replaces_method = models.ForeignKey(
        "payments.SavedMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="a profile request's: the saved method the one saved through it takes the place of",
    )
    single_use = models.BooleanField(default=False)
    public = models.BooleanField(
        default=False,
        help_text="a quick payment link the merchant shares anywhere: it never offers the customer's saved methods",
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(purpose=LinkPurpose.VIEW_RECEIPT) & models.Q(payment__isnull=False))
                | (~models.Q(purpose=LinkPurpose.VIEW_RECEIPT) & models.Q(payment__isnull=True)),
                name="secure_link_payment_only_for_receipts",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="secure_link_expires_after_creation"
            ),
            models.CheckConstraint(
                condition=models.Q(used_at__isnull=True) | models.Q(single_use=True), name="secure_link_used_once"
            ),
            models.CheckConstraint(
                condition=models.Q(public=False)
                | (models.Q(purpose=LinkPurpose.PAY_INVOICE) & models.Q(single_use=False)),
                name="secure_link_public_only_to_pay_an_invoice",
            ),
            models.CheckConstraint(
                condition=models.Q(replaces_method__isnull=True) | models.Q(purpose=LinkPurpose.ADD_PAYMENT_METHOD),
                name="secure_link_replaces_only_when_adding_a_method",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "customer", "-created_at"])]


class SecureLinkInvoice(TenantModel):
    """An invoice a payment link is for."""

    link = models.ForeignKey(SecureLink, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "invoice"], name="secure_link_invoice_unique")]


class PaymentSettings(TenantModel):
    """How a merchant takes payments online: the gateway, which payment types the pay page offers,
    whether customers may pay part of an invoice, the automatic confirmation message, and the
    social payment app handles (stored normalised, see `settle.payments.social`). One row per
    merchant, created with defaults on first read (`settle.payments.payment_settings`)."""

    gateway = models.CharField(max_length=40, help_text="a name from settings.SETTLE_GATEWAYS")
    card_enabled = models.BooleanField(default=True)
    ach_enabled = models.BooleanField(default=True)
    wallets_enabled = models.BooleanField(default=True)
    bnpl_enabled = models.BooleanField(default=False)
    currency = models.CharField(max_length=3, help_text="the merchant's, which the BNPL minimum is in")
    bnpl_minimum_minor = models.BigIntegerField()
    partial_payments_allowed = models.BooleanField(default=False)
    confirmation_message_enabled = models.BooleanField(default=False)
    venmo_username = models.CharField(max_length=30, blank=True)
    paypal_handle = models.CharField(max_length=20, blank=True)
    cashapp_cashtag = models.CharField(max_length=21, blank=True)
    zelle_recipient = models.CharField(max_length=254, blank=True, help_text="e-mail, or phone in E.164")
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "payment settings"
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="payment_settings_one_per_merchant"),
            models.CheckConstraint(
                condition=models.Q(bnpl_minimum_minor__gte=0), name="payment_settings_bnpl_minimum_not_negative"
            ),
        ]

    @property
    def bnpl_minimum(self) -> Money:
        return Money(self.bnpl_minimum_minor, self.currency)


class ChargeState(models.TextChoices):
    CREATED = "created", "Created"
    REQUIRES_ACTION = "requires_action", "Waiting for the customer's confirmation"
    PENDING = "pending", "Pending"
    UNKNOWN = "unknown", "Unknown: being checked with the gateway"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    RETURNED = "returned", "Returned by the bank"
    VOIDED = "voided", "Voided before settling"


class ChargeAttempt(TenantModel):
    """One attempt to charge a customer through a gateway, written and committed before the gateway
    is called, so a crash or a lost reply leaves a row to reconcile. Its idempotency key is the
    caller's (unique per merchant); the gateway receives `gateway_key`, unique across merchants.
    The payment it produced is linked once (unique). Lifecycle: `settle.payments.charges`."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="charge_attempts")
    invoice_ids = models.JSONField(default=list, blank=True, help_text="the invoices it pays, oldest due first")
    allow_partial = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    kind = models.CharField(max_length=10, help_text="a gateway MethodKind: card, ach, wallet, bnpl")
    gateway = models.CharField(max_length=40)
    token = models.CharField(max_length=100, help_text="the gateway's token for the method, never a card number")
    card_brand = models.CharField(max_length=40, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    idempotency_key = models.CharField(max_length=80)
    gateway_key = models.CharField(max_length=120, unique=True, help_text="the idempotency key the gateway gets")
    request_fingerprint = models.CharField(max_length=64)
    return_url = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=16, choices=ChargeState.choices, default=ChargeState.CREATED)
    gateway_reference = models.CharField(max_length=100, blank=True)
    decline_code = models.CharField(max_length=60, blank=True)
    message = models.CharField(max_length=300, blank=True)
    action_url = models.CharField(max_length=500, blank=True)
    language = models.CharField(
        max_length=10, blank=True, help_text="the pay page's language: the customer's confirmation is written in it"
    )
    attempts = models.PositiveIntegerField(default=0, help_text="reconciliation checks made")
    next_check_at = models.DateTimeField(null=True, blank=True)
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="charge_attempt"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="charge_attempt_key_unique"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="charge_attempt_amount_positive"),
        ]
        indexes = [models.Index(fields=["state", "next_check_at"])]

    amount = MoneyAttribute("amount_minor")


class InboundEvent(TenantModel):
    """A webhook event as the gateway sent it, stored once per (gateway, event id) before it is
    processed. Its merchant is known only once processing finds the charge it is about, so the
    inbox is read across merchants (`all_merchants`)."""

    # Nullable here only: an event is stored before anyone knows whose it is.
    merchant = models.ForeignKey(  # type: ignore[assignment]
        "tenants.Merchant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    gateway = models.CharField(max_length=40)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=60)
    body = models.TextField(help_text="the raw JSON body, as signed")
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="inbound_event_once")]
        indexes = [models.Index(fields=["processed_at", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_id} {self.type}"


class SavedMethod(TenantModel):
    """A customer's card or bank account kept at the gateway as a token, with what a person needs to
    recognise it and the consent they gave. Never a card or account number. Lifecycle:
    `settle.payments.vault`."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="saved_methods")
    gateway = models.CharField(max_length=40)
    token = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, help_text="card or ach")
    brand = models.CharField(max_length=40)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    friendly_name = models.CharField(max_length=80, blank=True)
    billing_address = models.TextField(blank=True)
    consent_text = models.TextField(help_text="the exact authorization the customer agreed to")
    consent_at = models.DateTimeField()
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    @property
    def label(self) -> str:
        """How people recognise it, brand and last four digits only: "Visa •••• 4242 — Mary's Visa"."""
        shown = f"{self.brand} •••• {self.last4}"
        return f"{shown} — {self.friendly_name}" if self.friendly_name else shown

    class Meta:
        ordering = ["-is_default", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_default=True, removed_at__isnull=True),
                name="saved_method_one_default",
            ),
            models.CheckConstraint(condition=models.Q(last4__regex=r"^[0-9]{4}$"), name="saved_method_last4_digits"),
            # A token is kept once: a repeated save finds the first (`vault.saved_method_add`).
            models.UniqueConstraint(
                fields=["merchant", "gateway", "token"],
                condition=models.Q(removed_at__isnull=True),
                name="saved_method_token_once",
            ),
        ]
