"""A Pay button pressed twice, then the card page's Continue pressed twice, then the first, abandoned
card page filled in too: the customer is charged once. (The same with twenty requests truly at
once, on PostgreSQL: test_pay_page_concurrency_postgres.py.)"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from settle.customers.models import Customer
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.payments.models import Payment, SavedMethod
from settle.payments.verify import ledger_verify
from settle.sandbox.models import Charge, ChargeStatus
from settle.tenants.models import Merchant
from tests.conftest import make_invoice
from tests.portal.test_pay_by_card import INVOICE_URL, PAID_URL, PAY_URL, enter_card, local, opened
from tests.sandbox.factories import CARDS

pytestmark = pytest.mark.django_db

HIDDEN_INPUT = re.compile(r"<input\b[^>]*\btype=\"hidden\"[^>]*>")


def pay_form(page: str) -> dict[str, str]:
    """The hidden fields of the invoice page's form, as the browser sends them with a pay button."""
    fields = {}
    for tag in HIDDEN_INPUT.findall(page):
        name, value = re.search(r'\bname="([^"]*)"', tag), re.search(r'\bvalue="([^"]*)"', tag)
        if name and value:
            fields[name.group(1)] = value.group(1)
    return fields


@pytest.mark.parametrize("save", [False, True], ids=["once", "saving-the-card"])
def test_a_twin_return_whose_setup_token_was_spent_shows_the_charge_made(
    client: Client, merchant: Merchant, customer: Customer, save: bool
) -> None:
    """Two requests of one session come back from the card page at once: both read the session
    before either saved it, so the second finds its setup token spent by the first's charge (and
    leaves saving the card, when the customer asked, to the first)."""
    invoice: Invoice = make_invoice(merchant, customer, 64_00)
    opened(client, merchant, invoice)
    asked = {"save": "1", "saved_name": "Visa"} if save else {}
    form = pay_form(client.get(INVOICE_URL).content.decode()) | {"kind": "card", **asked}
    returned = enter_card(client, local(client.post(PAY_URL, form)["Location"]), CARDS["success"])
    before = dict(client.session.items())

    first = client.get(returned)
    session = client.session
    session.clear()
    session.update(before)  # what the twin read
    session.save()
    twin = client.get(returned)

    assert (first["Location"], twin["Location"]) == (PAID_URL, PAID_URL)
    assert client.get(PAID_URL).status_code == 200
    assert Charge.objects.count() == Payment.objects.count() == 1
    assert SavedMethod.objects.count() == (1 if save else 0)


def test_a_pay_button_pressed_twice_charges_once(client: Client, merchant: Merchant, customer: Customer) -> None:
    invoice: Invoice = make_invoice(merchant, customer, 64_00)
    opened(client, merchant, invoice)
    form = pay_form(client.get(INVOICE_URL).content.decode()) | {"kind": "card"}

    first, second = client.post(PAY_URL, form), client.post(PAY_URL, form)
    assert first.status_code == second.status_code == 303
    # The browser shows the second answer's card page; Continue is pressed twice on it.
    returns = [enter_card(client, local(second["Location"]), CARDS["success"]) for _ in range(2)]
    answers = [client.get(url) for url in returns]
    # Back in the history, the first card page is filled in as well.
    late = client.get(enter_card(client, local(first["Location"]), CARDS["success"]))

    assert [(answer.status_code, answer["Location"]) for answer in answers] == [(303, PAID_URL)] * 2
    assert late.status_code == 303 and late["Location"] in (PAID_URL, INVOICE_URL)
    assert Charge.objects.filter(status=ChargeStatus.SUCCEEDED).count() == 1
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PAID, 0, 64_00)
    assert ledger_verify().ok
