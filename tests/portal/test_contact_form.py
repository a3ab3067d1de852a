"""The merchant's public contact form at /join/<token>/: people add themselves, a repeat e-mail
joins the customer on file, bots and floods create nothing, and it speaks the visitor's language."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from settle.core.tenancy import all_merchants
from settle.customers.models import Contact, Customer
from settle.portal.views import RATE_LIMIT
from settle.tenants.models import Merchant
from tests.conftest import writes_nothing


def url(merchant: Merchant) -> str:
    return reverse("portal:contact_form", args=[merchant.contact_form_token])


def submit(client: Client, merchant: Merchant, **data: str) -> Any:
    return client.post(url(merchant), {"name": "", "email": "", "phone": "", "company": "", "website": "", **data})


def test_the_form_shows_the_merchant_and_its_fields(client: Client, merchant: Merchant) -> None:
    response = client.get(url(merchant))
    html = response.content.decode()
    assert response.status_code == 200
    assert merchant.name in html
    for field in ("name", "email", "phone", "company"):
        assert f'name="{field}"' in html
    assert 'name="website"' in html and 'class="field trap"' in html  # the honeypot is there, off screen


def test_a_submission_creates_a_customer_and_contact(client: Client, merchant: Merchant) -> None:
    response = submit(client, merchant, name="Frodo Baggins", email="Frodo@Shire.test", phone="(201) 555-0123")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:contact_form_thanks", args=[merchant.contact_form_token])
    contact = Contact.objects.select_related("customer").get(merchant=merchant)
    assert (contact.name, contact.email, contact.phone) == ("Frodo Baggins", "frodo@shire.test", "+12015550123")
    assert contact.is_default_billing
    assert (contact.customer.display_name, contact.customer.kind) == ("Frodo Baggins", "person")
    assert "Thank you" in client.get(response["Location"]).content.decode()


def test_a_company_name_makes_a_company_customer(client: Client, merchant: Merchant) -> None:
    submit(client, merchant, name="Sam", email="sam@gamgee.test", company="Gamgee Gardening")
    customer = Customer.objects.get(merchant=merchant)
    assert (customer.display_name, customer.kind) == ("Gamgee Gardening", "company")


def test_a_repeat_email_joins_the_existing_customer(client: Client, merchant: Merchant) -> None:
    submit(client, merchant, name="Frodo", email="frodo@shire.test")
    response = submit(client, merchant, name="Mr. Underhill", email="FRODO@shire.test", company="Something New")

    assert response.status_code == 302
    assert Customer.objects.filter(merchant=merchant).count() == 1
    assert Contact.objects.filter(merchant=merchant).count() == 1


def test_the_honeypot_pretends_success_and_creates_nothing(client: Client, merchant: Merchant) -> None:
    with writes_nothing():
        response = submit(client, merchant, name="Bot", email="bot@spam.test", website="http://spam.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:contact_form_thanks", args=[merchant.contact_form_token])


def test_bad_input_shows_inline_and_creates_nothing(client: Client, merchant: Merchant) -> None:
    with writes_nothing():
        no_way_to_reach = submit(client, merchant, name="Frodo")
        bad_phone = submit(client, merchant, name="Frodo", phone="12")
    assert no_way_to_reach.status_code == 200
    assert "Give an e-mail address or a phone number" in no_way_to_reach.content.decode()
    assert "Enter a valid phone number" in bad_phone.content.decode()


def test_too_many_submissions_from_one_address_get_429(client: Client, merchant: Merchant) -> None:
    for n in range(RATE_LIMIT):
        assert submit(client, merchant, name=f"P{n}", email=f"p{n}@example.com").status_code == 302

    with writes_nothing():
        response = submit(client, merchant, name="One more", email="more@example.com")

    assert response.status_code == 429
    assert "try again in an hour" in response.content.decode()
    other_address = client.post(url(merchant), {"name": "Elsewhere", "email": "x@example.com"}, REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 302


def test_a_forwarded_header_does_not_reset_the_limit(client: Client, merchant: Merchant) -> None:
    for n in range(RATE_LIMIT):
        submit(client, merchant, name=f"P{n}", email=f"p{n}@example.com")
    spoofed = client.post(
        url(merchant), {"name": "Spoof", "email": "s@example.com"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{RATE_LIMIT}"
    )
    assert spoofed.status_code == 429


def test_an_unknown_token_is_a_404(client: Client, db: None) -> None:
    assert client.get(reverse("portal:contact_form", args=["no-such-token"])).status_code == 404
    assert client.post(reverse("portal:contact_form", args=["no-such-token"]), {"name": "X"}).status_code == 404
    assert client.get(reverse("portal:contact_form_thanks", args=["no-such-token"])).status_code == 404


def test_each_merchant_gets_only_its_own_signups(client: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    submit(client, other_merchant, name="Frodo", email="frodo@shire.test")
    with all_merchants():
        assert list(Customer.objects.values_list("merchant_id", flat=True)) == [other_merchant.pk]


def test_french_when_the_browser_asks_for_it(client: Client, merchant: Merchant) -> None:
    html = client.get(url(merchant), HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9,en;q=0.5").content.decode()

    assert '<html lang="fr">' in html
    assert "Restons en contact" in html
    assert "Votre nom" in html and "Envoyer mes coordonnées" in html

    errors = client.post(url(merchant), {"name": "Frodo"}, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Indiquez une adresse courriel ou un numéro de téléphone" in errors
    bad_phone = client.post(url(merchant), {"name": "Frodo", "phone": "12"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert "Saisissez un numéro de téléphone valide" in bad_phone.content.decode()

    thanks = client.get(
        reverse("portal:contact_form_thanks", args=[merchant.contact_form_token]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert "Merci !" in thanks.content.decode()


def test_english_by_default(client: Client, merchant: Merchant) -> None:
    html = client.get(url(merchant)).content.decode()
    assert "Stay in touch" in html and '<html lang="en">' in html


def test_the_back_office_stays_in_one_language_whatever_the_browser_asks(client: Client) -> None:
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr")
    assert page.status_code == 200
    assert page.headers["Content-Language"] == "en"


def test_the_form_and_its_thanks_send_the_customer_pages_security_headers(client: Client, merchant: Merchant) -> None:
    pages = [
        client.get(url(merchant)),
        submit(client, merchant, name="Ann", email="ann@example.com"),
        client.get(reverse("portal:contact_form_thanks", args=[merchant.contact_form_token])),
    ]

    for page in pages:
        assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
        assert (page["Cache-Control"], page["Referrer-Policy"]) == ("no-store", "no-referrer")
