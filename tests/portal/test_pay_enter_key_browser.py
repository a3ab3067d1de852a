"""Enter in the amount field never pays: on a phone with a saved card, typing a part payment and
pressing Enter leaves the customer on the page to choose how to pay."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice
from settle.payments.links import secure_link_create
from settle.payments.models import ChargeAttempt, LinkPurpose
from settle.tenants.models import Merchant
from tests.portal.conftest import payment_settings_set
from tests.portal.test_end_to_end import (  # noqa: F401 (the fixtures)
    CHROMIUM,
    browser,
    customer,
    invoice,
    merchant,
    phone,
)
from tests.portal.test_pay_ways import saved

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
]


def test_enter_in_the_amount_field_charges_nothing(
    phone: Any,  # noqa: F811 (the fixture)
    live_server: LiveServer,
    merchant: Merchant,  # noqa: F811
    customer: Customer,  # noqa: F811
    invoice: Invoice,  # noqa: F811
) -> None:
    with merchant_scope(merchant):
        payment_settings_set(merchant, partial_payments_allowed=True)
    saved(merchant, customer, "Visa de Marie")
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant, purpose=LinkPurpose.PAY_INVOICE, customer_id=customer.pk, invoice_ids=[invoice.pk]
        )
    phone.goto(f"{live_server.url}/l/{token}/")
    assert phone.get_by_role("button", name="Visa •••• 4242 — Visa de Marie").is_visible()

    amount = phone.get_by_label("Montant à payer")
    amount.fill("10,00")
    amount.press("Enter")
    phone.wait_for_timeout(500)

    assert phone.url == f"{live_server.url}/l/invoice/"
    with merchant_scope(merchant):
        assert not ChargeAttempt.objects.exists()
    assert phone.csp_violations == []
