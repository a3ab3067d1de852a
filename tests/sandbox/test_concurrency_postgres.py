"""The processor under real concurrency (PostgreSQL, threads released together): calls with one
idempotency key charge once and all get the first reply, concurrent different keys on one wallet
token charge once, and refunds together never exceed the charge."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connection, connections

from settle.gateways.base import ChargeRequest, ChargeResult, Outcome, RefundRequest, RefundResult
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox import webhooks
from settle.sandbox.models import Charge, Event, Refund
from tests.sandbox.factories import card, usd, wallet_payment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]

T = TypeVar("T")


@pytest.fixture(autouse=True)
def no_webhook_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests commit, so event deliveries run; they go nowhere."""
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 204)


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run each call in its own thread and connection, released together; re-raise any error."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[T | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = calls[index]()
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
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]


def test_twenty_calls_with_one_key_charge_once() -> None:
    gateway = SandboxGateway()
    method = card(gateway)
    request = ChargeRequest(amount=usd(5_000), token=method.token, idempotency_key="pay-page-1")

    results = at_once([lambda: gateway.charge(request)] * 20)

    assert {result.outcome for result in results} == {Outcome.SUCCESS}
    assert len({result.reference for result in results}) == 1
    assert Charge.objects.count() == 1
    assert list(Event.objects.values_list("type", "attempts")) == [("charge.succeeded", 1)]


def test_one_wallet_token_under_different_keys_pays_once() -> None:
    gateway = SandboxGateway()
    method = wallet_payment(gateway, usd(5_000))

    def pay(key: str) -> Callable[[], ChargeResult]:
        return lambda: gateway.charge(ChargeRequest(amount=usd(5_000), token=method.token, idempotency_key=key))

    results = at_once([pay(f"key-{i}") for i in range(10)])

    outcomes = [result.outcome for result in results]
    assert outcomes.count(Outcome.SUCCESS) == 1 and outcomes.count(Outcome.FAILURE) == 9
    assert Charge.objects.count() == 1


def test_refunds_together_never_exceed_the_charge() -> None:
    gateway = SandboxGateway()
    paid = gateway.charge(ChargeRequest(amount=usd(10_000), token=card(gateway).token, idempotency_key="c"))

    def refund(key: str) -> Callable[[], RefundResult]:
        return lambda: gateway.refund(
            RefundRequest(charge_reference=paid.reference, amount=usd(3_000), idempotency_key=key)
        )

    at_once([refund(f"r-{i}") for i in range(8)])

    assert Refund.objects.filter(succeeded=True).count() == 3
    assert Refund.objects.filter(succeeded=False, decline_code="amount_too_large").count() == 5
    assert Charge.objects.get().refunded_minor == 9_000
