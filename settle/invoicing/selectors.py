"""Reads about what is owed. Every function takes the merchant and filters by it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum

from settle.core.money import Money, times_quantity
from settle.tenants.models import Merchant

from .models import COLLECTIBLE_STATUSES, CreditMemo, Invoice, Order, OrderItem


@dataclass(frozen=True)
class BalanceSummary:
    """The Balance card: total of open balances, the part past due, the oldest open invoice (by
    creation) and how many invoices still owe something."""

    total_balance: Money
    total_past_due: Money
    oldest_open_invoice: Invoice | None
    invoices_with_balance: int


def invoices_with_balance(*, merchant: Merchant) -> QuerySet[Invoice]:
    return Invoice.objects.filter(merchant=merchant, status__in=COLLECTIBLE_STATUSES, balance_minor__gt=0)


def customer_balance_summary(*, merchant: Merchant, customer_id: int, today: dt.date) -> BalanceSummary:
    owing = invoices_with_balance(merchant=merchant).filter(customer_id=customer_id, currency=merchant.currency)
    sums = owing.aggregate(
        total=Sum("balance_minor"),
        past_due=Sum("balance_minor", filter=Q(due_date__lt=today)),
        n=Count("id"),
    )
    return BalanceSummary(
        total_balance=Money(sums["total"] or 0, merchant.currency),
        total_past_due=Money(sums["past_due"] or 0, merchant.currency),
        oldest_open_invoice=owing.order_by("created_at", "sequence").first(),
        invoices_with_balance=sums["n"],
    )


def open_invoices(*, merchant: Merchant, customer_id: int | None = None) -> QuerySet[Invoice]:
    """Invoices that can still be paid, oldest due first."""
    query = invoices_with_balance(merchant=merchant).select_related("customer").order_by("due_date", "sequence")
    return query.filter(customer_id=customer_id) if customer_id is not None else query


def invoice_list(
    *,
    merchant: Merchant,
    customer_id: int | None = None,
    status: str | None = None,
    search: str = "",
    today: dt.date | None = None,
) -> QuerySet[Invoice]:
    """Invoices newest first. `status="past_due"` means still owing and due before `today`, the
    merchant's local date, which the caller must then give."""
    query = Invoice.objects.filter(merchant=merchant).select_related("customer")
    if customer_id is not None:
        query = query.filter(customer_id=customer_id)
    if status == "past_due":
        if today is None:
            raise ValueError("past_due needs today")
        query = query.filter(status__in=COLLECTIBLE_STATUSES, balance_minor__gt=0, due_date__lt=today)
    elif status:
        query = query.filter(status=status)
    if search:
        query = query.filter(
            Q(number__icontains=search)
            | Q(customer__display_name__icontains=search)
            | Q(po_number__icontains=search)
            | Q(reference__icontains=search)
        )
    return query.order_by("-issue_date", "-sequence")


def invoice_detail(*, merchant: Merchant, invoice_id: int) -> Invoice:
    """One invoice with its lines and what paid it; raises Invoice.DoesNotExist for other merchants."""
    return (
        Invoice.objects.select_related("customer", "order")
        .prefetch_related("lines")
        .get(merchant=merchant, pk=invoice_id)
    )


def receivables_summary(*, merchant: Merchant, today: dt.date) -> dict[str, Money | int]:
    """Dashboard totals in the merchant's currency."""
    sums = (
        invoices_with_balance(merchant=merchant)
        .filter(currency=merchant.currency)
        .aggregate(
            total=Sum("balance_minor"),
            past_due=Sum("balance_minor", filter=Q(due_date__lt=today)),
            n=Count("id"),
            n_past_due=Count("id", filter=Q(due_date__lt=today)),
            customers=Count("customer", distinct=True),
        )
    )
    return {
        "open_balance": Money(sums["total"] or 0, merchant.currency),
        "past_due": Money(sums["past_due"] or 0, merchant.currency),
        "open_invoices": sums["n"],
        "past_due_invoices": sums["n_past_due"],
        "customers_owing": sums["customers"],
    }


def credit_memos(
    *, merchant: Merchant, customer_id: int | None = None, with_remaining: bool = False
) -> QuerySet[CreditMemo]:
    query = CreditMemo.objects.filter(merchant=merchant).select_related("customer")
    if customer_id is not None:
        query = query.filter(customer_id=customer_id)
    return query.filter(remaining_minor__gt=0) if with_remaining else query


def order_list(*, merchant: Merchant, with_invoice: bool = False, customer_id: int | None = None) -> QuerySet[Order]:
    """Orders newest first, with their invoice (for the Paid / Open stamp)."""
    query = Order.objects.filter(merchant=merchant).select_related("customer", "invoice").prefetch_related("items")
    if customer_id is not None:
        query = query.filter(customer_id=customer_id)
    return query.filter(invoice__isnull=False) if with_invoice else query


def order_detail(*, merchant: Merchant, order_id: int) -> Order:
    """One order with its items and invoice; raises Order.DoesNotExist for other merchants."""
    return order_list(merchant=merchant).get(pk=order_id)


def order_item_amounts(order: Order) -> list[tuple[OrderItem, Money]]:
    """Each of an order's (prefetched) items with quantity × unit price, before discount and tax."""
    items = order.items.all()
    return [(item, Money(times_quantity(item.unit_price_minor, item.quantity), order.currency)) for item in items]


def order_items_total(order: Order) -> Money:
    return Money(sum(amount.minor for _, amount in order_item_amounts(order)), order.currency)
