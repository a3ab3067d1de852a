"""`ledger_verify`: every cached balance is recomputed from the journal. It passes after a mix of
operations, and reports each cached field that is changed behind the services' back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import F, Sum

from settle.core.money import Money
from settle.core.tenancy import all_merchants
from settle.customers.models import Customer
from settle.invoicing.models import CreditMemo, Invoice, InvoiceStatus, JournalEntry, JournalLine
from settle.invoicing.services import credit_memo_create, invoice_mark_uncollectible, invoice_void
from settle.payments.models import Application, Payment
from settle.payments.services import application_move_to_credit, credit_apply, refund_create
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.fixture
def books(merchant: Merchant, customer: Customer) -> dict[str, Any]:
    """A little of everything: paid, partly paid and refunded, written off, voided, credit."""
    paid = make_invoice(merchant, customer, 10_000)
    partly = make_invoice(merchant, customer, 8000)
    written_off = make_invoice(merchant, customer, 3000)
    voided = make_invoice(merchant, customer, 2000)
    payment = make_payment(merchant, customer, 15_000, [paid, partly], keep_excess_as_credit=True)  # 10000 + 5000
    refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(1000), now=NOW)
    credit = make_payment(merchant, customer, 4000, keep_excess_as_credit=True)
    credit_apply(
        merchant=merchant,
        customer_id=customer.pk,
        payment_id=credit.pk,
        invoice_ids=[written_off.pk],
        amounts={written_off.pk: usd(500)},
        now=NOW,
    )
    invoice_mark_uncollectible(merchant=merchant, invoice_id=written_off.pk, now=NOW)
    memo = credit_memo_create(merchant=merchant, customer_id=customer.pk, amount=usd(2500), reason="Returned", now=NOW)
    [memo_application] = credit_apply(
        merchant=merchant, customer_id=customer.pk, credit_memo_id=memo.pk, invoice_ids=[partly.pk], now=NOW
    )
    moved = make_payment(merchant, customer, 700, [voided])
    application_move_to_credit(merchant=merchant, application_id=Application.objects.get(payment=moved).pk, now=NOW)
    invoice_void(merchant=merchant, invoice_id=voided.pk, now=NOW)
    return {"paid": paid, "partly": partly, "payment": payment, "memo": memo, "memo_application": memo_application}


def test_verify_passes_after_a_mix_of_operations(books: dict[str, Any], merchant: Merchant) -> None:
    report = ledger_verify(merchant_ids=[merchant.pk])
    assert report.ok, report.mismatches
    assert (report.invoices, report.payments, report.credit_memos) == (4, 3, 1)
    assert report.entries == JournalEntry.objects.count()
    assert report.lines == JournalLine.objects.count()
    with all_merchants():
        assert ledger_verify().ok


def test_every_entry_balances(books: dict[str, Any]) -> None:
    totals = JournalLine.objects.values("entry_id").annotate(total=Sum("amount_minor"))
    assert totals and {row["total"] for row in totals} == {0}


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], int], str]] = {
    "invoice balance": (
        lambda b: Invoice.objects.filter(pk=b["partly"].pk).update(balance_minor=F("balance_minor") + 1),
        "balance",
    ),
    "invoice paid": (
        lambda b: Invoice.objects.filter(pk=b["partly"].pk).update(paid_minor=F("paid_minor") - 1),
        "paid",
    ),
    "invoice refunded": (lambda b: Invoice.objects.filter(pk=b["partly"].pk).update(refunded_minor=0), "refunded"),
    "payment unapplied": (
        lambda b: Payment.objects.filter(pk=b["payment"].pk).update(unapplied_minor=F("unapplied_minor") + 100),
        "unapplied",
    ),
    "payment refunded": (lambda b: Payment.objects.filter(pk=b["payment"].pk).update(refunded_minor=0), "refunded"),
    "payment amount": (
        lambda b: Payment.objects.filter(pk=b["payment"].pk).update(amount_minor=F("amount_minor") + 1),
        "amount",
    ),
    "credit memo remaining": (
        lambda b: CreditMemo.objects.filter(pk=b["memo"].pk).update(remaining_minor=1),
        "remaining",
    ),
    "application amount": (
        lambda b: Application.objects.filter(pk=b["memo_application"].pk).update(amount_minor=F("amount_minor") - 1),
        "application",
    ),
    "journal line": (
        lambda b: JournalLine.objects.filter(pk=JournalLine.objects.order_by("-pk")[0].pk).update(
            amount_minor=F("amount_minor") + 1
        ),
        "does not balance",
    ),
    "journal names a missing payment": (
        lambda b: JournalLine.objects.filter(payment_id=b["payment"].pk).update(payment_id=10**9),
        "does not exist",
    ),
    "paid status with a balance": (
        lambda b: Invoice.objects.filter(pk=b["paid"].pk).update(status=InvoiceStatus.PAID, balance_minor=1),
        "is paid but owes",
    ),
    "open status owing nothing": (
        lambda b: Invoice.objects.filter(pk=b["paid"].pk).update(status=InvoiceStatus.OPEN),
        "owes nothing",
    ),
}


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_verify_reports_a_tampered_cache(
    books: dict[str, Any], merchant: Merchant, tamper: tuple[Callable[[dict[str, Any]], int], str]
) -> None:
    change, expected = tamper
    assert change(books) >= 1
    report = ledger_verify(merchant_ids=[merchant.pk])
    assert not report.ok
    assert any(expected in mismatch for mismatch in report.mismatches), report.mismatches


def test_verify_is_limited_to_the_merchants_asked_for(books: dict[str, Any], merchant: Merchant) -> None:
    other = make_merchant()
    make_invoice(other, make_customer(other))
    Invoice.objects.filter(pk=books["partly"].pk).update(balance_minor=F("balance_minor") + 1)
    assert ledger_verify(merchant_ids=[other.pk]).ok
    assert not ledger_verify(merchant_ids=[merchant.pk]).ok
