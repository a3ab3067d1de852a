"""The Twilio adapter against a small fake Twilio on 127.0.0.1: the request it makes (path, basic
auth, form fields), a success, Twilio's error JSON as a failure that is not retried, and a server
error or an unreachable API as failures that are."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ImproperlyConfigured

from settle.customers.models import Contact
from settle.messaging.channels.base import Outgoing
from settle.messaging.channels.sms import TwilioSmsChannel
from settle.messaging.models import LocalSms, MessageChannel, Purpose
from settle.messaging.services import message_queue
from settle.tenants.models import Merchant
from tests.messaging.conftest import NOW, Clock, free_port

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "secret-token"
INVALID_NUMBER = {
    "code": 21211,
    "message": "The 'To' number +15005550001 is not a valid phone number.",
    "more_info": "https://www.twilio.com/docs/errors/21211",
    "status": 400,
}


@dataclass
class FakeTwilio:
    """Answers the next request with `reply` (status, JSON) and keeps what it was sent."""

    url: str
    reply: tuple[int, dict[str, Any]] = (201, {"sid": "SM00000000000000000000000000000001", "status": "queued"})
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilio]:
    fake = FakeTwilio(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            fake.requests.append(
                {
                    "path": self.path,
                    "auth": self.headers["Authorization"],
                    "form": parse_qs(self.rfile.read(length).decode()),
                }
            )
            status, body = fake.reply
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SETTLE_MESSAGE_CHANNELS = {"sms": "settle.messaging.channels.sms.TwilioSmsChannel"}
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.SMS_FROM = "+15005550006"
    settings.TWILIO_BASE_URL = fake.url
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def outgoing(to: str = "+15145550123") -> Outgoing:
    return Outgoing(
        message_id=1, merchant_id=1, sender_name="Shop", reply_to="", to=to, subject="", body="Pay: https://x.test/p"
    )


def test_a_text_is_posted_to_twilio_with_basic_auth(fake_twilio: FakeTwilio) -> None:
    delivery = TwilioSmsChannel().send(outgoing())
    assert (delivery.status, delivery.provider_id) == ("sent", "SM00000000000000000000000000000001")
    [request] = fake_twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["auth"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["form"] == {"To": ["+15145550123"], "From": ["+15005550006"], "Body": ["Pay: https://x.test/p"]}


def test_a_messaging_service_sends_from_its_pool(fake_twilio: FakeTwilio, settings: Any) -> None:
    settings.SMS_FROM = "MG0123456789abcdef0123456789abcdef"
    TwilioSmsChannel().send(outgoing())
    assert fake_twilio.requests[0]["form"]["MessagingServiceSid"] == ["MG0123456789abcdef0123456789abcdef"]
    assert "From" not in fake_twilio.requests[0]["form"]


def test_twilios_error_json_is_a_failure_that_is_not_retried(fake_twilio: FakeTwilio) -> None:
    fake_twilio.reply = (400, INVALID_NUMBER)
    delivery = TwilioSmsChannel().send(outgoing("+15005550001"))
    assert delivery.status == "failed" and delivery.retry is False
    assert delivery.error == "Twilio error 21211: The 'To' number +15005550001 is not a valid phone number."


def test_a_twilio_server_error_or_rate_limit_is_retried(fake_twilio: FakeTwilio) -> None:
    fake_twilio.reply = (500, {"code": 20500, "message": "Internal Server Error", "status": 500})
    assert TwilioSmsChannel().send(outgoing()).retry is True
    fake_twilio.reply = (429, {"code": 20429, "message": "Too Many Requests", "status": 429})
    assert TwilioSmsChannel().send(outgoing()).retry is True


def test_twilio_unreachable_is_a_retried_failure(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.SMS_FROM = SID, TOKEN, "+15005550006"
    settings.TWILIO_BASE_URL = f"http://127.0.0.1:{free_port()}"
    delivery = TwilioSmsChannel().send(outgoing())
    assert delivery.status == "failed" and delivery.retry is True
    assert delivery.error.startswith("Twilio could not be reached")


def test_twilio_needs_its_settings(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured):
        TwilioSmsChannel()


def test_through_the_outbox_a_refused_number_fails_for_good(
    merchant: Merchant,
    contact: Contact,
    frozen: Clock,
    fake_twilio: FakeTwilio,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def request() -> Any:
        return message_queue(
            merchant=merchant,
            channel=MessageChannel.SMS,
            purpose=Purpose.PAYMENT_REQUEST,
            contact_id=contact.pk,
            context={"invoice.number": "INV-7", "payment.link": "http://127.0.0.1:8000/pay/k"},
            now=NOW,
        )

    with django_capture_on_commit_callbacks(execute=True):
        sent = request()
    sent.refresh_from_db()
    assert (sent.status, sent.provider_id) == ("sent", "SM00000000000000000000000000000001")
    fake_twilio.reply = (400, INVALID_NUMBER)
    with django_capture_on_commit_callbacks(execute=True):
        refused = request()
    refused.refresh_from_db()
    assert (refused.status, refused.next_attempt_at) == ("failed", None)
    assert refused.last_error.startswith("Twilio error 21211")
    fake_twilio.reply = (503, {"code": 20503, "message": "Service Unavailable", "status": 503})
    with django_capture_on_commit_callbacks(execute=True):
        later = request()
    later.refresh_from_db()
    assert (later.status, later.next_attempt_at) == ("failed", NOW + dt.timedelta(minutes=1))
    assert not LocalSms.objects.exists()
