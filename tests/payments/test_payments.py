"""Recording payments: full, partial, several invoices oldest due first or explicit amounts,
overpayment (refused, or kept as credit), invoices that cannot be paid, currencies, other
customers' and merchants' invoices, idempotency, check numbers and dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import IdempotencyConflict
from settle.core.money import MAX_AMOUNT_MINOR, Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Customer
from settle.invoicing.models import Account, EntryKind, Invoice, InvoiceStatus, JournalEntry, Terms
from settle.invoicing.services import LineInput, invoice_create, invoice_void
from settle.payments.models import Application, Payment
from settle.payments.services import payment_record
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)  # 10 March, 11:00 in New York


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def pay(merchant: Merchant, customer: Customer, minor: int, invoices: list[Invoice], **kwargs: object) -> Payment:
    return payment_record(
        merchant=merchant,
        customer_id=customer.pk,
        amount=usd(minor),
        method=str(kwargs.pop("method", "cash")),
        invoice_ids=[i.pk for i in invoices],
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def state(invoice: Invoice) -> tuple[str, int, int]:
    invoice.refresh_from_db()
    return invoice.status, invoice.balance_minor, invoice.paid_minor


def test_full_payment(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = pay(merchant, customer, 10_000, [invoice], reference="conf 42")

    assert state(invoice) == (InvoiceStatus.PAID, 0, 10_000)
    assert (payment.amount_minor, payment.unapplied_minor, payment.refunded_minor) == (10_000, 0, 0)
    assert (payment.received_on, payment.reference, payment.method) == (dt.date(2024, 3, 10), "conf 42", "cash")
    [application] = Application.objects.filter(payment=payment)
    assert (application.invoice_id, application.amount_minor) == (invoice.pk, 10_000)
    entry = JournalEntry.objects.get(kind=EntryKind.PAYMENT_RECEIVED)
    assert sorted((line.account, line.amount_minor, line.method) for line in entry.lines.all()) == sorted(
        [
            (Account.CLEARING, 10_000, "cash"),
            (Account.UNAPPLIED, -10_000, ""),
            (Account.UNAPPLIED, 10_000, ""),
            (Account.RECEIVABLE, -10_000, ""),
        ]
    )
    activity = Activity.objects.get(verb="payment.recorded")
    assert activity.summary == f"Payment {payment.number} of $100.00 by Cash → INV-00001"
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_partial_payment(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    pay(merchant, customer, 2550, [invoice])
    assert state(invoice) == (InvoiceStatus.PARTIALLY_PAID, 7450, 2550)
    pay(merchant, customer, 7450, [invoice])
    assert state(invoice) == (InvoiceStatus.PAID, 0, 10_000)
    assert Application.objects.get(invoice=invoice, payment__amount_minor=7450).amount_minor == 7450


def test_several_invoices_are_paid_oldest_due_first(merchant: Merchant, customer: Customer) -> None:
    net_15 = make_invoice(merchant, customer, 5000, terms=Terms.NET_15, now=NOW)  # due 25 March
    on_receipt = make_invoice(merchant, customer, 5000, now=NOW)  # due 10 March
    net_30 = make_invoice(merchant, customer, 5000, terms=Terms.NET_30, now=NOW)  # due 9 April

    payment = pay(merchant, customer, 12_000, [net_30, net_15, on_receipt])

    assert state(on_receipt) == (InvoiceStatus.PAID, 0, 5000)
    assert state(net_15) == (InvoiceStatus.PAID, 0, 5000)
    assert state(net_30) == (InvoiceStatus.PARTIALLY_PAID, 3000, 2000)
    assert payment.unapplied_minor == 0
    assert Activity.objects.get(verb="payment.recorded").summary.endswith("→ INV-00002, INV-00001, INV-00003")


def test_explicit_amounts(merchant: Merchant, customer: Customer) -> None:
    first = make_invoice(merchant, customer, 5000)
    second = make_invoice(merchant, customer, 5000)
    third = make_invoice(merchant, customer, 5000)

    payment = payment_record(
        merchant=merchant,
        customer_id=customer.pk,
        amount=usd(4000),
        method="zelle",
        amounts={second.pk: usd(3000), third.pk: usd(1000), first.pk: usd(0)},
        now=NOW,
    )

    assert [state(i) for i in (first, second, third)] == [
        (InvoiceStatus.OPEN, 5000, 0),
        (InvoiceStatus.PARTIALLY_PAID, 2000, 3000),
        (InvoiceStatus.PARTIALLY_PAID, 4000, 1000),
    ]
    assert sorted(Application.objects.filter(payment=payment).values_list("invoice_id", "amount_minor")) == [
        (second.pk, 3000),
        (third.pk, 1000),
    ]


def test_explicit_amount_above_what_the_invoice_owes_is_refused(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=usd(6000),
            method="cash",
            amounts={invoice.pk: usd(6000)},
            keep_excess_as_credit=True,
            now=NOW,
        )
    assert refused.value.message == "Invoice INV-00001 only owes $50.00; you tried to apply $60.00."


def test_explicit_amounts_above_the_payment_are_refused(merchant: Merchant, customer: Customer) -> None:
    first, second = make_invoice(merchant, customer, 5000), make_invoice(merchant, customer, 5000)
    with writes_nothing(), pytest.raises(NotAllowed, match=r"add up to more than the \$50.00 available"):
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=usd(5000),
            method="cash",
            amounts={first.pk: usd(3000), second.pk: usd(3000)},
            now=NOW,
        )


@pytest.mark.parametrize(("amount", "field"), [(usd(-100), "amount"), (Money(100, "EUR"), "currency")])
def test_bad_explicit_amounts_are_refused(merchant: Merchant, customer: Customer, amount: Money, field: str) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=usd(5000),
            method="cash",
            amounts={invoice.pk: amount},
            keep_excess_as_credit=True,
            now=NOW,
        )
    assert refused.value.field == field


def test_overpayment_is_refused_with_a_clear_message(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, 12_000, [invoice])
    assert refused.value.message == (
        "This payment is $20.00 more than the $100.00 applied to invoices. "
        "Lower the amount, or keep the excess as customer credit."
    )
    assert state(invoice) == (InvoiceStatus.OPEN, 10_000, 0)


def test_payment_without_invoices_needs_keep_excess(merchant: Merchant, customer: Customer) -> None:
    with writes_nothing(), pytest.raises(NotAllowed, match=r"\$30.00 more than the \$0.00 applied"):
        pay(merchant, customer, 3000, [])
    payment = pay(merchant, customer, 3000, [], keep_excess_as_credit=True)
    assert (payment.amount_minor, payment.unapplied_minor) == (3000, 3000)
    assert Activity.objects.get(verb="payment.recorded").summary.endswith("→ customer credit")


def test_excess_is_kept_as_customer_credit(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = pay(merchant, customer, 12_000, [invoice], keep_excess_as_credit=True)
    assert state(invoice) == (InvoiceStatus.PAID, 0, 10_000)
    assert (payment.amount_minor, payment.unapplied_minor) == (12_000, 2000)
    payment.refresh_from_db()
    assert payment.unapplied_minor == 2000
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


@pytest.mark.parametrize(
    ("status", "message"), [("draft", "is draft and"), ("paid", "is already paid and"), ("void", "is void and")]
)
def test_invoice_that_cannot_be_paid_is_refused(
    merchant: Merchant, customer: Customer, status: str, message: str
) -> None:
    invoice = make_invoice(merchant, customer, 5000, draft=status == "draft")
    other = make_invoice(merchant, customer, 5000)
    if status == "paid":
        pay(merchant, customer, 5000, [invoice])
    if status == "void":
        invoice_void(merchant=merchant, invoice_id=invoice.pk, now=NOW)
    with writes_nothing(), pytest.raises(NotAllowed, match=f"Invoice INV-00001 {message} cannot be paid"):
        pay(merchant, customer, 5000, [other, invoice])
    assert state(other) == (InvoiceStatus.OPEN, 5000, 0)


def test_wrong_currency_is_refused(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    with writes_nothing(), pytest.raises(InvalidInput, match="INV-00001 is in USD, the payment in EUR") as refused:
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=Money(5000, "EUR"),
            method="cash",
            invoice_ids=[invoice.pk],
            now=NOW,
        )
    assert refused.value.field == "currency"


def test_payment_in_a_three_decimal_currency(merchant: Merchant, customer: Customer) -> None:
    invoice = invoice_create(
        merchant=merchant,
        customer_id=customer.pk,
        currency="KWD",
        lines=[LineInput("A", 1, Money(12_345, "KWD"))],
        now=NOW,
    )
    payment_record(
        merchant=merchant,
        customer_id=customer.pk,
        amount=Money.parse("12.345", "KWD"),
        method="cash",
        invoice_ids=[invoice.pk],
        now=NOW,
    )
    assert state(invoice) == (InvoiceStatus.PAID, 0, 12_345)


def test_another_customers_invoice_is_not_found(merchant: Merchant, customer: Customer) -> None:
    theirs = make_invoice(merchant, make_customer(merchant, "Someone Else"), 5000)
    mine = make_invoice(merchant, customer, 5000)
    with writes_nothing(), pytest.raises(NotFound, match="No such invoice"):
        pay(merchant, customer, 10_000, [mine, theirs])
    with writes_nothing(), pytest.raises(NotFound):
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=usd(100),
            method="cash",
            amounts={theirs.pk: usd(100)},
            now=NOW,
        )


def test_another_merchants_invoice_or_customer_is_not_found(
    merchant: Merchant, customer: Customer, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        stranger = make_customer(other_merchant)
        theirs = make_invoice(other_merchant, stranger, 5000)
    with writes_nothing(), pytest.raises(NotFound):
        pay(merchant, customer, 5000, [theirs])
    with writes_nothing(), pytest.raises(NotFound, match="No such customer"):
        pay(merchant, stranger, 5000, [theirs])
    with merchant_scope(other_merchant):
        assert state(theirs) == (InvoiceStatus.OPEN, 5000, 0)


def test_same_idempotency_key_and_request_gives_the_same_payment(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    first = pay(merchant, customer, 4000, [invoice], idempotency_key="form-7f3a")
    with writes_nothing():
        again = pay(merchant, customer, 4000, [invoice], idempotency_key="form-7f3a")
    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert JournalEntry.objects.filter(kind=EntryKind.PAYMENT_RECEIVED).count() == 1
    assert state(invoice) == (InvoiceStatus.PARTIALLY_PAID, 6000, 4000)


def test_same_idempotency_key_with_different_terms_is_an_error(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    pay(merchant, customer, 4000, [invoice], idempotency_key="form-7f3a")
    with (
        writes_nothing(),
        pytest.raises(IdempotencyConflict, match="already submitted with different details") as refused,
    ):
        pay(merchant, customer, 5000, [invoice], idempotency_key="form-7f3a")
    assert refused.value.field == "idempotency_key"
    other_customer = make_customer(merchant, "Other")
    with writes_nothing(), pytest.raises(IdempotencyConflict):
        payment_record(
            merchant=merchant,
            customer_id=other_customer.pk,
            amount=usd(4000),
            method="cash",
            keep_excess_as_credit=True,
            idempotency_key="form-7f3a",
            now=NOW,
        )


def test_idempotency_keys_are_per_merchant(merchant: Merchant, customer: Customer, other_merchant: Merchant) -> None:
    mine = pay(merchant, customer, 4000, [], keep_excess_as_credit=True, idempotency_key="k1")
    with merchant_scope(other_merchant):
        theirs = make_payment(
            other_merchant, make_customer(other_merchant), 4000, keep_excess_as_credit=True, idempotency_key="k1"
        )
    assert theirs.pk != mine.pk


def test_idempotency_key_too_long_is_refused(merchant: Merchant, customer: Customer) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        pay(merchant, customer, 4000, [], keep_excess_as_credit=True, idempotency_key="k" * 81)
    assert refused.value.field == "idempotency_key"


def test_check_number_is_kept_only_for_checks(merchant: Merchant, customer: Customer) -> None:
    by_check = pay(merchant, customer, 1000, [], keep_excess_as_credit=True, method="check", check_number=" 1042 ")
    by_cash = pay(merchant, customer, 1000, [], keep_excess_as_credit=True, method="cash", check_number="1043")
    assert (by_check.check_number, by_cash.check_number) == ("1042", "")
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        pay(merchant, customer, 1000, [], keep_excess_as_credit=True, method="check", check_number="9" * 31)
    assert refused.value.field == "check_number"


def test_received_date(merchant: Merchant, customer: Customer) -> None:
    # 10 March in New York; a day of slack covers customers ahead of the merchant's clock.
    past = pay(merchant, customer, 1000, [], keep_excess_as_credit=True, received_on=dt.date(2024, 2, 1))
    tomorrow = pay(merchant, customer, 1000, [], keep_excess_as_credit=True, received_on=dt.date(2024, 3, 11))
    assert (past.received_on, tomorrow.received_on) == (dt.date(2024, 2, 1), dt.date(2024, 3, 11))
    with writes_nothing(), pytest.raises(InvalidInput, match="cannot be in the future") as refused:
        pay(merchant, customer, 1000, [], keep_excess_as_credit=True, received_on=dt.date(2024, 3, 12))
    assert refused.value.field == "received_on"


def test_received_date_defaults_to_the_merchants_local_date(merchant: Merchant, customer: Customer) -> None:
    payment = payment_record(
        merchant=merchant,
        customer_id=customer.pk,
        amount=usd(100),
        method="cash",
        keep_excess_as_credit=True,
        now=dt.datetime(2024, 3, 11, 3, 0, tzinfo=dt.UTC),
    )
    assert payment.received_on == dt.date(2024, 3, 10)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": usd(0)}, "amount"),
        ({"amount": usd(-500)}, "amount"),
        ({"amount": usd(MAX_AMOUNT_MINOR + 1)}, "amount"),
        ({"method": "bitcoin"}, "method"),
        ({"reference": "r" * 101}, "reference"),
        ({"note": "n" * 501}, "note"),
    ],
)
def test_bad_payment_input_is_refused_and_nothing_written(
    merchant: Merchant, customer: Customer, kwargs: dict[str, Any], field: str
) -> None:
    invoice = make_invoice(merchant, customer, 5000)
    arguments = {"amount": usd(5000), "method": "cash", **kwargs}
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            invoice_ids=[invoice.pk],
            keep_excess_as_credit=True,
            now=NOW,
            **arguments,
        )
    assert refused.value.field == field


def test_same_idempotency_key_aimed_at_other_invoices_is_an_error(merchant: Merchant, customer: Customer) -> None:
    first_invoice = make_invoice(merchant, customer, 10_000)
    second_invoice = make_invoice(merchant, customer, 10_000)
    pay(merchant, customer, 4000, [first_invoice], idempotency_key="form-9c1d")
    with writes_nothing(), pytest.raises(IdempotencyConflict):
        pay(merchant, customer, 4000, [second_invoice], idempotency_key="form-9c1d")
    assert state(second_invoice) == (InvoiceStatus.OPEN, 10_000, 0)
