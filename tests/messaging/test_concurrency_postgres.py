"""Races on PostgreSQL with real threads: tasks and sweepers that pick up the same message at once
send it once, because the attempt is claimed under the row lock before the channel is called."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.core import mail
from django.db import connection

from settle.core.tenancy import merchant_scope
from settle.messaging.models import Message, MessageChannel, MessageStatus, Purpose
from settle.messaging.services import message_deliver, message_queue, message_sweep
from tests.conftest import make_customer, make_merchant
from tests.messaging.conftest import NOW, Clock
from tests.test_concurrency_postgres import at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]


def test_tasks_and_sweeps_racing_on_one_message_send_it_once(frozen: Clock) -> None:
    merchant = make_merchant()
    customer = make_customer(merchant, emails=["ann@example.com"])
    with merchant_scope(merchant):
        message = message_queue(
            merchant=merchant,
            channel=MessageChannel.EMAIL,
            purpose=Purpose.SAVED_REPLY,
            customer_id=customer.pk,
            subject="Hello",
            body="Hello {customer.name}",
            now=NOW,
        )
        assert len(mail.outbox) == 1  # committed: its own task sent it
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.QUEUED, attempts=0, sent_at=None, next_attempt_at=NOW
        )
    later = frozen.advance(dt.timedelta(hours=1))  # the sweeps' own tasks read the clock too
    calls: list[Callable[[], object]] = [
        *[lambda: message_deliver(merchant=merchant, message_id=message.pk, now=later) for _ in range(8)],
        *[lambda: message_sweep(now=later) for _ in range(4)],
    ]
    at_once(merchant, calls)
    with merchant_scope(merchant):
        message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert len(mail.outbox) == 2
