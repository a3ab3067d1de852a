"""Refunds of gateway payments are committed as pending before the gateway is called, posted when
it confirms and failed when it refuses; an unanswered refund stays pending and is asked about by
the sweeper, never guessed, and finished exactly once; a crash at any point loses nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core import clock
from settle.core.errors import NotAllowed
from settle.core.money import Money
from settle.customers.models import Activity, Customer
from settle.gateways.base import Outcome, RefundRequest, RefundResult
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import EntryKind, InvoiceStatus, JournalEntry
from settle.notifications.models import Notification, NotificationKind
from settle.payments import tasks
from settle.payments.models import Payment, Refund, RefundStatus
from settle.payments.services import (
    application_move_to_credit,
    payment_return,
    refund_create,
    refund_reconcile,
    refunds_due,
)
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


def refunds_issued() -> int:
    return JournalEntry.objects.filter(kind=EntryKind.REFUND_ISSUED).count()


def sweep(monkeypatch: pytest.MonkeyPatch, moment: dt.datetime) -> None:
    """What the worker's timer does at `moment`: enqueue the sweeper, which enqueues one check per
    due refund (the test queue runs each at once)."""
    with monkeypatch.context() as patched:
        patched.setattr(clock, "now", lambda: moment)
        tasks.refunds_reconcile_due.enqueue()


def test_a_lost_refund_reply_is_asked_about_and_recorded(merchant: Merchant, paid: Payment) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())

    made = refund(merchant, paid, 3_000, "r-1")

    assert made.status == RefundStatus.SUCCEEDED and made.gateway_reference.startswith("re_")
    assert sandbox.Refund.objects.count() == 1 and Refund.objects.count() == 1 and refunds_issued() == 1


def test_a_refund_whose_answer_is_lost_stays_pending_and_the_sweeper_completes_it_once(
    merchant: Merchant, paid: Payment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway refunds, the reply is lost, and asking about it times out too.
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.FETCH_REFUND, kind=FaultKind.TIMEOUT, now=clock.now())

    made = refund(merchant, paid, 3_000, "r-1")

    paid.refresh_from_db()
    assert made.status == RefundStatus.PENDING and made.next_check_at is not None
    assert (made.plan, made.amount_minor) == ({str(paid.applications.get().invoice_id): 3_000}, 3_000)
    assert sandbox.Charge.objects.get().refunded_minor == 3_000  # the money is back with the customer
    assert paid.refunded_minor == 0 and refunds_issued() == 0
    assert paid.refundable == usd(7_000)  # a pending refund already counts against what is left

    sweep(monkeypatch, made.next_check_at - dt.timedelta(seconds=1))
    assert Refund.objects.get().status == RefundStatus.PENDING  # not due yet
    sweep(monkeypatch, made.next_check_at)
    sweep(monkeypatch, made.next_check_at + dt.timedelta(hours=7))
    assert refund_reconcile(merchant=merchant, refund_id=made.pk, now=clock.now()).status == RefundStatus.SUCCEEDED

    paid.refresh_from_db()
    done = Refund.objects.get()
    assert (done.status, done.next_check_at, done.attempts) == (RefundStatus.SUCCEEDED, None, 1)
    assert paid.refunded_minor == 3_000 and refunds_issued() == 1
    assert sandbox.Refund.objects.count() == 1 and sandbox.Charge.objects.get().refunded_minor == 3_000
    assert Activity.objects.filter(verb="payment.refunded").count() == 1
    assert ledger_verify().ok
    assert refund(merchant, paid, 3_000, "r-1").pk == made.pk  # the same request again changes nothing
    assert refunds_issued() == 1


def test_a_refund_the_gateway_never_received_is_sent_again_by_the_sweeper(merchant: Merchant, paid: Payment) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.ERROR_500, now=clock.now())

    made = refund(merchant, paid, 3_000, "r-1")

    assert made.status == RefundStatus.PENDING and not sandbox.Refund.objects.exists() and refunds_issued() == 0
    assert made.next_check_at is not None
    assert refunds_due(now=made.next_check_at) == [(made.pk, merchant.pk)]
    assert refunds_due(now=made.next_check_at) == []  # leased while its check runs

    checked = refund_reconcile(merchant=merchant, refund_id=made.pk, now=clock.now())

    assert checked.status == RefundStatus.SUCCEEDED
    assert sandbox.Refund.objects.count() == 1 and refunds_issued() == 1 and ledger_verify().ok


def test_a_crash_before_the_gateway_call_loses_nothing(
    merchant: Merchant, paid: Payment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(self: SandboxGateway, request: RefundRequest) -> RefundResult:
        raise SystemExit("the worker was killed")

    with monkeypatch.context() as patched:
        patched.setattr(SandboxGateway, "refund", die)
        with pytest.raises(SystemExit):
            refund(merchant, paid, 4_000, "r-1")

    pending = Refund.objects.get()
    assert pending.status == RefundStatus.PENDING and refunds_issued() == 0
    with pytest.raises(NotAllowed, match=r"Only \$60\.00 .* can still be refunded \(the rest is in refunds waiting"):
        refund(merchant, paid, 6_001, "r-2")

    assert refund_reconcile(merchant=merchant, refund_id=pending.pk, now=clock.now()).status == RefundStatus.SUCCEEDED
    paid.refresh_from_db()
    assert paid.refunded_minor == 4_000 and sandbox.Charge.objects.get().refunded_minor == 4_000
    assert ledger_verify().ok


def test_a_refund_the_gateway_refuses_is_failed_and_moves_nothing(
    merchant: Merchant, paid: Payment, monkeypatch: pytest.MonkeyPatch
) -> None:
    declined = RefundResult(outcome=Outcome.FAILURE, decline_code="insufficient_balance", message="No funds to refund.")
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, request: declined)
    entries = JournalEntry.objects.count()

    with pytest.raises(NotAllowed, match="No funds to refund.") as refused:
        refund(merchant, paid, 3_000, "r-1")
    with pytest.raises(NotAllowed, match="No funds to refund."):
        refund(merchant, paid, 3_000, "r-1")  # the same key gets the same answer

    paid.refresh_from_db()
    failed = Refund.objects.get()
    assert refused.value.code == "insufficient_balance"
    assert (failed.status, failed.decline_code, failed.next_check_at) == (
        RefundStatus.FAILED,
        "insufficient_balance",
        None,
    )
    assert JournalEntry.objects.count() == entries and paid.refunded_minor == 0 and paid.refundable == usd(10_000)
    assert not Activity.objects.filter(verb="payment.refunded").exists()
    assert refund_reconcile(merchant=merchant, refund_id=failed.pk, now=clock.now()).status == RefundStatus.FAILED


def test_a_pay_later_refund_after_120_days_is_refused(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 60_000)
    attempt = pay(merchant, customer, [invoice], bnpl_plan(gateway, usd(60_000)))
    assert attempt.payment is not None
    refund(merchant, attempt.payment, 10_000, "within")

    sandbox_advance(now=sandbox_now() + dt.timedelta(days=121))
    entries = JournalEntry.objects.count()
    with pytest.raises(NotAllowed, match="120 days") as refused:
        refund(merchant, attempt.payment, 10_000, "too-late")

    assert refused.value.code == "refund_window_expired"
    assert Refund.objects.get(idempotency_key="too-late").status == RefundStatus.FAILED
    assert JournalEntry.objects.count() == entries and ledger_verify().ok


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


def test_a_pending_refund_holds_its_part_of_the_invoice_it_comes_off(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    older, newer = make_invoice(merchant, customer, 5_000), make_invoice(merchant, customer, 5_000)
    attempt = pay(merchant, customer, [older, newer], card(gateway))
    assert attempt.payment is not None
    payment = attempt.payment
    fault_script(operation=Operation.REFUND, kind=FaultKind.ERROR_500, now=clock.now())
    waiting = refund_create(
        merchant=merchant, payment_id=payment.pk, amount=usd(4_000), invoice_id=newer.pk, idempotency_key="r-1"
    )
    assert waiting.status == RefundStatus.PENDING and waiting.plan == {str(newer.pk): 4_000}

    with writes_nothing(), pytest.raises(NotAllowed, match="more than this payment paid on the invoice"):
        refund_create(
            merchant=merchant, payment_id=payment.pk, amount=usd(2_000), invoice_id=newer.pk, idempotency_key="r-2"
        )
    rest = refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(2_000), idempotency_key="r-3")
    assert rest.status == RefundStatus.SUCCEEDED
    refund_reconcile(merchant=merchant, refund_id=waiting.pk, now=clock.now())

    older.refresh_from_db()
    newer.refresh_from_db()
    # The later refund came off what was still free: $10.00 of the newer invoice, then the older one.
    assert (newer.balance_minor, older.balance_minor) == (5_000, 1_000)
    assert ledger_verify().ok


def test_a_refund_confirmed_after_its_invoice_was_moved_to_credit_comes_off_the_credit(
    merchant: Merchant, customer: Customer, paid: Payment
) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.ERROR_500, now=clock.now())
    waiting = refund(merchant, paid, 3_000, "r-1")
    application = paid.applications.get()
    application_move_to_credit(merchant=merchant, application_id=application.pk)

    done = refund_reconcile(merchant=merchant, refund_id=waiting.pk, now=clock.now())

    paid.refresh_from_db()
    application.invoice.refresh_from_db()
    assert done.status == RefundStatus.SUCCEEDED
    assert (paid.unapplied_minor, paid.refunded_minor, application.invoice.balance_minor) == (7_000, 3_000, 10_000)
    assert ledger_verify().ok


def test_a_refund_confirmed_after_the_payment_was_returned_is_left_to_a_person(
    merchant: Merchant, paid: Payment, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.FETCH_REFUND, kind=FaultKind.TIMEOUT, now=clock.now())
    made = refund(merchant, paid, 3_000, "r-1")
    assert made.status == RefundStatus.PENDING and made.next_check_at is not None
    payment_return(merchant=merchant, payment_id=paid.pk, code="R10", reason="Unauthorized", now=clock.now())

    sweep(monkeypatch, made.next_check_at)  # the gateway now says the refund went through

    stuck = Refund.objects.get()
    assert (stuck.status, stuck.next_check_at) == (RefundStatus.PENDING, None)  # no more checks
    assert stuck.gateway_reference and refunds_issued() == 0
    [todo] = Notification.objects.filter(kind=NotificationKind.PAID_BACK_TWICE)
    assert todo.needs_action and todo.payment_id == paid.pk and "$30.00" in todo.title
    sweep(monkeypatch, made.next_check_at + dt.timedelta(days=1))
    assert Notification.objects.filter(kind=NotificationKind.PAID_BACK_TWICE).count() == 1
    assert ledger_verify().ok


def test_a_refund_before_the_bank_returns_the_payment_is_flagged_once(merchant: Merchant, paid: Payment) -> None:
    """The bank takes the whole debit back, refunds or not: what was refunded before went back twice."""
    refund(merchant, paid, 3_000, "r-1")

    payment_return(merchant=merchant, payment_id=paid.pk, code="R10", reason="Unauthorized", now=clock.now())
    payment_return(merchant=merchant, payment_id=paid.pk, code="R10", reason="Unauthorized", now=clock.now())

    [todo] = Notification.objects.filter(kind=NotificationKind.PAID_BACK_TWICE)
    assert todo.needs_action and todo.payment_id == paid.pk
    assert todo.title.endswith("got $30.00 of " + paid.number + " back twice: refunded, and returned")
    assert ledger_verify().ok


def test_a_return_with_nothing_refunded_is_no_double_payback(merchant: Merchant, paid: Payment) -> None:
    payment_return(merchant=merchant, payment_id=paid.pk, code="R01", reason="Insufficient funds", now=clock.now())

    assert not Notification.objects.filter(kind=NotificationKind.PAID_BACK_TWICE).exists()
