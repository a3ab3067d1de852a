"""Invoices and orders: gap-free numbering, terms, exact line arithmetic, the invoice lifecycle
(draft, issue, void, write-off) and its journal entries, quick payment requests, checkout, and
past-due judged in the merchant's time zone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed
from settle.core.money import MAX_AMOUNT_MINOR, Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Customer
from settle.invoicing.models import Account, EntryKind, Invoice, InvoiceStatus, JournalEntry, JournalLine, Terms
from settle.invoicing.selectors import customer_balance_summary, receivables_summary
from settle.invoicing.services import (
    LineInput,
    OrderItemInput,
    invoice_create,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_void,
    order_checkout,
    order_create,
    quick_payment_request_create,
)
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)  # 11:00 in New York
USD = "USD"


def usd(minor: int) -> Money:
    return Money(minor, USD)


def one_line(minor: int = 10_000) -> list[LineInput]:
    return [LineInput("Service", 1, usd(minor))]


def receivable_of(invoice: Invoice) -> int:
    return (
        JournalLine.objects.filter(invoice=invoice, account=Account.RECEIVABLE).aggregate(s=Sum("amount_minor"))["s"]
        or 0
    )


# Numbering


def test_numbers_are_sequential_and_gap_free_per_merchant(
    merchant: Merchant, customer: Customer, other_merchant: Merchant
) -> None:
    numbers = [make_invoice(merchant, customer).number for _ in range(3)]
    draft = make_invoice(merchant, customer, draft=True)
    assert numbers == ["INV-00001", "INV-00002", "INV-00003"]
    assert (draft.number, draft.sequence) == ("INV-00004", 4)

    with merchant_scope(other_merchant):
        theirs = make_invoice(other_merchant, make_customer(other_merchant))
    assert theirs.number == "INV-00001"
    assert make_invoice(merchant, customer).number == "INV-00005"


def test_prefix_is_the_merchants(db: None) -> None:
    shop = make_merchant(invoice_prefix="ACME-")
    assert make_invoice(shop, make_customer(shop)).number == "ACME-00001"


@pytest.mark.parametrize(
    "bad",
    [
        {"terms": Terms.CUSTOM, "due_date": dt.date(2024, 3, 9)},  # refused after the number is taken
        {"terms": "net_45"},
        {"lines": []},
        {"memo": "m" * 1001},
    ],
)
def test_a_refused_creation_does_not_consume_a_number(
    merchant: Merchant, customer: Customer, bad: dict[str, Any]
) -> None:
    make_invoice(merchant, customer)
    kwargs = {"lines": one_line(), "now": NOW, **bad}
    with writes_nothing(), pytest.raises(InvalidInput):
        invoice_create(merchant=merchant, customer_id=customer.pk, **kwargs)
    merchant.refresh_from_db()
    assert merchant.invoice_next_number == 2
    assert make_invoice(merchant, customer).number == "INV-00002"


# Terms and dates


@pytest.mark.parametrize(
    ("terms", "due"),
    [
        (Terms.DUE_ON_RECEIPT, dt.date(2024, 3, 10)),
        (Terms.NET_15, dt.date(2024, 3, 25)),
        (Terms.NET_30, dt.date(2024, 4, 9)),
        (Terms.NET_60, dt.date(2024, 5, 9)),
    ],
)
def test_terms_set_the_due_date(merchant: Merchant, customer: Customer, terms: str, due: dt.date) -> None:
    invoice = invoice_create(merchant=merchant, customer_id=customer.pk, lines=one_line(), terms=terms, now=NOW)
    assert (invoice.issue_date, invoice.due_date, invoice.terms) == (dt.date(2024, 3, 10), due, terms)


def test_custom_due_date(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        lines=one_line(),
        terms=Terms.CUSTOM,
        issue_date=dt.date(2024, 3, 1),
        due_date=dt.date(2024, 3, 1),
        now=NOW,
    )
    assert invoice.due_date == dt.date(2024, 3, 1)
    with writes_nothing(), pytest.raises(InvalidInput, match="Choose a due date") as refused:
        invoice_create(merchant=merchant, customer_id=customer.pk, lines=one_line(), terms=Terms.CUSTOM, now=NOW)
    assert refused.value.field == "due_date"


def test_custom_due_date_before_issue_is_refused(merchant: Merchant, customer: Customer) -> None:
    with writes_nothing(), pytest.raises(InvalidInput, match="cannot be before the issue date") as refused:
        invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=one_line(),
            terms=Terms.CUSTOM,
            issue_date=dt.date(2024, 3, 10),
            due_date=dt.date(2024, 3, 9),
            now=NOW,
        )
    assert refused.value.field == "due_date"


def test_issue_date_is_the_merchants_local_date(db: None) -> None:
    late_evening_in_new_york = dt.datetime(2024, 3, 11, 3, 30, tzinfo=dt.UTC)  # 23:30 on the 10th
    shop = make_merchant(time_zone="America/New_York")
    tokyo = make_merchant(time_zone="Asia/Tokyo", currency="JPY", locale="ja_JP")
    with merchant_scope(shop):
        ny_invoice = invoice_create(
            merchant=shop, customer_id=make_customer(shop).pk, lines=one_line(), now=late_evening_in_new_york
        )
    with merchant_scope(tokyo):
        jp_invoice = invoice_create(
            merchant=tokyo,
            customer_id=make_customer(tokyo).pk,
            lines=[LineInput("Service", 1, Money(1000, "JPY"))],
            now=late_evening_in_new_york,
        )
    assert ny_invoice.issue_date == dt.date(2024, 3, 10)
    assert jp_invoice.issue_date == dt.date(2024, 3, 11)


# Lines, tax, discount, totals


def test_tax_per_line_and_proportional_discount_are_exact(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        lines=[
            LineInput("Widget", 3, usd(1000), tax_rate_bp=825),
            LineInput("Shipping", "1", usd(500)),
            LineInput("Hours", Decimal("2.5"), usd(333), tax_rate_bp=500),
        ],
        discount=usd(500),
        now=NOW,
    )
    lines = list(invoice.lines.all())
    # 2.5 × 3.33 = 8.325 → 8.33; the $5 discount is split 3000:500:833 by largest remainder.
    assert [(line.amount_minor, line.discount_minor, line.tax_minor) for line in lines] == [
        (3000, 346, 219),  # (30.00 − 3.46) × 8.25 % = 2.18955 → 2.19
        (500, 58, 0),
        (833, 96, 37),  # (8.33 − 0.96) × 5 % = 0.3685 → 0.37
    ]
    assert (invoice.subtotal_minor, invoice.discount_minor, invoice.tax_minor, invoice.total_minor) == (
        4333,
        500,
        256,
        4089,
    )
    assert (invoice.balance_minor, invoice.paid_minor, invoice.status) == (4089, 0, InvoiceStatus.OPEN)
    assert [line.description for line in lines] == ["Widget", "Shipping", "Hours"]


def test_issued_invoice_posts_receivable_against_sales_and_tax(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        lines=[LineInput("Widget", 2, usd(1000), tax_rate_bp=1000)],
        discount=usd(200),
        now=NOW,
    )
    entry = JournalEntry.objects.get(kind=EntryKind.INVOICE_ISSUED)
    assert sorted((line.account, line.amount_minor, line.invoice_id) for line in entry.lines.all()) == sorted(
        [
            (Account.RECEIVABLE, 1980, invoice.pk),
            (Account.REVENUE, -1800, None),
            (Account.TAX_PAYABLE, -180, None),
        ]
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lines": [LineInput("A", 1, Money(100, "EUR"))]}, "currency"),
        ({"lines": [LineInput("A", 1, usd(-1))]}, "unit_price"),
        ({"lines": [LineInput("A", 1, usd(MAX_AMOUNT_MINOR + 1))]}, "unit_price"),
        ({"lines": [LineInput("A", 1, usd(100), tax_rate_bp=10_001)]}, "tax_rate"),
        ({"lines": [LineInput("A", 1, usd(100), tax_rate_bp=-1)]}, "tax_rate"),
        ({"lines": [LineInput("A", 0, usd(100))]}, "quantity"),
        ({"lines": [LineInput("A", "-2", usd(100))]}, "quantity"),
        ({"lines": [LineInput("A", "1.0005", usd(100))]}, "quantity"),
        ({"lines": [LineInput("A", "lots", usd(100))]}, "quantity"),
        ({"lines": [LineInput(" ", 1, usd(100))]}, "description"),
        ({"lines": [LineInput("d" * 201, 1, usd(100))]}, "description"),
        ({"lines": [LineInput("A", 1, usd(100))] * 201}, "lines"),
        ({"lines": [LineInput("A", 1, usd(100))], "discount": usd(101)}, "discount"),
        ({"lines": [LineInput("A", 1, usd(100))], "discount": Money(10, "EUR")}, "discount"),
        ({"lines": [LineInput("A", 2, usd(MAX_AMOUNT_MINOR))]}, "lines"),
        ({"lines": one_line(), "currency": "XYZ"}, "currency"),
        ({"lines": one_line(), "po_number": "p" * 61}, "po_number"),
        ({"lines": one_line(), "reference": "r" * 61}, "reference"),
        ({"lines": one_line(), "terms": "whenever"}, "terms"),
    ],
)
def test_bad_invoice_input_is_refused_and_nothing_written(
    merchant: Merchant, customer: Customer, kwargs: dict[str, Any], field: str
) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        invoice_create(merchant=merchant, customer_id=customer.pk, now=NOW, **kwargs)
    assert refused.value.field == field


def test_invoice_in_another_currency(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        currency="kwd",
        lines=[LineInput("A", 1, Money(1500, "KWD"))],
        now=NOW,
    )
    assert (invoice.currency, invoice.total) == ("KWD", Money(1500, "KWD"))


def test_creation_is_on_the_timeline(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(merchant=merchant, customer_id=customer.pk, lines=one_line(12345), now=NOW)
    activity = Activity.objects.get(verb="invoice.created")
    assert (activity.summary, activity.object_id, activity.created_at) == (
        "Invoice INV-00001 created for $123.45",
        invoice.pk,
        NOW,
    )


# Lifecycle


def test_draft_posts_nothing_until_issued(merchant: Merchant, customer: Customer) -> None:
    draft = invoice_create(merchant=merchant, customer_id=customer.pk, lines=one_line(2500), draft=True, now=NOW)
    assert (draft.status, draft.total_minor, draft.balance_minor) == (InvoiceStatus.DRAFT, 2500, 0)
    assert not JournalEntry.objects.exists()
    with writes_nothing(), pytest.raises(NotAllowed, match="is draft and cannot be paid"):
        make_payment(merchant, customer, 2500, [draft])

    issued = invoice_issue(merchant=merchant, invoice_id=draft.pk, now=NOW)

    assert (issued.status, issued.balance_minor) == (InvoiceStatus.OPEN, 2500)
    assert receivable_of(issued) == 2500
    assert Activity.objects.filter(verb="invoice.issued", object_id=draft.pk).count() == 1


@pytest.mark.parametrize("paid_minor", [0, 1000, 2500])
def test_an_issued_invoice_cannot_be_issued_again(merchant: Merchant, customer: Customer, paid_minor: int) -> None:
    invoice = make_invoice(merchant, customer, 2500)
    if paid_minor:
        make_payment(merchant, customer, paid_minor, [invoice])
    with writes_nothing(), pytest.raises(NotAllowed, match="only a draft"):
        invoice_issue(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    invoice.refresh_from_db()
    assert invoice.balance_minor == 2500 - paid_minor
    assert receivable_of(invoice) == 2500 - paid_minor


def test_void_open_invoice_reverses_its_receivable(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        lines=[LineInput("Widget", 1, usd(1000), tax_rate_bp=1000)],
        now=NOW,
    )
    voided = invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)

    assert (voided.status, voided.balance_minor, voided.voided_at) == (InvoiceStatus.VOID, 0, NOW)
    reversal = JournalEntry.objects.get(kind=EntryKind.INVOICE_VOIDED)
    assert sorted((line.account, line.amount_minor) for line in reversal.lines.all()) == sorted(
        [
            (Account.RECEIVABLE, -1100),
            (Account.REVENUE, 1000),
            (Account.TAX_PAYABLE, 100),
        ]
    )
    assert receivable_of(invoice) == 0
    assert Activity.objects.filter(verb="invoice.voided", object_id=invoice.pk).count() == 1
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_void_draft_posts_nothing(merchant: Merchant, customer: Customer) -> None:
    draft = make_invoice(merchant, customer, draft=True)
    voided = invoice_void(merchant=merchant, invoice_id=draft.pk, now=NOW)
    assert voided.status == InvoiceStatus.VOID
    assert not JournalEntry.objects.exists()


def test_void_is_refused_when_anything_is_applied(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 4000, [invoice])
    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    assert refused.value.message == (
        "Invoice INV-00001 has $40.00 applied. Refund the payment or move it to credit first, then void."
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PARTIALLY_PAID, 6000, 4000)


def test_void_twice_is_refused(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer)
    invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    with writes_nothing(), pytest.raises(NotAllowed, match="already void"):
        invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)


def test_void_invoice_cannot_be_paid(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    with writes_nothing(), pytest.raises(NotAllowed, match="INV-00001 is void and cannot be paid"):
        make_payment(merchant, customer, 5000, [invoice])


def test_write_off_moves_what_is_owed_to_bad_debt(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 4000, [invoice])

    written_off = invoice_mark_uncollectible(merchant=merchant, invoice_id=invoice.pk, now=NOW)

    assert (written_off.status, written_off.balance_minor, written_off.paid_minor) == (
        InvoiceStatus.UNCOLLECTIBLE,
        0,
        4000,
    )
    entry = JournalEntry.objects.get(kind=EntryKind.INVOICE_WRITTEN_OFF)
    assert sorted((line.account, line.amount_minor) for line in entry.lines.all()) == sorted(
        [
            (Account.RECEIVABLE, -6000),
            (Account.BAD_DEBT, 6000),
        ]
    )
    assert (
        Activity.objects.get(verb="invoice.uncollectible").summary
        == "Invoice INV-00001 marked uncollectible ($60.00 written off)"
    )
    with writes_nothing(), pytest.raises(NotAllowed, match="uncollectible and cannot be paid"):
        make_payment(merchant, customer, 6000, [invoice])
    with writes_nothing(), pytest.raises(NotAllowed):
        invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


@pytest.mark.parametrize("state", ["draft", "paid", "void", "uncollectible"])
def test_only_an_open_invoice_can_be_written_off(merchant: Merchant, customer: Customer, state: str) -> None:
    invoice = make_invoice(merchant, customer, 3000, draft=state == "draft")
    if state == "paid":
        make_payment(merchant, customer, 3000, [invoice])
    elif state == "void":
        invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    elif state == "uncollectible":
        invoice_mark_uncollectible(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    with writes_nothing(), pytest.raises(NotAllowed, match="Only an open invoice can be written off"):
        invoice_mark_uncollectible(merchant=merchant, invoice_id=invoice.pk, now=NOW)


def test_payments_move_the_status(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 2500, [invoice])
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PARTIALLY_PAID, 7500, 2500)
    make_payment(merchant, customer, 7500, [invoice])
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PAID, 0, 10_000)


# Quick payment requests


def test_quick_payment_request_is_an_open_one_line_invoice(merchant: Merchant, customer: Customer) -> None:
    invoice = quick_payment_request_create(
        merchant=merchant, customer_id=customer.pk, amount=usd(4250), reference=" RO-1187 ", now=NOW
    )
    assert (invoice.status, invoice.total_minor, invoice.reference, invoice.terms, invoice.due_date) == (
        InvoiceStatus.OPEN,
        4250,
        "RO-1187",
        Terms.DUE_ON_RECEIPT,
        dt.date(2024, 3, 10),
    )
    [line] = invoice.lines.all()
    assert (line.description, line.quantity, line.unit_price_minor) == ("Payment request RO-1187", Decimal(1), 4250)


@pytest.mark.parametrize(
    ("amount", "reference", "field"),
    [
        (usd(4250), "", "reference"),
        (usd(4250), "   ", "reference"),
        (usd(0), "RO-1", "amount"),
        (usd(-5), "RO-1", "amount"),
        (usd(MAX_AMOUNT_MINOR + 1), "RO-1", "amount"),
        (usd(100), "r" * 61, "reference"),
    ],
)
def test_quick_payment_request_requires_amount_and_reference(
    merchant: Merchant, customer: Customer, amount: Money, reference: str, field: str
) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        quick_payment_request_create(
            merchant=merchant, customer_id=customer.pk, amount=amount, reference=reference, now=NOW
        )
    assert refused.value.field == field


# Orders


def test_order_checks_out_into_one_invoice_once(merchant: Merchant, customer: Customer) -> None:
    order = order_create(
        merchant=merchant,
        customer_id=customer.pk,
        items=[OrderItemInput("Candle", 2, usd(1250), tax_rate_bp=600), OrderItemInput("Soap", "3", usd(400))],
        discount=usd(370),
        note="Fair booth",
        now=NOW,
    )
    assert [(i.name, i.quantity, i.unit_price_minor) for i in order.items.all()] == [
        ("Candle", Decimal(2), 1250),
        ("Soap", Decimal(3), 400),
    ]
    assert not Invoice.objects.exists()

    invoice = order_checkout(merchant=merchant, order_id=order.pk, terms=Terms.NET_15, now=NOW)

    # 2500 + 1200 − 370; the discount splits 250:120, candle tax (2500 − 250) × 6 % = 135.
    assert (
        invoice.order_id,
        invoice.subtotal_minor,
        invoice.discount_minor,
        invoice.tax_minor,
        invoice.total_minor,
    ) == (
        order.pk,
        3700,
        370,
        135,
        3465,
    )
    assert (invoice.status, invoice.due_date) == (InvoiceStatus.OPEN, dt.date(2024, 3, 25))
    with writes_nothing(), pytest.raises(NotAllowed, match="already has an invoice"):
        order_checkout(merchant=merchant, order_id=order.pk, now=NOW)
    assert Invoice.objects.count() == 1


def test_order_with_bad_items_is_refused(merchant: Merchant, customer: Customer) -> None:
    for items, field in (
        ([], "lines"),
        ([OrderItemInput("A", 0, usd(100))], "quantity"),
        ([OrderItemInput("A", 1, Money(1, "EUR"))], "currency"),
    ):
        with writes_nothing(), pytest.raises(InvalidInput) as refused:
            order_create(merchant=merchant, customer_id=customer.pk, items=items, now=NOW)
        assert refused.value.field == field
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        order_create(
            merchant=merchant, customer_id=customer.pk, items=[OrderItemInput("A", 1, usd(100))], note="n" * 501
        )
    assert refused.value.field == "note"


# Past due, in the merchant's time zone


def test_past_due_is_judged_in_the_merchants_time_zone(db: None) -> None:
    """Both invoices are due on 10 March. At 02:00 UTC on the 11th it is already the 11th in Tokyo
    but still the evening of the 10th in New York: only Tokyo's invoice is past due."""
    new_york = make_merchant(time_zone="America/New_York")
    tokyo = make_merchant(time_zone="Asia/Tokyo")
    due = dt.date(2024, 3, 10)
    invoices = {}
    for shop in (new_york, tokyo):
        with merchant_scope(shop):
            invoices[shop.pk] = invoice_create(
                merchant=shop,
                customer_id=make_customer(shop).pk,
                lines=one_line(5000),
                issue_date=due,
                now=NOW,
            )
    moment = dt.datetime(2024, 3, 11, 2, 0, tzinfo=dt.UTC)

    ny_today = clock.local_date(moment, new_york.time_zone)
    tokyo_today = clock.local_date(moment, tokyo.time_zone)

    assert (ny_today, tokyo_today) == (dt.date(2024, 3, 10), dt.date(2024, 3, 11))
    assert not invoices[new_york.pk].is_past_due(ny_today)
    assert invoices[tokyo.pk].is_past_due(tokyo_today)
    with merchant_scope(new_york):
        assert receivables_summary(merchant=new_york, today=ny_today)["past_due"] == usd(0)
    with merchant_scope(tokyo):
        summary = customer_balance_summary(
            merchant=tokyo, customer_id=invoices[tokyo.pk].customer_id, today=tokyo_today
        )
        assert (summary.total_balance, summary.total_past_due, summary.invoices_with_balance) == (
            usd(5000),
            usd(5000),
            1,
        )


def test_paid_or_void_invoice_is_never_past_due(merchant: Merchant, customer: Customer) -> None:
    paid = make_invoice(merchant, customer, 1000, issue_date=dt.date(2024, 1, 1))
    void = make_invoice(merchant, customer, 1000, issue_date=dt.date(2024, 1, 1))
    make_payment(merchant, customer, 1000, [paid])
    invoice_void(merchant=merchant, invoice_id=void.pk, now=NOW)
    for invoice in (paid, void):
        invoice.refresh_from_db()
        assert not invoice.is_past_due(dt.date(2024, 6, 1))


def test_a_zero_total_invoice_is_paid_at_once_and_can_still_be_voided(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        lines=[LineInput("Warranty repair", 1, Money(0, "USD"))],
    )
    assert invoice.status == InvoiceStatus.PAID
    voided = invoice_void(merchant=merchant, invoice_id=invoice.pk)
    assert voided.status == InvoiceStatus.VOID
    assert ledger_verify().ok
