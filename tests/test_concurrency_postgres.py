"""Races on PostgreSQL with real threads: requests that arrive together must queue on the row locks
the services take (customer first, then invoices, payments and the merchant's numbering), so no
invoice is overpaid, no number is skipped or repeated, no idempotency key records twice and no
payment is refunded beyond what it received."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connection, connections
from django.db.models import Sum

from settle.core.errors import NotAllowed, SettleError
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Contact, Customer
from settle.customers.services import contact_form_submit
from settle.invoicing.models import EntryKind, Invoice, InvoiceStatus, JournalEntry
from settle.invoicing.services import LineInput, invoice_create, invoice_void
from settle.payments.models import Payment, Refund
from settle.payments.services import payment_record, refund_create
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]

T = TypeVar("T")


def at_once(merchant: Merchant, calls: list[Callable[[], T]]) -> list[T | SettleError]:
    """Run each call in its own thread, released together, each with its own connection (closed at
    the end) inside the merchant's scope. Returns each result or the SettleError it raised; any
    other exception fails the test."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[T | SettleError | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            with merchant_scope(merchant):
                barrier.wait(timeout=10)
                outcomes[index] = calls[index]()
        except SettleError as refusal:
            outcomes[index] = refusal
        except BaseException as error:  # re-raised below, in the test's thread
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, SettleError):
            raise outcome
    return outcomes  # type: ignore[return-value]


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def test_two_payments_of_the_whole_balance_at_once_only_one_wins() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant)
    invoice = make_invoice(merchant, customer, 10_000)

    def pay() -> Payment:
        return payment_record(
            merchant=merchant, customer_id=customer.pk, amount=usd(10_000), method="cash", invoice_ids=[invoice.pk]
        )

    outcomes = at_once(merchant, [pay, pay])

    payments = [o for o in outcomes if isinstance(o, Payment)]
    refusals = [o for o in outcomes if isinstance(o, SettleError)]
    assert (len(payments), len(refusals)) == (1, 1)
    assert isinstance(refusals[0], NotAllowed)
    assert refusals[0].message == "Invoice INV-00001 is already paid and cannot be paid."
    with merchant_scope(merchant):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PAID, 0, 10_000)
        assert Payment.objects.count() == 1
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_concurrent_invoice_creations_get_unique_gap_free_numbers() -> None:
    merchant = make_merchant()
    customers = [make_customer(merchant, f"Customer {n}") for n in range(10)]

    def create(customer: Customer) -> Callable[[], Invoice]:
        return lambda: invoice_create(
            merchant=merchant, customer_id=customer.pk, lines=[LineInput("Service", 1, usd(1000))]
        )

    outcomes = at_once(merchant, [create(c) for c in customers])

    assert all(isinstance(o, Invoice) for o in outcomes)
    with merchant_scope(merchant):
        numbers = sorted(Invoice.objects.values_list("sequence", "number"))
    assert numbers == [(n, f"INV-{n:05d}") for n in range(1, 11)]
    merchant.refresh_from_db()
    assert merchant.invoice_next_number == 11


def test_concurrent_payments_with_one_idempotency_key_record_one_payment() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant)
    invoice = make_invoice(merchant, customer, 10_000)

    def pay() -> Payment:
        return payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=usd(4000),
            method="zelle",
            invoice_ids=[invoice.pk],
            idempotency_key="pay-form-81f2",
        )

    outcomes = at_once(merchant, [pay] * 5)

    assert all(isinstance(o, Payment) for o in outcomes)
    assert len({o.pk for o in outcomes if isinstance(o, Payment)}) == 1
    with merchant_scope(merchant):
        assert Payment.objects.count() == 1
        assert JournalEntry.objects.filter(kind=EntryKind.PAYMENT_RECEIVED).count() == 1
        invoice.refresh_from_db()
        assert (invoice.balance_minor, invoice.paid_minor) == (6000, 4000)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_concurrent_refunds_never_exceed_the_payment() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant)
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 10_000, [invoice])

    def refund() -> Refund:
        return refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(3000))

    outcomes = at_once(merchant, [refund] * 5)

    refunds = [o for o in outcomes if isinstance(o, Refund)]
    refusals = [o for o in outcomes if isinstance(o, SettleError)]
    assert (len(refunds), len(refusals)) == (3, 2)
    assert all(isinstance(r, NotAllowed) and "can still be refunded" in r.message for r in refusals)
    with merchant_scope(merchant):
        payment.refresh_from_db()
        total = Refund.objects.filter(payment=payment).aggregate(s=Sum("amount_minor"))["s"]
        invoice.refresh_from_db()
    assert payment.refunded_minor == total == 9000
    assert (invoice.balance_minor, invoice.paid_minor, invoice.refunded_minor) == (9000, 1000, 9000)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_a_void_racing_a_payment_leaves_one_consistent_outcome() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant)
    invoice = make_invoice(merchant, customer, 5000)

    outcomes = at_once(
        merchant,
        [
            lambda: invoice_void(merchant=merchant, invoice_id=invoice.pk),
            lambda: payment_record(
                merchant=merchant, customer_id=customer.pk, amount=usd(2000), method="cash", invoice_ids=[invoice.pk]
            ),
        ],
    )

    assert sum(isinstance(o, SettleError) for o in outcomes) == 1
    with merchant_scope(merchant):
        invoice.refresh_from_db()
    if isinstance(outcomes[0], Invoice):
        assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.VOID, 0, 0)
    else:
        assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PARTIALLY_PAID, 3000, 2000)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok


def test_concurrent_contact_form_submissions_make_one_customer() -> None:
    merchant = make_merchant()

    def submit() -> Contact:
        return contact_form_submit(merchant=merchant, name="Cy", email="cy@example.com")

    outcomes = at_once(merchant, [submit] * 4)

    assert len({o.pk for o in outcomes if isinstance(o, Contact)}) == 1
    with merchant_scope(merchant):
        assert (Customer.objects.count(), Contact.objects.count()) == (1, 1)
