"""A statement on a French phone, in a real browser without any script: the customer unticks an
invoice, updates the total, pays the rest with a wallet on the sandbox's sheet and sees the
invoices paid; no Content-Security-Policy error on the way."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from settle.core import clock
from settle.core.tenancy import merchant_scope
from settle.invoicing.models import InvoiceStatus
from settle.payments.links import secure_link_create
from settle.payments.models import LinkPurpose, Payment
from settle.payments.verify import ledger_verify
from tests.conftest import make_customer, make_invoice, make_merchant
from tests.portal.test_end_to_end import CHROMIUM, browser, phone, words  # noqa: F401 (the fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
]


def test_a_french_phone_pays_the_ticked_invoices_of_a_statement_with_a_wallet(
    phone: Any,  # noqa: F811 (the fixture)
    live_server: LiveServer,
) -> None:
    merchant = make_merchant(name="Garage Tremblay", locale="fr_CA", currency="CAD", time_zone="America/Montreal")
    customer = make_customer(merchant, "Marie Gagnon")
    today = clock.local_date(clock.now(), merchant.time_zone)
    issued = today - dt.timedelta(days=30)
    late = make_invoice(
        merchant, customer, 40_00, issue_date=issued, due_date=today - dt.timedelta(days=3), terms="custom"
    )
    soon = make_invoice(
        merchant, customer, 60_00, issue_date=issued, due_date=today + dt.timedelta(days=10), terms="custom"
    )
    later = make_invoice(
        merchant, customer, 100_00, issue_date=issued, due_date=today + dt.timedelta(days=20), terms="custom"
    )
    with merchant_scope(merchant):
        _, token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_STATEMENT,
            customer_id=customer.pk,
            invoice_ids=[later.pk, soon.pk, late.pk],
        )

    phone.goto(f"{live_server.url}/l/{token}/")

    assert phone.url == f"{live_server.url}/l/statement/"
    assert phone.get_by_role("heading", level=1).inner_text() == "Relevé de compte"
    assert phone.locator(".past-due").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    assert phone.get_by_label(f"Payer {later.number}").is_checked()
    phone.get_by_label(f"Payer {later.number}").uncheck()
    phone.get_by_role("button", name="Mettre le total à jour").click()
    phone.wait_for_load_state()
    assert not phone.get_by_label(f"Payer {later.number}").is_checked()
    assert words(phone.locator(".selection-amount").inner_text()) == "100,00 $"

    phone.get_by_role("button", name="Payer avec Apple Pay").click()
    phone.wait_for_url("**/sandbox/wallet/**")
    phone.get_by_role("button", name=re.compile(r"^Pay ")).click()
    phone.wait_for_url("**/l/invoice/paid/")

    page = words(phone.locator("main").inner_text())
    assert "Paiement reçu" in page and "Apple Pay •••• 4242" in page
    assert late.number in page and soon.number in page and later.number not in page
    with merchant_scope(merchant):
        assert Payment.objects.get().amount_minor == 100_00
        statuses = {invoice.pk: invoice.status for invoice in type(late).objects.filter(merchant=merchant)}
    assert statuses == {late.pk: InvoiceStatus.PAID, soon.pk: InvoiceStatus.PAID, later.pk: InvoiceStatus.OPEN}
    assert ledger_verify(merchant_ids=[merchant.pk]).ok
    assert phone.csp_violations == []
