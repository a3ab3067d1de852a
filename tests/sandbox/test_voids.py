"""The processor's void rules, as a real one has them: a charge can be voided until its funds settle
(a card the next business day, a bank debit once it clears); after that, or once money has gone
back or the bank returned it, the answer is a refusal that says what to do instead."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.gateways.base import DECLINE_VOIDED, Outcome, RefundRequest
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox.models import Charge, ChargeStatus
from settle.sandbox.services import sandbox_advance
from tests.sandbox.factories import ACCOUNTS, CARDS, bank_account, card, charge, move_to_a_monday, usd

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway()


def test_a_card_charge_waiting_for_3d_secure_can_be_voided(gateway: SandboxGateway) -> None:
    waiting = charge(gateway, card(gateway, CARDS["three_d_secure"]))
    assert waiting.outcome == Outcome.PENDING and waiting.action_url

    voided = gateway.void(charge_reference=waiting.reference)

    assert voided.outcome == Outcome.SUCCESS
    assert gateway.fetch_charge(idempotency_key="key-1").decline_code == DECLINE_VOIDED


def test_a_charge_refunded_in_part_cannot_be_voided(gateway: SandboxGateway) -> None:
    move_to_a_monday()
    paid = charge(gateway, card(gateway))
    gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(1_000), idempotency_key="r-1"))

    refused = gateway.void(charge_reference=paid.reference)

    assert (refused.outcome, refused.decline_code) == (Outcome.FAILURE, "not_voidable")
    assert Charge.objects.get().status == ChargeStatus.SUCCEEDED


def test_a_bank_debit_can_be_voided_until_it_clears_and_never_once_returned(gateway: SandboxGateway) -> None:
    monday = move_to_a_monday()
    clearing = charge(gateway, bank_account(gateway), key="clearing")
    bouncing = charge(gateway, bank_account(gateway, ACCOUNTS["R02"]), key="bouncing")

    sandbox_advance(now=monday + dt.timedelta(days=3))  # Thursday: both cleared
    settled = gateway.void(charge_reference=clearing.reference)
    sandbox_advance(now=monday + dt.timedelta(days=7))  # the next Monday: the R02 debit came back
    returned = gateway.void(charge_reference=bouncing.reference)

    assert (settled.outcome, settled.decline_code) == (Outcome.FAILURE, "already_settled")
    assert "refund the charge instead" in settled.message
    assert (returned.outcome, returned.decline_code) == (Outcome.FAILURE, "not_voidable")
    assert gateway.fetch_charge(idempotency_key="bouncing").decline_code == "R02"
