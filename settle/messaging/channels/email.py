"""E-mail through Django's mail (SMTP in production; `EMAIL_URL` configures it)."""

from __future__ import annotations

import smtplib
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .base import Channel, Delivery, Outgoing

# Django waits forever on a silent SMTP server unless told otherwise.
DEFAULT_TIMEOUT = 30


class EmailChannel(Channel):
    """Plain-text e-mail from the merchant's name at Settle's sending address, replies going to the
    merchant. The Message-ID is the provider id."""

    def send(self, outgoing: Outgoing) -> Delivery:
        address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
        message_id = make_msgid(idstring=f"settle-{outgoing.message_id}", domain=address.rpartition("@")[2] or None)
        email = EmailMessage(
            subject=outgoing.subject,
            body=outgoing.body,
            from_email=formataddr((outgoing.sender_name, address)),
            to=[outgoing.to],
            reply_to=[outgoing.reply_to] if outgoing.reply_to else None,
            headers={"Message-ID": message_id},
            connection=get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_TIMEOUT),
        )
        for attachment in outgoing.attachments:
            email.attach(attachment.filename, attachment.content, attachment.content_type)
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as error:
            return Delivery.failed(f"The mail server refused the recipient: {_reasons(error)}", retry=False)
        except (smtplib.SMTPException, OSError) as error:
            return Delivery.failed(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
        return Delivery.sent(message_id)


def _reasons(error: smtplib.SMTPRecipientsRefused) -> str:
    parts = []
    for recipient, (code, reply) in error.recipients.items():
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        parts.append(f"{recipient} ({code} {text})")
    return "; ".join(parts)
