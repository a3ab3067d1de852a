"""Delivery: e-mail through a real SMTP server started by the test (an attachment arrives byte for
byte); the server down gives a failed row with its error and a backoff schedule; the sweeper sends
what is due, queued rows whose task was lost too; a manual retry sends once; duplicates send once."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from settle.core.errors import NotAllowed, NotFound
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Contact
from settle.messaging.channels.base import Attachment
from settle.messaging.models import Message, MessageChannel, MessageStatus, Purpose
from settle.messaging.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    STALE_AFTER,
    message_deliver,
    message_queue,
    message_retry,
    message_sweep,
)
from settle.tenants.models import Merchant
from tests.conftest import make_customer
from tests.messaging.conftest import NOW, Clock, Inbox, point_email_at

LINK = "http://127.0.0.1:8000/pay/k3y"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\r\n\x00\xff%%EOF"


def queue_request(merchant: Merchant, contact: Contact, **kwargs: Any) -> Message:
    return message_queue(
        merchant=merchant,
        channel=MessageChannel.EMAIL,
        purpose=Purpose.PAYMENT_REQUEST,
        contact_id=contact.pk,
        context={"invoice.number": "INV-00012", "invoice.amount_due": Money(12_345, "USD"), "payment.link": LINK},
        now=NOW,
        **kwargs,
    )


def parsed(inbox: Inbox, index: int = 0) -> EmailMessage:
    message = email.message_from_bytes(inbox.received[index].content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_e_mail_with_its_pdf_reaches_a_real_smtp_server_byte_for_byte(
    merchant: Merchant, contact: Contact, frozen: Clock, smtp_server: Inbox, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_request(merchant, contact, attachments=[Attachment("INV-00012.pdf", PDF, "application/pdf")])
    [envelope] = smtp_server.received
    assert envelope.rcpt_tos == ["ann@example.com"]
    received = parsed(smtp_server)
    assert received["Subject"] == f"Invoice INV-00012 from {merchant.name}"
    assert received["From"] == f"{merchant.name} <no-reply@settle.local>"
    assert received["Reply-To"] == merchant.email
    assert LINK in received.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    [pdf] = received.iter_attachments()
    assert (pdf.get_filename(), pdf.get_content_type()) == ("INV-00012.pdf", "application/pdf")
    assert pdf.get_payload(decode=True) == PDF
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at) == ("sent", 1, NOW)
    assert message.provider_id == received["Message-ID"]


def test_smtp_down_fails_the_row_with_the_error_then_backs_off_until_it_gives_up(
    merchant: Merchant, contact: Contact, frozen: Clock, smtp_down: int, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_request(merchant, contact, attachments=[Attachment("INV-00012.pdf", PDF, "application/pdf")])
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 1)
    assert "Connection refused" in message.last_error
    assert message.next_attempt_at == NOW + dt.timedelta(minutes=1)

    early = message_deliver(merchant=merchant, message_id=message.pk, now=NOW + dt.timedelta(seconds=59))
    assert (early.status, early.attempts) == ("failed", 1)  # not due yet: left alone

    schedule = []
    moment = NOW
    for delay in RETRY_DELAYS:
        moment += delay
        retried = message_deliver(merchant=merchant, message_id=message.pk, now=moment)
        schedule.append(None if retried.next_attempt_at is None else retried.next_attempt_at - moment)
    assert schedule == [
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=30),
        dt.timedelta(hours=2),
        dt.timedelta(hours=6),
        None,
    ]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.will_retry) == ("failed", MAX_ATTEMPTS, False)
    assert "Connection refused" in message.last_error
    assert message.attachments.count() == 1  # never lost: still there for a retry by hand
    assert message_sweep(now=moment + dt.timedelta(days=1)) == 0


def test_the_sweeper_resends_failed_and_lost_messages_once_due(
    merchant: Merchant,
    contact: Contact,
    frozen: Clock,
    settings: Any,
    smtp_down: int,
    smtp_server: Inbox,
    django_capture_on_commit_callbacks: Any,
) -> None:
    point_email_at(settings, smtp_down)
    with django_capture_on_commit_callbacks(execute=True):
        failed = queue_request(merchant, contact)
    lost = queue_request(merchant, contact)  # committed, but its task never ran
    failed.refresh_from_db()
    assert (failed.status, lost.status) == ("failed", "queued")

    point_email_at(settings, smtp_server.port)
    with django_capture_on_commit_callbacks(execute=True):
        assert message_sweep(now=frozen.advance(dt.timedelta(seconds=30))) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert message_sweep(now=frozen.advance(dt.timedelta(seconds=30))) == 1  # the failed one, after 1 min
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("sent", 2, "")
    assert len(smtp_server.received) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert message_sweep(now=frozen.advance(STALE_AFTER)) == 1  # the lost one
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("sent", 1)
    assert len(smtp_server.received) == 2
    assert message_sweep(now=frozen.advance(dt.timedelta(days=1))) == 0


def test_a_manual_retry_of_a_message_that_gave_up_sends_it_once(
    merchant: Merchant, contact: Contact, frozen: Clock, smtp_server: Inbox, django_capture_on_commit_callbacks: Any
) -> None:
    message = queue_request(merchant, contact)
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.FAILED, attempts=MAX_ATTEMPTS, next_attempt_at=None, last_error="SMTP down"
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = message_retry(merchant=merchant, message_id=message.pk, now=NOW)
        assert queued.status == MessageStatus.QUEUED
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", MAX_ATTEMPTS + 1)
    assert len(smtp_server.received) == 1
    # A late duplicate task, another sweep, another click: nothing more goes out.
    message_deliver(merchant=merchant, message_id=message.pk, now=NOW)
    assert message_sweep(now=NOW + dt.timedelta(days=1)) == 0
    with pytest.raises(NotAllowed):
        message_retry(merchant=merchant, message_id=message.pk, now=NOW)
    assert len(smtp_server.received) == 1


def test_an_attempt_that_never_reported_is_taken_over_after_its_lease(
    merchant: Merchant, contact: Contact, frozen: Clock, smtp_server: Inbox, django_capture_on_commit_callbacks: Any
) -> None:
    message = queue_request(merchant, contact)
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, next_attempt_at=NOW + dt.timedelta(minutes=10)
    )
    message_deliver(merchant=merchant, message_id=message.pk, now=NOW + dt.timedelta(minutes=9))
    assert smtp_server.received == []  # still within its lease: someone is sending it
    with django_capture_on_commit_callbacks(execute=True):
        assert message_sweep(now=frozen.advance(dt.timedelta(minutes=10))) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(smtp_server.received) == 1


def test_another_merchants_message_cannot_be_retried(merchant: Merchant, other_merchant: Merchant) -> None:
    theirs_customer = make_customer(other_merchant, emails=["t@example.com"])
    with merchant_scope(other_merchant):
        theirs = message_queue(
            merchant=other_merchant,
            channel=MessageChannel.EMAIL,
            purpose=Purpose.SAVED_REPLY,
            customer_id=theirs_customer.pk,
            subject="Hi",
            body="Hello",
            now=NOW,
        )
        Message.objects.filter(pk=theirs.pk).update(status=MessageStatus.FAILED)
    with pytest.raises(NotFound):
        message_retry(merchant=merchant, message_id=theirs.pk, now=NOW)


def test_a_channel_that_raises_counts_as_a_failed_attempt(
    merchant: Merchant, contact: Contact, frozen: Clock, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SETTLE_MESSAGE_CHANNELS = {"email": "tests.messaging.test_delivery.ExplodingChannel"}
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_request(merchant, contact)
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "RuntimeError: provider exploded")
    assert message.next_attempt_at == NOW + RETRY_DELAYS[0]


class ExplodingChannel:
    in_app = False

    def send(self, outgoing: Any) -> Any:
        raise RuntimeError("provider exploded")
