"""The sandbox never keeps a card number: after every test card has gone through the hosted page,
been charged, confirmed, refunded and reported by webhook, no table (every column of every table
in the database) and no log line holds a Luhn-valid run of 13 to 19 digits."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from settle.gateways.base import ChargeRequest, MethodKind, Outcome, RefundRequest, Wallet
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox.catalogue import luhn_valid
from settle.sandbox.models import Charge, FaultKind, Operation
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import fault_script, sandbox_advance
from settle.sandbox.webhooks import events_deliver_due
from tests.sandbox.factories import ACCOUNTS, CARDS, ROUTING, hosted_card_url, return_url, usd

pytestmark = pytest.mark.django_db


# A run of digits, single spaces or dashes between them, that is not part of a longer word: the
# digits inside a hex digest (request fingerprints, token hashes) are not a number anyone typed,
# and one in two hundred SHA-256 digests holds a Luhn-valid run of 13 or more.
DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d)+(?![0-9A-Za-z])")
# An e-mail's Message-ID (<179527200493.13889.7260926167677301179.host@domain>, as Python makes
# them) holds a random number of up to 20 digits, Luhn-valid one time in ten: not scanned.
MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")


def luhn_numbers(text: str) -> list[str]:
    """Every Luhn-valid run of 13 to 19 digits in `text`, spaces or dashes between digits ignored."""
    runs = (re.sub(r"[ -]", "", match[0]) for match in DIGIT_RUN.finditer(MESSAGE_ID.sub(" ", text)))
    return [digits for digits in runs if 13 <= len(digits) <= 19 and luhn_valid(digits)]


def database_text() -> str:
    """Every value of every row of every table, as text; sessions decoded too, since their data is
    stored encoded (a number kept in a session would not show in its raw row)."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names from the schema)
            chunks.extend(repr(row) for row in cursor.fetchall())
    chunks.extend(repr(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(chunks)


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert luhn_numbers("paid with 4242 4242 4242 4242 today") == ["4242424242424242"]
    assert luhn_numbers('{"n": "4000-0027-6000-3184"}, 378282246310005') == ["4000002760003184", "378282246310005"]
    assert luhn_numbers("4242 4242 4242 4241, 2025-03-10 15:00, 1741618800") == []
    assert luhn_numbers("number=4242424242424242&exp=12/30, card_4000002760003184") == [
        "4242424242424242",
        "4000002760003184",
    ]
    assert luhn_numbers("fingerprint 9c4242424242424242e1f0") == []  # a digest's digits
    message_id = "<179527200493.13889.7260926167677301179.settle-1@settle.local>"
    assert luhn_numbers(message_id.strip("<>")) == ["7260926167677301179"]
    assert luhn_numbers(f"Message-ID: {message_id}") == []


def test_no_card_number_is_kept_anywhere(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = SandboxGateway()
    expiry = f"12/{(sandbox_now().year + 2) % 100:02d}"
    sent: list[bytes] = []

    def transport(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        sent.append(body)
        return 200

    # Typos, live cards and past expiries on the hosted page: refused, and forgotten too.
    for number in ("4242 4242 4242 4241", "4111 1111 1111 1111", "5555555555554444", "378282246310005"):
        assert (
            client.post(
                hosted_card_url(gateway), {"number": number, "exp": expiry, "cvc": "123", "postal_code": "10001"}
            ).status_code
            == 400
        )
    assert (
        client.post(
            hosted_card_url(gateway), {"number": CARDS["success"], "exp": "01/20", "cvc": "123", "postal_code": "1"}
        ).status_code
        == 400
    )

    for index, number in enumerate(CARDS.values()):
        response = client.post(
            hosted_card_url(gateway),
            {
                "number": " ".join(number[i : i + 4] for i in range(0, 16, 4)),
                "exp": expiry,
                "cvc": "987",
                "postal_code": "10001",
            },
        )
        method = gateway.vault_complete(setup_token=parse_qs(urlsplit(response["Location"]).query)["setup_token"][0])
        result = gateway.charge(
            ChargeRequest(
                amount=usd(10_000 + index), token=method.token, idempotency_key=f"card-{index}", return_url=return_url()
            )
        )
        if result.action_url:
            client.post(result.action_url, {"decision": "approve"})
        if gateway.fetch_charge(idempotency_key=f"card-{index}").outcome == Outcome.SUCCESS:
            gateway.refund(
                RefundRequest(charge_reference=result.reference, amount=usd(1_000), idempotency_key=f"refund-{index}")
            )

    ach_url = gateway.hosted_fields_url(kind=MethodKind.ACH, return_url=return_url(), state="s")
    for index, account in enumerate(ACCOUNTS.values()):
        response = client.post(
            ach_url, {"routing_number": ROUTING, "account_number": account, "holder_name": "Mary Major"}
        )
        method = gateway.vault_complete(setup_token=parse_qs(urlsplit(response["Location"]).query)["setup_token"][0])
        gateway.charge(ChargeRequest(amount=usd(20_000), token=method.token, idempotency_key=f"ach-{index}"))

    sheet = gateway.wallet_sheet_url(
        wallet=Wallet.APPLE_PAY, amount=usd(3_000), label="Shop", return_url=return_url(), state="w"
    )
    response = client.post(sheet, {"card": "4242"})
    method = gateway.vault_complete(setup_token=parse_qs(urlsplit(response["Location"]).query)["setup_token"][0])
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=sandbox_now())
    assert (
        gateway.charge(ChargeRequest(amount=usd(3_000), token=method.token, idempotency_key="wallet")).outcome
        == Outcome.UNKNOWN
    )

    sandbox_advance(now=sandbox_now() + dt.timedelta(days=20))
    events_deliver_due(now=sandbox_now(), transport=transport)

    assert Charge.objects.count() == len(CARDS) + len(ACCOUNTS) + 1
    assert len(sent) > len(CARDS)
    assert luhn_numbers(database_text()) == []
    assert luhn_numbers(caplog.text) == []
    assert luhn_numbers("\n".join(body.decode() for body in sent)) == []
