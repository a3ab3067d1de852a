"""Every way to pay on the customer's page besides a card typed once: a wallet's sheet, pay-later
(only from the merchant's minimum, checked on the server), the customer's saved methods (never on
a public link, never another customer's), saving a card with the authorization the customer read,
and refusals told in the customer's language."""

from __future__ import annotations

import html as html_text
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import translation

from settle.core import clock
from settle.core.errors import InvalidInput
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.payments.models import (
    ChargeAttempt,
    Payment,
    PaymentMethod,
    SavedMethod,
)
from settle.payments.vault import saved_method_add, saved_method_remove
from settle.payments.verify import ledger_verify
from settle.portal import pay_views
from settle.sandbox.models import Charge
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing
from tests.portal.conftest import payment_settings_set
from tests.portal.test_pay_by_card import (
    INVOICE_URL,
    PAID_URL,
    PAY_URL,
    enter_card,
    local,
    notice,
    opened,
    start,
    text,
)
from tests.sandbox.factories import CARDS, bank_account, card

pytestmark = pytest.mark.django_db

CONSENT = "I authorize the shop to charge this card when I choose to."


def saved(merchant: Merchant, customer: Customer, name: str = "", number: str = CARDS["success"]) -> SavedMethod:
    """A card the customer saved earlier (from a profile request, say)."""
    with merchant_scope(merchant):
        return saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=card(SandboxGateway(), number),
            friendly_name=name,
            billing_address="",
            consent_text=CONSENT,
            consent_ip="203.0.113.9",
            now=clock.now(),
        )


def page(client: Client) -> str:
    response = client.get(INVOICE_URL)
    assert response.status_code == 200
    return response.content.decode()


def checkout_key(html: str) -> str:
    found = re.search(r'name="checkout" value="([^"]+)"', html)
    assert found, "the pay form carries its key"
    return found.group(1)


def nothing_charged() -> None:
    assert not Charge.objects.exists() and not ChargeAttempt.objects.exists() and not Payment.objects.exists()


# Wallets


def test_a_wallet_pays_the_invoice_through_its_sheet_once(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    html = page(opened(client, merchant, invoice))
    assert 'value="apple_pay"' in html and 'value="google_pay"' in html
    assert "Pay with Apple Pay" in text(html) and "Pay with Google Pay" in text(html)

    sheet = start(client, "apple_pay")
    assert sheet.startswith("/sandbox/wallet/") and parse_qs(urlsplit(sheet).query)["amount_minor"] == ["12345"]
    paid = client.post(sheet, {"card": "4242"})
    returned = local(paid["Location"])
    first, again = client.get(returned), client.get(returned)

    assert first["Location"] == again["Location"] == PAID_URL
    payment = Payment.objects.get()
    assert (payment.method, payment.card_brand, payment.last4, payment.amount_minor) == (
        PaymentMethod.WALLET,
        "Apple Pay",
        "4242",
        123_45,
    )
    assert Charge.objects.count() == 1 and not SavedMethod.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and ledger_verify().ok
    assert "Apple Pay •••• 4242" in text(client.get(PAID_URL).content.decode())


def test_a_declined_wallet_card_records_nothing(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)
    returned = local(client.post(start(client, "google_pay"), {"card": "0002"})["Location"])

    response = client.get(returned)

    assert response["Location"] == INVOICE_URL
    assert "Your card was declined." in notice(client)
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("kind", "switch"), [("apple_pay", {"wallets_enabled": False}), ("bnpl", {}), ("cash", {}), ("", {})]
)
def test_a_way_the_merchant_has_not_turned_on_is_neither_shown_nor_taken(
    client: Client, merchant: Merchant, invoice: Invoice, kind: str, switch: dict[str, bool]
) -> None:
    """Pay-later is off until the merchant turns it on; wallets are on until turned off."""
    payment_settings_set(merchant, **switch)
    assert f'value="{kind}"' not in page(opened(client, merchant, invoice))

    with writes_nothing():
        response = client.post(PAY_URL, {"kind": kind})

    assert response["Location"] == INVOICE_URL
    assert "This way of paying is not available." in notice(client)


def test_a_wallet_payment_is_never_saved_even_when_the_box_is_ticked(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, invoice)
    sheet = start(client, "apple_pay", save="1")

    client.get(local(client.post(sheet, {"card": "4242"})["Location"]))

    assert Payment.objects.count() == 1 and not SavedMethod.objects.exists()


# Pay later


def test_pay_later_at_the_minimum_is_approved_and_paid(client: Client, merchant: Merchant, customer: Customer) -> None:
    payment_settings_set(merchant, bnpl_enabled=True, bnpl_minimum_minor=50_00)
    invoice = make_invoice(merchant, customer, 50_00)
    html = page(opened(client, merchant, invoice))
    assert 'value="bnpl"' in html and "Pay over time" in text(html)

    approval = start(client, "bnpl")
    assert approval.startswith("/sandbox/bnpl/")
    returned = local(client.post(approval, {"decision": "approve"})["Location"])
    response = client.get(returned)

    assert response["Location"] == PAID_URL
    payment = Payment.objects.get()
    assert (payment.method, payment.card_brand, payment.amount_minor) == (PaymentMethod.BNPL, "Affirm", 50_00)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and ledger_verify().ok
    assert client.get(returned)["Location"] == PAID_URL and Charge.objects.count() == 1


def test_pay_later_is_not_offered_under_the_minimum_and_refused_if_forced(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    payment_settings_set(merchant, bnpl_enabled=True, bnpl_minimum_minor=50_00)
    invoice = make_invoice(merchant, customer, 49_99)
    assert 'value="bnpl"' not in page(opened(client, merchant, invoice))

    with writes_nothing():
        response = client.post(PAY_URL, {"kind": "bnpl"})

    assert response["Location"] == INVOICE_URL  # not the lender's page
    assert "Paying over time is available for $50.00 or more." in notice(client)


def test_a_partial_amount_under_the_minimum_cannot_pay_later(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    payment_settings_set(merchant, bnpl_enabled=True, bnpl_minimum_minor=50_00, partial_payments_allowed=True)
    html = page(opened(client, merchant, invoice))
    assert 'value="bnpl"' in html and "For amounts of $50.00 or more." in text(html)

    with writes_nothing():
        response = client.post(PAY_URL, {"kind": "bnpl", "amount": "40.00"})

    assert response["Location"] == INVOICE_URL
    assert "Paying over time is available for $50.00 or more." in notice(client)
    assert start(client, "bnpl", amount="50.00").startswith("/sandbox/bnpl/")  # at the minimum it goes on


def test_a_declined_pay_later_request_goes_back_with_a_clear_message(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    payment_settings_set(merchant, bnpl_enabled=True)
    opened(client, merchant, invoice)
    declined = local(client.post(start(client, "bnpl"), {"decision": "decline"})["Location"])

    with writes_nothing():
        response = client.get(declined)

    assert response["Location"] == INVOICE_URL
    assert "Paying over time was not approved. Nothing was charged." in notice(client)
    nothing_charged()


def test_a_setup_token_of_another_kind_is_not_charged(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    """A card checkout cannot be finished with a pay-later approval (which would skip its minimum)."""
    payment_settings_set(merchant, bnpl_enabled=True)
    opened(client, merchant, invoice)
    approval = local(client.post(start(client, "bnpl"), {"decision": "approve"})["Location"])
    card_state = parse_qs(urlsplit(start(client, "card")).query)["state"][0]
    setup_token = parse_qs(urlsplit(approval).query)["setup_token"][0]

    response = client.get("/l/invoice/return/", {"state": card_state, "setup_token": setup_token})

    assert response["Location"] == INVOICE_URL
    nothing_charged()


# Saved methods


def test_saved_methods_are_offered_by_name_the_default_first(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    first = saved(merchant, customer, "Mary's business Visa")
    second = saved(merchant, customer)
    removed = saved(merchant, customer, "Old card")
    with merchant_scope(merchant):
        saved_method_remove(merchant=merchant, saved_method_id=removed.pk, now=clock.now())
    saved(merchant, make_customer(merchant, "Bob Other"), "Bob's card")

    html = page(opened(client, merchant, invoice))

    words = html_text.unescape(text(html))
    assert "Visa •••• 4242 — Mary's business Visa" in words
    assert html.index(f'value="{first.pk}"') < html.index(f'value="{second.pk}"')
    assert "Old card" not in words and "Bob" not in words
    assert f'value="{removed.pk}"' not in html


def test_a_saved_card_pays_at_once_without_the_gateway_page(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    method = saved(merchant, customer, "Mary's business Visa")
    html = page(opened(client, merchant, invoice))

    response = client.post(PAY_URL, {"saved_method": str(method.pk), "checkout": checkout_key(html)})

    assert (response.status_code, response["Location"]) == (303, PAID_URL)
    payment = Payment.objects.get()
    attempt = ChargeAttempt.objects.get()
    assert attempt.token == method.token and attempt.idempotency_key.endswith(checkout_key(html))
    assert (payment.method, payment.card_brand, payment.last4, payment.amount_minor) == (
        PaymentMethod.CARD,
        "Visa",
        "4242",
        123_45,
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and ledger_verify().ok
    assert "Visa •••• 4242" in text(client.get(PAID_URL).content.decode())


def test_a_double_submitted_saved_method_charges_once_even_for_a_part(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    payment_settings_set(merchant, partial_payments_allowed=True)
    method = saved(merchant, customer)
    form = {"saved_method": str(method.pk), "checkout": checkout_key(page(opened(client, merchant, invoice)))}

    first = client.post(PAY_URL, {**form, "amount": "50.00"})
    again = client.post(PAY_URL, {**form, "amount": "50.00"})

    assert first["Location"] == again["Location"] == PAID_URL
    assert Charge.objects.count() == ChargeAttempt.objects.count() == Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.balance_minor == 73_45 and ledger_verify().ok


def test_a_saved_bank_account_pays_pending(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    with merchant_scope(merchant):
        account = saved_method_add(
            merchant=merchant,
            customer_id=customer.pk,
            vaulted=bank_account(SandboxGateway()),
            friendly_name="Checking",
            billing_address="",
            consent_text=CONSENT,
            consent_ip=None,
            now=clock.now(),
        )
    opened(client, merchant, invoice)

    response = client.post(PAY_URL, {"saved_method": str(account.pk)})

    assert response["Location"] == PAID_URL
    assert "Your bank payment is processing" in text(client.get(PAID_URL).content.decode())
    assert Payment.objects.get().method == PaymentMethod.BANK_ACCOUNT and ledger_verify().ok


def test_a_saved_card_that_asks_for_3d_secure_is_confirmed_then_paid(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    method = saved(merchant, customer, number=CARDS["three_d_secure"])
    opened(client, merchant, invoice)

    to_confirm = client.post(PAY_URL, {"saved_method": str(method.pk)})
    approved = client.post(local(to_confirm["Location"]), {"decision": "approve"})

    assert client.get(local(approved["Location"]))["Location"] == PAID_URL
    assert Payment.objects.count() == 1 and ledger_verify().ok


@pytest.mark.parametrize("whose", ["another customer", "another merchant", "removed", "not a number"])
def test_a_saved_method_the_page_may_not_charge_is_refused_and_nothing_is_charged(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice, whose: str
) -> None:
    if whose == "another customer":
        method_id = str(saved(merchant, make_customer(merchant, "Bob Other")).pk)
    elif whose == "another merchant":
        elsewhere = make_merchant(name="Far Away Shop")
        method_id = str(saved(elsewhere, make_customer(elsewhere)).pk)
    elif whose == "removed":
        method = saved(merchant, customer)
        with merchant_scope(merchant):
            saved_method_remove(merchant=merchant, saved_method_id=method.pk, now=clock.now())
        method_id = str(method.pk)
    else:
        method_id = "1 OR 1=1"
    opened(client, merchant, invoice)

    with writes_nothing():
        response = client.post(PAY_URL, {"saved_method": method_id})

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)
    assert "This payment method is no longer available. Choose another way to pay." in notice(client)
    nothing_charged()


@pytest.mark.parametrize("written", ["superscript two", "Arabic-Indic digits", "past any row id"])
def test_a_saved_method_id_that_is_not_plain_digits_is_refused_not_an_error(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice, written: str
) -> None:
    method = saved(merchant, customer)
    method_id = {
        "superscript two": "²",  # str.isdigit() says yes, int() raises
        "Arabic-Indic digits": str(method.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # int() reads them
        "past any row id": "9" * 30,
    }[written]
    opened(client, merchant, invoice)

    with writes_nothing():
        response = client.post(PAY_URL, {"saved_method": method_id})

    assert (response.status_code, response["Location"]) == (303, INVOICE_URL)
    assert "This payment method is no longer available. Choose another way to pay." in notice(client)
    nothing_charged()


def test_a_public_link_shows_no_saved_method_no_save_box_and_refuses_forged_posts(
    client: Client, merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    method = saved(merchant, customer, "Mary's business Visa")
    html = page(opened(client, merchant, invoice, public=True))
    assert "Mary" not in html and "saved_method" not in html and f'value="{method.pk}"' not in html
    assert 'name="save"' not in html and "Pay by card" in text(html)

    with writes_nothing():
        forged = client.post(PAY_URL, {"saved_method": str(method.pk)})
    assert forged["Location"] == INVOICE_URL
    assert "Saved payment methods cannot be used from this link." in notice(client)
    with writes_nothing():
        saving = client.post(PAY_URL, {"kind": "card", "save": "1"})
    assert saving["Location"] == INVOICE_URL
    assert "Payment methods cannot be saved from this link." in notice(client)
    nothing_charged()


def test_saving_a_card_keeps_the_exact_authorization_time_and_ip_then_charges_it(
    merchant: Merchant, invoice: Invoice
) -> None:
    client = Client(REMOTE_ADDR="198.51.100.23")
    html = page(opened(client, merchant, invoice))
    shown = re.search(r'<p class="hint consent-text" id="pay-save-consent">([^<]+)</p>', html)
    assert shown and merchant.name in shown.group(1)
    assert '<label for="pay-save">Save this card or bank account for next time</label>' in html
    before = clock.now()

    fields = start(client, "card", save="1", saved_name="Mary's business Visa")
    ticked = clock.now()
    assert not SavedMethod.objects.exists()  # nothing is saved before the card is entered
    client.get(enter_card(client, fields, CARDS["success"]))

    method = SavedMethod.objects.get()
    assert method.consent_text == html_text.unescape(shown.group(1))
    assert method.consent_ip == "198.51.100.23" and before <= method.consent_at <= ticked  # when it was ticked
    assert (method.brand, method.last4, method.friendly_name, method.is_default) == (
        "Visa",
        "4242",
        "Mary's business Visa",
        True,
    )
    attempt = ChargeAttempt.objects.get()
    assert attempt.token == method.token
    assert Charge.objects.count() == Payment.objects.count() == 1 and ledger_verify().ok
    assert "Visa •••• 4242 — Mary" in text(page(opened(Client(), merchant, make_invoice(merchant, invoice.customer))))


def test_a_card_is_saved_only_when_the_box_is_ticked(client: Client, merchant: Merchant, invoice: Invoice) -> None:
    opened(client, merchant, invoice)

    client.get(enter_card(client, start(client, "card"), CARDS["success"]))

    assert Payment.objects.count() == 1 and not SavedMethod.objects.exists()


def test_a_declined_card_is_not_saved_even_when_the_box_is_ticked(
    client: Client, merchant: Merchant, invoice: Invoice
) -> None:
    opened(client, merchant, invoice)

    client.get(enter_card(client, start(client, "card", save="1"), CARDS["generic_decline"]))

    assert not SavedMethod.objects.exists() and not Payment.objects.exists()


def test_a_french_customer_saves_with_the_french_authorization(merchant: Merchant, invoice: Invoice) -> None:
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    shown = html_text.unescape(page(french))
    assert "Enregistrer cette carte ou ce compte bancaire pour la prochaine fois" in shown

    french.get(enter_card(french, start(french, "card", save="1"), CARDS["success"]))

    consent = SavedMethod.objects.get().consent_text
    assert consent.startswith(f"J’autorise {merchant.name} à conserver") and consent in shown


# Refusals in the customer's language


def test_an_invoice_paid_meanwhile_is_refused_in_french(
    merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    returned = enter_card(french, start(french), CARDS["success"])
    make_payment(merchant, customer, 123_45, [invoice])

    with writes_nothing():
        response = french.get(returned)

    assert response["Location"] == INVOICE_URL
    words = notice(french)
    assert "Ceci a déjà été payé, donc rien n’a été débité." in words
    assert "already" not in words and not Charge.objects.exists()


def test_more_than_now_owed_is_refused_in_french_and_spanish(
    merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    payment_settings_set(merchant, partial_payments_allowed=True)
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)
    spanish = opened(Client(HTTP_ACCEPT_LANGUAGE="es"), merchant, invoice)
    to_french = enter_card(french, start(french, amount="100,00"), CARDS["success"])
    to_spanish = enter_card(spanish, start(spanish, amount="100.00"), CARDS["success"])
    make_payment(merchant, customer, 50_00, [invoice])

    french.get(to_french)
    spanish.get(to_spanish)

    assert "C’est plus que ce qui est dû maintenant, donc rien n’a été débité." in notice(french)
    assert "Es más de lo que se debe ahora, así que no se ha cobrado nada." in notice(spanish)
    assert not Charge.objects.exists() and not Payment.objects.filter(method=PaymentMethod.CARD).exists()


def test_a_refusal_without_a_translation_gets_a_translated_general_sentence(
    merchant: Merchant, invoice: Invoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: object) -> None:
        raise InvalidInput("Something only the back office understands.")

    monkeypatch.setattr(pay_views, "charge_attempt_start", refuse)
    french = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, invoice)

    french.get(enter_card(french, start(french), CARDS["success"]))

    words = notice(french)
    assert "Ce paiement n’a pas pu être fait et rien n’a été débité." in words
    assert "Something" not in words


def test_every_refusal_code_has_french_and_spanish() -> None:
    for code, message in [*pay_views.REFUSED_CHARGES.items(), ("", pay_views.REFUSED_CHARGE)]:
        with translation.override("en"):
            english = str(message)
        for language in ("fr", "es"):
            with translation.override(language):
                assert str(message) != english, (language, code)
