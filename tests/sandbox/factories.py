"""Helpers for tests that use the sandbox processor: methods vaulted the way the hosted pages make
them, the processor's clock set to a known weekday, and its outgoing events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.test import Client

from settle.core.money import Money
from settle.gateways.base import ChargeRequest, ChargeResult, MethodKind, VaultedMethod, Wallet
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox.models import Event
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import (
    bank_account_tokenise,
    bnpl_approve,
    card_tokenise,
    sandbox_advance,
    wallet_tokenise,
)
from settle.sandbox.webhooks import Transport

CARDS = {
    "success": "4242424242424242",
    "generic_decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "processing_error": "4000000000000119",
    "charges_fail": "4000000000000341",
    "three_d_secure": "4000002760003184",
}
ROUTING = "110000000"
ACCOUNTS = {
    "success": "000123456789",
    "R01": "000222222227",
    "R02": "000111111113",
    "R03": "000111111116",
    "R10": "000333333335",
}


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def return_url(path: str = "/pay/return/") -> str:
    return settings.SETTLE_BASE_URL + path


def card(gateway: SandboxGateway, number: str = CARDS["success"]) -> VaultedMethod:
    """A card typed on the hosted fields and exchanged for a vaulted method."""
    now = sandbox_now()
    source = card_tokenise(number=number, exp_month=12, exp_year=now.year + 3, cvc="123", postal_code="10001", now=now)
    return gateway.vault_complete(setup_token=source.setup_token)


def bank_account(gateway: SandboxGateway, account: str = ACCOUNTS["success"]) -> VaultedMethod:
    source = bank_account_tokenise(
        routing_number=ROUTING, account_number=account, holder_name="Mary Major", now=sandbox_now()
    )
    return gateway.vault_complete(setup_token=source.setup_token)


def wallet_payment(gateway: SandboxGateway, amount: Money, card_last4: str = "4242") -> VaultedMethod:
    source = wallet_tokenise(wallet=Wallet.APPLE_PAY, card_last4=card_last4, amount=amount, now=sandbox_now())
    return gateway.vault_complete(setup_token=source.setup_token)


def bnpl_plan(gateway: SandboxGateway, amount: Money) -> VaultedMethod:
    return gateway.vault_complete(setup_token=bnpl_approve(amount=amount, now=sandbox_now()).setup_token)


def charge(gateway: SandboxGateway, method: VaultedMethod, minor: int = 12_500, key: str = "key-1") -> ChargeResult:
    return gateway.charge(
        ChargeRequest(amount=usd(minor), token=method.token, idempotency_key=key, return_url=return_url())
    )


def move_to_a_monday() -> dt.datetime:
    """Set the processor's clock to the next Monday, 15:00 UTC, so business days count the same
    whatever day the tests run."""
    now = sandbox_now()
    monday = (now + dt.timedelta(days=7 - now.weekday())).replace(hour=15, minute=0, second=0, microsecond=0)
    return sandbox_advance(now=monday).now


def event_types() -> list[str]:
    return list(Event.objects.values_list("type", flat=True))


def hosted_setup_token(client: Client, url: str, data: dict[str, str]) -> dict[str, list[str]]:
    """Post a hosted page's form and read the query Settle's return URL gets."""
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    return parse_qs(urlsplit(response["Location"]).query)


def hosted_card_url(gateway: SandboxGateway, state: str = "s-1") -> str:
    return gateway.hosted_fields_url(kind=MethodKind.CARD, return_url=return_url(), state=state)


def client_transport(client: Client) -> Transport:
    """Deliver webhook events into this Django test client instead of over HTTP."""

    def post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        extra = {name: value for name, value in headers.items() if name != "Content-Type"}
        response = client.post(urlsplit(url).path, body, content_type=headers["Content-Type"], headers=extra)
        return int(response.status_code)

    return post
