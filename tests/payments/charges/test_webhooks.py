"""The webhook inbox: signed events stored once, answered at once, processed once; they settle
charges, ACH debits and returns without waiting for a reconciliation."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.test import Client

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import all_merchants
from settle.customers.models import Activity, Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import InvoiceStatus
from settle.payments.models import ChargeState, Payment, PaymentStatus, Refund, RefundStatus
from settle.payments.services import gateway_idempotency_key, refund_create, refund_news
from settle.payments.verify import ledger_verify
from settle.payments.webhooks import inbound_event_process, inbound_events_process_due
from settle.sandbox import webhooks
from settle.sandbox.models import Event, FaultKind, Operation
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Merchant
from tests.conftest import make_invoice
from tests.sandbox.factories import ACCOUNTS, CARDS, bank_account, card, move_to_a_monday

from .conftest import inbox, pay

URL = "/webhooks/sandbox/"


def signed(body: bytes, *, at: int | None = None) -> dict[str, str]:
    return {webhooks.SIGNATURE_HEADER: webhooks.signature_header(body, at if at is not None else int(time.time()))}


def post(client: Client, body: bytes, headers: dict[str, str]) -> int:
    return int(client.post(URL, body, content_type="application/json", headers=headers).status_code)


def event_body(type: str = "charge.succeeded", event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "type": type, "created": 0, "data": {"object": "charge"}}).encode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {webhooks.SIGNATURE_HEADER: "t=1,v1=00"},
        signed(event_body(event_id="evt_other")),
        signed(event_body(), at=int(time.time()) - 600),
    ],
    ids=["unsigned", "malformed", "altered", "stale"],
)
def test_an_invalid_event_is_refused_and_not_stored(client: Client, headers: dict[str, str]) -> None:
    assert post(client, event_body(), headers) == 400
    assert inbox() == []


@pytest.mark.django_db
def test_an_unknown_gateway_is_not_found(client: Client) -> None:
    body = event_body()
    assert (
        client.post("/webhooks/nope/", body, content_type="application/json", headers=signed(body)).status_code == 404
    )


@pytest.mark.django_db
def test_only_post(client: Client) -> None:
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_an_event_for_no_charge_of_ours_is_stored_and_done(
    client: Client, django_capture_on_commit_callbacks: object
) -> None:
    body = event_body()
    body = json.dumps({**json.loads(body), "data": {"idempotency_key": "elsewhere", "outcome": "success"}}).encode()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert post(client, body, signed(body)) == 200

    [event] = inbox()
    assert (event.event_id, event.type, event.body) == ("evt_1", "charge.succeeded", body.decode())
    assert event.processed_at is not None and event.merchant is None


@pytest.mark.django_db(transaction=True)
def test_a_charge_event_settles_the_attempt_once(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, webhooks_to_settle: Client
) -> None:
    invoice = make_invoice(merchant, customer, 12_500)

    attempt = pay(merchant, customer, [invoice], card(gateway))

    [stored] = inbox()
    assert (stored.type, stored.merchant) == ("charge.succeeded", merchant)
    assert stored.processed_at is not None
    assert attempt.state == ChargeState.SUCCEEDED and Payment.objects.count() == 1

    # The processor delivers the same event again (a lost 2xx): 200, nothing new.
    sent = Event.objects.get(type="charge.succeeded")
    body = webhooks.event_body(sent)
    assert post(webhooks_to_settle, body, signed(body)) == 200
    assert len(inbox()) == 1 and Payment.objects.count() == 1
    inbound_event_process(event_id=stored.pk, now=stored.received_at)  # a late duplicate task
    assert Payment.objects.count() == 1 and ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_3d_secure_is_paid_by_the_event_after_the_customer_confirms(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, webhooks_to_settle: Client
) -> None:
    invoice = make_invoice(merchant, customer, 4_000)
    attempt = pay(merchant, customer, [invoice], card(gateway, CARDS["three_d_secure"]))
    assert attempt.state == ChargeState.REQUIRES_ACTION

    webhooks_to_settle.post(attempt.action_url, {"decision": "approve"})

    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert attempt.state == ChargeState.SUCCEEDED and invoice.status == InvoiceStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_ach_settles_then_a_return_reopens_the_invoice_by_events(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, webhooks_to_settle: Client
) -> None:
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, customer, 30_000)
    attempt = pay(merchant, customer, [invoice], bank_account(gateway, ACCOUNTS["R01"]))
    assert attempt.state == ChargeState.PENDING

    sandbox_advance(now=monday + dt.timedelta(days=3))  # Thursday: settled
    attempt.refresh_from_db()
    payment = Payment.objects.get()
    assert attempt.state == ChargeState.SUCCEEDED and payment.status == PaymentStatus.SUCCEEDED

    sandbox_advance(now=monday + dt.timedelta(days=7))  # next Monday: returned R01
    attempt.refresh_from_db()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (attempt.state, attempt.decline_code) == (ChargeState.RETURNED, "R01")
    assert payment.status == PaymentStatus.RETURNED
    assert invoice.status == InvoiceStatus.OPEN and invoice.balance_minor == 30_000
    assert Activity.objects.filter(verb="payment.returned", summary__contains="R01 insufficient funds").count() == 1
    assert [event.type for event in inbox()] == ["charge.settled", "charge.returned"]
    assert ledger_verify().ok


@pytest.mark.django_db
def test_a_failed_processing_is_kept_and_retried(
    client: Client, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: object
) -> None:
    from settle.payments import charges

    def broken(**kwargs: object) -> None:
        raise RuntimeError("database went away")

    body = json.dumps(
        {"id": "evt_9", "type": "charge.succeeded", "data": {"idempotency_key": "k", "outcome": "success"}}
    ).encode()
    monkeypatch.setattr(charges, "charge_attempt_news", broken)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert post(client, body, signed(body)) == 200
    [event] = inbox()
    assert event.processed_at is None and event.attempts == 1 and "database went away" in event.last_error
    assert event.next_attempt_at is not None
    monkeypatch.undo()

    assert inbound_events_process_due(now=event.received_at) == 0  # backing off
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert inbound_events_process_due(now=event.next_attempt_at) == 1

    [event] = inbox()
    assert event.processed_at is not None and event.attempts == 1


@pytest.mark.django_db
def test_a_refund_event_finishes_a_refund_whose_reply_was_lost_without_waiting_for_the_sweep(
    client: Client,
    merchant: Merchant,
    customer: Customer,
    gateway: SandboxGateway,
    django_capture_on_commit_callbacks: object,
) -> None:
    payment = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(gateway)).payment
    assert payment is not None
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.FETCH_REFUND, kind=FaultKind.TIMEOUT, now=clock.now())
    pending = refund_create(merchant=merchant, payment_id=payment.pk, amount=Money(4_000, "USD"), idempotency_key="r-1")
    assert pending.status == RefundStatus.PENDING

    body = webhooks.event_body(Event.objects.get(type="refund.succeeded"))
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert post(client, body, signed(body)) == 200
        assert post(client, body, signed(body)) == 200  # delivered twice: processed once

    [event] = [event for event in inbox() if event.type == "refund.succeeded"]
    assert event.processed_at is not None and event.merchant == merchant
    done = Refund.objects.get()
    payment.refresh_from_db()
    assert done.status == RefundStatus.SUCCEEDED and payment.refunded_minor == 4_000
    assert ledger_verify().ok


@pytest.mark.django_db
def test_a_refund_event_about_no_refund_of_ours_is_stored_and_done(
    client: Client, django_capture_on_commit_callbacks: object
) -> None:
    for key in ("elsewhere", "settle-x-r-1", "settle-999999-r-1"):
        body = json.dumps(
            {"id": f"evt_{key}", "type": "refund.succeeded", "created": 0, "data": {"idempotency_key": key}}
        ).encode()
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            assert post(client, body, signed(body)) == 200

    assert all(event.processed_at is not None and event.merchant is None for event in inbox())


def test_processing_a_refund_event_asks_the_gateway_only_after_commit(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event only nudges: the gateway is asked by a task queued for after the event's
    transaction, never while it holds its locks."""
    payment = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(gateway)).payment
    assert payment is not None
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=clock.now())
    fault_script(operation=Operation.FETCH_REFUND, kind=FaultKind.TIMEOUT, now=clock.now())
    pending = refund_create(merchant=merchant, payment_id=payment.pk, amount=Money(4_000, "USD"), idempotency_key="r-1")
    asked: list[str] = []
    monkeypatch.setattr(SandboxGateway, "fetch_refund", lambda self, idempotency_key: asked.append(idempotency_key))

    with all_merchants():
        nudged = refund_news(gateway_key=gateway_idempotency_key(merchant=merchant, key="r-1"))

    assert nudged is not None and nudged.pk == pending.pk and asked == []


@pytest.mark.parametrize("key", ["settle-²-r-1", "settle-" + "9" * 40 + "-r-1", "settle--r-1", "other-1-r-1"])
def test_refund_news_about_a_key_not_ours_is_nothing(db: None, key: str) -> None:
    assert refund_news(gateway_key=key) is None
