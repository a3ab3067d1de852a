"""Property: whatever staff do with invoices, payments, credit and refunds, in whatever order, the
books stay whole.

A Hypothesis state machine drives the real services against a fresh merchant per example. Each
step predicts whether the services must accept or refuse it; a refusal must be a SettleError that
changed nothing. After every step the invariants below are checked against the database.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from django.db.models import F, Sum
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from settle.core.errors import SettleError
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.invoicing.models import (
    COLLECTIBLE_STATUSES,
    Account,
    CreditMemo,
    EntryKind,
    Invoice,
    InvoiceStatus,
    JournalLine,
)
from settle.invoicing.services import (
    LineInput,
    credit_memo_create,
    invoice_create,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_void,
)
from settle.payments.models import Application, Payment, Refund
from settle.payments.services import application_move_to_credit, credit_apply, payment_record, refund_create
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_merchant, written_rows

T = TypeVar("T")
NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)
AMOUNTS = st.integers(min_value=1, max_value=20_000)
PICK = st.integers(min_value=0, max_value=10_000)
PICKS = st.lists(PICK, min_size=1, max_size=3)
SELDOM = st.sampled_from([False] * 5 + [True])
CAN_LOSE_APPLICATIONS = (*COLLECTIBLE_STATUSES, InvoiceStatus.PAID)


class MoneyOperations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.merchant = make_merchant()
        self.customers = [make_customer(self.merchant, "Ann"), make_customer(self.merchant, "Bo")]
        self.invoices_created = 0
        self.payment_ids: list[int] = []
        self.memo_ids: list[int] = []
        self.keyed_payments: list[tuple[int, dict[str, Any]]] = []
        self.keys = itertools.count(1)

    # Helpers

    def attempt(self, allowed: bool, call: Callable[[], T]) -> T | None:
        """Run one service call; it must succeed when `allowed`, else be refused having written
        nothing."""
        before = None if allowed else self.snapshot()
        with merchant_scope(self.merchant):
            try:
                result = call()
            except SettleError as error:
                refusal = error.message
            else:
                assert allowed, "accepted although it must be refused"
                return result
        assert not allowed, f"refused although allowed: {refusal}"
        assert self.snapshot() == before, f"a refusal wrote something: {refusal}"
        return None

    def snapshot(self) -> tuple[object, ...]:
        with merchant_scope(self.merchant):
            return (
                written_rows(),
                list(
                    Invoice.objects.order_by("pk").values_list(
                        "status", "balance_minor", "paid_minor", "refunded_minor"
                    )
                ),
                list(Payment.objects.order_by("pk").values_list("unapplied_minor", "refunded_minor")),
                list(CreditMemo.objects.order_by("pk").values_list("remaining_minor")),
                list(Application.objects.order_by("pk").values_list("amount_minor")),
                Merchant.objects.values_list("invoice_next_number", flat=True).get(pk=self.merchant.pk),
            )

    def invoices(
        self, picks: list[int], *, customer_id: int | None = None, statuses: Sequence[str] = ()
    ) -> list[Invoice]:
        """Distinct invoices by pick, among `customer_id`'s and those in `statuses` when asked (so
        that most attempts are meant to succeed)."""
        with merchant_scope(self.merchant):
            query = Invoice.objects.order_by("pk")
            if customer_id is not None:
                query = query.filter(customer_id=customer_id)
            if statuses:
                query = query.filter(status__in=statuses)
            candidates = list(query)
        if not candidates:
            return []
        return list(
            {invoice.pk: invoice for invoice in (candidates[pick % len(candidates)] for pick in picks)}.values()
        )

    def invoice(self, pick: int, *, statuses: Sequence[str] = ()) -> Invoice | None:
        return next(iter(self.invoices([pick], statuses=statuses)), None)

    def payment(self, pick: int, *, refundable: bool) -> Payment:
        """A payment by pick, among those with something left to refund when asked and any has."""
        with merchant_scope(self.merchant):
            query = Payment.objects.order_by("pk")
            candidates = list(query.filter(refunded_minor__lt=F("amount_minor"))) if refundable else []
            candidates = candidates or list(query)
        return candidates[pick % len(candidates)]

    # Operations

    @initialize(amounts=st.lists(AMOUNTS, min_size=1, max_size=4))
    def open_invoices(self, amounts: list[int]) -> None:
        for n, amount in enumerate(amounts):
            self.create_invoice(customer=n % 2, amount=amount, tax_bp=0, draft=False)

    # Creating invoices and credit always succeeds; capped so that the other operations get the steps.
    @precondition(lambda self: self.invoices_created < 8)
    @rule(customer=st.sampled_from([0, 1]), amount=AMOUNTS, tax_bp=st.sampled_from([0, 0, 825]), draft=SELDOM)
    def create_invoice(self, customer: int, amount: int, tax_bp: int, draft: bool) -> None:
        invoice = self.attempt(
            True,
            lambda: invoice_create(
                merchant=self.merchant,
                customer_id=self.customers[customer].pk,
                lines=[LineInput("Work", 1, Money(amount, "USD"), tax_bp)],
                draft=draft,
                now=NOW,
            ),
        )
        assert invoice is not None
        self.invoices_created += 1

    @rule(pick=PICK, any_invoice=SELDOM)
    def issue(self, pick: int, any_invoice: bool) -> None:
        invoice = self.invoice(pick, statuses=() if any_invoice else (InvoiceStatus.DRAFT,))
        if invoice is not None:
            self.attempt(
                invoice.status == InvoiceStatus.DRAFT,
                lambda: invoice_issue(merchant=self.merchant, invoice_id=invoice.pk, now=NOW),
            )

    @rule(
        data=st.data(),
        customer=st.sampled_from([0, 1]),
        picks=st.lists(PICK, max_size=3),
        any_invoice=SELDOM,
        euros=SELDOM,
        explicit=st.booleans(),
        keep_excess=st.booleans(),
        keyed=st.booleans(),
    )
    def pay(
        self,
        data: st.DataObject,
        customer: int,
        picks: list[int],
        any_invoice: bool,
        euros: bool,
        explicit: bool,
        keep_excess: bool,
        keyed: bool,
    ) -> None:
        customer_id = self.customers[customer].pk
        invoices = (
            self.invoices(picks)
            if any_invoice
            else self.invoices(picks, customer_id=customer_id, statuses=COLLECTIBLE_STATUSES)
        )
        currency = "EUR" if euros else "USD"
        allowed = all(
            i.customer_id == customer_id and i.currency == currency and i.status in COLLECTIBLE_STATUSES
            for i in invoices
        )
        kwargs: dict[str, Any] = {
            "merchant": self.merchant,
            "customer_id": customer_id,
            "method": "check",
            "check_number": "101",
            "keep_excess_as_credit": keep_excess,
            "now": NOW,
        }
        if explicit and invoices:
            # Sometimes one unit more than an invoice owes, or a payment one unit short.
            amounts = {i.pk: data.draw(st.integers(1, i.balance_minor + 1), label="applied") for i in invoices}
            amount = sum(amounts.values()) + data.draw(st.sampled_from([0, 0, 0, 1, 500, -1]), label="excess")
            allowed = allowed and all(amounts[i.pk] <= i.balance_minor for i in invoices)
            applied = sum(amounts.values())
            kwargs["amounts"] = {pk: Money(minor, currency) for pk, minor in amounts.items()}
        else:
            owed = sum(i.balance_minor for i in invoices)
            amount = (
                owed if owed and data.draw(st.booleans(), label="exactly owed") else data.draw(AMOUNTS, label="amount")
            )
            applied = min(amount, owed)
            kwargs["invoice_ids"] = [i.pk for i in invoices]
        allowed = allowed and amount >= 1 and applied <= amount and (keep_excess or applied == amount)
        if keyed:
            kwargs["idempotency_key"] = f"pay-{next(self.keys)}"
        payment = self.attempt(allowed, lambda: payment_record(amount=Money(amount, currency), **kwargs))
        if payment is not None:
            assert (payment.amount_minor, payment.unapplied_minor, payment.refunded_minor) == (
                amount,
                amount - applied,
                0,
            )
            self.payment_ids.append(payment.pk)
            if keyed:
                self.keyed_payments.append((payment.pk, {"amount": Money(amount, currency), **kwargs}))

    @precondition(lambda self: self.keyed_payments)
    @rule(pick=PICK)
    def repeat_a_payment(self, pick: int) -> None:
        original, kwargs = self.keyed_payments[pick % len(self.keyed_payments)]
        before = self.snapshot()
        again = self.attempt(True, lambda: payment_record(**kwargs))
        assert again is not None and again.pk == original
        assert self.snapshot() == before

    @precondition(lambda self: len(self.memo_ids) < 3)
    @rule(customer=st.sampled_from([0, 1]), amount=AMOUNTS)
    def grant_credit(self, customer: int, amount: int) -> None:
        memo = self.attempt(
            True,
            lambda: credit_memo_create(
                merchant=self.merchant,
                customer_id=self.customers[customer].pk,
                amount=Money(amount, "USD"),
                reason="Goodwill",
                now=NOW,
            ),
        )
        assert memo is not None
        self.memo_ids.append(memo.pk)

    @precondition(lambda self: self.payment_ids or self.memo_ids)
    @rule(
        data=st.data(),
        pick=PICK,
        picks=PICKS,
        explicit=st.booleans(),
        wrong_customer=SELDOM,
        any_invoice=SELDOM,
        used_up=SELDOM,
    )
    def apply_credit(
        self,
        data: st.DataObject,
        pick: int,
        picks: list[int],
        explicit: bool,
        wrong_customer: bool,
        any_invoice: bool,
        used_up: bool,
    ) -> None:
        with merchant_scope(self.merchant):
            sources: list[Payment | CreditMemo] = [
                *Payment.objects.filter(pk__in=self.payment_ids).order_by("pk"),
                *CreditMemo.objects.filter(pk__in=self.memo_ids).order_by("pk"),
            ]
        with_credit = [s for s in sources if (s.unapplied_minor if isinstance(s, Payment) else s.remaining_minor)]
        pool = sources if used_up or not with_credit else with_credit
        source = pool[pick % len(pool)]
        kind = "payment_id" if isinstance(source, Payment) else "credit_memo_id"
        available = source.unapplied_minor if isinstance(source, Payment) else source.remaining_minor
        customer_id = next(c.pk for c in self.customers if (c.pk == source.customer_id) != wrong_customer)
        invoices = (
            self.invoices(picks)
            if any_invoice
            else self.invoices(picks, customer_id=source.customer_id, statuses=COLLECTIBLE_STATUSES)
        )
        allowed = (
            not wrong_customer
            and available > 0
            and bool(invoices)
            and all(
                i.customer_id == customer_id and i.currency == source.currency and i.status in COLLECTIBLE_STATUSES
                for i in invoices
            )
        )
        kwargs: dict[str, Any] = {"merchant": self.merchant, "customer_id": customer_id, kind: source.pk, "now": NOW}
        if explicit:
            amounts = {i.pk: data.draw(st.integers(1, i.balance_minor + 1), label="applied") for i in invoices}
            allowed = (
                allowed
                and all(amounts[i.pk] <= i.balance_minor for i in invoices)
                and sum(amounts.values()) <= available
            )
            kwargs.update(invoice_ids=[], amounts={pk: Money(minor, source.currency) for pk, minor in amounts.items()})
        else:
            kwargs["invoice_ids"] = [i.pk for i in invoices]
        self.attempt(allowed, lambda: credit_apply(**kwargs))

    @rule(pick=PICK, any_application=SELDOM)
    def move_to_credit(self, pick: int, any_application: bool) -> None:
        with merchant_scope(self.merchant):
            query = Application.objects.select_related("invoice").order_by("pk")
            applications = list(query if any_application else query.filter(amount_minor__gt=0))
        if applications:
            application = applications[pick % len(applications)]
            allowed = application.amount_minor > 0 and application.invoice.status in CAN_LOSE_APPLICATIONS
            self.attempt(
                allowed,
                lambda: application_move_to_credit(merchant=self.merchant, application_id=application.pk, now=NOW),
            )

    @precondition(lambda self: self.payment_ids)
    @rule(
        data=st.data(),
        pick=PICK,
        how=st.sampled_from(["full", "part", "part", "too much"]),
        on_invoice=st.none() | PICK,
        any_payment=SELDOM,
        any_invoice=SELDOM,
    )
    def refund(
        self, data: st.DataObject, pick: int, how: str, on_invoice: int | None, any_payment: bool, any_invoice: bool
    ) -> None:
        payment = self.payment(pick, refundable=not any_payment)
        with merchant_scope(self.merchant):
            paid = dict(
                Application.objects.filter(payment=payment, amount_minor__gt=0)
                .order_by("pk")
                .values_list("invoice_id", "amount_minor")
            )
        limit = payment.amount_minor - payment.refunded_minor
        kwargs: dict[str, Any] = {}
        if on_invoice is not None:
            invoice_id = (
                list(paid)[on_invoice % len(paid)] if paid and not any_invoice else self.invoices([on_invoice])[0].pk
            )
            limit = min(limit, paid.get(invoice_id, 0))
            kwargs["invoice_id"] = invoice_id
        if how == "full":
            amount = limit
        elif how == "part":
            amount = data.draw(st.integers(1, max(1, limit)), label="refund")
        else:
            amount = limit + data.draw(st.integers(1, 100), label="over")
        result = self.attempt(
            1 <= amount <= limit,
            lambda: refund_create(
                merchant=self.merchant,
                payment_id=payment.pk,
                amount=Money(amount, payment.currency),
                now=NOW,
                **kwargs,
            ),
        )
        if result is not None:
            with merchant_scope(self.merchant):
                assert Payment.objects.get(pk=payment.pk).refunded_minor == payment.refunded_minor + amount

    @rule(pick=PICK, any_invoice=SELDOM)
    def void(self, pick: int, any_invoice: bool) -> None:
        voidable = (InvoiceStatus.DRAFT, InvoiceStatus.OPEN)
        invoice = self.invoice(pick, statuses=() if any_invoice else voidable)
        if invoice is None:
            return
        voided = self.attempt(
            invoice.status in voidable, lambda: invoice_void(merchant=self.merchant, invoice_id=invoice.pk, now=NOW)
        )
        if voided is not None:
            assert (voided.status, voided.balance_minor, voided.paid_minor) == (InvoiceStatus.VOID, 0, 0)

    @rule(pick=PICK, any_invoice=SELDOM)
    def write_off(self, pick: int, any_invoice: bool) -> None:
        invoice = self.invoice(pick, statuses=() if any_invoice else COLLECTIBLE_STATUSES)
        if invoice is None:
            return
        written_off = self.attempt(
            invoice.status in COLLECTIBLE_STATUSES,
            lambda: invoice_mark_uncollectible(merchant=self.merchant, invoice_id=invoice.pk, now=NOW),
        )
        if written_off is not None:
            assert (written_off.balance_minor, written_off.paid_minor) == (0, invoice.paid_minor)

    # Invariants

    @invariant()
    def books_are_whole(self) -> None:
        with merchant_scope(self.merchant):
            invoices = list(Invoice.objects.all())
            payments = list(Payment.objects.all())
            memos = list(CreditMemo.objects.all())
            applications = list(Application.objects.all())
            lines = list(
                JournalLine.objects.values_list(
                    "entry_id", "kind", "account", "amount_minor", "invoice_id", "payment_id", "credit_memo_id"
                )
            )
            refunds = dict(Refund.objects.values_list("payment_id").annotate(s=Sum("amount_minor")))

        entry_sums: dict[int, int] = defaultdict(int)
        for entry_id, _, _, amount, *_ in lines:
            entry_sums[entry_id] += amount
        assert set(entry_sums.values()) <= {0}, "an entry does not balance"

        report = ledger_verify(merchant_ids=[self.merchant.pk])
        assert report.ok, report.mismatches

        applied_to_invoice: dict[int, int] = defaultdict(int)
        applied_from: dict[tuple[str, int], int] = defaultdict(int)
        for application in applications:
            assert application.amount_minor >= 0
            applied_to_invoice[application.invoice_id] += application.amount_minor
            source = (
                ("payment", application.payment_id) if application.payment_id else ("memo", application.credit_memo_id)
            )
            applied_from[source] += application.amount_minor  # type: ignore[index]

        # What left an invoice's receivable other than payments and credit: write-offs (including
        # refunds that took money off a written-off invoice).
        written_off: dict[int, int] = defaultdict(int)
        for _, kind, account, amount, invoice_id, payment_id, memo_id in lines:
            if account == Account.RECEIVABLE and payment_id is None and memo_id is None:
                if kind in (EntryKind.INVOICE_WRITTEN_OFF, EntryKind.REFUND_ISSUED):
                    written_off[invoice_id] -= amount
        for invoice in invoices:
            assert invoice.balance_minor >= 0 and invoice.paid_minor >= 0
            assert invoice.paid_minor == applied_to_invoice[invoice.pk]
            state = (invoice.status, invoice.balance_minor, invoice.paid_minor)
            if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
                assert (invoice.balance_minor, invoice.paid_minor) == (0, 0), state
                continue
            assert invoice.total_minor == invoice.balance_minor + invoice.paid_minor + written_off[invoice.pk], state
            if invoice.status == InvoiceStatus.OPEN:
                assert (invoice.paid_minor, invoice.balance_minor) == (0, invoice.total_minor), state
            elif invoice.status == InvoiceStatus.PARTIALLY_PAID:
                assert invoice.paid_minor > 0 and invoice.balance_minor > 0, state
            else:
                assert invoice.balance_minor == 0, state
                assert (invoice.status == InvoiceStatus.UNCOLLECTIBLE) == (written_off[invoice.pk] > 0), state

        receivable = sum(amount for _, _, account, amount, *_ in lines if account == Account.RECEIVABLE)
        assert receivable == sum(i.balance_minor for i in invoices if i.status in COLLECTIBLE_STATUSES)

        for payment in payments:
            assert payment.unapplied_minor >= 0 and 0 <= payment.refunded_minor <= payment.amount_minor
            assert (
                payment.amount_minor
                == applied_from[("payment", payment.pk)] + payment.unapplied_minor + payment.refunded_minor
            )
            assert payment.refunded_minor == refunds.get(payment.pk, 0)
        for memo in memos:
            assert 0 <= memo.remaining_minor <= memo.amount_minor
            assert memo.amount_minor == applied_from[("memo", memo.pk)] + memo.remaining_minor


@pytest.mark.django_db
def test_any_sequence_of_money_operations_keeps_the_books_whole() -> None:
    run_state_machine_as_test(
        MoneyOperations, settings=settings(max_examples=75, stateful_step_count=30, deadline=None)
    )
