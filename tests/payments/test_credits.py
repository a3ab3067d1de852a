"""Customer credit: credit memos, unapplied payments, applying either to invoices, moving an
application back to credit, and the Customer Credits list."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import IdempotencyConflict
from settle.core.money import Money
from settle.customers.models import Activity, Customer
from settle.invoicing.models import Account, CreditMemo, EntryKind, Invoice, InvoiceStatus, JournalEntry
from settle.invoicing.services import credit_memo_create, invoice_void
from settle.payments.models import Application, Payment
from settle.payments.selectors import credits_list
from settle.payments.services import application_move_to_credit, credit_apply
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def memo_for(merchant: Merchant, customer: Customer, minor: int, reason: str = "Returned goods") -> CreditMemo:
    return credit_memo_create(merchant=merchant, customer_id=customer.pk, amount=usd(minor), reason=reason, now=NOW)


def state(invoice: Invoice) -> tuple[str, int, int]:
    invoice.refresh_from_db()
    return invoice.status, invoice.balance_minor, invoice.paid_minor


def test_credit_memo_posts_customer_credit(merchant: Merchant, customer: Customer) -> None:
    memo = memo_for(merchant, customer, 2500, reason="  Damaged in transit ")
    assert (memo.amount_minor, memo.remaining_minor, memo.reason) == (2500, 2500, "Damaged in transit")
    entry = JournalEntry.objects.get(kind=EntryKind.CREDIT_MEMO_ISSUED)
    assert sorted((line.account, line.amount_minor) for line in entry.lines.all()) == sorted(
        [
            (Account.SALES_RETURNS, 2500),
            (Account.CUSTOMER_CREDIT, -2500),
        ]
    )
    assert (
        Activity.objects.get(verb="credit.issued").summary
        == f"Credit memo {memo.number} issued for $25.00: Damaged in transit"
    )


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [(usd(0), "x", "amount"), (usd(-1), "x", "amount"), (usd(100), "", "reason"), (usd(100), "r" * 301, "reason")],
)
def test_bad_credit_memo_is_refused(
    merchant: Merchant, customer: Customer, amount: Money, reason: str, field: str
) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        credit_memo_create(merchant=merchant, customer_id=customer.pk, amount=amount, reason=reason, now=NOW)
    assert refused.value.field == field


def test_apply_credit_memo_oldest_first(merchant: Merchant, customer: Customer) -> None:
    first, second = make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 3000)
    memo = memo_for(merchant, customer, 2500)

    applications = credit_apply(
        merchant=merchant, customer_id=customer.pk, credit_memo_id=memo.pk, invoice_ids=[second.pk, first.pk], now=NOW
    )

    assert sorted((a.invoice_id, a.amount_minor, a.credit_memo_id) for a in applications) == [
        (first.pk, 1000, memo.pk),
        (second.pk, 1500, memo.pk),
    ]
    assert state(first) == (InvoiceStatus.PAID, 0, 1000)
    assert state(second) == (InvoiceStatus.PARTIALLY_PAID, 1500, 1500)
    memo.refresh_from_db()
    assert memo.remaining_minor == 0
    with writes_nothing(), pytest.raises(NotAllowed, match="nothing left to apply"):
        credit_apply(
            merchant=merchant, customer_id=customer.pk, credit_memo_id=memo.pk, invoice_ids=[second.pk], now=NOW
        )
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_apply_credit_memo_explicit_amounts(merchant: Merchant, customer: Customer) -> None:
    first, second = make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 3000)
    memo = memo_for(merchant, customer, 2500)
    credit_apply(
        merchant=merchant,
        customer_id=customer.pk,
        credit_memo_id=memo.pk,
        invoice_ids=[],
        amounts={second.pk: usd(2000)},
        now=NOW,
    )
    assert state(first) == (InvoiceStatus.OPEN, 1000, 0)
    assert state(second) == (InvoiceStatus.PARTIALLY_PAID, 1000, 2000)
    memo.refresh_from_db()
    assert memo.remaining_minor == 500
    with writes_nothing(), pytest.raises(NotAllowed, match=r"add up to more than the \$5.00 available"):
        credit_apply(
            merchant=merchant,
            customer_id=customer.pk,
            credit_memo_id=memo.pk,
            invoice_ids=[],
            amounts={first.pk: usd(600)},
            now=NOW,
        )


def test_apply_unapplied_payment(merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    invoice = make_invoice(merchant, customer, 3000)

    [application] = credit_apply(
        merchant=merchant, customer_id=customer.pk, payment_id=payment.pk, invoice_ids=[invoice.pk], now=NOW
    )

    assert (application.payment_id, application.amount_minor) == (payment.pk, 3000)
    assert state(invoice) == (InvoiceStatus.PAID, 0, 3000)
    payment.refresh_from_db()
    assert payment.unapplied_minor == 2000
    summary = Activity.objects.get(verb="credit.applied").summary
    assert summary == f"$30.00 of unapplied payment {payment.number} applied to INV-00001"
    assert JournalEntry.objects.filter(kind=EntryKind.CREDIT_APPLIED).count() == 1


def test_applying_credit_needs_one_source_and_a_payable_invoice(merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    memo = memo_for(merchant, customer, 1000)
    invoice = make_invoice(merchant, customer, 3000)
    for payment_id, credit_memo_id in ((None, None), (payment.pk, memo.pk)):
        with writes_nothing(), pytest.raises(InvalidInput, match="Choose one credit"):
            credit_apply(
                merchant=merchant,
                customer_id=customer.pk,
                invoice_ids=[invoice.pk],
                now=NOW,
                payment_id=payment_id,
                credit_memo_id=credit_memo_id,
            )
    with writes_nothing(), pytest.raises(NotAllowed, match="choose at least one invoice"):
        credit_apply(merchant=merchant, customer_id=customer.pk, payment_id=payment.pk, invoice_ids=[], now=NOW)
    invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    with writes_nothing(), pytest.raises(NotAllowed, match="is void and cannot be paid"):
        credit_apply(
            merchant=merchant, customer_id=customer.pk, payment_id=payment.pk, invoice_ids=[invoice.pk], now=NOW
        )


def test_credit_of_another_customer_is_not_found(merchant: Merchant, customer: Customer) -> None:
    other = make_customer(merchant, "Other")
    their_memo = memo_for(merchant, other, 1000)
    their_invoice = make_invoice(merchant, other, 1000)
    my_memo = memo_for(merchant, customer, 1000)
    my_invoice = make_invoice(merchant, customer, 1000)
    with writes_nothing(), pytest.raises(NotFound, match="No such credit"):
        credit_apply(
            merchant=merchant,
            customer_id=customer.pk,
            credit_memo_id=their_memo.pk,
            invoice_ids=[my_invoice.pk],
            now=NOW,
        )
    with writes_nothing(), pytest.raises(NotFound, match="No such invoice"):
        credit_apply(
            merchant=merchant,
            customer_id=customer.pk,
            credit_memo_id=my_memo.pk,
            invoice_ids=[their_invoice.pk],
            now=NOW,
        )


def test_move_payment_application_to_credit_then_void(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 4000, [invoice])
    application = Application.objects.get(payment=payment)

    moved = application_move_to_credit(merchant=merchant, application_id=application.pk, now=NOW)

    assert moved.amount_minor == 0
    assert state(invoice) == (InvoiceStatus.OPEN, 10_000, 0)
    payment.refresh_from_db()
    assert payment.unapplied_minor == 4000
    assert Activity.objects.get(verb="credit.unapplied").summary == "$40.00 moved from INV-00001 to customer credit"
    voided = invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    assert (voided.status, voided.balance_minor) == (InvoiceStatus.VOID, 0)
    with writes_nothing(), pytest.raises(NotAllowed, match="Nothing of this payment is applied"):
        application_move_to_credit(merchant=merchant, application_id=application.pk, now=NOW)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_move_credit_memo_application_to_credit_and_reapply(merchant: Merchant, customer: Customer) -> None:
    wrong, right = make_invoice(merchant, customer, 2000), make_invoice(merchant, customer, 2000)
    memo = memo_for(merchant, customer, 2000)
    [application] = credit_apply(
        merchant=merchant, customer_id=customer.pk, credit_memo_id=memo.pk, invoice_ids=[wrong.pk], now=NOW
    )
    assert state(wrong) == (InvoiceStatus.PAID, 0, 2000)

    application_move_to_credit(merchant=merchant, application_id=application.pk, now=NOW)
    memo.refresh_from_db()
    assert memo.remaining_minor == 2000
    assert state(wrong) == (InvoiceStatus.OPEN, 2000, 0)
    credit_apply(merchant=merchant, customer_id=customer.pk, credit_memo_id=memo.pk, invoice_ids=[right.pk], now=NOW)
    assert state(right) == (InvoiceStatus.PAID, 0, 2000)

    # Applying to the first invoice again reuses its application row.
    credit_memo = memo_for(merchant, customer, 500)
    credit_apply(
        merchant=merchant, customer_id=customer.pk, credit_memo_id=credit_memo.pk, invoice_ids=[wrong.pk], now=NOW
    )
    assert Application.objects.filter(invoice=wrong).count() == 2
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_credits_list_filters_with_total_and_count(merchant: Merchant, customer: Customer) -> None:
    other = make_customer(merchant, "Bea")
    memo = memo_for(merchant, customer, 2500)
    used_up = memo_for(merchant, customer, 700)
    credit_apply(
        merchant=merchant,
        customer_id=customer.pk,
        credit_memo_id=used_up.pk,
        invoice_ids=[make_invoice(merchant, customer, 700).pk],
        now=NOW,
    )
    payment = make_payment(
        merchant,
        other,
        1200,
        keep_excess_as_credit=True,
        reference="Z-9",
        method="zelle",
        now=NOW + dt.timedelta(hours=1),
    )
    make_payment(merchant, customer, 300, [make_invoice(merchant, customer, 300)])  # fully applied: not a credit

    rows, total, count = credits_list(merchant=merchant)
    assert [(r.kind, r.id, r.remaining) for r in rows] == [
        ("unapplied_payment", payment.pk, usd(1200)),
        ("credit_memo", memo.pk, usd(2500)),
    ]
    assert (total, count) == (usd(3700), 2)
    assert rows[0].description == "Zelle Z-9" and rows[0].customer_name == "Bea"

    rows, total, count = credits_list(merchant=merchant, which="credit_memos")
    assert ([r.number for r in rows], total, count) == ([memo.number], usd(2500), 1)

    rows, total, count = credits_list(merchant=merchant, which="unapplied")
    assert ([r.number for r in rows], total, count) == ([payment.number], usd(1200), 1)

    rows, total, count = credits_list(merchant=merchant, customer_id=customer.pk)
    assert ([r.id for r in rows], total, count) == ([memo.pk], usd(2500), 1)


def test_credits_list_total_counts_only_the_merchants_currency(merchant: Merchant, customer: Customer) -> None:
    memo_for(merchant, customer, 1000)
    credit_memo_create(
        merchant=merchant, customer_id=customer.pk, amount=Money(5000, "EUR"), reason="Euro return", now=NOW
    )
    rows, total, count = credits_list(merchant=merchant)
    assert (total, count) == (usd(1000), 2)
    assert sorted(r.remaining.currency for r in rows) == ["EUR", "USD"]
    assert Payment.objects.count() == 0


def test_a_repeated_credit_memo_request_grants_the_credit_once(merchant: Merchant, customer: Customer) -> None:
    first = credit_memo_create(
        merchant=merchant,
        customer_id=customer.pk,
        amount=Money(2500, "USD"),
        reason="Loaner fee",
        idempotency_key="cm-1",
    )
    with writes_nothing():
        again = credit_memo_create(
            merchant=merchant,
            customer_id=customer.pk,
            amount=Money(2500, "USD"),
            reason="Loaner fee",
            idempotency_key="cm-1",
        )
    assert again.pk == first.pk
    assert CreditMemo.objects.filter(merchant=merchant).count() == 1
    with writes_nothing(), pytest.raises(IdempotencyConflict):
        credit_memo_create(
            merchant=merchant,
            customer_id=customer.pk,
            amount=Money(9900, "USD"),
            reason="Other",
            idempotency_key="cm-1",
        )
    assert ledger_verify().ok
