"""The sandbox gateway through the gateway interface: every test card and bank account, 3-D Secure,
idempotency, wallet and pay-later tokens, refunds (and the 120-day pay-later window), voids, and
each scripted fault followed by reconciliation that finds exactly one charge."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.core.money import Money
from settle.gateways.base import ChargeRequest, MethodKind, Outcome, RefundRequest, RefundResult, VaultFailed
from settle.gateways.sandbox import SandboxClient, SandboxGateway
from settle.sandbox.models import Charge, ChargeStatus, FaultKind, Operation, Refund
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import card_tokenise, charge_authenticate, fault_script, sandbox_advance
from tests.sandbox.factories import (
    ACCOUNTS,
    CARDS,
    bank_account,
    bnpl_plan,
    card,
    charge,
    event_types,
    move_to_a_monday,
    usd,
    wallet_payment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway()


def refund(gateway: SandboxGateway, reference: str, minor: int, key: str = "refund-1") -> RefundResult:
    return gateway.refund(RefundRequest(charge_reference=reference, amount=usd(minor), idempotency_key=key))


def test_vaulting_keeps_brand_last4_and_expiry_only(gateway: SandboxGateway) -> None:
    method = card(gateway)

    assert (method.kind, method.brand, method.last4, method.exp_month, method.single_use) == (
        MethodKind.CARD,
        "Visa",
        "4242",
        12,
        False,
    )
    assert method.exp_year == sandbox_now().year + 3
    assert method.token.startswith("src_")


def test_the_success_card_charges(gateway: SandboxGateway) -> None:
    result = charge(gateway, card(gateway))

    assert (result.outcome, result.decline_code, result.action_url) == (Outcome.SUCCESS, "", "")
    stored = Charge.objects.get()
    assert (stored.reference, stored.amount_minor, stored.currency, stored.status) == (
        result.reference,
        12_500,
        "USD",
        ChargeStatus.SUCCEEDED,
    )
    assert event_types() == ["charge.succeeded"]


@pytest.mark.parametrize(
    ("name", "decline_code"),
    [
        ("generic_decline", "generic_decline"),
        ("insufficient_funds", "insufficient_funds"),
        ("expired_card", "expired_card"),
        ("incorrect_cvc", "incorrect_cvc"),
        ("processing_error", "processing_error"),
        ("charges_fail", "generic_decline"),
    ],
)
def test_declining_cards_save_fine_and_their_charges_fail(
    gateway: SandboxGateway, name: str, decline_code: str
) -> None:
    method = card(gateway, CARDS[name])

    result = charge(gateway, method)

    assert method.last4 == CARDS[name][-4:]
    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, decline_code)
    assert result.message
    assert Charge.objects.get().status == ChargeStatus.FAILED
    assert event_types() == ["charge.failed"]


@pytest.mark.parametrize("approve", [True, False])
def test_3d_secure_card_waits_for_a_confirmation(gateway: SandboxGateway, approve: bool) -> None:
    result = charge(gateway, card(gateway, CARDS["three_d_secure"]), key="3ds")
    assert result.outcome == Outcome.PENDING
    assert "/sandbox/authenticate/act_" in result.action_url
    assert gateway.fetch_charge(idempotency_key="3ds").outcome == Outcome.PENDING
    assert event_types() == []

    action_token = result.action_url.rstrip("/").rsplit("/", 1)[1]
    charge_authenticate(action_token=action_token, approve=approve, now=sandbox_now())

    after = gateway.fetch_charge(idempotency_key="3ds")
    if approve:
        assert (after.outcome, after.reference) == (Outcome.SUCCESS, result.reference)
        assert event_types() == ["charge.succeeded"]
    else:
        assert (after.outcome, after.decline_code) == (Outcome.FAILURE, "authentication_failed")
        assert event_types() == ["charge.failed"]
    # The first reply is what a repeat of the same request gets, as an API replays it.
    assert charge(gateway, card(gateway, CARDS["three_d_secure"]), key="3ds").decline_code == "idempotency_mismatch"


def test_unanswered_3d_secure_fails_after_a_day(gateway: SandboxGateway) -> None:
    charge(gateway, card(gateway, CARDS["three_d_secure"]), key="3ds")

    sandbox_advance(now=sandbox_now() + dt.timedelta(hours=23))
    assert gateway.fetch_charge(idempotency_key="3ds").outcome == Outcome.PENDING
    sandbox_advance(now=sandbox_now() + dt.timedelta(hours=2))

    after = gateway.fetch_charge(idempotency_key="3ds")
    assert (after.outcome, after.decline_code) == (Outcome.FAILURE, "authentication_expired")
    assert event_types() == ["charge.failed"]


def test_ach_success_is_pending_then_settles_after_three_business_days(gateway: SandboxGateway) -> None:
    monday = move_to_a_monday()
    method = bank_account(gateway)
    assert (method.kind, method.brand, method.last4) == (MethodKind.ACH, "Sandbox Test Bank", "6789")

    result = charge(gateway, method, key="ach")
    assert (result.outcome, result.action_url) == (Outcome.PENDING, "")

    sandbox_advance(now=monday + dt.timedelta(days=2, hours=23))  # Wednesday
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.PENDING
    report = sandbox_advance(now=monday + dt.timedelta(days=3))  # Thursday
    assert report.settled == 1
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS
    sandbox_advance(now=monday + dt.timedelta(days=30))
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS
    assert event_types() == ["charge.settled"]


def test_business_days_skip_the_weekend(gateway: SandboxGateway) -> None:
    friday = move_to_a_monday() + dt.timedelta(days=4)
    sandbox_advance(now=friday)
    charge(gateway, bank_account(gateway), key="ach")

    sandbox_advance(now=friday + dt.timedelta(days=4, hours=23))  # Tuesday
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.PENDING
    sandbox_advance(now=friday + dt.timedelta(days=5))  # Wednesday
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS


@pytest.mark.parametrize("code", ["R01", "R02", "R03", "R10"])
def test_ach_returns_arrive_after_settlement(gateway: SandboxGateway, code: str) -> None:
    monday = move_to_a_monday()
    result = charge(gateway, bank_account(gateway, ACCOUNTS[code]), key="ach")
    assert result.outcome == Outcome.PENDING

    sandbox_advance(now=monday + dt.timedelta(days=3))  # Thursday: settled, looks paid
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS
    sandbox_advance(now=monday + dt.timedelta(days=6, hours=23))  # Sunday: still fine
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS

    report = sandbox_advance(now=monday + dt.timedelta(days=7))  # Monday: two business days later
    returned = gateway.fetch_charge(idempotency_key="ach")
    assert report.returned == 1
    assert (returned.outcome, returned.decline_code, returned.reference) == (Outcome.FAILURE, code, result.reference)
    assert code in returned.message
    assert event_types() == ["charge.settled", "charge.returned"]
    assert sandbox_advance(now=monday + dt.timedelta(days=60)).returned == 0


def test_ach_is_usd_only(gateway: SandboxGateway) -> None:
    method = bank_account(gateway)
    result = gateway.charge(ChargeRequest(amount=Money(100, "CAD"), token=method.token, idempotency_key="k"))

    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, "currency_not_supported")
    assert not Charge.objects.exists()


def test_same_key_same_request_replays_the_first_reply(gateway: SandboxGateway) -> None:
    method = card(gateway)

    first = charge(gateway, method, key="once")
    again = charge(gateway, method, key="once")

    assert again == first
    assert Charge.objects.count() == 1
    assert event_types() == ["charge.succeeded"]


def test_same_key_different_amount_is_a_clear_failure(gateway: SandboxGateway) -> None:
    method = card(gateway)
    charge(gateway, method, 12_500, key="once")

    other = charge(gateway, method, 12_600, key="once")

    assert (other.outcome, other.decline_code, other.reference) == (Outcome.FAILURE, "idempotency_mismatch", "")
    assert "different request" in other.message
    assert list(Charge.objects.values_list("amount_minor", flat=True)) == [12_500]


def test_same_key_other_method_is_a_mismatch_too(gateway: SandboxGateway) -> None:
    charge(gateway, card(gateway), key="once")

    other = charge(gateway, card(gateway), key="once")

    assert other.decline_code == "idempotency_mismatch"
    assert Charge.objects.count() == 1


def test_a_declined_charge_is_replayed_not_retried(gateway: SandboxGateway) -> None:
    method = card(gateway, CARDS["generic_decline"])

    assert charge(gateway, method, key="k") == charge(gateway, method, key="k")
    assert Charge.objects.count() == 1


def test_an_unknown_token_fails_and_stores_nothing(gateway: SandboxGateway) -> None:
    result = gateway.charge(ChargeRequest(amount=usd(100), token="src_nope", idempotency_key="k"))

    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, "invalid_token")
    assert not Charge.objects.exists()


def test_a_return_url_off_settle_is_refused(gateway: SandboxGateway) -> None:
    method = card(gateway, CARDS["three_d_secure"])

    result = gateway.charge(
        ChargeRequest(amount=usd(100), token=method.token, idempotency_key="k", return_url="https://evil.example/")
    )

    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, "invalid_return_url")
    assert not Charge.objects.exists()


def test_a_wallet_token_pays_once_and_only_its_amount(gateway: SandboxGateway) -> None:
    method = wallet_payment(gateway, usd(4_200))
    assert (method.kind, method.brand, method.last4, method.single_use) == (
        MethodKind.WALLET,
        "Apple Pay",
        "4242",
        True,
    )

    wrong_amount = charge(gateway, method, 4_300, key="w-0")
    first = charge(gateway, method, 4_200, key="w-1")
    repeat = charge(gateway, method, 4_200, key="w-1")
    second = charge(gateway, method, 4_200, key="w-2")

    assert (wrong_amount.outcome, wrong_amount.decline_code) == (Outcome.FAILURE, "amount_mismatch")
    assert first.outcome == Outcome.SUCCESS
    assert repeat == first
    assert (second.outcome, second.decline_code) == (Outcome.FAILURE, "token_used")
    assert Charge.objects.count() == 1


def test_a_wallet_card_can_decline(gateway: SandboxGateway) -> None:
    result = charge(gateway, wallet_payment(gateway, usd(4_200), card_last4="0002"), 4_200)

    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, "generic_decline")


def test_bnpl_approval_pays_once_for_the_approved_amount(gateway: SandboxGateway) -> None:
    method = bnpl_plan(gateway, usd(80_000))
    assert (method.kind, method.brand, method.single_use) == (MethodKind.BNPL, "Affirm", True)

    assert charge(gateway, method, 79_999, key="b-0").decline_code == "amount_mismatch"
    assert charge(gateway, method, 80_000, key="b-1").outcome == Outcome.SUCCESS
    assert charge(gateway, method, 80_000, key="b-2").decline_code == "token_used"


def test_bnpl_refunds_are_allowed_for_120_days(gateway: SandboxGateway) -> None:
    paid = charge(gateway, bnpl_plan(gateway, usd(80_000)), 80_000)
    charged_at = Charge.objects.get().succeeded_at
    assert charged_at is not None

    sandbox_advance(now=charged_at + dt.timedelta(days=120))
    within = refund(gateway, paid.reference, 30_000, key="r-1")
    sandbox_advance(now=charged_at + dt.timedelta(days=120, seconds=1))
    after = refund(gateway, paid.reference, 30_000, key="r-2")

    assert within.outcome == Outcome.SUCCESS
    assert (after.outcome, after.decline_code) == (Outcome.FAILURE, "refund_window_expired")
    assert Charge.objects.get().refunded_minor == 30_000


def test_card_refunds_are_partial_and_repeatable_until_nothing_is_left(gateway: SandboxGateway) -> None:
    paid = charge(gateway, card(gateway), 10_000)

    first = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(6_000), idempotency_key="r-1"))
    repeat = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(6_000), idempotency_key="r-1"))
    mismatch = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(1_000), idempotency_key="r-1"))
    too_much = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(4_001), idempotency_key="r-2"))
    rest = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(4_000), idempotency_key="r-3"))

    assert first.outcome == Outcome.SUCCESS and first.reference.startswith("re_")
    assert repeat == first
    assert mismatch.decline_code == "idempotency_mismatch"
    assert (too_much.outcome, too_much.decline_code) == (Outcome.FAILURE, "amount_too_large")
    assert rest.outcome == Outcome.SUCCESS
    assert Charge.objects.get().refunded_minor == 10_000
    assert gateway.fetch_refund(idempotency_key="r-2") == too_much
    assert gateway.fetch_refund(idempotency_key="r-9").decline_code == "not_found"
    assert event_types() == ["charge.succeeded", "refund.succeeded", "refund.succeeded"]


def test_refusing_refunds_of_what_did_not_go_through(gateway: SandboxGateway) -> None:
    declined = charge(gateway, card(gateway, CARDS["generic_decline"]), key="c-1")
    pending = charge(gateway, bank_account(gateway), key="c-2")

    assert refund(gateway, declined.reference, 100, key="r-1").decline_code == "not_refundable"
    assert refund(gateway, pending.reference, 100, key="r-2").decline_code == "charge_pending"
    assert refund(gateway, "ch_nope", 100, key="r-3").decline_code == "not_found"
    assert not Refund.objects.filter(succeeded=True).exists()


def test_void_before_settlement_and_refund_after(gateway: SandboxGateway) -> None:
    monday = move_to_a_monday()
    early = charge(gateway, card(gateway), key="c-1")
    late = charge(gateway, card(gateway), key="c-2")
    ach = charge(gateway, bank_account(gateway), key="c-3")

    voided = gateway.void(charge_reference=early.reference)
    again = gateway.void(charge_reference=early.reference)
    sandbox_advance(now=monday + dt.timedelta(days=1))
    too_late = gateway.void(charge_reference=late.reference)
    ach_voided = gateway.void(charge_reference=ach.reference)

    assert (voided.outcome, again.outcome, ach_voided.outcome) == (Outcome.SUCCESS,) * 3
    assert (too_late.outcome, too_late.decline_code) == (Outcome.FAILURE, "already_settled")
    assert gateway.fetch_charge(idempotency_key="c-1").decline_code == "voided"
    assert refund(gateway, early.reference, 100, key="r-1").decline_code == "not_refundable"
    assert gateway.void(charge_reference="ch_nope").decline_code == "not_found"
    # A voided bank debit never settles, so it never comes back returned either.
    sandbox_advance(now=monday + dt.timedelta(days=30))
    assert gateway.fetch_charge(idempotency_key="c-3").decline_code == "voided"
    assert event_types() == ["charge.succeeded", "charge.succeeded", "charge.voided", "charge.settled", "charge.voided"]


def test_fetching_a_key_never_charged_says_not_found(gateway: SandboxGateway) -> None:
    result = gateway.fetch_charge(idempotency_key="never")

    assert (result.outcome, result.decline_code) == (Outcome.FAILURE, "not_found")


@pytest.mark.parametrize("kind", [FaultKind.ERROR_500, FaultKind.TIMEOUT, FaultKind.REPLY_LOST])
def test_each_fault_is_unknown_then_reconciliation_finds_one_charge(gateway: SandboxGateway, kind: FaultKind) -> None:
    method = card(gateway)
    fault_script(operation=Operation.CHARGE, kind=kind, now=sandbox_now())

    lost = charge(gateway, method, key="pay-1")
    assert (lost.outcome, lost.reference) == (Outcome.UNKNOWN, "")
    happened = kind == FaultKind.REPLY_LOST
    assert Charge.objects.count() == int(happened)

    truth = gateway.fetch_charge(idempotency_key="pay-1")
    assert truth.outcome == (Outcome.SUCCESS if happened else Outcome.FAILURE)
    # Retrying with the same key is always safe: it charges at most once.
    retried = charge(gateway, method, key="pay-1")
    assert retried.outcome == Outcome.SUCCESS
    assert Charge.objects.count() == 1
    assert gateway.fetch_charge(idempotency_key="pay-1").reference == retried.reference


def test_faults_count_down_per_operation(gateway: SandboxGateway) -> None:
    method = card(gateway)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.ERROR_500, count=2, now=sandbox_now())

    assert gateway.fetch_charge(idempotency_key="k").decline_code == "not_found"  # another operation
    assert charge(gateway, method, key="k").outcome == Outcome.UNKNOWN
    assert charge(gateway, method, key="k").outcome == Outcome.UNKNOWN
    assert charge(gateway, method, key="k").outcome == Outcome.SUCCESS


def test_fetch_can_fault_too_and_stays_unknown(gateway: SandboxGateway) -> None:
    fault_script(operation=Operation.FETCH_CHARGE, kind=FaultKind.TIMEOUT, now=sandbox_now())

    assert gateway.fetch_charge(idempotency_key="k").outcome == Outcome.UNKNOWN


def test_a_lost_refund_reply_is_reconciled_by_fetch_refund(gateway: SandboxGateway) -> None:
    paid = charge(gateway, card(gateway), 10_000)
    fault_script(operation=Operation.REFUND, kind=FaultKind.REPLY_LOST, now=sandbox_now())

    lost = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(2_500), idempotency_key="r-1"))
    found = gateway.fetch_refund(idempotency_key="r-1")
    retried = gateway.refund(RefundRequest(charge_reference=paid.reference, amount=usd(2_500), idempotency_key="r-1"))

    assert lost.outcome == Outcome.UNKNOWN
    assert found.outcome == Outcome.SUCCESS and retried == found
    assert Charge.objects.get().refunded_minor == 2_500


def test_a_void_fault_is_unknown(gateway: SandboxGateway) -> None:
    paid = charge(gateway, card(gateway))
    fault_script(operation=Operation.VOID, kind=FaultKind.ERROR_500, now=sandbox_now())

    assert gateway.void(charge_reference=paid.reference).outcome == Outcome.UNKNOWN
    assert gateway.void(charge_reference=paid.reference).outcome == Outcome.SUCCESS


def test_a_garbled_reply_is_unknown_never_a_guess() -> None:
    gateway = SandboxGateway(SandboxClient(transport=lambda operation, body: (200, b"<html>oops</html>")))

    assert gateway.fetch_charge(idempotency_key="k").outcome == Outcome.UNKNOWN


def test_setup_tokens_work_once(gateway: SandboxGateway) -> None:
    now = sandbox_now()
    source = card_tokenise(
        number=CARDS["success"], exp_month=1, exp_year=now.year + 1, cvc="123", postal_code="H2X 1Y4", now=now
    )
    gateway.vault_complete(setup_token=source.setup_token)

    with pytest.raises(VaultFailed) as used:
        gateway.vault_complete(setup_token=source.setup_token)
    with pytest.raises(VaultFailed) as unknown:
        gateway.vault_complete(setup_token="seti_nope")

    assert (used.value.code, unknown.value.code) == ("setup_token_used", "setup_token_unknown")


def test_setup_tokens_expire_after_an_hour(gateway: SandboxGateway) -> None:
    now = sandbox_now()
    source = card_tokenise(
        number=CARDS["success"], exp_month=1, exp_year=now.year + 1, cvc="123", postal_code="10001", now=now
    )
    sandbox_advance(now=now + dt.timedelta(hours=1))

    with pytest.raises(VaultFailed) as expired:
        gateway.vault_complete(setup_token=source.setup_token)

    assert expired.value.code == "setup_token_expired"


def test_vaulting_when_the_sandbox_is_down(gateway: SandboxGateway) -> None:
    fault_script(operation=Operation.VAULT_COMPLETE, kind=FaultKind.ERROR_500, now=sandbox_now())

    with pytest.raises(VaultFailed) as down:
        card(gateway)

    assert down.value.code == "unavailable"


@pytest.mark.parametrize("kind", [MethodKind.WALLET, MethodKind.BNPL])
def test_wallets_and_pay_later_have_their_own_pages_not_fields(gateway: SandboxGateway, kind: MethodKind) -> None:
    with pytest.raises(ValueError, match="wallet_sheet_url or bnpl_checkout_url"):
        gateway.hosted_fields_url(kind=kind, return_url="http://127.0.0.1:8000/", state="s")
