"""Saved payment methods: a token with brand, last 4, expiry and the customer's consent; never a
number, never a charge; editing means entering it again; one default at most."""

from __future__ import annotations

import pytest

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Customer
from settle.gateways.base import VaultedMethod
from settle.gateways.sandbox import SandboxGateway
from settle.payments.models import SavedMethod
from settle.payments.vault import (
    saved_method_add,
    saved_method_remove,
    saved_method_replace,
    saved_method_set_default,
)
from settle.sandbox import models as sandbox
from settle.tenants.models import Merchant
from tests.conftest import make_customer
from tests.sandbox.factories import CARDS, bank_account, bnpl_plan, card, wallet_payment

pytestmark = pytest.mark.django_db

CONSENT = "I authorise Merchant to charge this card for invoices I approve, until I remove it."


def save(merchant: Merchant, customer: Customer, vaulted: VaultedMethod, name: str = "") -> SavedMethod:
    """Save `vaulted` for the customer as the pay page would, with CONSENT from 203.0.113.9."""
    with merchant_scope(merchant):
        return saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=vaulted,
            friendly_name=name,
            billing_address="1 Main St\nSpringfield",
            consent_text=CONSENT,
            consent_ip="203.0.113.9",
            now=clock.now(),
        )


def test_saving_keeps_the_token_and_the_consent_and_never_charges(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    now = clock.now()
    vaulted = card(gateway)

    method = saved_method_add(
        merchant=merchant,
        customer_id=customer.pk,
        vaulted=vaulted,
        friendly_name="  Mary's business Visa ",
        billing_address="1 Main St",
        consent_text=CONSENT,
        consent_ip="203.0.113.9",
        now=now,
    )

    assert (method.token, method.kind, method.brand, method.last4) == (vaulted.token, "card", "Visa", "4242")
    assert (method.exp_month, method.exp_year) == (vaulted.exp_month, vaulted.exp_year)
    assert method.friendly_name == "Mary's business Visa" and method.gateway == "sandbox"
    assert (method.consent_text, method.consent_at, method.consent_ip) == (CONSENT, now, "203.0.113.9")
    assert method.is_default
    assert not sandbox.Charge.objects.exists()
    assert Activity.objects.filter(verb="payment_method.saved").count() == 1


def test_a_bank_account_can_be_saved(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    method = save(merchant, customer, bank_account(gateway))

    assert (method.kind, method.last4) == ("ach", "6789")


def test_single_use_tokens_are_refused(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    for vaulted in (wallet_payment(gateway, Money(1_000, "USD")), bnpl_plan(gateway, Money(60_000, "USD"))):
        with pytest.raises(NotAllowed, match="cannot be saved"):
            save(merchant, customer, vaulted)
    assert not SavedMethod.objects.exists()


def test_consent_is_required(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    with pytest.raises(InvalidInput, match="authorization"):
        saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=card(gateway),
            friendly_name="",
            billing_address="",
            consent_text="  ",
            consent_ip=None,
            now=clock.now(),
        )


def test_another_merchants_customer_is_not_found(
    merchant: Merchant, other_merchant: Merchant, gateway: SandboxGateway
) -> None:
    stranger = make_customer(other_merchant)
    with pytest.raises(NotFound):
        save(merchant, stranger, card(gateway))


def test_one_default_which_moves_on_removal(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    save(merchant, customer, card(gateway))
    second = save(merchant, customer, bank_account(gateway))
    third = save(merchant, customer, card(gateway, CARDS["charges_fail"]))
    assert (second.is_default, third.is_default) == (False, False)

    saved_method_set_default(merchant=merchant, saved_method_id=second.pk, now=clock.now())
    assert list(SavedMethod.objects.filter(is_default=True)) == [second]

    saved_method_remove(merchant=merchant, saved_method_id=second.pk, now=clock.now())
    assert list(SavedMethod.objects.filter(is_default=True)) == [third]
    assert SavedMethod.objects.get(pk=second.pk).removed_at is not None
    with pytest.raises(NotFound):
        saved_method_set_default(merchant=merchant, saved_method_id=second.pk, now=clock.now())


def test_editing_means_entering_it_again(merchant: Merchant, customer: Customer, gateway: SandboxGateway) -> None:
    old = save(merchant, customer, card(gateway), "Visa")

    new = saved_method_replace(
        merchant=merchant,
        saved_method_id=old.pk,
        vaulted=card(gateway, CARDS["insufficient_funds"]),
        friendly_name="New Visa",
        billing_address="2 Main St",
        consent_text=CONSENT,
        consent_ip="198.51.100.1",
        now=clock.now(),
    )

    old.refresh_from_db()
    assert old.removed_at is not None and not old.is_default
    assert new.token != old.token and new.is_default and new.last4 == "9995"
    assert (new.friendly_name, new.billing_address, new.consent_ip) == ("New Visa", "2 Main St", "198.51.100.1")
    assert not sandbox.Charge.objects.exists()


def test_a_method_of_another_merchant_is_not_found(
    merchant: Merchant, customer: Customer, other_merchant: Merchant, gateway: SandboxGateway
) -> None:
    method = save(merchant, customer, card(gateway))
    with merchant_scope(other_merchant), pytest.raises(NotFound):
        saved_method_remove(merchant=other_merchant, saved_method_id=method.pk, now=clock.now())


def test_saving_the_same_token_again_returns_the_first(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    method = card(gateway)
    first = save(merchant, customer, method)

    again = save(merchant, customer, method)

    assert again.pk == first.pk and SavedMethod.objects.count() == 1


def test_replacing_with_a_method_already_saved_keeps_that_one(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    old = save(merchant, customer, card(gateway), "Visa")
    other_method = card(gateway, CARDS["insufficient_funds"])
    other = save(merchant, customer, other_method, "Other Visa")

    kept = saved_method_replace(
        merchant=merchant,
        saved_method_id=old.pk,
        vaulted=other_method,
        friendly_name="",
        billing_address="",
        consent_text=CONSENT,
        consent_ip=None,
        now=clock.now(),
    )

    old.refresh_from_db()
    assert kept.pk == other.pk and kept.is_default and old.removed_at is not None
    assert SavedMethod.objects.filter(removed_at__isnull=True).count() == 1
