"""Voiding a gateway payment: the gateway cancels the charge first, then one transaction makes the
payment void, takes it off its invoices with a balanced entry and reopens them. Too late (settled)
is "refund instead"; no answer changes nothing; twice, or with the news arriving again by webhook or
check, voids once. Manual payments cannot be voided."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core import clock
from settle.core.errors import NotAllowed, NotFound
from settle.core.money import Money
from settle.customers.models import Activity, Customer
from settle.documents.data import Status
from settle.documents.pdf import receipt_pdf
from settle.gateways.base import DECLINE_VOIDED, ChargeResult, Outcome
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Account, EntryKind, Invoice, InvoiceStatus, JournalEntry
from settle.payments.charges import (
    VoidNotConfirmed,
    charge_attempt_news,
    charge_attempt_reconcile,
    payment_void,
)
from settle.payments.models import ChargeAttempt, ChargeState, Payment, PaymentStatus
from settle.payments.receipts import receipt_document
from settle.payments.services import refund_create
from settle.payments.verify import ledger_verify
from settle.sandbox import models as sandbox
from settle.sandbox.models import FaultKind, Operation
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, make_payment, writes_nothing
from tests.documents.pdftext import pdf_text
from tests.sandbox.factories import bank_account, card, move_to_a_monday

from .conftest import pay

pytestmark = pytest.mark.django_db


def paid_by_card(merchant: Merchant, customer: Customer, *invoices: Invoice) -> Payment:
    attempt = pay(merchant, customer, invoices, card(SandboxGateway()))
    assert attempt.payment is not None
    return attempt.payment


def void(merchant: Merchant, payment: Payment) -> Payment:
    return payment_void(merchant=merchant, payment_id=payment.pk)


def books(invoice: Invoice, payment: Payment) -> tuple[str, int, str, int, int]:
    invoice.refresh_from_db()
    payment.refresh_from_db()
    return invoice.status, invoice.balance_minor, payment.status, payment.refunded_minor, JournalEntry.objects.count()


def test_a_card_payment_voided_before_settlement_reopens_its_invoices(merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    first, second = make_invoice(merchant, customer, 6_000), make_invoice(merchant, customer, 4_000)
    payment = paid_by_card(merchant, customer, first, second)

    voided = void(merchant, payment)

    assert (voided.status, voided.refund_label, voided.refundable) == (PaymentStatus.VOIDED, "Void", Money(0, "USD"))
    assert voided.applications.filter(amount_minor__gt=0).count() == 0 and voided.unapplied_minor == 0
    for invoice, owed in ((first, 6_000), (second, 4_000)):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.balance_minor, invoice.paid_minor, invoice.refunded_minor) == (
            InvoiceStatus.OPEN,
            owed,
            0,
            0,
        )
    entry = JournalEntry.objects.get(kind=EntryKind.PAYMENT_VOIDED)
    assert sum(line.amount_minor for line in entry.lines.all()) == 0
    assert entry.lines.get(account=Account.CLEARING).amount_minor == -10_000
    assert entry.memo == f"Void of {payment.number}" and entry.get_kind_display() == "Payment voided"
    assert ledger_verify().ok
    assert ChargeAttempt.objects.get().state == ChargeState.VOIDED
    assert sandbox.Charge.objects.get().status == sandbox.ChargeStatus.VOIDED and not sandbox.Refund.objects.exists()
    timeline = Activity.objects.get(verb="payment.voided").summary
    assert timeline == f"Payment {payment.number} of $100.00 voided, {first.number}, {second.number} owe again"
    receipt = receipt_document(merchant=merchant, payment_id=payment.pk)
    assert (receipt.status, receipt.refunded, receipt.net, receipt.invoices) == (Status.VOID, "", "", ())
    assert "VOID" in pdf_text(receipt_pdf(receipt))
    french = receipt_document(merchant=merchant, payment_id=payment.pk, locale="fr_CA")
    assert "ANNULÉ" in pdf_text(receipt_pdf(french))


def test_after_settlement_the_gateway_says_refund_instead_and_nothing_changes(
    merchant: Merchant, customer: Customer
) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 10_000)
    payment = paid_by_card(merchant, customer, invoice)
    sandbox_advance(now=monday + dt.timedelta(days=1))  # the card charge settles the next business day
    before = books(invoice, payment)

    with writes_nothing(), pytest.raises(NotAllowed, match="refund the charge instead") as refused:
        void(merchant, payment)

    assert refused.value.code == "already_settled"
    assert books(invoice, payment) == before == (InvoiceStatus.PAID, 0, PaymentStatus.SUCCEEDED, 0, before[-1])
    assert ChargeAttempt.objects.get().state == ChargeState.SUCCEEDED
    assert refund_create(merchant=merchant, payment_id=payment.pk, amount=Money(10_000, "USD")).pk  # refund works


@pytest.mark.parametrize("asking_fails_too", [False, True])
def test_a_gateway_error_on_void_changes_nothing(
    merchant: Merchant, customer: Customer, asking_fails_too: bool
) -> None:
    move_to_a_monday()
    invoice = make_invoice(merchant, customer, 10_000)
    payment = paid_by_card(merchant, customer, invoice)
    fault_script(operation=Operation.VOID, kind=FaultKind.ERROR_500, now=clock.now())
    if asking_fails_too:
        fault_script(operation=Operation.FETCH_CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())
    before = books(invoice, payment)

    with writes_nothing(), pytest.raises(VoidNotConfirmed, match="nothing was voided") as unconfirmed:
        void(merchant, payment)

    assert unconfirmed.value.status_code == 503
    assert books(invoice, payment) == before and sandbox.Charge.objects.get().status == sandbox.ChargeStatus.SUCCEEDED
    assert ChargeAttempt.objects.get().state == ChargeState.SUCCEEDED
    assert void(merchant, payment).status == PaymentStatus.VOIDED  # trying again works
    assert ledger_verify().ok


def test_a_lost_void_reply_is_asked_about_and_recorded(merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    payment = paid_by_card(merchant, customer, make_invoice(merchant, customer, 10_000))
    fault_script(operation=Operation.VOID, kind=FaultKind.REPLY_LOST, now=clock.now())

    assert void(merchant, payment).status == PaymentStatus.VOIDED
    assert JournalEntry.objects.filter(kind=EntryKind.PAYMENT_VOIDED).count() == 1 and ledger_verify().ok


def test_a_double_void_and_the_news_coming_back_void_once(merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    invoice = make_invoice(merchant, customer, 10_000)
    payment = paid_by_card(merchant, customer, invoice)
    attempt = ChargeAttempt.objects.get()

    first = void(merchant, payment)
    again = void(merchant, payment)
    # The gateway's `charge.voided` webhook, a duplicate reply: news of what is already recorded.
    news = ChargeResult(Outcome.FAILURE, reference=payment.gateway_reference, decline_code=DECLINE_VOIDED)
    charge_attempt_news(gateway="sandbox", gateway_key=attempt.gateway_key, result=news, now=clock.now())

    assert first.pk == again.pk and again.status == PaymentStatus.VOIDED
    assert JournalEntry.objects.filter(kind=EntryKind.PAYMENT_VOIDED).count() == 1
    assert Activity.objects.filter(verb="payment.voided").count() == 1
    invoice.refresh_from_db()
    assert invoice.balance_minor == 10_000 and ledger_verify().ok


def test_a_void_made_at_the_gateway_arrives_by_webhook(merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    payment = paid_by_card(merchant, customer, make_invoice(merchant, customer, 10_000))
    attempt = ChargeAttempt.objects.get()
    assert SandboxGateway().void(charge_reference=payment.gateway_reference).outcome == Outcome.SUCCESS

    news = ChargeResult(Outcome.FAILURE, reference=payment.gateway_reference, decline_code=DECLINE_VOIDED)
    moved = charge_attempt_news(gateway="sandbox", gateway_key=attempt.gateway_key, result=news, now=clock.now())

    payment.refresh_from_db()
    assert moved is not None and moved.state == ChargeState.VOIDED
    assert payment.status == PaymentStatus.VOIDED and not Activity.objects.filter(verb="payment.returned").exists()
    assert ledger_verify().ok


def test_a_pending_bank_debit_can_be_voided_and_never_settles(merchant: Merchant, customer: Customer) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 20_000)
    attempt = pay(merchant, customer, [invoice], bank_account(SandboxGateway()))
    assert attempt.payment is not None

    voided = void(merchant, attempt.payment)

    sandbox_advance(now=monday + dt.timedelta(days=10))
    checked = charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())
    invoice.refresh_from_db()
    assert voided.status == PaymentStatus.VOIDED and checked.state == ChargeState.VOIDED
    assert checked.next_check_at is None and invoice.balance_minor == 20_000
    assert JournalEntry.objects.filter(kind__in=[EntryKind.PAYMENT_VOIDED, EntryKind.PAYMENT_RETURNED]).count() == 1
    assert ledger_verify().ok


def test_what_cannot_be_voided(merchant: Merchant, other_merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    cash = make_payment(merchant, customer, 5_000, [make_invoice(merchant, customer, 5_000)])
    refunded = paid_by_card(merchant, customer, make_invoice(merchant, customer, 10_000))
    refund_create(merchant=merchant, payment_id=refunded.pk, amount=Money(1_000, "USD"))

    with writes_nothing():
        with pytest.raises(NotAllowed, match="not taken through the payment gateway: refund it instead"):
            void(merchant, cash)
        with pytest.raises(NotAllowed, match="refunded in part: refund the rest instead"):
            void(merchant, refunded)
        with pytest.raises(NotFound):
            payment_void(merchant=other_merchant, payment_id=refunded.pk)
        with pytest.raises(NotFound):
            payment_void(merchant=merchant, payment_id="nope")  # type: ignore[arg-type]
    assert sandbox.Charge.objects.get().status == sandbox.ChargeStatus.SUCCEEDED


def test_verify_recomputes_a_voided_payment_from_its_entry(merchant: Merchant, customer: Customer) -> None:
    move_to_a_monday()
    payment = void(merchant, paid_by_card(merchant, customer, make_invoice(merchant, customer, 10_000)))
    assert ledger_verify().ok

    Payment.objects.filter(pk=payment.pk).update(refunded_minor=0)

    assert ledger_verify().mismatches == [f"payment {payment.pk} refunded: stored 0, journal says 10000"]
