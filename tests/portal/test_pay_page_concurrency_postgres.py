"""One pay page submitted twenty times at once (PostgreSQL, real threads): the customer's browser
is back from the gateway's fields with a setup token, and twenty requests for that return URL,
sharing the browser's session, arrive together. The processor charges once, one payment pays the
invoice once, the journal agrees, and every request lands the customer on a page, never an error.
(A double-tapped Pay button, on any database: tests/portal/test_pay_page_double_submit.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.test import Client

from settle.core.tenancy import merchant_scope
from settle.invoicing.models import InvoiceStatus
from settle.payments.models import ChargeAttempt, ChargeState, Payment
from settle.payments.verify import ledger_verify
from settle.sandbox import webhooks
from settle.sandbox.models import Charge
from tests.conftest import make_customer, make_invoice, make_merchant
from tests.portal.test_pay_by_card import INVOICE_URL, PAID_URL, enter_card, opened, start
from tests.sandbox.factories import CARDS
from tests.sandbox.test_concurrency_postgres import at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]

SUBMITS = 20


@pytest.fixture(autouse=True)
def _quiet_processor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """These tests commit, so the processor's webhooks are sent: to nowhere. The link-guessing
    limit counts in the cache, which starts empty."""
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 204)
    cache.clear()
    yield
    cache.clear()


def submitted_together(session_key: str, url: str, times: int) -> list[HttpResponse]:
    """GET `url` from `times` threads released together, each a browser tab holding the session
    cookie `session_key`, each request on its own database connection."""

    def submit(tab: Client) -> Any:  # the test client's response
        tab.cookies[settings.SESSION_COOKIE_NAME] = session_key
        return tab.get(url)

    return at_once([partial(submit, Client()) for _ in range(times)])


def test_twenty_submits_of_one_pay_page_charge_once() -> None:
    merchant = make_merchant()
    invoice = make_invoice(merchant, make_customer(merchant), 250_00)
    browser = opened(Client(), merchant, invoice)
    returned = enter_card(browser, start(browser), CARDS["success"])

    responses = submitted_together(browser.cookies[settings.SESSION_COOKIE_NAME].value, returned, SUBMITS)

    assert len(responses) == SUBMITS
    # The confirmation, the invoice, or (a tab that found the charge still under way) the page
    # saying it is being confirmed.
    assert {(response.status_code, response.get("Location")) for response in responses} <= {
        (303, PAID_URL),
        (303, INVOICE_URL),
        (200, None),
    }
    assert any(response.get("Location") == PAID_URL for response in responses)
    assert Charge.objects.count() == 1 and Charge.objects.get().amount_minor == 250_00
    with merchant_scope(merchant):
        attempt = ChargeAttempt.objects.get()
        payment = Payment.objects.get()
        invoice.refresh_from_db()
    assert attempt.state == ChargeState.SUCCEEDED and attempt.payment_id == payment.pk
    assert (payment.amount_minor, payment.card_brand, payment.last4) == (250_00, "Visa", "4242")
    assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PAID, 0, 250_00)
    assert ledger_verify(merchant_ids=[merchant.pk]).ok
    # Whichever of its requests saved the session last, the browser's invoice shows paid, with
    # nothing left to pay.
    page = browser.get(INVOICE_URL).content.decode()
    assert "PAID" in page and 'name="kind"' not in page
