"""After a payment on the pay page: the merchant is notified (once, whatever path records it), the
customer gets the confirmation message with a working receipt link when the merchant turned it on
(once, after commit, never when off), a bank return is a To-Do, and Settings → Payments sends a
test of the message to an address the merchant types."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import translation

from settle.core import clock
from settle.core.errors import InvalidInput
from settle.core.money import Money
from settle.core.tenancy import all_merchants
from settle.customers.models import Contact, Customer
from settle.customers.services import contact_save
from settle.gateways.sandbox import SandboxGateway
from settle.messaging.models import Message, MessageChannel, MessageStatus, Purpose
from settle.messaging.services import message_send_test
from settle.notifications.models import Notification, NotificationKind
from settle.payments import confirmations
from settle.payments.charges import charge_attempt_reconcile
from settle.payments.confirmations import online_payment_announce
from settle.payments.links import secure_link_resolve
from settle.payments.models import ChargeState, LinkPurpose, Payment, PaymentMethod, PaymentSettings, PaymentStatus
from settle.payments.payment_settings import payment_settings_get
from settle.payments.services import GatewayCharge, gateway_payment_record
from settle.sandbox.models import FaultKind, Operation
from settle.sandbox.services import fault_script, sandbox_advance
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer, make_invoice
from tests.messaging.conftest import Inbox, smtp_server  # noqa: F401 (the fixture)
from tests.payments.charges.conftest import pay
from tests.sandbox.factories import ACCOUNTS, bank_account, card, move_to_a_monday

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway()


@pytest.fixture
def mary(merchant: Merchant) -> Customer:
    customer = make_customer(merchant, "Mary Major")
    contact_save(
        merchant=merchant, customer_id=customer.pk, name="Mary", email="mary@example.com", is_default_billing=True
    )
    return customer


def confirmation_on(merchant: Merchant, on: bool = True) -> None:
    payment_settings_get(merchant=merchant)
    PaymentSettings.objects.filter(merchant=merchant).update(confirmation_message_enabled=on)


def confirmations_sent() -> list[Message]:
    with all_merchants():
        return list(Message.objects.filter(purpose=Purpose.PAYMENT_CONFIRMATION).order_by("pk"))


def staff_notices() -> list[Message]:
    with all_merchants():
        return list(Message.objects.filter(purpose=Purpose.STAFF_NOTICE).order_by("pk"))


def received(payment: Payment) -> list[Notification]:
    return list(Notification.objects.filter(kind=NotificationKind.PAYMENT_RECEIVED, payment_id=payment.pk))


def test_a_card_payment_notifies_the_merchant_and_thanks_the_customer_with_a_receipt_link(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway, client: Client
) -> None:
    confirmation_on(merchant)
    invoice = make_invoice(merchant, mary, 12_500)

    attempt = pay(merchant, mary, [invoice], card(gateway))

    payment = Payment.objects.get()
    assert attempt.state == ChargeState.SUCCEEDED
    [notification] = received(payment)
    assert notification.title == f"Payment received from Mary Major: $125.00 for invoice {invoice.number}"
    assert "Visa •••• 4242" in notification.body and payment.number in notification.body
    assert (notification.customer_id, notification.invoice_id, notification.needs_action) == (
        mary.pk,
        invoice.pk,
        False,
    )
    assert [m.recipient for m in staff_notices()] == [Membership.objects.get(role=Role.OWNER).user.email]

    [message] = confirmations_sent()
    assert (message.channel, message.recipient, message.status) == (MessageChannel.EMAIL, "mary@example.com", "queued")
    assert (message.concerns_payment_id, message.concerns_invoice_id) == (payment.pk, invoice.pk)
    assert message.contact == Contact.objects.get(customer=mary)
    assert message.subject == "Thank you for your payment"
    assert message.body.startswith("Hi Mary Major, Thank you for making your secure online payment.")
    link = re.search(r"http://\S+/l/([A-Za-z0-9_-]{43})/", message.body)
    assert link is not None and message.link == link.group(0)
    resolved = secure_link_resolve(link.group(1))
    assert (resolved.purpose, resolved.payment_id, resolved.customer_id) == (
        LinkPurpose.VIEW_RECEIPT,
        payment.pk,
        mary.pk,
    )

    opened = client.get(f"/l/{link.group(1)}/")
    assert opened.status_code == 303
    page = client.get(opened["Location"])
    assert page.status_code == 200 and payment.number in page.content.decode()


def test_confirmation_off_sends_nothing_to_the_customer(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway
) -> None:
    confirmation_on(merchant, False)

    pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway))

    assert confirmations_sent() == []
    assert len(received(Payment.objects.get())) == 1


def test_a_declined_card_tells_no_one(merchant: Merchant, mary: Customer, gateway: SandboxGateway) -> None:
    confirmation_on(merchant)

    pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway, "4000000000000002"))

    assert Notification.objects.count() == 0 and confirmations_sent() == [] and staff_notices() == []


def test_a_lost_reply_reconciled_tells_once(merchant: Merchant, mary: Customer, gateway: SandboxGateway) -> None:
    confirmation_on(merchant)
    invoice = make_invoice(merchant, mary, 12_500)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    attempt = pay(merchant, mary, [invoice], card(gateway))
    assert attempt.state == ChargeState.UNKNOWN and Notification.objects.count() == 0

    for _ in range(3):
        attempt = charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())

    payment = Payment.objects.get()
    assert attempt.state == ChargeState.SUCCEEDED
    assert len(received(payment)) == 1 and len(confirmations_sent()) == 1 and len(staff_notices()) == 1


def test_announcing_again_tells_once(merchant: Merchant, mary: Customer, gateway: SandboxGateway) -> None:
    confirmation_on(merchant)
    attempt = pay(merchant, mary, [make_invoice(merchant, mary, 12_500)], card(gateway))
    assert attempt.payment is not None

    online_payment_announce(merchant=merchant, payment=attempt.payment, now=clock.now())

    assert len(received(attempt.payment)) == 1 and len(confirmations_sent()) == 1 and len(staff_notices()) == 1


def test_a_rolled_back_payment_tells_no_one(merchant: Merchant, mary: Customer) -> None:
    confirmation_on(merchant)
    invoice = make_invoice(merchant, mary, 12_500)

    def record_then_fail() -> None:
        with transaction.atomic():
            payment = gateway_payment_record(
                merchant=merchant,
                customer_id=mary.pk,
                amount=Money(12_500, "USD"),
                method=PaymentMethod.CARD,
                invoice_ids=[invoice.pk],
                charged=GatewayCharge(gateway="sandbox", reference="ch_1", card_brand="Visa", last4="4242"),
                now=clock.now(),
            )
            online_payment_announce(merchant=merchant, payment=payment, now=clock.now())
            assert Notification.objects.count() == 1 and len(confirmations_sent()) == 1
            raise RuntimeError("something after it failed")

    with pytest.raises(RuntimeError):
        record_then_fail()

    assert Notification.objects.count() == 0 and confirmations_sent() == [] and staff_notices() == []
    assert Payment.objects.count() == 0


def test_a_pending_bank_debit_is_told_once_and_its_return_is_a_to_do(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway
) -> None:
    confirmation_on(merchant)
    monday = move_to_a_monday()
    invoice = make_invoice(merchant, mary, 20_000)
    attempt = pay(merchant, mary, [invoice], bank_account(gateway, ACCOUNTS["R01"]))
    assert attempt.state == ChargeState.PENDING
    payment = Payment.objects.get()
    [notification] = received(payment)
    assert "pending until the bank settles it" in notification.body

    sandbox_advance(now=monday + dt.timedelta(days=7))
    for _ in range(2):
        attempt = charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())

    assert attempt.state == ChargeState.RETURNED
    [returned] = Notification.objects.filter(kind=NotificationKind.PAYMENT_RETURNED)
    assert returned.needs_action and returned.done_at is None and returned.payment_id == payment.pk
    assert returned.title == "Bank payment returned: $200.00 from Mary Major (R01 insufficient funds)"
    assert f"Invoice {invoice.number} owes again." in returned.body
    assert len(received(payment)) == 1 and len(confirmations_sent()) == 1
    assert len(staff_notices()) == 2


def test_a_customer_with_only_a_phone_gets_a_text(merchant: Merchant, gateway: SandboxGateway) -> None:
    confirmation_on(merchant)
    customer = make_customer(merchant, "Pat Phone", phones=["+12125550123"])

    pay(merchant, customer, [make_invoice(merchant, customer, 5_000)], card(gateway))

    [message] = confirmations_sent()
    assert (message.channel, message.recipient) == (MessageChannel.SMS, "+12125550123")
    assert "/l/" in message.body


def test_a_customer_without_any_address_gets_nothing_and_the_payment_stands(
    merchant: Merchant, customer: Customer, gateway: SandboxGateway
) -> None:
    confirmation_on(merchant)

    attempt = pay(merchant, customer, [make_invoice(merchant, customer, 5_000)], card(gateway))

    assert attempt.state == ChargeState.SUCCEEDED and Payment.objects.count() == 1
    assert confirmations_sent() == []


def test_a_message_that_cannot_be_written_never_undoes_the_payment(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    confirmation_on(merchant)

    def refuse(**kwargs: Any) -> Message:
        raise InvalidInput("This message has 2000 characters; the limit is 1600.", field="body")

    monkeypatch.setattr(confirmations, "message_queue", refuse)

    attempt = pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway))

    assert attempt.state == ChargeState.SUCCEEDED and Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert confirmations_sent() == []
    with all_merchants():
        assert not Payment.objects.get().secure_links.exists()  # the receipt link went with the message
    assert len(received(Payment.objects.get())) == 1


def test_a_payment_made_in_french_is_confirmed_in_french(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway
) -> None:
    confirmation_on(merchant)

    pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway), language="fr")

    [message] = confirmations_sent()
    assert message.language == "fr" and message.subject == "Merci pour votre paiement"
    assert message.body.startswith("Bonjour Mary Major, Merci d'avoir effectué votre paiement")
    assert "Votre reçu" in message.body


def test_a_payment_confirmed_later_by_the_sweeper_is_still_thanked_in_the_pages_language(
    merchant: Merchant, mary: Customer, gateway: SandboxGateway
) -> None:
    confirmation_on(merchant)
    fault_script(operation=Operation.CHARGE, kind=FaultKind.REPLY_LOST, now=clock.now())
    attempt = pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway), language="fr-ca")

    with translation.override("en"):  # a worker runs in the site's language
        charge_attempt_reconcile(merchant=merchant, attempt_id=attempt.pk, now=clock.now())

    [message] = confirmations_sent()
    assert message.language == "fr" and message.subject == "Merci pour votre paiement"


def test_the_confirmation_reaches_a_real_smtp_server_after_commit(
    merchant: Merchant,
    mary: Customer,
    gateway: SandboxGateway,
    smtp_server: Inbox,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    confirmation_on(merchant)

    with django_capture_on_commit_callbacks(execute=True):
        pay(merchant, mary, [make_invoice(merchant, mary, 5_000)], card(gateway))

    by_recipient = {tuple(e.rcpt_tos): e for e in smtp_server.received}
    assert set(by_recipient) == {("mary@example.com",), (Membership.objects.get(role=Role.OWNER).user.email,)}
    thanks = email.message_from_bytes(by_recipient[("mary@example.com",)].content, policy=email.policy.default)
    assert thanks["Subject"] == "Thank you for your payment"
    assert re.search(r"/l/[A-Za-z0-9_-]{43}/", thanks.get_content())
    assert {m.status for m in confirmations_sent() + staff_notices()} == {MessageStatus.SENT}


# --- "send a test" ------------------------------------------------------------------------------


def send_a_test(merchant: Merchant, channel: str, to: str) -> Message:
    return message_send_test(merchant=merchant, channel=channel, to=to, purpose=Purpose.PAYMENT_CONFIRMATION)


def test_send_a_test_by_e_mail_or_text(merchant: Merchant) -> None:
    by_email = send_a_test(merchant, "email", " Me@Example.com ")
    by_text = send_a_test(merchant, "sms", "(212) 555-0123")

    assert (by_email.channel, by_email.recipient, by_email.is_test) == ("email", "me@example.com", True)
    assert by_email.subject == "[Test] Thank you for your payment" and "Alex Sample" in by_email.body
    assert (by_text.channel, by_text.recipient) == ("sms", "+12125550123")
    assert by_email.customer_id is None and by_email.link.endswith("/sample-link")


@pytest.mark.parametrize(
    ("channel", "to"), [("email", ""), ("email", "   "), ("email", "not-an-address"), ("email", "mary@"), ("sms", "12")]
)
def test_send_a_test_refuses_a_bad_address(merchant: Merchant, channel: str, to: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        send_a_test(merchant, channel, to)

    assert refused.value.field == "to"
    assert Message.objects.count() == 0


def test_read_only_staff_cannot_send_a_test(client: Client, merchant: Merchant) -> None:
    owner = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    viewer = membership_set(merchant=merchant, acting=owner, email="viewer@example.com", role=Role.READ_ONLY)
    client.force_login(viewer.user)

    sending = {"send_test": "1", "channel": "email", "to": "me@example.com"}
    assert client.post("/settings/payments/", sending).status_code == 403
    assert "Send a test" not in client.get("/settings/payments/").content.decode()
    assert Message.objects.count() == 0
