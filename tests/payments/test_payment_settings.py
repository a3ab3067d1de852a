"""Payment settings: one row per merchant made with defaults on first read, changed only by owners
and admins with every handle checked and stored normalised, and what a pay page offers for an
amount (buy-now-pay-later only from the merchant's minimum)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from settle.core.errors import InvalidInput, PermissionDenied
from settle.core.money import CurrencyMismatch, Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.gateways.base import MethodKind
from settle.gateways.registry import UnknownGateway
from settle.gateways.sandbox import SandboxGateway
from settle.payments.models import PaymentSettings
from settle.payments.payment_settings import payment_settings_get, payment_settings_update, payment_types_offered
from settle.payments.social import SocialApp
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_merchant

NOW = dt.datetime(2024, 3, 20, 16, 0, tzinfo=dt.UTC)


class CardOnlyGateway(SandboxGateway):
    kinds = frozenset({MethodKind.CARD})


def owner(merchant: Merchant) -> Membership:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER)


def member(merchant: Merchant, role: str) -> Membership:
    return membership_set(merchant=merchant, acting=owner(merchant), email=f"{role}@example.com", role=role)


def changes(merchant: Merchant, **overrides: Any) -> dict[str, Any]:
    """Everything the settings page posts, as the service takes it."""
    values: dict[str, Any] = {
        "gateway": "sandbox",
        "card_enabled": True,
        "ach_enabled": True,
        "wallets_enabled": True,
        "bnpl_enabled": False,
        "bnpl_minimum": Money.parse(50, merchant.currency),
        "partial_payments_allowed": False,
        "confirmation_message_enabled": False,
        "venmo_username": "",
        "paypal_handle": "",
        "cashapp_cashtag": "",
        "zelle_recipient": "",
    }
    return {**values, **overrides}


def update(merchant: Merchant, *, acting: Membership | None = None, **overrides: Any) -> PaymentSettings:
    return payment_settings_update(
        merchant=merchant, acting=acting or owner(merchant), now=NOW, **changes(merchant, **overrides)
    )


def stored(merchant: Merchant) -> dict[str, Any]:
    with all_merchants():
        row = PaymentSettings.objects.filter(merchant=merchant).values().get()
    return {key: value for key, value in row.items() if key not in ("id", "merchant_id")}


# --- defaults -----------------------------------------------------------------------------------


def test_the_first_read_creates_the_defaults(merchant: Merchant) -> None:
    row = payment_settings_get(merchant=merchant)

    assert stored(merchant) == {
        "gateway": "sandbox",
        "card_enabled": True,
        "ach_enabled": True,
        "wallets_enabled": True,
        "bnpl_enabled": False,
        "currency": "USD",
        "bnpl_minimum_minor": 50_00,
        "partial_payments_allowed": False,
        "confirmation_message_enabled": False,
        "venmo_username": "",
        "paypal_handle": "",
        "cashapp_cashtag": "",
        "zelle_recipient": "",
        "updated_at": None,
        "updated_by_id": None,
    }
    assert row.bnpl_minimum == Money(50_00, "USD")


def test_partial_payments_are_off_until_the_merchant_allows_them(merchant: Merchant) -> None:
    assert payment_settings_get(merchant=merchant).partial_payments_allowed is False

    assert update(merchant, partial_payments_allowed=True).partial_payments_allowed is True
    assert payment_settings_get(merchant=merchant).partial_payments_allowed is True


@pytest.mark.parametrize(("currency", "minimum_minor"), [("JPY", 50), ("KWD", 50_000), ("EUR", 50_00)])
def test_the_default_minimum_is_fifty_in_the_merchants_currency(db: None, currency: str, minimum_minor: int) -> None:
    shop = make_merchant(currency=currency)

    with merchant_scope(shop):
        assert payment_settings_get(merchant=shop).bnpl_minimum == Money(minimum_minor, currency)


@override_settings(SETTLE_GATEWAYS={"acme": "tests.payments.test_payment_settings.CardOnlyGateway"})
def test_the_default_gateway_is_the_first_configured(merchant: Merchant) -> None:
    assert payment_settings_get(merchant=merchant).gateway == "acme"


def test_reading_again_is_one_query_and_the_same_row(merchant: Merchant) -> None:
    first = payment_settings_get(merchant=merchant)

    with CaptureQueriesContext(connection) as queries:
        again = payment_settings_get(merchant=merchant)

    assert again.pk == first.pk
    assert len(queries) == 1


def test_each_merchant_gets_its_own_row(merchant: Merchant, other_merchant: Merchant) -> None:
    update(merchant, venmo_username="first-shop", bnpl_enabled=True)

    with merchant_scope(other_merchant):
        theirs = payment_settings_get(merchant=other_merchant)
        assert (theirs.venmo_username, theirs.bnpl_enabled) == ("", False)
        update(other_merchant, paypal_handle="OtherShop")

    mine = payment_settings_get(merchant=merchant)
    assert (mine.venmo_username, mine.paypal_handle, mine.bnpl_enabled) == ("first-shop", "", True)
    assert mine.pk != theirs.pk
    with all_merchants():
        assert PaymentSettings.objects.count() == 2


def test_another_merchants_row_cannot_be_read_in_this_merchants_scope(
    merchant: Merchant, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        update(other_merchant, venmo_username="other-shop")

    assert list(PaymentSettings.objects.values_list("venmo_username", flat=True)) == []


def test_a_new_currency_resets_the_minimum(merchant: Merchant) -> None:
    update(merchant, bnpl_minimum=Money(120_00, "USD"))
    merchant.currency = "JPY"
    merchant.save(update_fields=["currency"])

    row = payment_settings_get(merchant=merchant)

    assert row.bnpl_minimum == Money(50, "JPY")
    assert stored(merchant)["currency"] == "JPY"


# --- changes ------------------------------------------------------------------------------------


def test_the_owner_changes_everything_and_handles_are_stored_normalised(merchant: Merchant) -> None:
    acting = owner(merchant)

    update(
        merchant,
        bnpl_enabled=True,
        bnpl_minimum=Money(250_00, "USD"),
        ach_enabled=False,
        partial_payments_allowed=True,
        confirmation_message_enabled=True,
        venmo_username=" @Jane-Doe ",
        paypal_handle="https://paypal.me/JaneDoe",
        cashapp_cashtag="JaneDoe",
        zelle_recipient="(212) 555-0123",
    )

    assert stored(merchant) == {
        "gateway": "sandbox",
        "card_enabled": True,
        "ach_enabled": False,
        "wallets_enabled": True,
        "bnpl_enabled": True,
        "currency": "USD",
        "bnpl_minimum_minor": 250_00,
        "partial_payments_allowed": True,
        "confirmation_message_enabled": True,
        "venmo_username": "Jane-Doe",
        "paypal_handle": "JaneDoe",
        "cashapp_cashtag": "$JaneDoe",
        "zelle_recipient": "+12125550123",
        "updated_at": NOW,
        "updated_by_id": acting.user_id,
    }


def test_an_admin_may_change_settings(merchant: Merchant) -> None:
    admin = member(merchant, Role.ADMIN)

    update(merchant, acting=admin, zelle_recipient="Pay@Shop.example")

    assert stored(merchant)["zelle_recipient"] == "pay@shop.example"
    assert stored(merchant)["updated_by_id"] == admin.user_id


@pytest.mark.parametrize("role", [Role.STAFF, Role.READ_ONLY])
def test_only_owners_and_admins_change_settings(merchant: Merchant, role: str) -> None:
    payment_settings_get(merchant=merchant)
    before = stored(merchant)

    with pytest.raises(PermissionDenied) as error:
        update(merchant, acting=member(merchant, role), venmo_username="not-mine")

    assert error.value.message == "Only owners and admins change payment settings."
    assert stored(merchant) == before


def test_an_owner_of_another_merchant_cannot_change_these(merchant: Merchant, other_merchant: Merchant) -> None:
    with pytest.raises(PermissionDenied):
        update(merchant, acting=owner(other_merchant), venmo_username="not-mine")

    with all_merchants():
        assert not PaymentSettings.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"venmo_username": "jane"}, "venmo_username", "A Venmo username has 5 to 30 letters"),
        ({"paypal_handle": "jane.doe"}, "paypal_handle", "A PayPal.me handle has 1 to 20"),
        ({"cashapp_cashtag": "$2024"}, "cashapp_cashtag", "with at least one letter"),
        ({"zelle_recipient": "12"}, "zelle_recipient", "is not a valid phone number"),
        ({"bnpl_minimum": Money(-1, "USD")}, "bnpl_minimum", "The minimum cannot be negative."),
        ({"bnpl_minimum": Money(10**12 + 1, "USD")}, "bnpl_minimum", "That amount is too large."),
        ({"bnpl_minimum": Money(50_00, "CAD")}, "bnpl_minimum", "Enter the minimum in USD."),
        ({"gateway": "stripe"}, "gateway", "No payment gateway named “stripe” (configured: sandbox)."),
    ],
)
def test_a_refused_change_names_the_field_and_writes_nothing(
    merchant: Merchant, overrides: dict[str, Any], field: str, message: str
) -> None:
    payment_settings_get(merchant=merchant)
    before = stored(merchant)

    with pytest.raises(InvalidInput) as error:
        update(merchant, **{"venmo_username": "kept-valid", **overrides})

    assert error.value.field == field
    assert message in error.value.message
    assert stored(merchant) == before


def test_an_unknown_gateway_is_its_own_error(merchant: Merchant) -> None:
    with pytest.raises(UnknownGateway):
        update(merchant, gateway="stripe")


def test_a_zero_minimum_offers_buy_now_pay_later_on_any_amount(merchant: Merchant) -> None:
    row = update(merchant, bnpl_enabled=True, bnpl_minimum=Money(0, "USD"))

    assert MethodKind.BNPL in payment_types_offered(row, Money(1, "USD"))


@override_settings(SETTLE_GATEWAYS={"acme": "tests.payments.test_payment_settings.CardOnlyGateway"})
@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ("ach_enabled", "The acme gateway does not take bank accounts (ACH)."),
        ("wallets_enabled", "The acme gateway does not take Apple Pay or Google Pay."),
        ("bnpl_enabled", "The acme gateway does not take buy now, pay later."),
    ],
)
def test_a_payment_type_the_gateway_does_not_handle_is_refused(merchant: Merchant, switch: str, message: str) -> None:
    off: dict[str, Any] = {"ach_enabled": False, "wallets_enabled": False, "bnpl_enabled": False}

    with pytest.raises(InvalidInput) as error:
        update(merchant, gateway="acme", **{**off, switch: True})

    assert (error.value.field, error.value.message) == (switch, message)
    assert update(merchant, gateway="acme", **off).gateway == "acme"


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("venmo_username", "jane-doe", "Venmo"),
        ("cashapp_cashtag", "$jane", "Cash App"),
        ("zelle_recipient", "a@b.fr", "Zelle"),
    ],
)
def test_apps_that_move_only_dollars_are_refused_in_another_currency(
    db: None, field: str, value: str, label: str
) -> None:
    shop = make_merchant(currency="EUR", locale="fr_FR")
    handle: dict[str, Any] = {field: value}

    with merchant_scope(shop), pytest.raises(InvalidInput) as error:
        update(shop, **handle)

    assert (error.value.field, error.value.message) == (field, f"{label} cannot send EUR.")
    with merchant_scope(shop):
        assert update(shop, paypal_handle="boutique").paypal_handle == "boutique"


def test_zelle_phones_are_read_in_the_merchants_country(db: None) -> None:
    shop = make_merchant(locale="en_CA")

    with merchant_scope(shop):
        assert update(shop, zelle_recipient="514 555 0123").zelle_recipient == "+15145550123"


# --- what a pay page offers ---------------------------------------------------------------------


def test_gateway_types_are_offered_when_on(merchant: Merchant) -> None:
    row = update(merchant, ach_enabled=False)

    assert payment_types_offered(row, Money(10_00, "USD")) == [MethodKind.CARD, MethodKind.WALLET]


@pytest.mark.parametrize(
    ("amount_minor", "offered"),
    [(99_99, False), (100_00, True), (100_01, True)],
    ids=["below", "equal", "above"],
)
def test_buy_now_pay_later_from_the_minimum(merchant: Merchant, amount_minor: int, offered: bool) -> None:
    row = update(merchant, bnpl_enabled=True, bnpl_minimum=Money(100_00, "USD"))

    assert (MethodKind.BNPL in payment_types_offered(row, Money(amount_minor, "USD"))) is offered


def test_buy_now_pay_later_off_is_never_offered(merchant: Merchant) -> None:
    row = update(merchant, bnpl_enabled=False, bnpl_minimum=Money(0, "USD"))

    assert MethodKind.BNPL not in payment_types_offered(row, Money(10**9, "USD"))


def test_social_apps_are_offered_when_configured(merchant: Merchant) -> None:
    row = update(
        merchant,
        card_enabled=False,
        ach_enabled=False,
        wallets_enabled=False,
        bnpl_enabled=True,
        venmo_username="jane-doe",
        zelle_recipient="jane@example.com",
    )

    assert payment_types_offered(row, Money(50_00, "USD")) == [MethodKind.BNPL, SocialApp.VENMO, SocialApp.ZELLE]
    assert payment_types_offered(row, Money(49_99, "USD")) == [SocialApp.VENMO, SocialApp.ZELLE]


def test_nothing_is_offered_for_nothing_due(merchant: Merchant) -> None:
    assert payment_types_offered(payment_settings_get(merchant=merchant), Money(0, "USD")) == []


def test_an_amount_in_another_currency_is_refused(merchant: Merchant) -> None:
    with pytest.raises(CurrencyMismatch):
        payment_types_offered(payment_settings_get(merchant=merchant), Money(10_00, "EUR"))
