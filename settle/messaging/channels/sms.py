"""Text messages: a local outbox by default (the merchant reads in the back office exactly what
would have gone out), and Twilio's REST API in production."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from settle.core import clock
from settle.messaging.models import LocalSms

from .base import Channel, Delivery, Outgoing


class LocalSmsChannel(Channel):
    """Keeps each text in the merchant's local outbox instead of handing it to a provider."""

    def send(self, outgoing: Outgoing) -> Delivery:
        row = LocalSms.objects.create(
            merchant_id=outgoing.merchant_id,
            message_id=outgoing.message_id,
            to=outgoing.to,
            sender=getattr(settings, "SMS_FROM", ""),
            body=outgoing.body,
            created_at=clock.now(),
        )
        return Delivery.sent(f"local-{row.pk}")


class TwilioSmsChannel(Channel):
    """POST /2010-04-01/Accounts/{sid}/Messages.json with basic auth. Twilio's error JSON
    (`code`, `message`) becomes the failure text; its 4xx refusals are not retried automatically
    (a bad number stays bad), 429 and 5xx are."""

    timeout = 15

    def __init__(self) -> None:
        self.account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
        self.auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
        self.sender = getattr(settings, "SMS_FROM", "")
        self.base_url = getattr(settings, "TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/")
        if not (self.account_sid and self.auth_token and self.sender):
            raise ImproperlyConfigured("Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and SMS_FROM.")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ImproperlyConfigured("TWILIO_BASE_URL must be an http(s) URL.")

    def send(self, outgoing: Outgoing) -> Delivery:
        fields = {"To": outgoing.to, "Body": outgoing.body}
        # A Messaging Service SID (MG…) lets Twilio pick the number; otherwise it is the number itself.
        fields["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) above
            f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json",
            data=urlencode(fields).encode(),
            method="POST",
            headers={
                "Authorization": f"Basic {credentials}",
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                reply = _json(response.read())
        except urllib.error.HTTPError as error:
            return _refusal(error.code, _json(error.read()))
        except (urllib.error.URLError, OSError) as error:
            return Delivery.failed(f"Twilio could not be reached: {getattr(error, 'reason', error)}")
        if reply.get("status") == "failed" or reply.get("error_code"):
            return Delivery.failed(f"Twilio error {reply.get('error_code')}: {reply.get('error_message') or 'failed'}")
        if not reply.get("sid"):
            return Delivery.failed("Twilio's reply had no message id.")
        return Delivery.sent(str(reply["sid"]))


def _json(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(status: int, reply: dict[str, object]) -> Delivery:
    code, text = reply.get("code"), reply.get("message")
    error = f"Twilio error {code}: {text}" if code or text else f"Twilio answered HTTP {status}"
    return Delivery.failed(error, retry=status == 429 or status >= 500)
