"""Charging through the gateway: one attempt per key, one payment per charge, every outcome."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed
from settle.core.idempotency import IdempotencyConflict
from settle.core.money import Money
from settle.customers.models import Activity, Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import EntryKind, InvoiceStatus, JournalEntry
from settle.invoicing.services import invoice_mark_uncollectible
from settle.payments.charges import charge_attempt_reconcile, charge_attempts_reconcile_due
from settle.payments.models import ChargeAttempt, ChargeState, Payment, PaymentMethod, PaymentStatus
from settle.payments.receipts import _Writer
from settle.payments.verify import ledger_verify
from settle.sandbox.models import Charge, FaultKind, Operation
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, make_payment, writes_nothing
from tests.sandbox.factories import ACCOUNTS, CARDS, bank_account, card, move_to_a_monday

from .conftest import pay

pytestmark = pytest.mark.django_db


def reconcile(merchant: Merchant, attempt: ChargeAttempt) -> ChargeAttempt:
    return charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())


def test_a_card_pays_the_invoice_once(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    invoice = make_invoice(merchant, customer, 12_500)

    attempt = pay(merchant, customer, [invoice], card(gateway))

    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert attempt.state == ChargeState.SUCCEEDED and attempt.payment == payment
    assert invoice.status == InvoiceStatus.PAID and invoice.balance_minor == 0
    assert (payment.amount_minor, payment.method, payment.status) == (12_500, PaymentMethod.CARD, "succeeded")
    assert (payment.gateway, payment.card_brand, payment.last4) == ("sandbox", "Visa", "4242")
    assert payment.gateway_reference == attempt.gateway_reference != ""
    assert attempt.next_check_at is None
    assert Charge.objects.get().idempotency_key == attempt.gateway_key == f"settle-{merchant.pk}-pay-1"
    assert ledger_verify().ok
    assert Activity.objects.filter(verb="payment.recorded").count() == 1


def test_the_receipt_shows_brand_and_last_four(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 5_000)], card(gateway))
    assert attempt.payment is not None

    shown = _Writer(merchant, "en", with_logo=False).method(attempt.payment)

    assert (shown.name, shown.last4) == ("Visa", "4242")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (CARDS["generic_decline"], "generic_decline"),
        (CARDS["insufficient_funds"], "insufficient_funds"),
        (CARDS["expired_card"], "expired_card"),
        (CARDS["incorrect_cvc"], "incorrect_cvc"),
        (CARDS["processing_error"], "processing_error"),
        (CARDS["charges_fail"], "generic_decline"),
    ],
)
def test_a_decline_fails_and_writes_no_money(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, number: str, code: str
) -> None:
    invoice = make_invoice(merchant, customer, 12_500)
    method = card(gateway, number)

    with writes_nothing():
        attempt = pay(merchant, customer, [invoice], method)

    assert attempt.state == ChargeState.FAILED and attempt.payment is None
    assert attempt.decline_code == code and attempt.message
    assert attempt.next_check_at is None
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


def test_3d_secure_waits_for_the_customer_then_pays(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, client: Client
) -> None:
    invoice = make_invoice(merchant, customer, 8_000)

    with writes_nothing():
        attempt = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]))
    assert attempt.state == ChargeState.REQUIRES_ACTION and attempt.action_url
    assert reconcile(merchant, attempt).state == ChargeState.REQUIRES_ACTION  # not yet answered

    assert client.post(attempt.action_url, {"decision": "approve"}).status_code == 302
    settled = reconcile(merchant, attempt)

    invoice.refresh_from_db()
    assert settled.state == ChargeState.SUCCEEDED and settled.action_url == ""
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.count() == 1 and ledger_verify().ok


def test_3d_secure_refused_fails(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, client: Client
) -> None:
    attempt = pay(merchant, customer, [make_invoice(merchant, customer)], card(gateway, CARDS["three_d_secure"]))
    client.post(attempt.action_url, {"decision": "fail"})

    with writes_nothing():
        failed = reconcile(merchant, attempt)

    assert (failed.state, failed.decline_code) == (ChargeState.FAILED, "authentication_failed")


def test_a_bank_debit_shows_paid_while_pending_then_settles(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 20_000)

    attempt = pay(merchant, customer, [invoice], bank_account(gateway))

    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert attempt.state == ChargeState.PENDING and attempt.payment == payment
    assert (payment.status, payment.method) == (PaymentStatus.PENDING, PaymentMethod.BANK_ACCOUNT)
    assert invoice.status == InvoiceStatus.PAID
    assert attempt.next_check_at is not None
    assert reconcile(merchant, attempt).state == ChargeState.PENDING  # the bank has not settled it

    sandbox_advance(now=monday + dt.timedelta(days=3))
    settled = reconcile(merchant, attempt)

    payment.refresh_from_db()
    assert settled.state == ChargeState.SUCCEEDED and settled.next_check_at is None
    assert payment.status == PaymentStatus.SUCCEEDED
    assert Payment.objects.count() == 1 and ledger_verify().ok
    assert Activity.objects.filter(verb="payment.settled").count() == 1


def test_a_returned_bank_debit_reopens_the_invoice(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 20_000)
    attempt = pay(merchant, customer, [invoice], bank_account(gateway, ACCOUNTS["R01"]))
    entries = JournalEntry.objects.count()

    sandbox_advance(now=monday + dt.timedelta(days=7))  # settled on Thursday, returned next Monday
    returned = reconcile(merchant, attempt)

    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert (returned.state, returned.decline_code) == (ChargeState.RETURNED, "R01")
    assert payment.status == PaymentStatus.RETURNED
    assert payment.refund_label == "Returned"
    assert invoice.status == InvoiceStatus.OPEN and invoice.balance_minor == 20_000
    assert JournalEntry.objects.count() == entries + 1
    returned_entry = JournalEntry.objects.latest("id")
    assert (returned_entry.kind, returned_entry.memo) == (
        EntryKind.PAYMENT_RETURNED,
        f"Return of {payment.number} (R01 insufficient funds)",
    )
    assert sum(line.amount_minor for line in returned_entry.lines.all()) == 0
    assert ledger_verify().ok
    timeline = Activity.objects.get(verb="payment.returned").summary
    assert "ACH payment returned (R01 insufficient funds)" in timeline and invoice.number in timeline
    assert reconcile(merchant, returned).state == ChargeState.RETURNED  # settled: nothing more happens
    assert JournalEntry.objects.count() == entries + 1


def test_a_lost_reply_is_reconciled_into_exactly_one_payment(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 12_500)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())

    with writes_nothing():
        attempt = pay(merchant, customer, [invoice], card(gateway))
    assert attempt.state == ChargeState.UNKNOWN and Charge.objects.count() == 1  # it did charge

    settled = reconcile(merchant, attempt)
    again = reconcile(merchant, settled)

    assert settled.state == again.state == ChargeState.SUCCEEDED
    assert Payment.objects.count() == 1 and Charge.objects.count() == 1 and ledger_verify().ok
    assert settled.attempts == 1


@pytest.mark.parametrize("fault", [FaultKind.ERROR_500, FaultKind.TIMEOUT])
def test_no_answer_is_unknown_until_the_gateway_says_nothing_happened(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, fault: FaultKind
) -> None:
    fault_script(operation=Operation.CHARGE, kind=fault, now=clock.now())
    attempt = pay(merchant, customer, [make_invoice(merchant, customer)], card(gateway))
    assert attempt.state == ChargeState.UNKNOWN

    with writes_nothing():
        settled = reconcile(merchant, attempt)

    assert (settled.state, settled.decline_code) == (ChargeState.FAILED, "not_found")
    assert not Charge.objects.exists()


def test_an_unanswered_check_stays_unknown_and_backs_off(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    now = clock.now()
    fault_script(operation=Operation.CHARGE, kind=FaultKind.TIMEOUT, now=now)
    fault_script(operation=Operation.FETCH_CHARGE, kind=FaultKind.ERROR_500, now=now, count=3)
    attempt = pay(merchant, customer, [make_invoice(merchant, customer)], card(gateway))

    waits = []
    for _ in range(3):
        attempt = charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=now)
        assert attempt.state == ChargeState.UNKNOWN and attempt.next_check_at is not None
        waits.append(attempt.next_check_at - now)

    assert waits == [dt.timedelta(minutes=10), dt.timedelta(hours=1), dt.timedelta(hours=6)]


def test_the_sweeper_reconciles_due_attempts_only(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, django_capture_on_commit_callbacks: object
) -> None:
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    attempt = pay(merchant, customer, [make_invoice(merchant, customer)], card(gateway))
    assert attempt.next_check_at is not None

    assert charge_attempts_reconcile_due(now=attempt.next_check_at - dt.timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert charge_attempts_reconcile_due(now=attempt.next_check_at) == 1

    attempt.refresh_from_db()
    assert attempt.state == ChargeState.SUCCEEDED and Payment.objects.count() == 1


def test_a_crashed_start_is_charged_by_the_reconciliation_under_its_key(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    """The attempt was committed, then the process died before the gateway answered."""
    invoice = make_invoice(merchant, customer, 3_000)
    method = card(gateway)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    attempt = pay(merchant, customer, [invoice], method)
    ChargeAttempt.objects.filter(pk=attempt.pk).update(state=ChargeState.CREATED)

    settled = reconcile(merchant, attempt)

    assert settled.state == ChargeState.SUCCEEDED
    assert Charge.objects.count() == 1 and Payment.objects.count() == 1


def test_the_same_key_twice_charges_once(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    invoice = make_invoice(merchant, customer, 12_500)
    method = card(gateway)

    first = pay(merchant, customer, [invoice], method)
    with writes_nothing():
        second = pay(merchant, customer, [invoice], method)

    assert first.pk == second.pk and second.state == ChargeState.SUCCEEDED
    assert ChargeAttempt.objects.count() == Charge.objects.count() == Payment.objects.count() == 1


def test_the_same_key_for_another_amount_is_a_conflict(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 12_500)
    method = card(gateway)
    pay(merchant, customer, [invoice], method, minor=5_000, allow_partial=True)

    with writes_nothing(), pytest.raises(IdempotencyConflict):
        pay(merchant, customer, [invoice], method, minor=6_000, allow_partial=True)

    assert Charge.objects.count() == 1


def test_two_merchants_may_use_the_same_key(
    merchant: Merchant, customer: Customer, other_merchant: Merchant, gateway: SandboxGateway
) -> None:
    from settle.core.tenancy import merchant_scope
    from tests.conftest import make_customer

    pay(merchant, customer, [make_invoice(merchant, customer)], card(gateway))
    other_customer = make_customer(other_merchant)
    other_invoice = make_invoice(other_merchant, other_customer)
    with merchant_scope(other_merchant):
        other = pay(other_merchant, other_customer, [other_invoice], card(gateway))

    assert other.state == ChargeState.SUCCEEDED and Charge.objects.count() == 2


def test_refused_before_any_money_moves(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    method = card(gateway)
    paid = make_invoice(merchant, customer, 1_000)
    make_payment(merchant, customer, 1_000, [paid])
    before = Charge.objects.count()

    with writes_nothing():
        with pytest.raises(NotAllowed, match="Pay the full"):
            pay(merchant, customer, [invoice], method, minor=4_000, key="a")
        with pytest.raises(NotAllowed, match="more than"):
            pay(merchant, customer, [invoice], method, minor=10_001, key="b", allow_partial=True)
        with pytest.raises(NotAllowed, match="already paid"):
            pay(merchant, customer, [paid], method, minor=1_000, key="c")
        with pytest.raises(InvalidInput):
            pay(merchant, customer, [invoice], method, minor=0, key="d")
        with pytest.raises(InvalidInput, match="idempotency"):
            pay(merchant, customer, [invoice], method, key="")

    assert Charge.objects.count() == before
    assert not ChargeAttempt.objects.exists()


def test_a_partial_amount_when_allowed(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    invoice = make_invoice(merchant, customer, 10_000)

    pay(merchant, customer, [invoice], card(gateway), minor=4_000, allow_partial=True)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_minor) == (InvoiceStatus.PARTIALLY_PAID, 6_000)


def test_an_invoice_paid_meanwhile_leaves_the_charge_as_credit(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, client: Client
) -> None:
    """Money the gateway took is always recorded: what no invoice needs any more is credit."""
    invoice = make_invoice(merchant, customer, 5_000)
    attempt = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]))
    make_payment(merchant, customer, 5_000, [invoice])
    client.post(attempt.action_url, {"decision": "approve"})

    settled = reconcile(merchant, attempt)

    assert settled.payment is not None
    assert settled.payment.unapplied == Money(5_000, "USD")
    assert ledger_verify().ok


def test_a_gateway_method_cannot_be_recorded_by_hand(merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 1_000)

    with writes_nothing(), pytest.raises(InvalidInput, match="through the payment gateway"):
        make_payment(merchant, customer, 1_000, [invoice], method=PaymentMethod.CARD)


def test_a_bank_return_on_a_written_off_invoice_leaves_it_written_off(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 20_000)
    attempt = pay(
        merchant, customer, [invoice], bank_account(gateway, ACCOUNTS["R01"]), minor=5_000, allow_partial=True
    )
    invoice_mark_uncollectible(merchant=merchant, invoice_id=invoice.pk)

    sandbox_advance(now=monday + dt.timedelta(days=7))
    assert reconcile(merchant, attempt).state == ChargeState.RETURNED

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE and invoice.balance_minor == 0
    assert Payment.objects.get().status == PaymentStatus.RETURNED
    assert "owe" not in Activity.objects.get(verb="payment.returned").summary
    assert ledger_verify().ok
