"""Races on PostgreSQL with real threads: a Send clicked many times at once makes one invoice, one
link and one message, because the message's unique idempotency key lets one transaction win and
the others, rolled back whole, return its message."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.invoicing.models import Invoice
from settle.messaging.models import Message
from settle.payments.models import SecureLink
from settle.payments.requests import Sending, quick_payment_request_send, statement_request_send
from tests.conftest import make_customer, make_invoice, make_merchant
from tests.test_concurrency_postgres import at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]


def test_a_quick_request_submitted_eight_times_at_once_is_made_once_and_spends_one_number() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant, phones=["+15145550123"])

    def send() -> Message:
        return quick_payment_request_send(
            merchant=merchant,
            sending=Sending(channel="sms", idempotency_key="double-click"),
            customer_id=customer.pk,
            amount=Money(4500, "USD"),
            reference="RO-1",
        )

    calls: list[Callable[[], Message]] = [send for _ in range(8)]
    outcomes = at_once(merchant, calls)
    with merchant_scope(merchant):
        assert {outcome.pk for outcome in outcomes if isinstance(outcome, Message)} == {Message.objects.get().pk}
        assert (Invoice.objects.count(), SecureLink.objects.count()) == (1, 1)
        assert make_invoice(merchant, customer).number == f"{merchant.invoice_prefix}00002"


def test_a_statement_sent_six_times_at_once_makes_one_link() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant, phones=["+15145550123"])
    invoices = [make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)]

    def send() -> Message:
        return statement_request_send(
            merchant=merchant,
            sending=Sending(channel="sms", idempotency_key="statement"),
            customer_id=customer.pk,
            invoice_ids=[invoice.pk for invoice in invoices],
        )

    outcomes = at_once(merchant, [send for _ in range(6)])
    assert all(isinstance(outcome, Message) for outcome in outcomes)
    with merchant_scope(merchant):
        assert (Message.objects.count(), SecureLink.objects.count()) == (1, 1)
