"""Orders, invoices, numbering and credit memos. Every change to what is owed posts a journal
entry in the same transaction (see journal.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.core.locking import lock_rows
from settle.core.money import (
    MAX_AMOUNT_MINOR,
    Money,
    allocate_proportionally,
    currency_exponent,
    percent_of,
    require_positive,
    times_quantity,
)
from settle.customers.models import Customer
from settle.customers.services import activity_record, customer_get_for_update, customer_lock
from settle.tenants.models import Merchant

from .journal import LedgerTotals, Leg, journal_post
from .models import (
    COLLECTIBLE_STATUSES,
    TERMS_DAYS,
    Account,
    CreditMemo,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Order,
    OrderItem,
    Terms,
)

MAX_LINES = 200
MAX_TAX_RATE_BP = 10_000  # 100 %
MAX_QUANTITY = Decimal("1000000")


@dataclass(frozen=True)
class LineInput:
    """One line as entered: `unit_price` in the invoice currency, tax rate in basis points."""

    description: str
    quantity: Decimal | str | int
    unit_price: Money
    tax_rate_bp: int = 0


# The invoice lifecycle: which status may move to which. Payment-driven moves among open,
# partially paid and paid happen through `invoice_totals_apply`.
INVOICE_TRANSITIONS: dict[str, set[str]] = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN, InvoiceStatus.VOID},
    InvoiceStatus.OPEN: {
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.VOID,
        InvoiceStatus.UNCOLLECTIBLE,
    },
    InvoiceStatus.PARTIALLY_PAID: {InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE},
    # Paid → void only for a zero-total invoice: `invoice_void` refuses anything with money applied.
    InvoiceStatus.PAID: {InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.VOID},
    InvoiceStatus.VOID: set(),
    InvoiceStatus.UNCOLLECTIBLE: set(),
}


def _transition(invoice: Invoice, to: str) -> None:
    if to != invoice.status and to not in INVOICE_TRANSITIONS[invoice.status]:
        raise NotAllowed(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; "
            f"it cannot become {InvoiceStatus(to).label.lower()}."
        )
    invoice.status = to


def _quantity(value: Decimal | str | int) -> Decimal:
    try:
        quantity = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"“{value}” is not a quantity.", field="quantity") from None
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_QUANTITY:
        raise InvalidInput("Quantity must be more than zero.", field="quantity")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidInput("Quantity has at most three decimals.", field="quantity")
    return quantity


def _priced_lines(
    *, merchant: Merchant, currency: str, lines: Sequence[LineInput], discount: Money | None
) -> list[InvoiceLine]:
    """Validate lines and compute each line's amount, share of the discount and tax, exactly."""
    if not lines:
        raise InvalidInput("Add at least one line.", field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"At most {MAX_LINES} lines.", field="lines")
    built = []
    for position, line in enumerate(lines):
        if line.unit_price.currency != currency:
            raise InvalidInput(f"Line prices must be in {currency}.", field="currency")
        if line.unit_price.minor < 0 or line.unit_price.minor > MAX_AMOUNT_MINOR:
            raise InvalidInput("Enter a unit price of zero or more.", field="unit_price")
        if not 0 <= line.tax_rate_bp <= MAX_TAX_RATE_BP:
            raise InvalidInput("Tax rate must be between 0 and 100 %.", field="tax_rate")
        description = line.description.strip()
        if not description or len(description) > 200:
            raise InvalidInput("Each line needs a description under 200 characters.", field="description")
        quantity = _quantity(line.quantity)
        built.append(
            InvoiceLine(
                merchant=merchant,
                description=description,
                quantity=quantity,
                unit_price_minor=line.unit_price.minor,
                tax_rate_bp=line.tax_rate_bp,
                amount_minor=times_quantity(line.unit_price.minor, quantity),
                position=position,
            )
        )
    subtotal = sum(line.amount_minor for line in built)
    discount_minor = discount.minor if discount else 0
    if discount is not None and discount.currency != currency:
        raise InvalidInput(f"The discount must be in {currency}.", field="discount")
    if not 0 <= discount_minor <= subtotal:
        raise InvalidInput("The discount must be between zero and the subtotal.", field="discount")
    shares = allocate_proportionally(discount_minor, [priced.amount_minor for priced in built])
    for priced, share in zip(built, shares, strict=True):
        priced.discount_minor = share
        priced.tax_minor = percent_of(priced.amount_minor - share, priced.tax_rate_bp)
    total = subtotal - discount_minor + sum(priced.tax_minor for priced in built)
    if total > MAX_AMOUNT_MINOR:
        raise InvalidInput("That invoice total is too large.", field="lines")
    return built


def _due_date(issue_date: dt.date, terms: str, due_date: dt.date | None) -> dt.date:
    if terms not in Terms.values:
        raise InvalidInput("Choose payment terms.", field="terms")
    if terms == Terms.CUSTOM:
        if due_date is None:
            raise InvalidInput("Choose a due date.", field="due_date")
        if due_date < issue_date:
            raise InvalidInput("The due date cannot be before the issue date.", field="due_date")
        return due_date
    return issue_date + dt.timedelta(days=TERMS_DAYS[Terms(terms)])


def _next_invoice_number(merchant: Merchant) -> tuple[int, str]:
    """Take the merchant's next invoice number. The merchant row stays locked until the caller's
    transaction ends, so concurrent creations queue here and a rolled-back one gives its number
    back: numbers are unique and gap-free."""
    locked = Merchant.objects.select_for_update().only("invoice_prefix", "invoice_next_number").get(pk=merchant.pk)
    sequence = locked.invoice_next_number
    Merchant.objects.filter(pk=merchant.pk).update(invoice_next_number=sequence + 1)
    return sequence, f"{locked.invoice_prefix}{sequence:05d}"


def _short(value: str, *, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"Keep this under {limit} characters.", field=field)
    return value


@transaction.atomic
def invoice_create(
    *,
    merchant: Merchant,
    customer_id: int,
    lines: Sequence[LineInput],
    currency: str | None = None,
    discount: Money | None = None,
    issue_date: dt.date | None = None,
    terms: str = Terms.DUE_ON_RECEIPT,
    due_date: dt.date | None = None,
    po_number: str = "",
    contract_reference: str = "",
    reference: str = "",
    memo: str = "",
    draft: bool = False,
    order: Order | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Invoice:
    """Create an invoice with the next gap-free number. Unless `draft`, it is issued at once:
    it becomes open and posts receivable against sales and tax."""
    now = now or clock.now()
    currency = (currency or merchant.currency).upper()
    currency_exponent(currency)
    customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    built = _priced_lines(merchant=merchant, currency=currency, lines=lines, discount=discount)
    issue_date = issue_date or clock.local_date(now, merchant.time_zone)
    sequence, number = _next_invoice_number(merchant)
    subtotal = sum(line.amount_minor for line in built)
    discount_minor = sum(line.discount_minor for line in built)
    tax = sum(line.tax_minor for line in built)
    invoice = Invoice.objects.create(
        merchant=merchant,
        customer=customer,
        order=order,
        sequence=sequence,
        number=number,
        status=InvoiceStatus.DRAFT,
        currency=currency,
        issue_date=issue_date,
        terms=terms,
        due_date=_due_date(issue_date, terms, due_date),
        po_number=_short(po_number, field="po_number", limit=60),
        contract_reference=_short(contract_reference, field="contract_reference", limit=60),
        reference=_short(reference, field="reference", limit=60),
        memo=_short(memo, field="memo", limit=1000),
        subtotal_minor=subtotal,
        discount_minor=discount_minor,
        tax_minor=tax,
        total_minor=subtotal - discount_minor + tax,
        created_at=now,
    )
    for line in built:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(built)
    activity_record(
        merchant=merchant,
        customer_id=customer.pk,
        verb="invoice.created",
        summary=f"Invoice {number} created for {invoice.total.format(merchant.locale)}",
        actor=actor,
        obj=invoice,
        now=now,
    )
    if not draft:
        _issue(merchant=merchant, invoice=invoice, actor=actor, now=now)
    return invoice


def _issue(*, merchant: Merchant, invoice: Invoice, actor: Any, now: dt.datetime) -> None:
    _transition(invoice, InvoiceStatus.OPEN)
    totals = (
        journal_post(
            merchant=merchant,
            kind=EntryKind.INVOICE_ISSUED,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            legs=[
                Leg(Account.RECEIVABLE, invoice.total_minor, invoice_id=invoice.pk),
                Leg(Account.REVENUE, -(invoice.subtotal_minor - invoice.discount_minor)),
                Leg(Account.TAX_PAYABLE, -invoice.tax_minor),
            ],
            now=now,
            actor=actor,
            memo=f"Invoice {invoice.number}",
        )
        if invoice.total_minor
        else LedgerTotals()
    )
    invoice_totals_apply(invoices=[invoice], totals=totals)


@transaction.atomic
def invoice_issue(*, merchant: Merchant, invoice_id: int, actor: Any = None, now: dt.datetime | None = None) -> Invoice:
    """Finalize a draft: it becomes open and payable. Raises NotAllowed for any other status (a
    second issue would post the receivable twice)."""
    now = now or clock.now()
    invoice = invoices_lock(merchant=merchant, invoice_ids=[invoice_id])[0]
    if invoice.status != InvoiceStatus.DRAFT:
        raise NotAllowed(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; only a draft can be issued."
        )
    _issue(merchant=merchant, invoice=invoice, actor=actor, now=now)
    activity_record(
        merchant=merchant,
        customer_id=invoice.customer_id,
        verb="invoice.issued",
        summary=f"Invoice {invoice.number} issued",
        actor=actor,
        obj=invoice,
        now=now,
    )
    return invoice


def invoices_lock(*, merchant: Merchant, invoice_ids: Iterable[int], customer_id: int | None = None) -> list[Invoice]:
    """Lock invoices (in id order, so two callers never deadlock) and return them in the order
    asked. A missing id, or one of another merchant or customer, is NotFound."""
    try:
        wanted = list(dict.fromkeys(int(pk) for pk in invoice_ids))
    except (ValueError, TypeError):
        raise NotFound("No such invoice.") from None
    if not wanted:
        return []
    same_customer = {"customer_id": customer_id} if customer_id is not None else {}
    found = {
        invoice.pk: invoice for invoice in lock_rows(Invoice, merchant_id=merchant.pk, ids=wanted, **same_customer)
    }
    if len(found) != len(wanted):
        raise NotFound("No such invoice.")
    return [found[pk] for pk in wanted]


def invoice_totals_apply(*, invoices: Iterable[Invoice], totals: LedgerTotals) -> None:
    """Add the balance changes of freshly posted journal lines to locked invoices, move each to
    the status its balance implies, and save. The only writer of the invoice caches.

    One prepared UPDATE for all of them: on the payment path the ORM would spend longer building
    these statements than the database spends running them."""
    rows = []
    for invoice in invoices:
        invoice.balance_minor += totals.invoice_balance.get(invoice.pk, 0)
        invoice.paid_minor += totals.invoice_paid.get(invoice.pk, 0)
        invoice.refunded_minor += totals.invoice_refunded.get(invoice.pk, 0)
        if invoice.balance_minor < 0:
            raise NotAllowed(f"That would overpay invoice {invoice.number}.")
        if invoice.status in (*COLLECTIBLE_STATUSES, InvoiceStatus.PAID):
            if invoice.balance_minor == 0:
                _transition(invoice, InvoiceStatus.PAID)
            elif invoice.paid_minor > 0:
                _transition(invoice, InvoiceStatus.PARTIALLY_PAID)
            else:
                _transition(invoice, InvoiceStatus.OPEN)
        rows.append((invoice.balance_minor, invoice.paid_minor, invoice.refunded_minor, invoice.status, invoice.pk))
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(_INVOICE_TOTALS_UPDATE, rows)


_INVOICE_TOTALS_UPDATE = (
    f"UPDATE {Invoice._meta.db_table} "  # noqa: S608 (the model's own table; values are parameters)
    "SET balance_minor = %s, paid_minor = %s, refunded_minor = %s, status = %s WHERE id = %s"
)


@transaction.atomic
def invoice_void(*, merchant: Merchant, invoice_id: int, actor: Any = None, now: dt.datetime | None = None) -> Invoice:
    """Void an invoice that nothing has been applied to; its receivable is reversed.

    Raises NotAllowed when payments or credits are applied (refund them or move them to credit
    first) and when the invoice is already paid, void or uncollectible."""
    now = now or clock.now()
    invoice = _invoice_get(merchant, invoice_id)
    customer_lock(merchant=merchant, customer_id=invoice.customer_id)
    invoice = invoices_lock(merchant=merchant, invoice_ids=[invoice_id])[0]
    if invoice.status == InvoiceStatus.VOID:
        raise NotAllowed(f"Invoice {invoice.number} is already void.")
    if invoice.paid_minor:
        raise NotAllowed(
            f"Invoice {invoice.number} has {invoice.paid.format(merchant.locale)} applied. "
            "Refund the payment or move it to credit first, then void."
        )
    was_issued = invoice.status != InvoiceStatus.DRAFT
    _transition(invoice, InvoiceStatus.VOID)
    invoice.voided_at = now
    if was_issued and invoice.balance_minor:
        totals = journal_post(
            merchant=merchant,
            kind=EntryKind.INVOICE_VOIDED,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            legs=[
                Leg(Account.RECEIVABLE, -invoice.balance_minor, invoice_id=invoice.pk),
                Leg(Account.REVENUE, invoice.subtotal_minor - invoice.discount_minor),
                Leg(Account.TAX_PAYABLE, invoice.tax_minor),
            ],
            now=now,
            actor=actor,
            memo=f"Void {invoice.number}",
        )
        invoice.balance_minor += totals.invoice_balance[invoice.pk]
    invoice.save(update_fields=["status", "voided_at", "balance_minor"])
    activity_record(
        merchant=merchant,
        customer_id=invoice.customer_id,
        verb="invoice.voided",
        summary=f"Invoice {invoice.number} voided",
        actor=actor,
        obj=invoice,
        now=now,
    )
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(
    *, merchant: Merchant, invoice_id: int, actor: Any = None, now: dt.datetime | None = None
) -> Invoice:
    """Write off what is still owed as bad debt; the invoice can no longer be paid."""
    now = now or clock.now()
    invoice = _invoice_get(merchant, invoice_id)
    customer_lock(merchant=merchant, customer_id=invoice.customer_id)
    invoice = invoices_lock(merchant=merchant, invoice_ids=[invoice_id])[0]
    if invoice.status not in COLLECTIBLE_STATUSES:
        raise NotAllowed(
            f"Only an open invoice can be written off; {invoice.number} is {invoice.get_status_display().lower()}."
        )
    written_off = invoice.balance
    _transition(invoice, InvoiceStatus.UNCOLLECTIBLE)
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.INVOICE_WRITTEN_OFF,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        legs=[
            Leg(Account.RECEIVABLE, -invoice.balance_minor, invoice_id=invoice.pk),
            Leg(Account.BAD_DEBT, invoice.balance_minor),
        ],
        now=now,
        actor=actor,
        memo=f"Write off {invoice.number}",
    )
    invoice.balance_minor += totals.invoice_balance[invoice.pk]
    invoice.save(update_fields=["status", "balance_minor"])
    activity_record(
        merchant=merchant,
        customer_id=invoice.customer_id,
        verb="invoice.uncollectible",
        summary=f"Invoice {invoice.number} marked uncollectible ({written_off.format(merchant.locale)} written off)",
        actor=actor,
        obj=invoice,
        now=now,
    )
    return invoice


def _invoice_get(merchant: Merchant, invoice_id: int) -> Invoice:
    try:
        return Invoice.objects.only("pk", "customer_id").get(merchant=merchant, pk=invoice_id)
    except (Invoice.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such invoice.") from None


@transaction.atomic
def quick_payment_request_create(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    reference: str,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Invoice:
    """Amount + reference number, both required → an open one-line invoice, due on receipt."""
    require_positive(amount)
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput("Enter a reference number.", field="reference")
    return invoice_create(
        merchant=merchant,
        customer_id=customer_id,
        currency=amount.currency,
        lines=[LineInput(description=f"Payment request {reference}", quantity=1, unit_price=amount)],
        reference=reference,
        actor=actor,
        now=now,
    )


@dataclass(frozen=True)
class OrderItemInput:
    name: str
    quantity: Decimal | str | int
    unit_price: Money
    tax_rate_bp: int = 0


@transaction.atomic
def order_create(
    *,
    merchant: Merchant,
    customer_id: int,
    items: Sequence[OrderItemInput],
    discount: Money | None = None,
    note: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Order:
    """Record what a customer bought. Prices are checked now, exactly as checkout will bill them."""
    now = now or clock.now()
    customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    currency = merchant.currency
    _priced_lines(merchant=merchant, currency=currency, lines=[_as_line(i) for i in items], discount=discount)
    order = Order.objects.create(
        merchant=merchant,
        customer=customer,
        currency=currency,
        discount_minor=discount.minor if discount else 0,
        note=_short(note, field="note", limit=500),
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            merchant=merchant,
            order=order,
            name=i.name.strip(),
            quantity=_quantity(i.quantity),
            unit_price_minor=i.unit_price.minor,
            tax_rate_bp=i.tax_rate_bp,
            position=n,
        )
        for n, i in enumerate(items)
    )
    activity_record(
        merchant=merchant,
        customer_id=customer.pk,
        verb="order.recorded",
        summary=f"Order #{order.pk} recorded",
        actor=actor,
        obj=order,
        now=now,
    )
    return order


def _as_line(item: OrderItemInput) -> LineInput:
    return LineInput(
        description=item.name, quantity=item.quantity, unit_price=item.unit_price, tax_rate_bp=item.tax_rate_bp
    )


@transaction.atomic
def order_checkout(
    *,
    merchant: Merchant,
    order_id: int,
    terms: str = Terms.DUE_ON_RECEIPT,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Invoice:
    """Turn an order into an open invoice (once: a second checkout is refused)."""
    try:
        order = Order.objects.select_for_update().get(merchant=merchant, pk=order_id)
    except (Order.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such order.") from None
    if Invoice.objects.filter(merchant=merchant, order=order).exists():
        raise NotAllowed("This order already has an invoice.")
    items = list(OrderItem.objects.filter(merchant=merchant, order=order))
    return invoice_create(
        merchant=merchant,
        customer_id=order.customer_id,
        currency=order.currency,
        lines=[LineInput(i.name, i.quantity, Money(i.unit_price_minor, order.currency), i.tax_rate_bp) for i in items],
        discount=Money(order.discount_minor, order.currency) if order.discount_minor else None,
        terms=terms,
        order=order,
        actor=actor,
        now=now,
    )


def credit_memo_create(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    reason: str,
    idempotency_key: str | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> CreditMemo:
    """Grant a customer credit (a return, goodwill), to apply to invoices later. A repeated
    `idempotency_key` returns the first memo instead of granting the credit twice."""
    fingerprint = request_fingerprint(customer_id=customer_id, amount=[amount.minor, amount.currency], reason=reason)
    return idempotent_create(
        CreditMemo,
        merchant=merchant,
        key=idempotency_key,
        fingerprint=fingerprint,
        create=lambda: _credit_memo_create(
            merchant=merchant,
            customer_id=customer_id,
            amount=amount,
            reason=reason,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            actor=actor,
            now=now,
        ),
    )


def _credit_memo_create(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    reason: str,
    idempotency_key: str | None,
    fingerprint: str,
    actor: Any,
    now: dt.datetime | None,
) -> CreditMemo:
    now = now or clock.now()
    require_positive(amount)
    reason = _short(reason, field="reason", limit=300)
    if not reason:
        raise InvalidInput("Give a reason for the credit.", field="reason")
    customer: Customer = customer_get_for_update(merchant=merchant, customer_id=customer_id)
    replay = idempotent_replay(CreditMemo, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    memo = CreditMemo.objects.create(
        merchant=merchant,
        customer=customer,
        currency=amount.currency,
        amount_minor=amount.minor,
        remaining_minor=0,
        reason=reason,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.CREDIT_MEMO_ISSUED,
        customer_id=customer.pk,
        currency=amount.currency,
        legs=[
            Leg(Account.SALES_RETURNS, amount.minor),
            Leg(Account.CUSTOMER_CREDIT, -amount.minor, credit_memo_id=memo.pk),
        ],
        now=now,
        actor=actor,
        memo=reason,
    )
    credit_memos_totals_apply(credit_memos=[memo], totals=totals)
    activity_record(
        merchant=merchant,
        customer_id=customer.pk,
        verb="credit.issued",
        summary=f"Credit memo {memo.number} issued for {amount.format(merchant.locale)}: {reason}",
        actor=actor,
        obj=memo,
        now=now,
    )
    return memo


def credit_memos_totals_apply(*, credit_memos: Iterable[CreditMemo], totals: LedgerTotals) -> None:
    """The only writer of `CreditMemo.remaining_minor`: add the posted lines' changes and save."""
    for memo in credit_memos:
        memo.remaining_minor += totals.credit_remaining.get(memo.pk, 0)
        if not 0 <= memo.remaining_minor <= memo.amount_minor:
            raise NotAllowed(f"Credit memo {memo.number} does not have that much credit left.")
        memo.save(update_fields=["remaining_minor"])
