"""Social payment apps: strict handles stored normalised, and links that open each app with the
exact amount (never a float) and the invoice number, URL-encoded, in the merchant's currency only.
Pure functions: no database."""

from __future__ import annotations

import pytest

from settle.core.errors import InvalidInput
from settle.core.money import CurrencyMismatch, Money
from settle.payments.models import PaymentSettings
from settle.payments.social import SocialApp, SocialOption, handle_normalize, social_options


def settings_with(currency: str = "USD", **handles: str) -> PaymentSettings:
    return PaymentSettings(currency=currency, bnpl_minimum_minor=0, **handles)


ALL_APPS = {
    "venmo_username": "jane-doe_22",
    "paypal_handle": "JaneDoe",
    "cashapp_cashtag": "$JaneDoe",
    "zelle_recipient": "jane@example.com",
}


# --- handles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "typed", "stored"),
    [
        (SocialApp.VENMO, "jane-doe_22", "jane-doe_22"),
        (SocialApp.VENMO, "  @JaneDoe  ", "JaneDoe"),
        (SocialApp.VENMO, "https://venmo.com/u/jane-doe", "jane-doe"),
        (SocialApp.VENMO, "venmo.com/jane_doe/", "jane_doe"),
        (SocialApp.VENMO, "abcde", "abcde"),
        (SocialApp.VENMO, "a" * 30, "a" * 30),
        (SocialApp.PAYPAL, "JaneDoe", "JaneDoe"),
        (SocialApp.PAYPAL, "j", "j"),
        (SocialApp.PAYPAL, "https://www.paypal.me/janedoe2", "janedoe2"),
        (SocialApp.PAYPAL, "paypal.me/JaneDoe", "JaneDoe"),
        (SocialApp.PAYPAL, "https://www.paypal.com/paypalme/JaneDoe", "JaneDoe"),
        (SocialApp.PAYPAL, "x" * 20, "x" * 20),
        (SocialApp.CASH_APP, "$JaneDoe", "$JaneDoe"),
        (SocialApp.CASH_APP, "JaneDoe", "$JaneDoe"),
        (SocialApp.CASH_APP, "https://cash.app/$jane99", "$jane99"),
        (SocialApp.CASH_APP, "$a", "$a"),
        (SocialApp.CASH_APP, "$" + "7" * 19 + "z", "$" + "7" * 19 + "z"),
        (SocialApp.ZELLE, " Jane@Example.COM ", "jane@example.com"),
        (SocialApp.ZELLE, "(212) 555-0123", "+12125550123"),
        (SocialApp.ZELLE, "+1 514 555 0123", "+15145550123"),
        (SocialApp.VENMO, "", ""),
        (SocialApp.ZELLE, "   ", ""),
    ],
)
def test_good_handles_are_stored_normalised(app: SocialApp, typed: str, stored: str) -> None:
    assert handle_normalize(app, typed) == stored


@pytest.mark.parametrize(
    ("app", "typed", "field", "message"),
    [
        (SocialApp.VENMO, "jane", "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.VENMO, "a" * 31, "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.VENMO, "jane doe", "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.VENMO, "jane.doe", "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.VENMO, "jané-doe", "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.VENMO, "janedoe?txn=charge", "venmo_username", "A Venmo username has 5 to 30 letters"),
        (SocialApp.PAYPAL, "x" * 21, "paypal_handle", "A PayPal.me handle has 1 to 20 letters or digits."),
        (SocialApp.PAYPAL, "jane-doe", "paypal_handle", "A PayPal.me handle has 1 to 20 letters or digits."),
        (SocialApp.PAYPAL, "jane/10USD", "paypal_handle", "A PayPal.me handle has 1 to 20 letters or digits."),
        (SocialApp.PAYPAL, "paypal.me/", "paypal_handle", "A PayPal.me handle has 1 to 20 letters or digits."),
        (SocialApp.CASH_APP, "$", "cashapp_cashtag", "A $Cashtag is “$” and 1 to 20 letters or digits"),
        (SocialApp.CASH_APP, "$12345", "cashapp_cashtag", "with at least one letter"),
        (SocialApp.CASH_APP, "$" + "a" * 21, "cashapp_cashtag", "A $Cashtag is “$” and 1 to 20 letters or digits"),
        (SocialApp.CASH_APP, "$jane_doe", "cashapp_cashtag", "A $Cashtag is “$” and 1 to 20 letters or digits"),
        (SocialApp.CASH_APP, "$$jane", "cashapp_cashtag", "A $Cashtag is “$” and 1 to 20 letters or digits"),
        (SocialApp.ZELLE, "jane@", "zelle_recipient", "“jane@” is not a valid e-mail address."),
        (SocialApp.ZELLE, "555-0123", "zelle_recipient", "“555-0123” is not a valid phone number."),
        (SocialApp.ZELLE, "call me", "zelle_recipient", "“call me” is not a phone number."),
    ],
)
def test_bad_handles_are_refused_naming_the_field(app: SocialApp, typed: str, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        handle_normalize(app, typed)

    assert error.value.field == field
    assert message in error.value.message


def test_zelle_phones_are_read_in_the_merchants_region() -> None:
    assert handle_normalize(SocialApp.ZELLE, "06 12 34 56 78", region="FR") == "+33612345678"
    assert handle_normalize(SocialApp.ZELLE, "514-555-0123", region="CA") == "+15145550123"


# --- links --------------------------------------------------------------------------------------


def test_each_configured_app_opens_with_the_amount_and_invoice_number() -> None:
    options = social_options(settings_with(**ALL_APPS), Money(12_50, "USD"), "INV-00012")

    assert [(o.app, o.label, o.url) for o in options] == [
        (SocialApp.VENMO, "Venmo", "https://venmo.com/jane-doe_22?txn=pay&amount=12.50&note=INV-00012"),
        (SocialApp.PAYPAL, "PayPal", "https://paypal.me/JaneDoe/12.50USD"),
        (SocialApp.CASH_APP, "Cash App", "https://cash.app/$JaneDoe/12.50"),
        (SocialApp.ZELLE, "Zelle", None),
    ]
    assert [o.handle for o in options] == ["@jane-doe_22", "paypal.me/JaneDoe", "$JaneDoe", "jane@example.com"]
    assert options[0].instructions == "Opens Venmo with $12.50 and the invoice number filled in."
    assert options[1].instructions == "Opens PayPal with $12.50 filled in. Add “INV-00012” as the note."
    assert options[2].instructions == "Opens Cash App with $12.50 filled in. Add “INV-00012” as the note."


def test_zelle_has_no_link_but_says_what_to_type() -> None:
    (option,) = social_options(settings_with(zelle_recipient="+12125550123"), Money(1_234_50, "USD"), "INV-7")

    assert option == SocialOption(
        app=SocialApp.ZELLE,
        label="Zelle",
        url=None,
        instructions="In your bank’s app, send $1,234.50 with Zelle to +1 212-555-0123 and type “INV-7” as the memo.",
        handle="+1 212-555-0123",
        amount=Money(1_234_50, "USD"),
        memo="INV-7",
    )


def test_an_invoice_number_with_spaces_and_ampersands_is_encoded() -> None:
    settings = settings_with(venmo_username="jane-doe")

    (option,) = social_options(settings, Money(5_00, "USD"), "Job 12 & 13 #4/5+")

    assert option.url == "https://venmo.com/jane-doe?txn=pay&amount=5.00&note=Job%2012%20%26%2013%20%234%2F5%2B"
    assert option.memo == "Job 12 & 13 #4/5+"


def test_a_yen_amount_has_no_decimals() -> None:
    (option,) = social_options(settings_with("JPY", paypal_handle="tanaka"), Money(1000, "JPY"), "A-1")

    assert option.url == "https://paypal.me/tanaka/1000JPY"


def test_a_dinar_amount_has_three_decimals() -> None:
    (option,) = social_options(settings_with("KWD", paypal_handle="salem"), Money(12_345, "KWD"), "A-1")

    assert option.url == "https://paypal.me/salem/12.345KWD"


def test_whole_and_large_amounts_stay_plain_decimals() -> None:
    settings = settings_with(cashapp_cashtag="$jane")

    assert social_options(settings, Money(100, "USD"), "A")[0].url == "https://cash.app/$jane/1.00"
    assert social_options(settings, Money(10**12, "USD"), "A")[0].url == "https://cash.app/$jane/10000000000.00"
    assert social_options(settings, Money(1, "USD"), "A")[0].url == "https://cash.app/$jane/0.01"


def test_apps_that_move_only_dollars_are_not_offered_in_another_currency() -> None:
    options = social_options(settings_with("EUR", **ALL_APPS), Money(20_00, "EUR"), "F-1", locale="fr_FR")

    assert [(o.app, o.url) for o in options] == [(SocialApp.PAYPAL, "https://paypal.me/JaneDoe/20.00EUR")]
    assert options[0].instructions == "Opens PayPal with 20,00\xa0€ filled in. Add “F-1” as the note."


def test_only_the_merchants_currency() -> None:
    with pytest.raises(CurrencyMismatch):
        social_options(settings_with(**ALL_APPS), Money(12_50, "CAD"), "INV-1")


def test_nothing_to_pay_offers_nothing() -> None:
    assert social_options(settings_with(**ALL_APPS), Money(0, "USD"), "INV-1") == []


def test_no_handles_no_options() -> None:
    assert social_options(settings_with(), Money(12_50, "USD"), "INV-1") == []
