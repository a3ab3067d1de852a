"""Adding a payment method behind a single-use link: the customer chooses card or bank account,
names it, ticks the authorization, types the details on the sandbox's own fields, and comes back to
a saved method that carries the exact consent, time and IP; the link is then spent. Used, expired
and revoked links save nothing, a reload saves once, and no card number reaches the database. A
link that replaces a saved method says which, and the new method takes its place."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Customer
from settle.gateways.sandbox import SandboxGateway
from settle.payments.links import secure_link_create, secure_link_revoke
from settle.payments.models import ChargeAttempt, LinkPurpose, Payment, SavedMethod, SecureLink
from settle.payments.vault import saved_method_add, saved_method_remove
from settle.sandbox.models import Charge
from settle.tenants.models import Merchant
from tests.conftest import make_invoice
from tests.portal.conftest import payment_settings_set
from tests.portal.test_pay_by_card import enter_account, enter_card, local
from tests.sandbox.factories import ACCOUNTS, CARDS, card
from tests.sandbox.test_no_card_numbers import database_text, luhn_numbers

pytestmark = pytest.mark.django_db

METHOD_URL = "/l/method/"
SAVED_URL = "/l/method/saved/"
CARD_CONSENT = (
    "I authorize {name} to keep this card on file and to charge it for amounts I owe {name}, "
    "until I ask {name} to remove it."
)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def method_link(merchant: Merchant, customer: Customer, **kwargs: Any) -> tuple[SecureLink, str]:
    with merchant_scope(merchant):
        link, token = secure_link_create(
            merchant=merchant, purpose=LinkPurpose.ADD_PAYMENT_METHOD, customer_id=customer.pk, **kwargs
        )
    return link, f"/l/{token}/"


def opened(client: Client, merchant: Merchant, customer: Customer, **kwargs: Any) -> str:
    """Open a fresh add-payment-method link in `client`; returns the link's address."""
    _, url = method_link(merchant, customer, **kwargs)
    response = client.get(url)
    assert (response.status_code, response["Location"]) == (303, METHOD_URL)
    return url


def details(kind: str = "card", **extra: str) -> dict[str, str]:
    return {
        "kind": kind,
        "friendly_name": "Mary's business Visa",
        "billing_address": "12 Main Street\nSpringfield, IL 62701",
        "consent": "on",
    } | extra


def to_gateway(client: Client, data: dict[str, str], **headers: Any) -> str:
    """Post the form; returns the gateway page it sends the browser to."""
    response = client.post(METHOD_URL, data, **headers)
    assert response.status_code == 303, response.content.decode()
    return local(response["Location"])


def saved_by_card(client: Client, number: str = CARDS["success"], **headers: Any) -> str:
    """Fill in the form, type `number` on the sandbox's card fields; returns Settle's return URL."""
    fields_url = to_gateway(client, details(), **headers)
    assert fields_url.startswith("/sandbox/fields/card/")
    returned = enter_card(client, fields_url, number)
    assert returned.startswith("/l/method/return/?")
    return returned


def test_the_page_offers_what_the_merchant_takes(client: Client, merchant: Merchant, customer: Customer) -> None:
    opened(client, merchant, customer)
    page = client.get(METHOD_URL)
    words = text(page.content.decode())

    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in page and page["X-Content-Type-Options"] == "nosniff"
    assert merchant.name in words and "Add a payment method" in words
    assert 'href="?kind=card"' in page.content.decode() and 'href="?kind=ach"' in page.content.decode()
    assert CARD_CONSENT.format(name=merchant.name) in words and "Nothing is charged now." in words

    payment_settings_set(merchant, card_enabled=False)
    html = client.get(METHOD_URL).content.decode()
    assert "?kind=card" not in html and 'name="kind" value="ach"' in html
    assert "debit it electronically" in text(html)
    refused = client.post(METHOD_URL, details("card"))
    assert refused.status_code == 400 and "This kind of payment method is not available." in text(
        refused.content.decode()
    )


def test_a_card_is_saved_with_its_consent_and_the_link_is_spent(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    link_url = opened(client, merchant, customer)
    returned = saved_by_card(client, REMOTE_ADDR="198.51.100.7")

    response = client.get(returned, REMOTE_ADDR="203.0.113.9")

    assert (response.status_code, response["Location"]) == (303, SAVED_URL)
    method = SavedMethod.objects.get()
    assert (method.customer_id, method.kind, method.brand, method.last4) == (customer.pk, "card", "Visa", "4242")
    assert method.friendly_name == "Mary's business Visa" and method.is_default
    assert method.billing_address == "12 Main Street\nSpringfield, IL 62701"
    assert method.consent_text == CARD_CONSENT.format(name=merchant.name)
    assert method.consent_ip == "198.51.100.7"  # where the box was ticked from
    assert abs(method.consent_at - clock.now()) < dt.timedelta(minutes=1)
    assert SecureLink.objects.get().used_at is not None
    assert not Payment.objects.exists() and not ChargeAttempt.objects.exists() and not Charge.objects.exists()
    activity = Activity.objects.get(customer=customer, verb="payment_method.saved")
    assert activity.summary == "Payment method saved: Visa •••• 4242 — Mary's business Visa"

    page = client.get(SAVED_URL)
    words = text(page.content.decode())
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert "Payment method saved" in words and "Visa •••• 4242" in words and "Nothing was charged." in words
    assert CARDS["success"] not in page.content.decode()

    again = Client().get(link_url)
    assert again.status_code == 410 and "This link has already been used" in text(again.content.decode())
    assert client.get(METHOD_URL).status_code == 404


def test_a_bank_account_is_saved_with_the_debit_authorization(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    opened(client, merchant, customer)
    fields_url = to_gateway(client, details("ach", friendly_name="Shop checking"))
    assert fields_url.startswith("/sandbox/fields/bank/")

    client.get(enter_account(client, fields_url, ACCOUNTS["success"]))

    method = SavedMethod.objects.get()
    assert (method.kind, method.last4, method.friendly_name) == ("ach", "6789", "Shop checking")
    assert "debit it electronically" in method.consent_text and merchant.name in method.consent_text
    assert "•••• 6789" in text(client.get(SAVED_URL).content.decode())
    assert not Payment.objects.exists()


def test_the_consent_is_stored_in_the_words_the_customer_read(merchant: Merchant, customer: Customer) -> None:
    french = Client(HTTP_ACCEPT_LANGUAGE="fr")
    opened(french, merchant, customer)
    page = text(french.get(METHOD_URL).content.decode())
    assert "Ajouter un mode de paiement" in page

    french.get(saved_by_card(french))

    consent = SavedMethod.objects.get().consent_text
    assert consent.startswith(f"J’autorise {merchant.name} à conserver cette carte") and consent in page
    assert "Mode de paiement enregistré" in text(french.get(SAVED_URL).content.decode())


def test_an_unticked_authorization_is_refused(client: Client, merchant: Merchant, customer: Customer) -> None:
    opened(client, merchant, customer)
    data = details()
    del data["consent"]

    response = client.post(METHOD_URL, data)

    assert response.status_code == 400
    assert "Tick the box to give your authorization." in text(response.content.decode())
    assert not SavedMethod.objects.exists() and SecureLink.objects.get().used_at is None


def test_reloading_the_return_url_saves_once(client: Client, merchant: Merchant, customer: Customer) -> None:
    opened(client, merchant, customer)
    returned = saved_by_card(client)

    first = client.get(returned)
    again = client.get(returned)

    assert first["Location"] == again["Location"] == SAVED_URL
    assert SavedMethod.objects.count() == 1


def test_a_second_tab_saves_nothing_once_the_link_is_spent(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    opened(client, merchant, customer)
    first_tab = saved_by_card(client)
    second_tab = saved_by_card(client, CARDS["charges_fail"])

    client.get(first_tab)
    response = client.get(second_tab)

    assert response.status_code == 404
    assert SavedMethod.objects.count() == 1 and SavedMethod.objects.get().last4 == "4242"


def test_a_failure_while_saving_leaves_the_link_usable(
    client: Client, merchant: Merchant, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened(client, merchant, customer)
    returned = saved_by_card(client)

    def crash(**kwargs: Any) -> SavedMethod:
        raise RuntimeError("database went away")

    monkeypatch.setattr("settle.payments.profile_requests.saved_method_add", crash)
    with pytest.raises(RuntimeError):
        client.get(returned)
    monkeypatch.undo()

    assert not SavedMethod.objects.exists() and SecureLink.objects.get().used_at is None
    assert client.get(METHOD_URL).status_code == 200
    client.get(saved_by_card(client))
    assert SavedMethod.objects.count() == 1


def test_a_link_that_expires_before_the_return_saves_nothing(
    client: Client, merchant: Merchant, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened(client, merchant, customer, expires_in=dt.timedelta(minutes=15))
    returned = saved_by_card(client)
    later = clock.now() + dt.timedelta(minutes=16)
    monkeypatch.setattr(clock, "now", lambda: later)

    response = client.get(returned)

    assert response.status_code == 404
    assert not SavedMethod.objects.exists() and SecureLink.objects.get().used_at is None


@pytest.mark.parametrize("state", ["expired", "revoked", "used"])
def test_a_dead_link_shows_a_clear_page_and_saves_nothing(
    client: Client, merchant: Merchant, customer: Customer, state: str
) -> None:
    now = clock.now()
    if state == "expired":
        link, url = method_link(merchant, customer, now=now - dt.timedelta(days=8))
    else:
        link, url = method_link(merchant, customer)
    if state == "revoked":
        secure_link_revoke(merchant=merchant, link_id=link.pk)
    if state == "used":
        SecureLink.objects.filter(pk=link.pk).update(used_at=now)

    response = client.get(url)

    titles = {
        "expired": "This link has expired",
        "revoked": "This link was cancelled",
        "used": "This link has already been used",
    }
    assert response.status_code == 410 and titles[state] in text(response.content.decode())
    assert client.get(METHOD_URL).status_code == 404
    assert client.post(METHOD_URL, details()).status_code == 404
    assert not SavedMethod.objects.exists()


def test_cancelling_on_the_gateway_page_saves_nothing(client: Client, merchant: Merchant, customer: Customer) -> None:
    opened(client, merchant, customer)
    state = parse_qs(urlsplit(to_gateway(client, details())).query)["state"][0]

    response = client.get("/l/method/return/", {"state": state, "error": "cancelled"})

    assert response["Location"] == METHOD_URL
    assert "Cancelled. Nothing was saved." in text(client.get(METHOD_URL).content.decode())
    assert not SavedMethod.objects.exists() and SecureLink.objects.get().used_at is None


def test_a_state_from_another_session_is_refused(client: Client, merchant: Merchant, customer: Customer) -> None:
    opened(client, merchant, customer)
    returned = saved_by_card(client)
    stranger = Client()
    opened(stranger, merchant, customer)

    assert stranger.get(returned).status_code == 404
    assert Client().get(returned).status_code == 404
    assert Client().get(SAVED_URL).status_code == 404
    assert not SavedMethod.objects.exists()


def test_an_invoice_link_cannot_add_a_method(client: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer)
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant, purpose=LinkPurpose.PAY_INVOICE, customer_id=customer.pk, invoice_ids=[invoice.pk]
        )
    client.get(f"/l/{token}/")

    assert client.get(METHOD_URL).status_code == 404
    assert client.post(METHOD_URL, details()).status_code == 404


def test_no_card_number_reaches_the_database(client: Client, merchant: Merchant, customer: Customer) -> None:
    for number in (CARDS["success"], CARDS["charges_fail"]):
        browser = Client()
        opened(browser, merchant, customer)
        browser.get(saved_by_card(browser, " ".join(number[i : i + 4] for i in range(0, 16, 4))))

    assert SavedMethod.objects.count() == 2
    assert luhn_numbers(database_text()) == []


def test_nothing_to_save_when_the_merchant_takes_neither(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    payment_settings_set(merchant, card_enabled=False, ach_enabled=False)
    opened(client, merchant, customer)

    words = text(client.get(METHOD_URL).content.decode())

    assert "cannot take a payment method online right now" in words
    assert client.post(METHOD_URL, details()).status_code == 400


def saved_visa(merchant: Merchant, customer: Customer) -> SavedMethod:
    with merchant_scope(merchant):
        return saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=card(SandboxGateway(), CARDS["charges_fail"]),
            friendly_name="Old Visa",
            billing_address="",
            consent_text=CARD_CONSENT.format(name=merchant.name),
            consent_ip=None,
            now=clock.now(),
        )


def test_the_page_says_which_method_it_replaces_in_the_customers_language(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    old = saved_visa(merchant, customer)
    plain = Client()
    opened(plain, merchant, customer)
    opened(client, merchant, customer, replaces_method_id=old.pk)
    french = Client(HTTP_ACCEPT_LANGUAGE="fr")
    opened(french, merchant, customer, replaces_method_id=old.pk)

    page = client.get(METHOD_URL)
    plain_page = plain.get(METHOD_URL)

    assert "This replaces your Visa •••• 0341." in text(page.content.decode())
    assert "This replaces" not in text(plain_page.content.decode())
    for header in ("Content-Security-Policy", "Cache-Control", "Referrer-Policy", "X-Content-Type-Options"):
        assert page.get(header) == plain_page.get(header), header
    assert "<script" not in page.content.decode() and "style=" not in page.content.decode()
    assert "Ceci remplacera votre Visa •••• 0341." in text(french.get(METHOD_URL).content.decode())


def test_saving_through_a_replacing_link_puts_the_new_card_in_the_old_ones_place(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    old = saved_visa(merchant, customer)
    opened(client, merchant, customer, replaces_method_id=old.pk)

    response = client.get(saved_by_card(client))

    assert response["Location"] == SAVED_URL
    old.refresh_from_db()
    new = SavedMethod.objects.get(removed_at__isnull=True)
    assert old.removed_at is not None and new.is_default and new.last4 == "4242"
    assert Activity.objects.get(customer=customer, verb="payment_method.replaced").summary == (
        "Payment method Visa •••• 0341 — Old Visa replaced by Visa •••• 4242 — Mary's business Visa"
    )
    assert "Visa •••• 4242" in text(client.get(SAVED_URL).content.decode())


def test_a_method_removed_since_the_link_was_sent_is_not_mentioned(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    old = saved_visa(merchant, customer)
    opened(client, merchant, customer, replaces_method_id=old.pk)
    with merchant_scope(merchant):
        saved_method_remove(merchant=merchant, saved_method_id=old.pk, now=clock.now())

    assert "This replaces" not in text(client.get(METHOD_URL).content.decode())
