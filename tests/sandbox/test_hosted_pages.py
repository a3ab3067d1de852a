"""The sandbox's own pages: card and bank-account fields, the wallet sheet, the pay-later approval
and the 3-D Secure confirmation. They hand Settle a one-time setup token, refuse to send the
browser anywhere but Settle, never echo a card number, and may be framed by Settle only."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from settle.gateways.base import ChargeRequest, MethodKind, Outcome, Wallet
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox.models import Charge, ChargeStatus, Source
from tests.sandbox.factories import ACCOUNTS, CARDS, ROUTING, card, event_types, hosted_card_url, return_url, usd

pytestmark = pytest.mark.django_db

EXPIRY = f"12/{(dt.datetime.now(dt.UTC).year + 2) % 100:02d}"


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway()


def card_data(number: str = CARDS["success"], **overrides: str) -> dict[str, str]:
    return {"number": number, "exp": EXPIRY, "cvc": "123", "postal_code": "10001", **overrides}


def returned_query(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.content.decode()
    location = response["Location"]
    assert location.startswith(settings.SETTLE_BASE_URL + "/pay/return/")
    return parse_qs(urlsplit(location).query)


def test_the_card_fields_return_a_one_time_setup_token(client: Client, gateway: SandboxGateway) -> None:
    url = hosted_card_url(gateway, state="opaque-42")
    page = client.get(url)
    assert page.status_code == 200
    assert 'autocomplete="cc-number"' in page.content.decode()

    query = returned_query(client.post(url, card_data("4242 4242 4242 4242")))

    assert query["state"] == ["opaque-42"] and set(query) == {"state", "setup_token"}
    method = gateway.vault_complete(setup_token=query["setup_token"][0])
    assert (method.brand, method.last4, method.exp_month) == ("Visa", "4242", 12)


def test_the_return_url_keeps_its_own_query(client: Client, gateway: SandboxGateway) -> None:
    url = gateway.hosted_fields_url(kind=MethodKind.CARD, return_url=return_url("/pay/return/?link=abc"), state="s")

    query = returned_query(client.post(url, card_data()))

    assert query["link"] == ["abc"] and query["state"] == ["s"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (card_data("4242 4242 4242 4241"), "number", "Your card number is invalid."),
        (card_data("4242"), "number", "Your card number is invalid."),
        (card_data("4111 1111 1111 1111"), "number", "live one"),
        (card_data("5555 5555 5555 4444"), "number", "live one"),
        (card_data(exp="01/20"), "exp", "in the past"),
        (card_data(exp="13/40"), "exp", "invalid"),
        (card_data(exp="soon"), "exp", "MM/YY"),
        (card_data(cvc="12"), "cvc", "security code"),
        (card_data(postal_code="!"), "postal_code", "postal code"),
        (card_data(number=""), "number", "Enter your card number."),
    ],
)
def test_bad_card_entries_are_refused_and_nothing_is_kept(
    client: Client, gateway: SandboxGateway, data: dict[str, str], field: str, message: str
) -> None:
    response = client.post(hosted_card_url(gateway), data)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Source.objects.exists()
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert f'value="{data["number"]}"' not in html and f'value="{data["cvc"]}"' not in html  # never echoed back


def test_every_test_card_can_be_entered(client: Client, gateway: SandboxGateway) -> None:
    for number in CARDS.values():
        returned_query(client.post(hosted_card_url(gateway), card_data(number)))

    assert sorted(Source.objects.values_list("last4", flat=True)) == sorted(n[-4:] for n in CARDS.values())


def test_the_bank_fields(client: Client, gateway: SandboxGateway) -> None:
    url = gateway.hosted_fields_url(kind=MethodKind.ACH, return_url=return_url(), state="s")
    assert client.get(url).status_code == 200

    wrong_routing = client.post(
        url, {"routing_number": "021000021", "account_number": ACCOUNTS["success"], "holder_name": "M"}
    )
    unknown_account = client.post(url, {"routing_number": ROUTING, "account_number": "123456789", "holder_name": "M"})
    query = returned_query(
        client.post(url, {"routing_number": ROUTING, "account_number": ACCOUNTS["R01"], "holder_name": "Mary Major"})
    )

    assert wrong_routing.status_code == unknown_account.status_code == 400
    assert "110000000" in " ".join(wrong_routing.context["form"].errors["routing_number"])
    assert "test account" in " ".join(unknown_account.context["form"].errors["account_number"])
    method = gateway.vault_complete(setup_token=query["setup_token"][0])
    assert (method.kind, method.last4) == (MethodKind.ACH, "2227")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal",
        "//evil.example/steal",
        "/pay/return/",
        "javascript:alert(1)",
        "http://127.0.0.1:8000.evil.example/",
        "http://127.0.0.1:8001/pay/return/",
        "https://127.0.0.1:8000/pay/return/",
        "http://user@evil.example@127.0.0.1:8000/",
        "http://127.0.0.1:8000\\@evil.example/",
        "http://127.0.0.1:8000/pay/\nreturn/",
        "",
    ],
)
def test_return_urls_off_settle_are_refused(client: Client, gateway: SandboxGateway, target: str) -> None:
    pages = [
        gateway.hosted_fields_url(kind=MethodKind.CARD, return_url=target, state="s"),
        gateway.hosted_fields_url(kind=MethodKind.ACH, return_url=target, state="s"),
        gateway.wallet_sheet_url(wallet=Wallet.APPLE_PAY, amount=usd(100), label="Shop", return_url=target, state="s"),
        gateway.bnpl_checkout_url(amount=usd(100), description="INV-1", return_url=target, state="s"),
    ]
    for url in pages:
        shown = client.get(url)
        posted = client.post(url, {**card_data(), "card": "4242", "decision": "approve"})
        assert (shown.status_code, posted.status_code) == (400, 400), url
        assert "not valid" in shown.content.decode()
    assert not Source.objects.exists()


def test_pages_may_be_framed_by_settle_only_and_run_no_script(client: Client, gateway: SandboxGateway) -> None:
    response = client.get(hosted_card_url(gateway))
    csp = response["Content-Security-Policy"]

    assert f"frame-ancestors 'self' {settings.SETTLE_BASE_URL}" in csp
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "X-Frame-Options" not in response
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    html = response.content.decode()
    assert "<script" not in html and " style=" not in html and "<style" not in html
    assert '<meta name="viewport"' in html


def test_the_wallet_sheet_returns_a_single_use_token(client: Client, gateway: SandboxGateway) -> None:
    url = gateway.wallet_sheet_url(
        wallet=Wallet.GOOGLE_PAY, amount=usd(4_250), label="Bike Shop", return_url=return_url(), state="w"
    )
    page = client.get(url).content.decode()
    assert "Google Pay" in page and "$42.50" in page and "Bike Shop" in page

    query = returned_query(client.post(url, {"card": "4242"}))
    method = gateway.vault_complete(setup_token=query["setup_token"][0])

    assert (method.kind, method.brand, method.single_use) == (MethodKind.WALLET, "Google Pay", True)
    assert (
        gateway.charge(ChargeRequest(amount=usd(4_250), token=method.token, idempotency_key="w1")).outcome
        == Outcome.SUCCESS
    )
    second = gateway.charge(ChargeRequest(amount=usd(4_250), token=method.token, idempotency_key="w2"))
    assert second.decline_code == "token_used"


def test_the_wallet_sheet_can_be_cancelled(client: Client, gateway: SandboxGateway) -> None:
    url = gateway.wallet_sheet_url(
        wallet=Wallet.APPLE_PAY, amount=usd(100), label="", return_url=return_url(), state="w"
    )

    cancel = parse_qs(urlsplit(client.get(url).context["cancel_url"]).query)

    assert cancel == {"state": ["w"], "error": ["cancelled"]}


@pytest.mark.parametrize(
    "query",
    [
        "wallet=apple_pay&amount_minor=0&currency=USD",
        "wallet=apple_pay&amount_minor=x&currency=USD",
        "wallet=apple_pay&amount_minor=100&currency=XYZ",
        "wallet=paypal&amount_minor=100&currency=USD",
    ],
)
def test_the_wallet_sheet_needs_a_real_amount_and_wallet(client: Client, query: str) -> None:
    response = client.get(f"/sandbox/wallet/?{query}&return_url={return_url()}&state=s")

    assert response.status_code == 400


def test_bnpl_approval_and_decline(client: Client, gateway: SandboxGateway) -> None:
    url = gateway.bnpl_checkout_url(amount=usd(80_001), description="INV-7", return_url=return_url(), state="b")
    page = client.get(url).content.decode()
    assert "$800.01" in page and "$200.01" in page  # four payments cover the whole amount

    declined = returned_query(client.post(url, {"decision": "decline"}))
    approved = returned_query(client.post(url, {"decision": "approve"}))

    assert declined == {"state": ["b"], "error": ["declined"]}
    method = gateway.vault_complete(setup_token=approved["setup_token"][0])
    assert (method.kind, method.brand) == (MethodKind.BNPL, "Affirm")
    assert Source.objects.count() == 1


@pytest.mark.parametrize(("decision", "status"), [("approve", ChargeStatus.SUCCEEDED), ("fail", ChargeStatus.FAILED)])
def test_the_3d_secure_page_approves_or_fails_and_returns_to_settle(
    client: Client, gateway: SandboxGateway, decision: str, status: ChargeStatus
) -> None:
    method = card(gateway, CARDS["three_d_secure"])
    back = return_url("/pay/return/?attempt=9")
    pending = gateway.charge(ChargeRequest(amount=usd(5_000), token=method.token, idempotency_key="k", return_url=back))
    page = client.get(pending.action_url)
    assert page.status_code == 200 and "$50.00" in page.content.decode()

    response = client.post(pending.action_url, {"decision": decision})
    again = client.post(pending.action_url, {"decision": "approve"})

    assert (response.status_code, response["Location"]) == (302, back)
    assert Charge.objects.get().status == status
    assert again.status_code == 409 and "no longer waiting" in again.content.decode()
    assert event_types() == ["charge.succeeded" if decision == "approve" else "charge.failed"]
    assert "no longer waiting" in client.get(pending.action_url).content.decode()


def test_an_unknown_confirmation_link(client: Client) -> None:
    assert client.get("/sandbox/authenticate/act_nope/").status_code == 404
