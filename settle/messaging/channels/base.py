"""The channel interface: plain data in, a `Delivery` out. The outbox gives a channel an
`Outgoing`, never a model row, and records what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_CHANNELS = {
    "email": "settle.messaging.channels.email.EmailChannel",
    "sms": "settle.messaging.channels.sms.LocalSmsChannel",
    "messenger": "settle.messaging.channels.share.MessengerChannel",
    "link": "settle.messaging.channels.share.CopyLinkChannel",
}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel sends it. `to` is an e-mail address or an E.164 number (empty for
    Messenger and copy-link); `link` is the link the message carries."""

    message_id: int
    merchant_id: int
    sender_name: str
    reply_to: str
    to: str
    subject: str
    body: str
    link: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """What a channel did: `sent` (with the provider's id), `failed` (with the provider's error;
    `retry` False when trying again cannot help, e.g. a number the provider refuses), or `shared` /
    `copied` when the merchant passes it on themselves (`share_url` opens that)."""

    status: str
    provider_id: str = ""
    error: str = ""
    retry: bool = True
    share_url: str = ""

    @classmethod
    def sent(cls, provider_id: str = "") -> Delivery:
        return cls("sent", provider_id=provider_id)

    @classmethod
    def failed(cls, error: str, *, retry: bool = True) -> Delivery:
        return cls("failed", error=error, retry=retry)


class Channel:
    """Base of every channel. `send` reports failures as a failed `Delivery` rather than raising;
    an exception is still caught by the outbox and kept as a retryable failure."""

    # Handed to the merchant in the request itself (Messenger, copy link): no task, no retries.
    in_app: ClassVar[bool] = False

    def send(self, outgoing: Outgoing) -> Delivery:
        raise NotImplementedError


def channel_class(name: str) -> type[Channel]:
    """The configured channel class for `email`, `sms`, `messenger` or `link`."""
    paths = {**DEFAULT_CHANNELS, **getattr(settings, "SETTLE_MESSAGE_CHANNELS", {})}
    try:
        path = paths[name]
    except KeyError:
        raise ValueError(f"No message channel named {name!r}.") from None
    channel: type[Channel] = import_string(path)
    return channel


def channel_get(name: str) -> Channel:
    return channel_class(name)()
