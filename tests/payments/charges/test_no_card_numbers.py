"""After cards typed on the hosted page have paid invoices (3-D Secure included), been refunded and
reported by webhook, no column of any table and no log line holds a Luhn-valid 13–19 digit run."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from settle.core.money import Money
from settle.customers.models import Customer
from settle.gateways.sandbox import SandboxGateway
from settle.payments.models import ChargeAttempt, ChargeState
from settle.payments.services import refund_create
from settle.sandbox.selectors import sandbox_now
from settle.tenants.models import Merchant
from tests.conftest import make_invoice
from tests.sandbox.factories import CARDS, hosted_card_url
from tests.sandbox.test_no_card_numbers import database_text, luhn_numbers

from .conftest import inbox, pay

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_card_number_is_kept_after_paying_by_card(
    merchant: Merchant,
    customer: Customer,
    gateway: SandboxGateway,
    webhooks_to_settle: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = webhooks_to_settle
    expiry = f"12/{(sandbox_now().year + 2) % 100:02d}"
    for index, name in enumerate(("success", "three_d_secure", "insufficient_funds")):
        number = CARDS[name]
        typed = {"number": " ".join(number[i : i + 4] for i in range(0, 16, 4)), "exp": expiry, "cvc": "987"}
        response = client.post(hosted_card_url(gateway), {**typed, "postal_code": "10001"})
        setup_token = parse_qs(urlsplit(response["Location"]).query)["setup_token"][0]
        method = gateway.vault_complete(setup_token=setup_token)
        invoice = make_invoice(merchant, customer, 10_000)

        attempt = pay(merchant, customer, [invoice], method, key=f"card-{index}")
        if attempt.action_url:
            client.post(attempt.action_url, {"decision": "approve"})
            attempt.refresh_from_db()
        if attempt.payment is not None:
            refund_create(
                merchant=merchant,
                payment_id=attempt.payment.pk,
                amount=Money(1_000, "USD"),
                idempotency_key=f"r-{index}",
            )

    states = list(ChargeAttempt.objects.order_by("pk").values_list("state", flat=True))
    assert states == [ChargeState.SUCCEEDED, ChargeState.SUCCEEDED, ChargeState.FAILED]
    assert len([event for event in inbox() if event.processed_at is not None]) >= 3
    assert luhn_numbers(database_text()) == []
    assert luhn_numbers(caplog.text) == []
