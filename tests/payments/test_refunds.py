"""Refunds: partial and repeated until nothing is left, never more than refundable, taken from
unapplied credit first then the newest application (or one invoice), reopening what the refund
takes off an invoice, labels, and idempotency."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import IdempotencyConflict
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Customer
from settle.invoicing.models import Account, EntryKind, Invoice, InvoiceStatus, JournalEntry, JournalLine
from settle.invoicing.services import invoice_mark_uncollectible
from settle.payments.models import Application, Payment, Refund
from settle.payments.services import credit_apply, refund_create
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def refund(merchant: Merchant, payment: Payment, minor: int, **kwargs: object) -> Refund:
    return refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(minor), now=NOW, **kwargs)  # type: ignore[arg-type]


def state(invoice: Invoice) -> tuple[str, int, int, int]:
    invoice.refresh_from_db()
    return invoice.status, invoice.balance_minor, invoice.paid_minor, invoice.refunded_minor


def payment_state(payment: Payment) -> tuple[int, int, str]:
    payment.refresh_from_db()
    return payment.unapplied_minor, payment.refunded_minor, payment.refund_label


def applied(payment: Payment, invoice: Invoice) -> int:
    return Application.objects.get(payment=payment, invoice=invoice).amount_minor


def test_partial_refunds_until_nothing_is_left(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 10_000, [invoice], method="card_terminal")

    first = refund(merchant, payment, 3000, reason="Damaged item")

    assert (first.amount_minor, first.reason, first.payment_id) == (3000, "Damaged item", payment.pk)
    assert payment_state(payment) == (0, 3000, "Partially refunded")
    assert state(invoice) == (InvoiceStatus.PARTIALLY_PAID, 3000, 7000, 3000)
    assert invoice.refund_label == "Partially refunded"
    entry = JournalEntry.objects.get(kind=EntryKind.REFUND_ISSUED)
    assert sorted(
        (line.account, line.amount_minor, line.invoice_id, line.method) for line in entry.lines.all()
    ) == sorted(
        [
            (Account.RECEIVABLE, 3000, invoice.pk, ""),
            (Account.UNAPPLIED, -3000, None, ""),
            (Account.UNAPPLIED, 3000, None, ""),
            (Account.CLEARING, -3000, None, "card_terminal"),
        ]
    )
    activity = Activity.objects.get(verb="payment.refunded")
    assert activity.summary == f"Refunded $30.00 of payment {payment.number} (INV-00001 reopened)"

    refund(merchant, payment, 7000)

    assert payment_state(payment) == (0, 10_000, "Refunded")
    assert state(invoice) == (InvoiceStatus.OPEN, 10_000, 0, 10_000)
    assert invoice.refund_label == "Refunded"
    assert payment.refundable == usd(0)
    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        refund(merchant, payment, 1)
    assert refused.value.message == f"Only $0.00 of payment {payment.number} can still be refunded."
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_refund_of_more_than_refundable_is_refused(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 6000, [invoice])
    refund(merchant, payment, 1000)
    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        refund(merchant, payment, 5001)
    assert refused.value.message == f"Only $50.00 of payment {payment.number} can still be refunded."
    assert payment_state(payment) == (0, 1000, "Partially refunded")


def test_refund_takes_unapplied_credit_first_then_the_newest_application(
    merchant: Merchant, customer: Customer
) -> None:
    older, newer = make_invoice(merchant, customer, 5000), make_invoice(merchant, customer, 5000)
    payment = make_payment(merchant, customer, 10_000, [older], keep_excess_as_credit=True)  # 5000 applied, 5000 credit
    credit_apply(
        merchant=merchant,
        customer_id=customer.pk,
        payment_id=payment.pk,
        amounts={newer.pk: usd(3000)},
        invoice_ids=[],
        now=NOW,
    )
    assert payment_state(payment) == (2000, 0, "")

    refund(merchant, payment, 4000)  # 2000 of credit, then 2000 off the newer invoice

    assert payment_state(payment) == (0, 4000, "Partially refunded")
    assert (applied(payment, older), applied(payment, newer)) == (5000, 1000)
    assert state(older) == (InvoiceStatus.PAID, 0, 5000, 0)
    assert state(newer) == (InvoiceStatus.PARTIALLY_PAID, 4000, 1000, 2000)

    refund(merchant, payment, 3000)  # the rest of the newer invoice, then the older one

    assert (applied(payment, older), applied(payment, newer)) == (3000, 0)
    assert state(older) == (InvoiceStatus.PARTIALLY_PAID, 2000, 3000, 2000)
    assert state(newer) == (InvoiceStatus.OPEN, 5000, 0, 3000)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_refund_of_unapplied_credit_reopens_nothing(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    payment = make_payment(merchant, customer, 8000, [invoice], keep_excess_as_credit=True)
    refund(merchant, payment, 3000)
    assert payment_state(payment) == (0, 3000, "Partially refunded")
    assert state(invoice) == (InvoiceStatus.PAID, 0, 5000, 0)
    assert Activity.objects.get(verb="payment.refunded").summary == f"Refunded $30.00 of payment {payment.number}"


def test_invoice_id_restricts_the_refund_to_that_invoice(merchant: Merchant, customer: Customer) -> None:
    first, second, unpaid = (
        make_invoice(merchant, customer, 4000),
        make_invoice(merchant, customer, 4000),
        make_invoice(merchant, customer, 10),
    )
    payment = make_payment(merchant, customer, 10_000, [first, second], keep_excess_as_credit=True)  # 2000 credit

    refund(merchant, payment, 1500, invoice_id=first.pk)

    assert payment_state(payment) == (2000, 1500, "Partially refunded")
    assert (applied(payment, first), applied(payment, second)) == (2500, 4000)
    assert state(first) == (InvoiceStatus.PARTIALLY_PAID, 1500, 2500, 1500)
    with writes_nothing(), pytest.raises(NotAllowed, match="more than this payment paid on the invoice"):
        refund(merchant, payment, 2501, invoice_id=first.pk)
    with writes_nothing(), pytest.raises(NotAllowed, match="did not pay that invoice"):
        refund(merchant, payment, 10, invoice_id=unpaid.pk)


def test_refund_input_is_checked(merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    for minor in (0, -100):
        with writes_nothing(), pytest.raises(InvalidInput) as refused:
            refund(merchant, payment, minor)
        assert refused.value.field == "amount"
    with writes_nothing(), pytest.raises(InvalidInput, match="in USD") as refused:
        refund_create(merchant=merchant, payment_id=payment.pk, amount=Money(100, "EUR"), now=NOW)
    assert refused.value.field == "currency"
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        refund(merchant, payment, 100, reason="r" * 301)
    assert refused.value.field == "reason"


def test_another_merchants_payment_is_not_found(merchant: Merchant, other_merchant: Merchant) -> None:
    with merchant_scope(other_merchant):
        theirs = make_payment(other_merchant, make_customer(other_merchant), 5000, keep_excess_as_credit=True)
    with writes_nothing(), pytest.raises(NotFound, match="No such payment"):
        refund(merchant, theirs, 100)


def test_refund_is_idempotent(merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    first = refund(merchant, payment, 2000, idempotency_key="refund-1")
    with writes_nothing():
        again = refund(merchant, payment, 2000, idempotency_key="refund-1")
    assert again.pk == first.pk
    assert payment_state(payment) == (3000, 2000, "Partially refunded")
    with writes_nothing(), pytest.raises(IdempotencyConflict):
        refund(merchant, payment, 2500, idempotency_key="refund-1")


def test_refunds_never_exceed_the_payment(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 3000)
    payment = make_payment(merchant, customer, 3000, [invoice])
    for _ in range(3):
        refund(merchant, payment, 1000)
    total = Refund.objects.filter(payment=payment).aggregate(s=Sum("amount_minor"))["s"]
    clearing = JournalLine.objects.filter(payment_id=payment.pk, account=Account.CLEARING).aggregate(
        s=Sum("amount_minor")
    )["s"]
    assert (total, clearing) == (3000, 0)
    with writes_nothing(), pytest.raises(NotAllowed):
        refund(merchant, payment, 1)


def test_refund_of_a_payment_on_a_written_off_invoice_writes_the_reopened_part_off(
    merchant: Merchant, customer: Customer
) -> None:
    """The invoice was written off: a refund cannot make it owe again (nothing could collect or
    void it), so the part the refund takes off it is written off too."""
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 4000, [invoice])
    invoice_mark_uncollectible(merchant=merchant, invoice_id=invoice.pk, now=NOW)

    refund(merchant, payment, 1500)

    assert state(invoice) == (InvoiceStatus.UNCOLLECTIBLE, 0, 2500, 1500)
    assert payment_state(payment) == (0, 1500, "Partially refunded")
    bad_debt = JournalLine.objects.filter(account=Account.BAD_DEBT).aggregate(s=Sum("amount_minor"))["s"]
    assert bad_debt == 7500
    assert Activity.objects.get(verb="payment.refunded").summary == f"Refunded $15.00 of payment {payment.number}"
    assert ledger_verify(merchant_ids=[merchant.pk]).ok
