"""Payment requests: an invoice sent to its customer with a secure link to pay it.

One transaction writes the link, the message (with the invoice PDF when it goes by e-mail) and the
timeline entry, so a request that fails anywhere leaves no link nobody was sent; the message
itself goes out after commit through the outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from settle.core import clock
from settle.core.errors import NotAllowed, NotFound
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.customers.services import activity_record
from settle.documents.pdf import invoice_pdf
from settle.invoicing.models import COLLECTIBLE_STATUSES, Invoice, InvoiceStatus
from settle.messaging.channels.base import Attachment
from settle.messaging.models import Message, MessageChannel, MessageStatus, Purpose
from settle.messaging.services import message_queue
from settle.tenants.models import Merchant

from .links import secure_link_create, secure_link_url
from .models import LinkPurpose
from .receipts import invoice_document

_REFUSALS = {
    InvoiceStatus.DRAFT: "Invoice {number} is a draft: issue it before sending it.",
    InvoiceStatus.PAID: "Invoice {number} is paid: there is nothing left to pay.",
    InvoiceStatus.VOID: "Invoice {number} is void and cannot be paid.",
    InvoiceStatus.UNCOLLECTIBLE: "Invoice {number} is written off as uncollectible and cannot be paid.",
}


def _sent_summary(invoice: Invoice, message: Message) -> str:
    if message.status == MessageStatus.SHARED:
        return f"Invoice {invoice.number} shared on Messenger"
    if message.status == MessageStatus.COPIED:
        return f"Invoice {invoice.number} link copied"
    return f"Invoice {invoice.number} sent by {message.get_channel_display().lower()} to {message.recipient}"


def payment_request_send(
    *,
    merchant: Merchant,
    invoice_id: int,
    channel: str,
    contact_id: int | None = None,
    to: str = "",
    subject: str | None = None,
    body: str | None = None,
    language: str = "",
    idempotency_key: str | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Message:
    """Send invoice `invoice_id` to its customer with a new pay-invoice link, by e-mail (the
    invoice PDF attached), text message, Messenger or copy-link, and note it on the customer's
    timeline. `subject`/`body` are the sender's wording (else the merchant's default payment
    request); the body must keep `{payment.link}`. The recipient is `to`, else the contact's
    address, else the customer's.

    Returns the message: queued for e-mail and text (sent after commit), or shared / copied with
    its `share_url` for Messenger and copy-link. Raises NotAllowed for an invoice that is draft,
    paid, void or uncollectible, NotFound for another merchant's invoice or another customer's
    contact, InvalidInput for the channel, recipient or wording; nothing is written then. A repeated
    `idempotency_key` (a double-clicked Send, a reloaded page) returns the first message: one link,
    one message."""
    fingerprint = request_fingerprint(
        invoice_id=invoice_id,
        channel=channel,
        contact_id=contact_id,
        to=to,
        subject=subject,
        body=body,
        language=language,
    )
    return idempotent_create(
        Message,
        merchant=merchant,
        key=idempotency_key,
        fingerprint=fingerprint,
        create=lambda: _payment_request_send(
            merchant=merchant,
            invoice_id=invoice_id,
            channel=channel,
            contact_id=contact_id,
            to=to,
            subject=subject,
            body=body,
            language=language,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            actor=actor,
            now=now,
        ),
    )


def _payment_request_send(
    *,
    merchant: Merchant,
    invoice_id: int,
    channel: str,
    contact_id: int | None,
    to: str,
    subject: str | None,
    body: str | None,
    language: str,
    idempotency_key: str | None,
    fingerprint: str,
    actor: Any,
    now: dt.datetime | None,
) -> Message:
    now = now or clock.now()
    replay = idempotent_replay(Message, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        # Locked so the invoice cannot be voided or paid between this check and the commit.
        invoice = Invoice.objects.select_for_update().get(merchant=merchant, pk=invoice_id)
    except (Invoice.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such invoice.") from None
    if invoice.status not in COLLECTIBLE_STATUSES:
        raise NotAllowed(_REFUSALS[InvoiceStatus(invoice.status)].format(number=invoice.number))
    _, raw_token = secure_link_create(
        merchant=merchant,
        purpose=LinkPurpose.PAY_INVOICE,
        customer_id=invoice.customer_id,
        contact_id=contact_id,
        invoice_ids=[invoice.pk],
        actor=actor,
        now=now,
    )
    attachments = []
    if channel == MessageChannel.EMAIL:
        pdf = invoice_pdf(invoice_document(merchant=merchant, invoice_id=invoice.pk))
        attachments.append(Attachment(f"{invoice.number}.pdf", pdf, "application/pdf"))
    message = message_queue(
        merchant=merchant,
        channel=channel,
        purpose=Purpose.PAYMENT_REQUEST,
        customer_id=invoice.customer_id,
        contact_id=contact_id,
        to=to,
        subject=subject,
        body=body,
        context={
            "payment.link": secure_link_url(raw_token),
            "payment.amount": invoice.balance,
            "invoice.number": invoice.number,
            "invoice.amount_due": invoice.balance,
            "invoice.total": invoice.total,
            "invoice.due_date": invoice.due_date,
        },
        language=language,
        attachments=attachments,
        concerns_invoice_id=invoice.pk,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        actor=actor,
        now=now,
    )
    activity_record(
        merchant=merchant,
        customer_id=invoice.customer_id,
        verb="invoice.sent",
        summary=_sent_summary(invoice, message),
        actor=actor,
        obj=invoice,
        now=now,
    )
    return message
