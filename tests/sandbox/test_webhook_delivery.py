"""Outgoing webhook events: unique ids, signed bodies Settle accepts, delivery queued after commit,
retries with backoff from the row (same id and body, a fresh signature) until a 2xx, and a limit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping

import pytest
from django.conf import settings
from django.test import Client, override_settings

from settle.gateways.sandbox import SandboxGateway
from settle.sandbox import webhooks
from settle.sandbox.models import Event
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import sandbox_advance
from settle.sandbox.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, event_deliver, events_deliver_due
from tests.sandbox import receiver_urls
from tests.sandbox.factories import ACCOUNTS, CARDS, bank_account, card, charge, client_transport, move_to_a_monday

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway()


@pytest.fixture
def received() -> Iterator[list[object]]:
    receiver_urls.RECEIVED.clear()
    with override_settings(ROOT_URLCONF="tests.sandbox.receiver_urls"):
        yield receiver_urls.RECEIVED  # type: ignore[misc]
    receiver_urls.RECEIVED.clear()


class Flaky:
    """A transport that answers from a script: an int is a status, an exception is raised."""

    def __init__(self, *answers: int | OSError) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append((url, body, dict(headers)))
        answer = self.answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer


def test_events_reach_settle_signed(client: Client, gateway: SandboxGateway, received: list[object]) -> None:
    paid = charge(gateway, card(gateway), 7_700)
    charge(gateway, card(gateway, CARDS["generic_decline"]), key="key-2")
    now = sandbox_now()

    assert events_deliver_due(now=now, transport=client_transport(client)) == (2, 0)

    succeeded, failed = receiver_urls.RECEIVED
    assert (succeeded.type, failed.type) == ("charge.succeeded", "charge.failed")
    assert succeeded.id.startswith("evt_") and succeeded.id != failed.id
    data = dict(succeeded.data)
    assert {k: data[k] for k in ("object", "reference", "idempotency_key", "status", "outcome", "amount_minor")} == {
        "object": "charge",
        "reference": paid.reference,
        "idempotency_key": "key-1",
        "status": "succeeded",
        "outcome": "success",
        "amount_minor": 7_700,
    }
    assert (data["kind"], data["brand"], data["last4"], data["currency"], data["settled"]) == (
        "card",
        "Visa",
        "4242",
        "USD",
        False,
    )
    assert dict(failed.data)["decline_code"] == "generic_decline"
    assert list(Event.objects.values_list("attempts", "next_attempt_at", "delivered_at")) == [
        (1, None, now),
        (1, None, now),
    ]
    assert events_deliver_due(now=now + dt.timedelta(days=1), transport=client_transport(client)) == (0, 0)


def test_delivery_is_queued_when_the_charge_commits(
    gateway: SandboxGateway, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: object
) -> None:
    transport = Flaky(204)
    monkeypatch.setattr(webhooks, "http_post", transport)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # type: ignore[operator]
        charge(gateway, card(gateway))

    assert len(callbacks) == 1
    url, body, headers = transport.calls[0]
    assert url == settings.SETTLE_BASE_URL + "/webhooks/sandbox/"
    assert json.loads(body)["type"] == "charge.succeeded"
    assert headers["Content-Type"] == "application/json" and headers[SIGNATURE_HEADER].startswith("t=")
    assert Event.objects.get().delivered_at is not None


def test_failed_deliveries_are_retried_with_backoff_same_id_fresh_signature(
    gateway: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    charge(gateway, card(gateway))
    event = Event.objects.get()
    now = sandbox_now()
    transport = Flaky(500, ConnectionRefusedError("refused"), 200)
    signed_at = iter([now, now + dt.timedelta(minutes=3), now + dt.timedelta(minutes=8)])
    monkeypatch.setattr(webhooks.clock, "now", lambda: next(signed_at))

    assert event_deliver(event_id=event.event_id, now=now, transport=transport) is False
    event.refresh_from_db()
    assert (event.attempts, event.next_attempt_at, event.last_error) == (1, now + dt.timedelta(minutes=2), "HTTP 500")
    assert events_deliver_due(now=now + dt.timedelta(minutes=1), transport=transport) == (0, 0)  # not due yet
    assert events_deliver_due(now=now + dt.timedelta(minutes=3), transport=transport) == (0, 1)
    event.refresh_from_db()
    assert (event.attempts, event.next_attempt_at, event.last_error) == (2, now + dt.timedelta(minutes=7), "refused")
    assert events_deliver_due(now=now + dt.timedelta(minutes=8), transport=transport) == (1, 0)

    bodies = {body for _, body, _ in transport.calls}
    signatures = {headers[SIGNATURE_HEADER] for _, _, headers in transport.calls}
    assert len(transport.calls) == 3 and len(bodies) == 1 and len(signatures) == 3
    assert json.loads(bodies.pop())["id"] == event.event_id


def test_delivery_gives_up_after_the_last_attempt(gateway: SandboxGateway) -> None:
    charge(gateway, card(gateway))
    moment = sandbox_now()
    for _ in range(MAX_ATTEMPTS):
        events_deliver_due(now=moment, transport=Flaky(503))
        moment += dt.timedelta(days=1)

    event = Event.objects.get()
    assert (event.attempts, event.next_attempt_at, event.delivered_at) == (MAX_ATTEMPTS, None, None)
    assert events_deliver_due(now=moment + dt.timedelta(days=30), transport=Flaky()) == (0, 0)


def test_a_lost_acknowledgement_sends_the_same_event_again(
    client: Client, gateway: SandboxGateway, received: list[object]
) -> None:
    """Settle got it but the 2xx never came back: the retry carries the same id, which Settle
    stores once."""
    charge(gateway, card(gateway))
    deliver = client_transport(client)

    def delivered_then_cut(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        deliver(url, body, headers)
        raise ConnectionResetError("reset")

    now = sandbox_now()
    events_deliver_due(now=now, transport=delivered_then_cut)
    events_deliver_due(now=now + dt.timedelta(minutes=5), transport=deliver)

    ids = [event.id for event in receiver_urls.RECEIVED]
    assert len(ids) == 2 and len(set(ids)) == 1


def test_settle_refuses_a_body_altered_on_the_way(
    client: Client, gateway: SandboxGateway, received: list[object]
) -> None:
    charge(gateway, card(gateway), 7_700)
    deliver = client_transport(client)

    def tampering(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        return deliver(url, body.replace(b"7700", b"1"), headers)

    assert events_deliver_due(now=sandbox_now(), transport=tampering) == (0, 1)
    assert receiver_urls.RECEIVED == []
    assert Event.objects.get().last_error == "HTTP 400"


def test_settled_and_returned_events_are_dated_when_they_fell_due(gateway: SandboxGateway) -> None:
    monday = move_to_a_monday()
    charge(gateway, bank_account(gateway, ACCOUNTS["R01"]), key="ach")
    sandbox_advance(now=monday + dt.timedelta(days=20))

    events = list(Event.objects.values_list("type", "created_at", "data"))
    assert [(kind, created) for kind, created, _ in events] == [
        ("charge.settled", monday + dt.timedelta(days=3)),
        ("charge.returned", monday + dt.timedelta(days=7)),
    ]
    returned = events[1][2]
    assert (returned["status"], returned["return_code"], returned["outcome"], returned["decline_code"]) == (
        "returned",
        "R01",
        "failure",
        "R01",
    )
