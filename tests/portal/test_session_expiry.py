"""The session cookie a secure link gives the customer's browser expires with the session's claim
(the earlier of PORTAL_SESSION_LIFETIME and the link's own end), not after Django's two weeks; a
staff member signed in with the same browser keeps their session's age."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice
from settle.payments.links import PORTAL_SESSION_LIFETIME, secure_link_create
from settle.payments.models import LinkPurpose
from settle.tenants.models import Merchant


def session_cookie_age(client: Client, merchant: Merchant, customer: Customer, **kwargs: Any) -> int:
    """Open a fresh link to the customer's profile page and return the session cookie's max-age."""
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant, purpose=LinkPurpose.ADD_PAYMENT_METHOD, customer_id=customer.pk, **kwargs
        )
    response = client.get(f"/l/{token}/")
    assert response.status_code == 303
    return int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"])


def test_the_session_cookie_lives_as_long_as_the_claim(client: Client, merchant: Merchant, customer: Customer) -> None:
    max_age = session_cookie_age(client, merchant, customer)

    assert max_age == pytest.approx(PORTAL_SESSION_LIFETIME.total_seconds(), abs=2)
    assert max_age < settings.SESSION_COOKIE_AGE
    assert client.session.get_expiry_age() == pytest.approx(PORTAL_SESSION_LIFETIME.total_seconds(), abs=2)


def test_a_link_ending_sooner_ends_the_cookie_sooner(client: Client, merchant: Merchant, customer: Customer) -> None:
    max_age = session_cookie_age(client, merchant, customer, expires_in=dt.timedelta(minutes=20))

    assert max_age == pytest.approx(dt.timedelta(minutes=20).total_seconds(), abs=2)


def test_a_pay_link_gives_the_same_short_cookie(client: Client, invoice: Invoice, merchant: Merchant) -> None:
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_INVOICE,
            customer_id=invoice.customer_id,
            invoice_ids=[invoice.pk],
        )
    response = client.get(f"/l/{token}/")

    max_age = int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"])
    assert max_age == pytest.approx(PORTAL_SESSION_LIFETIME.total_seconds(), abs=2)


def test_a_signed_in_staff_session_keeps_its_own_age(client: Client, merchant: Merchant, customer: Customer) -> None:
    staff = merchant.memberships.get().user
    client.force_login(staff)

    max_age = session_cookie_age(client, merchant, customer)

    assert max_age == settings.SESSION_COOKIE_AGE
    assert client.session.get("_auth_user_id") == str(staff.pk)


def test_signing_in_after_opening_a_link_gives_the_staff_session_its_usual_age(
    client: Client, merchant: Merchant, customer: Customer
) -> None:
    session_cookie_age(client, merchant, customer)
    assert client.session.get_expiry_age() < settings.SESSION_COOKIE_AGE

    client.force_login(merchant.memberships.get().user)

    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
