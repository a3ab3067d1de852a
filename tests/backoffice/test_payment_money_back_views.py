"""The payment page's ways of giving a gateway payment's money back: the Void button (refused
inline once the funds have settled), refunds waiting for the gateway shown as "Refund pending",
and the journal's record of the money in and out, each labelled by its kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.test import Client

from settle.core import clock
from settle.customers.models import Customer
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import InvoiceStatus, JournalEntry
from settle.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from settle.payments.verify import ledger_verify
from settle.sandbox.models import FaultKind, Operation
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Merchant
from tests.backoffice.test_money_views import owner, url, viewer  # noqa: F401 (fixtures)
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment
from tests.payments.charges.conftest import pay
from tests.sandbox.factories import card, move_to_a_monday

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _books_balance(db: None) -> Iterator[None]:
    yield
    report = ledger_verify()
    assert report.ok, report.mismatches


@pytest.fixture
def card_payment(merchant: Merchant, customer: Customer) -> Payment:
    """A card payment of $100.00 paying one invoice, taken on a Monday (it settles on Tuesday)."""
    move_to_a_monday()
    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 10_000)], card(SandboxGateway()))
    assert attempt.payment is not None
    return attempt.payment


def test_void_before_settlement_from_the_payment_page(owner: Client, card_payment: Payment) -> None:  # noqa: F811
    page = owner.get(url("payment_detail", card_payment.pk)).content.decode()
    assert url("payment_void", card_payment.pk) in page

    response = owner.post(url("payment_void", card_payment.pk))
    again = owner.post(url("payment_void", card_payment.pk))  # a double submit

    assert response.status_code == again.status_code == 302
    assert response["Location"] == url("payment_detail", card_payment.pk)
    card_payment.refresh_from_db()
    invoice = card_payment.applications.get().invoice
    assert card_payment.status == PaymentStatus.VOIDED and invoice.status == InvoiceStatus.OPEN
    page = owner.get(url("payment_detail", card_payment.pk)).content.decode()
    assert ">Void</span>" in page and "Payment voided" in page and "Payment received" in page
    assert url("payment_void", card_payment.pk) not in page  # nothing left to void


def test_void_after_settlement_is_refused_on_the_page(owner: Client, card_payment: Payment) -> None:  # noqa: F811
    sandbox_advance(now=sandbox_now() + dt.timedelta(days=1))  # Tuesday: the card charge has settled
    entries = JournalEntry.objects.count()

    response = owner.post(url("payment_void", card_payment.pk))

    assert response.status_code == 409
    assert "The funds have settled: refund the charge instead." in response.content.decode()
    card_payment.refresh_from_db()
    assert card_payment.status == PaymentStatus.SUCCEEDED and JournalEntry.objects.count() == entries


def test_void_is_for_money_staff_of_the_merchant_and_by_post_only(
    owner: Client,  # noqa: F811
    viewer: Client,  # noqa: F811
    card_payment: Payment,
) -> None:
    elsewhere = make_merchant(name="Elsewhere")
    their_payment = make_payment(elsewhere, make_customer(elsewhere), 1_000, keep_excess_as_credit=True)

    assert viewer.post(url("payment_void", card_payment.pk)).status_code == 403
    assert owner.get(url("payment_void", card_payment.pk)).status_code == 405
    assert owner.post(url("payment_void", their_payment.pk)).status_code == 404
    assert owner.post(url("payment_void", 999_999)).status_code == 404
    card_payment.refresh_from_db()
    assert card_payment.status == PaymentStatus.SUCCEEDED


def test_a_manual_payment_offers_no_void_and_a_posted_one_is_refused(
    owner: Client,  # noqa: F811
    merchant: Merchant,
    customer: Customer,
) -> None:
    cash = make_payment(merchant, customer, 5_000, [make_invoice(merchant, customer, 5_000)])

    assert url("payment_void", cash.pk) not in owner.get(url("payment_detail", cash.pk)).content.decode()
    response = owner.post(url("payment_void", cash.pk))
    assert response.status_code == 409 and "refund it instead" in response.content.decode()


def test_a_refund_waiting_for_the_gateway_shows_as_pending(owner: Client, card_payment: Payment) -> None:  # noqa: F811
    fault_script(operation=Operation.REFUND, kind=FaultKind.ERROR_500, now=clock.now())

    response = owner.post(
        url("refund_new", card_payment.pk), {"amount": "30.00", "reason": "Late", "idempotency_key": "k1"}, follow=True
    )

    assert Refund.objects.get().status == RefundStatus.PENDING
    page = response.content.decode()
    assert "Refund of $30.00 pending: the payment processor has not confirmed it yet." in page
    assert page.count("Refund pending") >= 2  # beside the payment's number and on the refund's row
    assert url("payment_void", card_payment.pk) not in page  # a refund in flight rules out a void
    form = owner.get(url("refund_new", card_payment.pk))
    assert form.context["form"]["amount"].value() == "70.00" and "waiting for the payment processor" in str(
        form.content
    )
