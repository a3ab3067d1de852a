"""Reads about money received: payments, what they paid, customer credit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Sum

from settle.core.money import Money
from settle.invoicing.models import Account, CreditMemo, Invoice, InvoiceStatus, JournalLine
from settle.invoicing.selectors import credit_memos
from settle.tenants.models import Merchant

from .models import Application, Payment, Refund, RefundStatus, SavedMethod, SecureLink, SecureLinkInvoice


def payment_list(*, merchant: Merchant, customer_id: int | None = None) -> QuerySet[Payment]:
    """Transaction history, newest first, each with the invoices it paid (no N+1)."""
    query = (
        Payment.objects.filter(merchant=merchant)
        .select_related("customer")
        .prefetch_related(
            Prefetch("applications", queryset=Application.objects.filter(amount_minor__gt=0).select_related("invoice")),
            "refunds",
        )
    )
    return query.filter(customer_id=customer_id) if customer_id is not None else query


def payment_detail(*, merchant: Merchant, payment_id: int) -> Payment:
    return payment_list(merchant=merchant).get(pk=payment_id)


def saved_methods_chargeable(
    *, merchant: Merchant, customer_id: int, gateway: str, kinds: Sequence[str]
) -> list[SavedMethod]:
    """The customer's payment methods, not removed, kept at `gateway` and of one of `kinds`: the
    default first, then the newest. Every pay page view asks, so it is plain SQL: building it
    through the ORM cost several times what the database spends on it."""
    if not kinds:
        return []
    # The table name comes from the model; every value is a parameter.
    sql = (
        f"SELECT * FROM {SavedMethod._meta.db_table}"  # noqa: S608
        " WHERE merchant_id = %s AND customer_id = %s AND removed_at IS NULL AND gateway = %s"
        f" AND kind IN ({', '.join(['%s'] * len(kinds))})"
        " ORDER BY is_default DESC, created_at DESC, id DESC"
    )
    return list(SavedMethod._base_manager.raw(sql, [merchant.pk, customer_id, gateway, *kinds]))


def saved_methods_for_customer(*, merchant: Merchant, customer_id: int) -> QuerySet[SavedMethod]:
    """The customer's payment methods, not removed, the default first, then the newest: what the
    merchant sees on the profile. The token is not even loaded, so no page can show it."""
    return (
        SavedMethod.objects.filter(merchant=merchant, customer_id=customer_id, removed_at__isnull=True)
        .defer("token")
        .order_by("-is_default", "-created_at", "-id")
    )


def secure_links_live(*, merchant: Merchant, customer_id: int, now: dt.datetime) -> QuerySet[SecureLink]:
    """The customer's links that would still open at `now` (not revoked, not expired, not spent if
    single-use, none of its invoices voided), newest first, with their contact, payment, creator
    and invoices loaded (no N+1), and without even the token's hash."""
    voided = SecureLinkInvoice.objects.filter(
        merchant=merchant, link=OuterRef("pk"), invoice__status=InvoiceStatus.VOID
    )
    return (
        SecureLink.objects.filter(
            ~Exists(voided), merchant=merchant, customer_id=customer_id, revoked_at__isnull=True, expires_at__gt=now
        )
        .exclude(single_use=True, used_at__isnull=False)
        .defer("token_hash")
        .select_related("contact", "payment", "created_by")
        .prefetch_related(Prefetch("invoices", queryset=Invoice.objects.order_by("due_date", "pk")))
        .order_by("-created_at", "-id")
    )


def invoice_has_public_link(*, merchant: Merchant, invoice_id: int) -> bool:
    """Whether the invoice is a quick payment with a public link: one the merchant shares anywhere,
    that anyone may pay through and that never offers the customer's saved methods."""
    return SecureLinkInvoice.objects.filter(merchant=merchant, invoice_id=invoice_id, link__public=True).exists()


def applications_for_invoice(*, merchant: Merchant, invoice_id: int) -> QuerySet[Application]:
    """What paid an invoice: payments and credit memos, with amounts still applied."""
    return (
        Application.objects.filter(merchant=merchant, invoice_id=invoice_id, amount_minor__gt=0)
        .select_related("payment", "credit_memo")
        .order_by("created_at", "id")
    )


def refunds_for_invoice(*, merchant: Merchant, invoice_id: int) -> QuerySet[Refund]:
    """Refunds of the payments that paid an invoice, made or waiting for the gateway (not refused)."""
    return (
        Refund.objects.filter(merchant=merchant, payment__applications__invoice_id=invoice_id)
        .exclude(status=RefundStatus.FAILED)
        .distinct()
        .select_related("payment")
    )


def payment_money_moves(*, merchant: Merchant, payment_id: int) -> QuerySet[JournalLine]:
    """The journal's record of a payment's money coming in and going back out (received, refunds,
    a bank return, a void), oldest first, each line with its entry for the kind and memo."""
    return JournalLine.objects.filter(
        merchant=merchant, payment_id=payment_id, account=Account.CLEARING
    ).select_related("entry")


@dataclass(frozen=True)
class CreditRow:
    """One line of the Customer Credits grid: a credit memo or an unapplied payment."""

    kind: Literal["credit_memo", "unapplied_payment"]
    id: int
    number: str
    customer_name: str
    customer_id: int
    remaining: Money
    created: dt.datetime
    description: str


CreditFilter = Literal["all", "credit_memos", "unapplied"]


def credits_list(
    *, merchant: Merchant, which: CreditFilter = "all", customer_id: int | None = None
) -> tuple[list[CreditRow], Money, int]:
    """Customer credits with something left, filtered All / Credit memos / Unapplied, with the
    total (in the merchant's currency) and the count."""
    rows: list[CreditRow] = []
    if which in ("all", "credit_memos"):
        memo: CreditMemo
        for memo in credit_memos(merchant=merchant, customer_id=customer_id, with_remaining=True):
            rows.append(
                CreditRow(
                    "credit_memo",
                    memo.pk,
                    memo.number,
                    memo.customer.display_name,
                    memo.customer_id,
                    memo.remaining,
                    memo.created_at,
                    memo.reason,
                )
            )
    if which in ("all", "unapplied"):
        payments = Payment.objects.filter(merchant=merchant, unapplied_minor__gt=0).select_related("customer")
        if customer_id is not None:
            payments = payments.filter(customer_id=customer_id)
        for payment in payments:
            rows.append(
                CreditRow(
                    "unapplied_payment",
                    payment.pk,
                    payment.number,
                    payment.customer.display_name,
                    payment.customer_id,
                    payment.unapplied,
                    payment.created_at,
                    f"{payment.get_method_display()} {payment.reference}".strip(),
                )
            )
    rows.sort(key=lambda r: r.created, reverse=True)
    total = sum((r.remaining.minor for r in rows if r.remaining.currency == merchant.currency), 0)
    return rows, Money(total, merchant.currency), len(rows)


def collected_between(*, merchant: Merchant, start: dt.date, end: dt.date) -> Money:
    """Payments received in [start, end) less refunds made, in the merchant's currency."""
    received = Payment.objects.filter(
        merchant=merchant, currency=merchant.currency, received_on__gte=start, received_on__lt=end
    ).aggregate(total=Sum("amount_minor"), refunded=Sum("refunded_minor"))
    return Money((received["total"] or 0) - (received["refunded"] or 0), merchant.currency)


def money_history_exists(*, merchant: Merchant) -> bool:
    """Whether anything has been invoiced, credited or received: the merchant's currency is then fixed."""
    return (
        Invoice.objects.filter(merchant=merchant).exists()
        or Payment.objects.filter(merchant=merchant).exists()
        or CreditMemo.objects.filter(merchant=merchant).exists()
    )
