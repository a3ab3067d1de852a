"""Exactly once under real concurrency (PostgreSQL, threads released together): twenty submits of
one pay page charge once and record one payment; refunds together never exceed what was taken,
even while the gateway's answers are missing and they wait as pending; a double void voids once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from settle.core import clock
from settle.core.errors import NotAllowed
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import EntryKind, JournalEntry
from settle.payments.charges import payment_void
from settle.payments.models import ChargeAttempt, ChargeState, Payment, PaymentStatus, Refund, RefundStatus
from settle.payments.services import refund_create, refund_reconcile
from settle.payments.verify import ledger_verify
from settle.sandbox import models as sandbox
from settle.sandbox.models import FaultKind, Operation
from settle.sandbox.services import fault_script
from settle.tenants.models import Merchant
from tests.conftest import make_invoice
from tests.sandbox.factories import card
from tests.sandbox.test_concurrency_postgres import at_once

from .conftest import pay

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]


@pytest.fixture(autouse=True)
def quiet(webhooks_nowhere: None) -> None:
    """These tests commit, so the processor's event deliveries run; they go nowhere."""


def test_twenty_submits_with_one_key_charge_once(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 12_500)
    method = card(gateway)

    def submit() -> ChargeAttempt:
        with merchant_scope(merchant):
            return pay(merchant, customer, [invoice], method, key="pay-page-1")

    attempts = at_once([submit] * 20)

    assert len({attempt.pk for attempt in attempts}) == 1
    assert ChargeAttempt.objects.get().state == ChargeState.SUCCEEDED
    assert sandbox.Charge.objects.count() == 1 and Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.balance_minor == 0 and ledger_verify().ok


@pytest.mark.parametrize("answers_lost", [False, True])
def test_refunds_together_never_exceed_the_payment(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, answers_lost: bool
) -> None:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(gateway))
    assert attempt.payment is not None
    payment_id = attempt.payment.pk

    def refund(key: str) -> Callable[[], str]:
        def run() -> str:
            with merchant_scope(merchant):
                try:
                    refund_create(
                        merchant=merchant, payment_id=payment_id, amount=Money(3_000, "USD"), idempotency_key=key
                    )
                except NotAllowed:
                    return "refused"
                return "refunded"

        return run

    if answers_lost:
        # Every refund call times out before the gateway acts: each refund let through waits, pending.
        fault_script(operation=Operation.REFUND, kind=FaultKind.TIMEOUT, count=6, now=clock.now())

    outcomes = at_once([refund(f"r-{i}") for i in range(6)])

    assert sorted(outcomes) == ["refunded"] * 3 + ["refused"] * 3
    if answers_lost:
        assert Refund.objects.filter(status=RefundStatus.PENDING).count() == 3
        assert Payment.objects.get().refunded_minor == 0 and not sandbox.Refund.objects.exists()
        sandbox.Fault.objects.all().delete()
        for pending in Refund.objects.all():
            refund_reconcile(merchant=merchant, refund_id=pending.pk, now=clock.now())
    payment = Payment.objects.get()
    assert payment.refunded_minor == 9_000 == sandbox.Charge.objects.get().refunded_minor
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == 3 == Refund.objects.count()
    assert ledger_verify().ok


def test_a_double_submitted_void_voids_once(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(gateway))
    assert attempt.payment is not None
    payment_id = attempt.payment.pk

    def submit() -> str:
        with merchant_scope(merchant):
            return payment_void(merchant=merchant, payment_id=payment_id).status

    assert at_once([submit] * 4) == [PaymentStatus.VOIDED] * 4
    assert JournalEntry.objects.filter(kind=EntryKind.PAYMENT_VOIDED).count() == 1
    assert ChargeAttempt.objects.get().state == ChargeState.VOIDED and ledger_verify().ok
