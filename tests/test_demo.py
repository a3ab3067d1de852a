"""`settle demo`: a small run covers every invoice state, payment method and credit flow, gives each
merchant the starter templates, verifies against the journal, and `--if-empty` leaves a loaded
database alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F

from settle.backoffice.demo_data import DEMO_PASSWORD, OWNER_EMAIL, VIEWER_EMAIL
from settle.core import clock
from settle.core.tenancy import all_merchants
from settle.invoicing.models import CreditMemo, Invoice, InvoiceStatus, Order
from settle.messaging.models import Message, MessageChannel, MessageTemplate, Purpose
from settle.messaging.starters import STARTERS
from settle.notifications.models import Notification, NotificationKind
from settle.payments.models import (
    Application,
    ChargeAttempt,
    ChargeState,
    LinkPurpose,
    Payment,
    PaymentMethod,
    PaymentSettings,
    PaymentStatus,
    Refund,
    RefundStatus,
    SavedMethod,
    SecureLink,
)
from settle.payments.verify import ledger_verify
from settle.tenants.models import Membership, Merchant, Role
from tests.conftest import written_rows

pytestmark = pytest.mark.django_db


def load(**options: object) -> str:
    out = StringIO()
    call_command("demo", stdout=out, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """Loaded once for the module (in a transaction rolled back at its end); each test runs in
    a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield load(scale=0.1)
        transaction.set_rollback(True)


def test_demo_covers_every_invoice_state_and_payment_method(demo: str) -> None:
    with all_merchants():
        assert set(Invoice.objects.values_list("status", flat=True)) == set(InvoiceStatus.values)
        assert set(Payment.objects.values_list("method", flat=True)) == set(PaymentMethod.values) - {
            PaymentMethod.WALLET,
            PaymentMethod.BNPL,
        }
        assert (
            Invoice.objects.filter(tax_minor__gt=0).exists() and Invoice.objects.filter(discount_minor__gt=0).exists()
        )
        assert set(Invoice.objects.values_list("terms", flat=True)) >= {"due_on_receipt", "net_30"}
        for merchant in Merchant.objects.all():
            invoices = Invoice.objects.filter(merchant=merchant)
            assert {"draft", "open", "partially_paid", "paid", "void", "uncollectible"} <= set(
                invoices.values_list("status", flat=True)
            )
            today = clock.local_date(clock.now(), merchant.time_zone)
            open_invoices = [i for i in invoices if i.status == InvoiceStatus.OPEN]
            assert any(i.is_past_due(today) for i in open_invoices)
            assert any(not i.is_past_due(today) for i in open_invoices)
            assert invoices.exclude(order=None).exists()
            assert invoices.exclude(reference="").exists()
            assert invoices.exclude(po_number="").exists()
            assert Order.objects.filter(merchant=merchant, invoice=None).exists()


def test_demo_has_every_credit_and_refund_flow(demo: str) -> None:
    with all_merchants():
        payments = Payment.objects.all()
        assert payments.filter(check_number__gt="").exists()
        assert payments.filter(unapplied_minor__gt=0).exists()
        assert payments.filter(refunded_minor=F("amount_minor")).exists()
        assert payments.filter(refunded_minor__gt=0, refunded_minor__lt=F("amount_minor")).exists()
        assert Refund.objects.exists()
        assert CreditMemo.objects.filter(remaining_minor=0).exists()
        assert CreditMemo.objects.filter(remaining_minor__gt=0).exists()
        assert Application.objects.filter(amount_minor=0, payment__isnull=False).exists()
        assert Invoice.objects.filter(status=InvoiceStatus.VOID, applications__amount_minor=0).exists()
        assert (
            Application.objects.values("payment")
            .exclude(payment=None)
            .annotate(n=Count("invoice"))
            .filter(n__gt=1)
            .exists()
        )
    report = ledger_verify()
    assert report.ok, report.mismatches
    assert report.entries > 0


def test_demo_is_paid_by_link(demo: str) -> None:
    with all_merchants():
        merchants = {m.currency: m for m in Merchant.objects.all()}
        settings = {s.merchant.currency: s for s in PaymentSettings.objects.select_related("merchant")}
        assert {s.gateway for s in settings.values()} == {"sandbox"}
        assert all(s.bnpl_enabled and s.wallets_enabled and s.confirmation_message_enabled for s in settings.values())
        assert settings["USD"].venmo_username and settings["USD"].zelle_recipient and settings["USD"].ach_enabled
        assert settings["CAD"].paypal_handle and not settings["CAD"].venmo_username and not settings["CAD"].ach_enabled
        for merchant in merchants.values():
            online = Payment.objects.filter(merchant=merchant).exclude(gateway="")
            assert online.filter(method=PaymentMethod.CARD, last4="4242", status=PaymentStatus.SUCCEEDED).exists()
            assert online.filter(status=PaymentStatus.VOIDED).exists()
            assert (
                Refund.objects.filter(merchant=merchant, status=RefundStatus.SUCCEEDED)
                .exclude(gateway_reference="")
                .exists()
            )
            notifications = Notification.objects.filter(merchant=merchant)
            assert notifications.filter(kind=NotificationKind.PAYMENT_RECEIVED).count() == online.count()
            assert notifications.filter(kind=NotificationKind.PAID_ELSEWHERE, needs_action=True).exists()
            assert (
                SavedMethod.objects.filter(merchant=merchant, kind="card", removed_at=None)
                .exclude(consent_text="")
                .exists()
            )
            messages = Message.objects.filter(merchant=merchant)
            assert messages.filter(purpose=Purpose.PAYMENT_CONFIRMATION).count() >= online.count() - 1
            assert messages.filter(purpose=Purpose.STATEMENT, channel=MessageChannel.EMAIL).exists()
            assert messages.filter(purpose=Purpose.PROFILE_REQUEST).exists()
            links = SecureLink.objects.filter(merchant=merchant)
            assert links.filter(public=True, purpose=LinkPurpose.PAY_INVOICE).exists()
            assert links.filter(purpose=LinkPurpose.VIEW_RECEIPT).exists()
            assert links.filter(purpose=LinkPurpose.ADD_PAYMENT_METHOD, single_use=True).exists()
        usd = Payment.objects.filter(merchant=merchants["USD"], method=PaymentMethod.BANK_ACCOUNT)
        assert set(usd.values_list("status", flat=True)) == {
            PaymentStatus.SUCCEEDED,
            PaymentStatus.PENDING,
            PaymentStatus.RETURNED,
        }
        returned = ChargeAttempt.objects.get(merchant=merchants["USD"], state=ChargeState.RETURNED)
        assert returned.decline_code == "R01"
        assert Notification.objects.filter(
            kind=NotificationKind.PAYMENT_RETURNED, payment_id=returned.payment_id, needs_action=True
        ).exists()
        assert SavedMethod.objects.filter(merchant=merchants["USD"], kind="ach").exists()
    assert "paid online" in demo


def test_demo_merchants_have_the_starter_templates_in_english_and_french(demo: str) -> None:
    with all_merchants():
        for merchant in Merchant.objects.all():
            templates = MessageTemplate.objects.filter(merchant=merchant)
            assert set(templates.values_list("starter_key", "language")) == {
                (starter.key, language) for starter in STARTERS for language in ("en", "fr")
            }
            assert set(templates.filter(is_default=True).values_list("purpose", "language")) == {
                (starter.purpose, language) for starter in STARTERS if starter.is_default for language in ("en", "fr")
            }
    assert f"  templates     {2 * len(STARTERS)} message templates in English and French" in demo


def test_demo_summary_counts_agree_with_their_nouns(demo: str) -> None:
    assert "1 payment moved to credit" in demo
    assert "1 payment method saved" in demo
    assert re.findall(r"\b1 [a-z]+s\b", demo) == []


def test_demo_merchants_and_sign_ins(demo: str) -> None:
    with all_merchants():
        merchants = {m.name: m for m in Merchant.objects.all()}
    assert set(merchants) == {"Maple Street Auto Repair", "Clinique vétérinaire du Plateau"}
    assert (merchants["Maple Street Auto Repair"].currency, merchants["Clinique vétérinaire du Plateau"].currency) == (
        "USD",
        "CAD",
    )
    users = get_user_model().objects
    owner, viewer = users.get(username=OWNER_EMAIL), users.get(username=VIEWER_EMAIL)
    assert owner.check_password(DEMO_PASSWORD) and viewer.check_password(DEMO_PASSWORD)
    assert {(m.merchant.name, m.role) for m in Membership.objects.filter(user=owner)} == {
        ("Maple Street Auto Repair", Role.OWNER),
        ("Clinique vétérinaire du Plateau", Role.OWNER),
    }
    assert {(m.merchant.name, m.role) for m in Membership.objects.filter(user=viewer)} == {
        ("Maple Street Auto Repair", Role.READ_ONLY),
    }
    assert "/accounts/login/" in demo
    assert f"{OWNER_EMAIL} / {DEMO_PASSWORD}" in demo


def test_if_empty_writes_nothing_once_loaded_and_repeats_the_sign_in(demo: str) -> None:
    before = written_rows()
    output = load(if_empty=True)
    assert written_rows() == before
    assert "/accounts/login/" in output
    assert f"{OWNER_EMAIL} / {DEMO_PASSWORD}" in output


def test_refuses_to_load_into_a_database_with_merchants(demo: str) -> None:
    before = written_rows()
    with pytest.raises(CommandError, match="already has merchants"):
        load(scale=0.1)
    assert written_rows() == before
