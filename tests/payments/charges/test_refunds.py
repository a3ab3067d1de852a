"""Refunds of gateway payments go through the gateway first and are recorded only when it
confirms; its refusals are clear; an unanswered refund is asked about, never guessed."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core import clock
from settle.core.errors import NotAllowed
from settle.core.money import Money
from settle.customers.models import Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import InvoiceStatus
from settle.payments.models import Payment, Refund
from settle.payments.services import RefundNotConfirmed, refund_create
from settle.payments.verify import ledger_verify
from settle.sandbox import models as sandbox
from settle.sandbox.models import FaultKind, Operation
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, writes_nothing
from tests.sandbox.factories import bank_account, bnpl_plan, card

from .conftest import pay

pytestmark = pytest.mark.django_db


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.fixture
def paid(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> Payment:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(gateway))
    assert attempt.payment is not None
    return attempt.payment


def refund(merchant: Merchant, payment: Payment, minor: int, key: str) -> Refund:
    return refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(minor), idempotency_key=key)


def test_partial_then_full_refund_at_the_gateway(merchant: Merchant, paid: Payment) -> None:
    first = refund(merchant, paid, 2_500, "r-1")
    again = refund(merchant, paid, 2_500, "r-1")
    refund(merchant, paid, 7_500, "r-2")

    paid.refresh_from_db()
    charge = sandbox.Charge.objects.get()
    invoice = paid.applications.get().invoice
    assert first.pk == again.pk
    assert sandbox.Refund.objects.count() == 2 and charge.refunded_minor == 10_000
    assert paid.refunded_minor == 10_000 and invoice.status == InvoiceStatus.OPEN
    assert ledger_verify().ok
    with writes_nothing(), pytest.raises(NotAllowed, match="can still be refunded"):
        refund(merchant, paid, 1, "r-3")
    assert sandbox.Refund.objects.count() == 2


def test_the_gateway_refunds_under_the_merchant_scoped_key(merchant: Merchant, paid: Payment) -> None:
    refund(merchant, paid, 1_000, "r-1")

    assert sandbox.Refund.objects.get().idempotency_key == f"settle-{merchant.pk}-r-1"


def test_a_refund_without_a_key_still_reaches_the_gateway_once(merchant: Merchant, paid: Payment) -> None:
    made = refund_create(merchant=merchant, payment_id=paid.pk, amount=usd(1_000))

    assert made.idempotency_key and sandbox.Refund.objects.count() == 1


def test_a_lost_refund_reply_is_asked_about_and_recorded(merchant: Merchant, paid: Payment) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())

    refund(merchant, paid, 3_000, "r-1")

    assert sandbox.Refund.objects.count() == 1 and Refund.objects.count() == 1


def test_an_unconfirmed_refund_records_nothing_and_can_be_retried(merchant: Merchant, paid: Payment) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.ERROR_500, now=clock.now())

    with writes_nothing(), pytest.raises(RefundNotConfirmed):
        refund(merchant, paid, 3_000, "r-1")
    assert not sandbox.Refund.objects.exists()

    refund(merchant, paid, 3_000, "r-1")
    assert sandbox.Refund.objects.count() == 1 and Refund.objects.count() == 1


def test_a_pay_later_refund_after_120_days_is_refused(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 60_000)
    attempt = pay(merchant, customer, [invoice], bnpl_plan(gateway, usd(60_000)))
    assert attempt.payment is not None
    refund(merchant, attempt.payment, 10_000, "within")

    sandbox_advance(now=sandbox_now() + dt.timedelta(days=121))
    with writes_nothing(), pytest.raises(NotAllowed, match="120 days") as refused:
        refund(merchant, attempt.payment, 10_000, "too-late")

    assert refused.value.code == "refund_window_expired"


def test_a_pending_bank_debit_cannot_be_refunded(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 5_000)], bank_account(gateway))
    assert attempt.payment is not None

    with writes_nothing(), pytest.raises(NotAllowed, match="not settled"):
        refund(merchant, attempt.payment, 5_000, "r-1")
    assert not sandbox.Refund.objects.exists()


def test_a_refund_the_books_would_refuse_never_reaches_the_gateway(
    merchant: Merchant, customer: Customer, paid: Payment
) -> None:
    not_paid_by_it = make_invoice(merchant, customer, 5_000)
    with writes_nothing(), pytest.raises(NotAllowed, match="did not pay that invoice"):
        refund_create(
            merchant=merchant,
            payment_id=paid.pk,
            amount=usd(1_000),
            invoice_id=not_paid_by_it.pk,
            idempotency_key="r-x",
        )
    assert not sandbox.Refund.objects.exists()
