"""Settings → Payments in the back office: owners and admins save, every mistake shows inline and
writes nothing, other staff see the settings without a save button, one merchant never sees
another's handles, and the page costs a bounded number of queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.messaging.models import Message, Purpose
from settle.payments.models import PaymentSettings
from settle.payments.payment_settings import payment_settings_get, payment_settings_update
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_merchant

NOW = dt.datetime(2024, 3, 20, 16, 0, tzinfo=dt.UTC)
URL = "/settings/payments/"


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


def owner_of(merchant: Merchant) -> Membership:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER)


def member(merchant: Merchant, role: str) -> User:
    return membership_set(merchant=merchant, acting=owner_of(merchant), email=f"{role}@example.com", role=role).user


@pytest.fixture
def owner_client(client: Client, merchant: Merchant) -> Client:
    client.force_login(owner_of(merchant).user)
    return client


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "gateway": "sandbox",
        "card_enabled": "on",
        "wallets_enabled": "on",
        "bnpl_enabled": "on",
        "bnpl_minimum": "150.00",
        "partial_payments_allowed": "on",
        "venmo_username": "@Jane-Doe",
        "paypal_handle": "paypal.me/JaneDoe",
        "cashapp_cashtag": "JaneDoe",
        "zelle_recipient": "(212) 555-0123",
    }
    return {**data, **overrides}


def stored(merchant: Merchant) -> dict[str, Any]:
    with all_merchants():
        return dict(PaymentSettings.objects.filter(merchant=merchant).values().get())


def test_the_url_and_the_settings_tab(owner_client: Client) -> None:
    assert reverse("backoffice:settings_payments") == URL

    html = owner_client.get(reverse("backoffice:settings")).content.decode()

    assert f'href="{URL}"' in html
    assert ">Payments</a>" in html


def test_the_owner_sees_the_defaults(owner_client: Client) -> None:
    response = owner_client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'class="tab active" href="{URL}" aria-current="page">Payments</a>' in html
    assert '<a href="/settings/" aria-current="page">Settings</a>' in html
    assert '<option value="sandbox" selected>Sandbox</option>' in html
    assert 'name="card_enabled" id="id_card_enabled" checked' in html
    assert 'name="bnpl_enabled" id="id_bnpl_enabled">' in html
    assert 'name="partial_payments_allowed" id="id_partial_payments_allowed">' in html
    assert 'name="bnpl_minimum" value="50.00"' in html
    assert "Save payment settings" in html
    assert "Check your links" not in html


def test_the_owner_saves_and_sees_saved(owner_client: Client, merchant: Merchant) -> None:
    response = owner_client.post(URL, form_data(), follow=True)

    assert response.redirect_chain == [(URL, 302)]
    html = response.content.decode()
    assert "Payment settings saved." in html
    row = stored(merchant)
    assert {key: row[key] for key in row if key not in ("id", "merchant_id")} == {
        "gateway": "sandbox",
        "card_enabled": True,
        "ach_enabled": False,
        "wallets_enabled": True,
        "bnpl_enabled": True,
        "currency": "USD",
        "bnpl_minimum_minor": 150_00,
        "partial_payments_allowed": True,
        "confirmation_message_enabled": False,
        "venmo_username": "Jane-Doe",
        "paypal_handle": "JaneDoe",
        "cashapp_cashtag": "$JaneDoe",
        "zelle_recipient": "+12125550123",
        "updated_at": NOW,
        "updated_by_id": owner_of(merchant).user_id,
    }
    assert 'value="Jane-Doe"' in html and 'value="$JaneDoe"' in html and 'value="+12125550123"' in html
    assert "https://venmo.com/Jane-Doe?txn=pay&amp;amount=1.00&amp;note=TEST" in html
    assert "https://paypal.me/JaneDoe/1.00USD" in html
    assert "https://cash.app/$JaneDoe/1.00" in html
    assert "send $1.00 with Zelle to +1 212-555-0123" in html
    assert "Last changed 20 Mar 2024, 12:00 by owner" in html


def test_amounts_are_typed_the_merchants_way(client: Client, db: None) -> None:
    shop = make_merchant(currency="EUR", locale="fr_FR")
    client.force_login(owner_of(shop).user)
    response = client.post(
        URL, form_data(bnpl_minimum="1 200,50", venmo_username="", cashapp_cashtag="", zelle_recipient="")
    )

    assert response.status_code == 302
    assert stored(shop)["bnpl_minimum_minor"] == 1_200_50
    assert 'name="bnpl_minimum" value="1200,50"' in client.get(URL).content.decode()


def test_every_bad_handle_shows_inline_at_once_and_nothing_is_written(owner_client: Client, merchant: Merchant) -> None:
    payment_settings_get(merchant=merchant)
    before = stored(merchant)

    response = owner_client.post(
        URL, form_data(venmo_username="jane", paypal_handle="jane.doe", cashapp_cashtag="$2024", zelle_recipient="12")
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "A Venmo username has 5 to 30 letters, digits, hyphens or underscores." in html
    assert "A PayPal.me handle has 1 to 20 letters or digits." in html
    assert "with at least one letter." in html
    assert "“12” is not a valid phone number." in html
    assert 'value="jane.doe"' in html
    assert stored(merchant) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bnpl_minimum": "-5"}, "The minimum cannot be negative."),
        ({"bnpl_minimum": "12.345"}, "USD amounts have at most 2 decimal places."),
        ({"bnpl_minimum": ""}, "This field is required."),
        ({"gateway": "stripe"}, "Select a valid choice."),
    ],
)
def test_other_mistakes_show_inline(
    owner_client: Client, merchant: Merchant, overrides: dict[str, str], message: str
) -> None:
    response = owner_client.post(URL, form_data(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    with all_merchants():
        assert not PaymentSettings.objects.filter(updated_at__isnull=False).exists()


def test_an_admin_saves_too(client: Client, merchant: Merchant) -> None:
    client.force_login(member(merchant, Role.ADMIN))

    assert client.post(URL, form_data()).status_code == 302
    assert stored(merchant)["venmo_username"] == "Jane-Doe"


@pytest.mark.parametrize("role", [Role.STAFF, Role.READ_ONLY])
def test_other_staff_see_the_settings_without_a_save_button(client: Client, merchant: Merchant, role: str) -> None:
    owner = owner_of(merchant)
    payment_settings_update(
        merchant=merchant,
        acting=owner,
        now=NOW,
        gateway="sandbox",
        card_enabled=True,
        ach_enabled=True,
        wallets_enabled=True,
        bnpl_enabled=False,
        bnpl_minimum=Money(50_00, "USD"),
        partial_payments_allowed=False,
        confirmation_message_enabled=False,
        venmo_username="shop-venmo",
        paypal_handle="",
        cashapp_cashtag="",
        zelle_recipient="",
    )
    before = stored(merchant)
    client.force_login(member(merchant, role))

    html = client.get(URL).content.decode()

    assert 'value="shop-venmo"' in html
    assert 'name="venmo_username" value="shop-venmo" maxlength="100" disabled' in html
    assert "Save payment settings" not in html
    assert "Only owners and admins change these settings." in html
    response = client.post(URL, form_data(venmo_username="mine-now"))
    assert response.status_code == 403
    assert stored(merchant) == before


def test_another_merchants_settings_never_show(
    owner_client: Client, merchant: Merchant, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        other = owner_of(other_merchant)
        payment_settings_update(
            merchant=other_merchant,
            acting=other,
            now=NOW,
            gateway="sandbox",
            card_enabled=True,
            ach_enabled=True,
            wallets_enabled=True,
            bnpl_enabled=True,
            bnpl_minimum=Money(1_00, "USD"),
            partial_payments_allowed=True,
            confirmation_message_enabled=True,
            venmo_username="their-venmo",
            paypal_handle="TheirPaypal",
            cashapp_cashtag="$theirs",
            zelle_recipient="them@example.com",
        )

    html = owner_client.get(URL).content.decode()

    assert "their" not in html.lower()
    assert 'name="bnpl_minimum" value="50.00"' in html
    assert owner_client.post(URL, form_data(venmo_username="mine-only")).status_code == 302
    assert stored(other_merchant)["venmo_username"] == "their-venmo"
    assert stored(merchant)["venmo_username"] == "mine-only"


def test_the_page_costs_a_bounded_number_of_queries(owner_client: Client, merchant: Merchant) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(URL).status_code == 200
        return len(captured)

    first = queries()  # creates the row
    blank = queries()
    owner_client.post(URL, form_data())
    configured = queries()

    assert blank < first
    assert configured == blank + 1  # who last changed them
    assert configured <= 8


def test_a_test_of_the_confirmation_is_sent_by_the_channel_chosen(owner_client: Client, merchant: Merchant) -> None:
    payment_settings_get(merchant=merchant)
    before = stored(merchant)

    by_email = owner_client.post(URL, {"send_test": "1", "channel": "email", "to": "Me@Example.com"}, follow=True)
    by_text = owner_client.post(URL, {"send_test": "1", "channel": "sms", "to": "(212) 555-0123"}, follow=True)

    assert "Test confirmation queued to me@example.com." in by_email.content.decode()
    assert "Test confirmation queued to +12125550123." in by_text.content.decode()
    sent = Message.objects.order_by("pk")
    assert [(m.channel, m.recipient, m.purpose, m.is_test) for m in sent] == [
        ("email", "me@example.com", Purpose.PAYMENT_CONFIRMATION, True),
        ("sms", "+12125550123", Purpose.PAYMENT_CONFIRMATION, True),
    ]
    assert sent[0].subject == "[Test] Thank you for your payment" and "Alex Sample" in sent[0].body
    assert stored(merchant) == before  # the settings are untouched


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"channel": "email", "to": "nobody@"}, "to", "“nobody@” is not a valid e-mail address."),
        ({"channel": "email", "to": ""}, "to", "This field is required."),
        ({"channel": "fax", "to": "me@example.com"}, "channel", "Select a valid choice."),
    ],
)
def test_a_test_that_cannot_be_sent_shows_why(
    owner_client: Client, data: dict[str, str], field: str, error: str
) -> None:
    response = owner_client.post(URL, {"send_test": "1", **data})

    assert response.status_code == 200
    assert error in response.context["test_form"].errors[field][0]
    assert error in response.content.decode() and not Message.objects.exists()
