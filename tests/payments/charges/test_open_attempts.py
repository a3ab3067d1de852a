"""A customer never pays one invoice twice because an earlier charge is still open: a charge whose
answer was lost is asked about first, an abandoned 3-D Secure charge is cancelled first, and while
one stays open no other charge for the invoice starts. A charge the gateway takes after Settle gave
up on it is still recorded, and the merchant is asked to check."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from settle.core import clock
from settle.core.errors import NotAllowed
from settle.core.money import Money
from settle.customers.models import Customer
from settle.gateways.base import ChargeResult, Outcome, VoidResult
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import InvoiceStatus
from settle.notifications.models import Notification, NotificationKind
from settle.payments.charges import charge_attempt_news, charge_attempt_reconcile
from settle.payments.models import ChargeAttempt, ChargeState, Payment
from settle.payments.verify import ledger_verify
from settle.payments.webhooks import _charge_result
from settle.sandbox.models import Charge, Event, FaultKind, Operation
from settle.sandbox.services import charge_authenticate, fault_script
from settle.sandbox.services import charge_create as sandbox_charge
from settle.tenants.models import Merchant
from tests.conftest import make_invoice, make_payment, writes_nothing
from tests.sandbox.factories import CARDS, card

from .conftest import pay

pytestmark = pytest.mark.django_db


EVENT_KINDS = ("charge.succeeded", "charge.voided")


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def succeeded_charges() -> int:
    return Charge.objects.filter(status="succeeded").count()


def test_a_lost_reply_is_asked_about_before_paying_again(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    first = pay(merchant, customer, [invoice], card(gateway), key="tab-1")
    assert first.state == ChargeState.UNKNOWN

    with pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, [invoice], card(gateway), key="tab-2")

    # Asking about the first found it paid: the second is refused as paid, and charged nothing.
    assert refused.value.code == "invoice_paid"
    first.refresh_from_db()
    invoice.refresh_from_db()
    assert first.state == ChargeState.SUCCEEDED and invoice.status == InvoiceStatus.PAID
    assert succeeded_charges() == 1 and Payment.objects.count() == 1
    assert not ChargeAttempt.objects.filter(idempotency_key="tab-2").exists()
    assert ledger_verify().ok


def test_while_an_earlier_charge_stays_unanswered_no_other_starts(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())  # and when sent again
    pay(merchant, customer, [invoice], card(gateway), key="tab-1")

    with writes_nothing(), pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, [invoice], card(gateway), key="tab-2")

    assert refused.value.code == "charge_open"
    assert Charge.objects.count() == 1 and not Payment.objects.exists()


def test_another_invoice_of_the_customer_can_be_paid_meanwhile(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    first, second = make_invoice(merchant, customer, 5_000), make_invoice(merchant, customer, 2_000)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.FETCH_CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())
    pay(merchant, customer, [first], card(gateway), key="tab-1")

    other = pay(merchant, customer, [second], card(gateway), key="tab-2")

    assert other.state == ChargeState.SUCCEEDED


def test_an_abandoned_3d_secure_charge_is_cancelled_before_another_card_pays(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, client: Client
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    abandoned = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]), key="tab-1")
    assert abandoned.state == ChargeState.REQUIRES_ACTION

    paid = pay(merchant, customer, [invoice], card(gateway), key="tab-2")
    # The customer goes back to the first tab and confirms: too late, it was cancelled.
    client.post(abandoned.action_url, {"decision": "approve"})
    late = charge_attempt_reconcile(merchant=merchant, attempt_id=abandoned.pk, now=clock.now())

    assert paid.state == ChargeState.SUCCEEDED
    assert (late.state, late.payment_id) == (ChargeState.FAILED, None)
    assert succeeded_charges() == 1 and Payment.objects.count() == 1
    assert ledger_verify().ok


def test_a_3d_secure_charge_confirmed_meanwhile_makes_the_next_one_refused(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, client: Client
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    first = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]), key="tab-1")
    client.post(first.action_url, {"decision": "approve"})  # confirmed; its news has not come yet

    with pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, [invoice], card(gateway), key="tab-2")

    assert refused.value.code == "invoice_paid"
    assert succeeded_charges() == 1 and Payment.objects.count() == 1


def test_a_charge_taken_after_it_was_given_up_is_recorded_and_the_merchant_asked_to_check(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, django_capture_on_commit_callbacks: Any
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    method = card(gateway)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())
    attempt = pay(merchant, customer, [invoice], method, key="tab-1")
    given_up = charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())
    assert (given_up.state, given_up.decline_code) == (ChargeState.FAILED, "not_found")
    make_payment(merchant, customer, 5_000, [invoice])  # the customer paid another way meanwhile
    # The request, held up on its way, reaches the processor after all, which says so.
    sandbox_charge(token=method.token, amount=usd(5_000), idempotency_key=attempt.gateway_key, now=clock.now())

    news = ChargeResult(Outcome.SUCCESS, reference="ch_from_the_event")
    for _ in range(2):  # the event arrives twice; the gateway is asked once it has committed
        with django_capture_on_commit_callbacks(execute=True):
            charge_attempt_news(gateway="sandbox", gateway_key=attempt.gateway_key, result=news, now=clock.now())
    late = ChargeAttempt.objects.select_related("payment").get(pk=attempt.pk)

    assert (late.state, late.decline_code) == (ChargeState.SUCCEEDED, "")
    assert late.payment is not None and late.payment.unapplied_minor == 5_000  # kept as credit
    assert late.payment.gateway_reference.startswith("ch_") and late.payment.gateway_reference != "ch_from_the_event"
    assert Payment.objects.count() == 2
    [todo] = Notification.objects.filter(kind=NotificationKind.LATE_CHARGE)
    assert todo.needs_action and todo.payment_id == late.payment_id and "$50.00" in todo.title
    assert ledger_verify().ok


def test_an_event_never_brings_back_a_failed_charge_the_gateway_does_not_confirm(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    fault_script(operation=Operation.CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 5_000)], card(gateway))
    charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())

    forged = ChargeResult(Outcome.SUCCESS, reference="ch_forged")
    with writes_nothing():
        after = charge_attempt_news(gateway="sandbox", gateway_key=attempt.gateway_key, result=forged, now=clock.now())

    assert after is not None and after.state == ChargeState.FAILED


def test_a_3d_secure_charge_confirmed_as_it_is_cancelled_stays_cancelled_whatever_its_events_say(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    first = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]), key="tab-1")
    void = SandboxGateway.void

    def confirmed_just_before(self: SandboxGateway, *, charge_reference: str) -> VoidResult:
        # The customer confirms in the first tab between Settle's question and its void.
        charge = Charge.objects.get(reference=charge_reference)
        charge_authenticate(action_token=charge.action_token, approve=True, now=clock.now())
        return void(self, charge_reference=charge_reference)

    monkeypatch.setattr(SandboxGateway, "void", confirmed_just_before)
    second = pay(merchant, customer, [invoice], card(gateway), key="tab-2")
    # Both of the first charge's events arrive, in either order, more than once.
    events = [Event.objects.get(type=kind, data__idempotency_key=first.gateway_key) for kind in EVENT_KINDS]
    for event in [*events, *reversed(events)]:
        result = _charge_result(event.data)
        charge_attempt_news(gateway="sandbox", gateway_key=first.gateway_key, result=result, now=clock.now())

    first.refresh_from_db()
    assert second.state == ChargeState.SUCCEEDED and (first.state, first.payment_id) == (ChargeState.FAILED, None)
    assert Payment.objects.count() == 1 and succeeded_charges() == 1
    assert not Notification.objects.filter(kind=NotificationKind.LATE_CHARGE).exists()


def test_an_unanswered_charge_still_on_its_way_is_sent_again_not_given_up(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    method = card(gateway)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.TIMEOUT, now=clock.now())
    first = pay(merchant, customer, [invoice], method, key="tab-1")
    assert first.state == ChargeState.UNKNOWN

    with pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, [invoice], card(gateway), key="tab-2")  # seconds later
    # The first request, held up on its way, reaches the processor now: answered, not charged again.
    sandbox_charge(token=method.token, amount=usd(5_000), idempotency_key=first.gateway_key, now=clock.now())

    first.refresh_from_db()
    assert refused.value.code == "invoice_paid" and first.state == ChargeState.SUCCEEDED
    assert succeeded_charges() == 1 and Payment.objects.count() == 1


def test_a_request_that_will_be_refused_leaves_an_open_charge_alone(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    invoice = make_invoice(merchant, customer, 5_000)
    live = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]), key="tab-1")

    with pytest.raises(NotAllowed) as refused:
        pay(merchant, customer, [invoice], card(gateway), key="stale-tab", minor=9_000)  # more than is owed

    live.refresh_from_db()
    assert refused.value.code == "amount_above_balance" and live.state == ChargeState.REQUIRES_ACTION
