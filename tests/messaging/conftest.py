"""Messaging fixtures: a frozen, movable clock; a real SMTP server on 127.0.0.1 (aiosmtpd) with the
e-mail settings pointed at it; a port nothing listens on, for "the mail server is down"."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from settle.core import clock
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity
from settle.messaging.models import LocalSms, Message, MessageAttachment, MessageTemplate, Purpose
from settle.messaging.services import template_save
from settle.tenants.models import Merchant

NOW = dt.datetime(2024, 3, 20, 16, 0, tzinfo=dt.UTC)


class Clock:
    """`settle.core.clock.now` for the test: starts at NOW, moves only when told."""

    def __init__(self) -> None:
        self.now = NOW

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.now += delta
        return self.now


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen_clock = Clock()
    monkeypatch.setattr(clock, "now", lambda: frozen_clock.now)
    return frozen_clock


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received: envelopes with sender, recipients and the raw bytes."""

    received: list[Any] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"


def point_email_at(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Inbox]:
    """A real SMTP server for the test, and Settle's e-mail settings pointing at it."""
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    point_email_at(settings, inbox.port)
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_down(settings: Any) -> int:
    """E-mail settings pointing at a port where no server listens."""
    port = free_port()
    point_email_at(settings, port)
    return port


def outbox_rows() -> dict[str, int]:
    """Row counts of every table queueing a message writes to, across all merchants."""
    with all_merchants():
        return {model.__name__: model.objects.count() for model in (Message, MessageAttachment, LocalSms, Activity)}


@pytest.fixture
def their_template(other_merchant: Merchant) -> MessageTemplate:
    """A payment request template of another merchant, to try from this one."""
    with merchant_scope(other_merchant):
        return template_save(
            merchant=other_merchant,
            purpose=Purpose.PAYMENT_REQUEST,
            language="en",
            name="T",
            subject="S",
            body="{payment.link}",
        )
