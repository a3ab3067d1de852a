"""Helpers for charging through the sandbox gateway: the real processor, reached only through the
gateway registry; tests that commit deliver its webhooks into the test client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
from django.test import Client

from settle.core.money import Money
from settle.core.tenancy import all_merchants
from settle.customers.models import Customer
from settle.gateways.base import VaultedMethod
from settle.gateways.registry import gateway_get
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Invoice
from settle.payments.charges import charge_attempt_start
from settle.payments.models import ChargeAttempt, InboundEvent
from settle.sandbox import webhooks
from settle.tenants.models import Merchant
from tests.sandbox.factories import client_transport, return_url


@pytest.fixture
def gateway() -> SandboxGateway:
    return cast(SandboxGateway, gateway_get("sandbox"))


@pytest.fixture
def webhooks_to_settle(monkeypatch: pytest.MonkeyPatch, client: Client) -> Client:
    """The sandbox's webhook deliveries reach Settle's endpoint through the test client."""
    monkeypatch.setattr(webhooks, "http_post", client_transport(client))
    return client


@pytest.fixture
def webhooks_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries are answered 204 and go nowhere."""
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 204)


def pay(
    merchant: Merchant,
    customer: Customer,
    invoices: Sequence[Invoice],
    method: VaultedMethod,
    *,
    minor: int | None = None,
    key: str = "pay-1",
    allow_partial: bool = False,
    language: str = "",
) -> ChargeAttempt:
    """Start a charge for the invoices' whole balance (or `minor`), from a page in `language`."""
    amount = Money(minor if minor is not None else sum(i.balance_minor for i in invoices), merchant.currency)
    return charge_attempt_start(
        merchant=merchant,
        customer_id=customer.pk,
        invoice_ids=[i.pk for i in invoices],
        amount=amount,
        kind=method.kind,
        token=method.token,
        idempotency_key=key,
        return_url=return_url(),
        allow_partial=allow_partial,
        card_brand=method.brand,
        last4=method.last4,
        language=language,
    )


def inbox() -> list[InboundEvent]:
    """Every stored webhook event, whichever merchant (if any) it concerned, oldest first."""
    with all_merchants():
        return list(InboundEvent.objects.order_by("pk"))
