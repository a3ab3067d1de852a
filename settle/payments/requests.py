"""Sending to a customer from the back office: an invoice with a secure link to pay it, a quick
payment request (an amount and a reference) made and sent at once, a statement (one link to pay
several open invoices), or a plain message.

One transaction writes everything a send makes — the quick request's invoice, the link, the message
(with the invoices' PDFs when it goes by e-mail) and the timeline entries — so a send that fails
anywhere leaves no invoice or link nobody was sent; the message itself goes out after commit
through the outbox. Every sender takes a `Sending` — what the sender chose on the form, whatever
is sent: channel, recipient, wording, idempotency key — and what its send is about. The key makes a
double-clicked Send or a reloaded page return the first message and make nothing more."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from babel.dates import format_date

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.core.money import Money
from settle.customers.models import Customer
from settle.customers.services import activity_record
from settle.documents.pdf import invoice_pdf
from settle.invoicing.models import COLLECTIBLE_STATUSES, Invoice, InvoiceStatus
from settle.invoicing.services import quick_payment_request_create
from settle.messaging.channels.base import Attachment
from settle.messaging.models import Message, MessageChannel, MessageStatus, Purpose
from settle.messaging.placeholders import COMMON, placeholders_in
from settle.messaging.selectors import merchant_language, reader_locale, template_text_for
from settle.messaging.services import message_queue
from settle.tenants.models import Merchant

from .links import secure_link_create, secure_link_url
from .models import LinkPurpose
from .receipts import invoice_documents

_REFUSALS = {
    InvoiceStatus.DRAFT: "Invoice {number} is a draft: issue it before sending it.",
    InvoiceStatus.PAID: "Invoice {number} is paid: there is nothing left to pay.",
    InvoiceStatus.VOID: "Invoice {number} is void and cannot be paid.",
    InvoiceStatus.UNCOLLECTIBLE: "Invoice {number} is written off as uncollectible and cannot be paid.",
}


@dataclass(frozen=True, kw_only=True)
class Sending:
    """What the sender chose — the channel, who to, the wording, the form's idempotency key, who
    sends and when — the same for every kind of send, handed on to the message as it is. `subject`
    and `body` left None take the merchant's default wording; `now` None is the time of sending."""

    channel: str
    contact_id: int | None = None
    to: str = ""
    subject: str | None = None
    body: str | None = None
    language: str = ""
    idempotency_key: str | None = None
    actor: Any = None
    now: dt.datetime | None = None


# The choices that make a send's request, beside what it is about: not the key, nor who sends or when.
_FINGERPRINTED = ("channel", "contact_id", "to", "subject", "body", "language")


def send_once(
    *,
    merchant: Merchant,
    sending: Sending,
    asked: Mapping[str, Any],
    send: Callable[[Sending, str], Message],
) -> Message:
    """`send` run at most once per idempotency key, in its own transaction: a repeat returns the
    first message (IdempotencyConflict when it asked for something else), and a concurrent twin
    loses on the message's unique key, its writes rolled back, and returns the winner's.

    "Something else" is judged by a fingerprint of the sender's channel, recipient and wording and
    of `asked`, what the send is about (invoice ids, an amount…). `send` gets the sending with its
    time fixed, so all it writes has one `now`, and that fingerprint, for `sending_queue`."""
    chosen = {name: getattr(sending, name) for name in _FINGERPRINTED}
    fingerprint = request_fingerprint(**chosen, **asked)
    sending = replace(sending, now=sending.now or clock.now())
    key = sending.idempotency_key

    def create() -> Message:
        replay = idempotent_replay(Message, merchant=merchant, key=key, fingerprint=fingerprint)
        return send(sending, fingerprint) if replay is None else replay

    return idempotent_create(Message, merchant=merchant, key=key, fingerprint=fingerprint, create=create)


def sending_queue(
    merchant: Merchant,
    sending: Sending,
    fingerprint: str,
    *,
    purpose: str,
    customer_id: int,
    context: Mapping[str, object],
    body: str | None = None,
    subject: str | None = None,
    language: str = "",
    attachments: Sequence[Attachment] = (),
    concerns_invoice_id: int | None = None,
) -> Message:
    """The message of `sending` queued in the outbox under its key and `fingerprint` (as
    `send_once` hands them on); `body`, `subject` and `language` stand in for the sender's when the
    send writes its own."""
    return message_queue(
        merchant=merchant,
        channel=sending.channel,
        purpose=purpose,
        customer_id=customer_id,
        contact_id=sending.contact_id,
        to=sending.to,
        subject=sending.subject if subject is None else subject,
        body=sending.body if body is None else body,
        context=context,
        language=language or sending.language,
        attachments=attachments,
        concerns_invoice_id=concerns_invoice_id,
        idempotency_key=sending.idempotency_key,
        request_fingerprint=fingerprint,
        actor=sending.actor,
        now=sending.now,
    )


def _customer(*, merchant: Merchant, customer_id: int) -> Customer:
    try:
        return Customer.objects.get(merchant=merchant, pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such customer.") from None


def _collectible_invoices(*, merchant: Merchant, invoice_ids: Sequence[int], customer_id: int | None) -> list[Invoice]:
    """The invoices, oldest due first, locked so none can be voided or paid between this check and
    the commit. Raises NotFound for an id that is not the merchant's, NotAllowed for another
    customer's invoice (when `customer_id` is given) or one that cannot be paid."""
    wanted = list(dict.fromkeys(invoice_ids))
    try:
        invoices = list(Invoice.objects.select_for_update().filter(merchant=merchant, pk__in=wanted).order_by("pk"))
    except (ValueError, TypeError, OverflowError):
        raise NotFound("No such invoice.") from None
    if len(invoices) != len(wanted):
        raise NotFound("No such invoice.")
    invoices.sort(key=lambda invoice: (invoice.due_date, invoice.sequence))
    for invoice in invoices:
        if customer_id is not None and invoice.customer_id != customer_id:
            raise NotAllowed(f"Invoice {invoice.number} is another customer’s.")
        if invoice.status not in COLLECTIBLE_STATUSES:
            raise NotAllowed(_REFUSALS[InvoiceStatus(invoice.status)].format(number=invoice.number))
    return invoices


def _pdfs(merchant: Merchant, sending: Sending, invoices: Sequence[Invoice]) -> list[Attachment]:
    """Each invoice's PDF, for an e-mail; other channels carry none."""
    if sending.channel != MessageChannel.EMAIL:
        return []
    documents = invoice_documents(merchant=merchant, invoices=invoices)
    return [Attachment(f"{doc.number}.pdf", invoice_pdf(doc), "application/pdf") for doc in documents]


def _sent_summary(what: str, message: Message) -> str:
    if message.status == MessageStatus.SHARED:
        return f"{what} shared on Messenger"
    if message.status == MessageStatus.COPIED:
        return f"{what} link copied"
    return f"{what} sent by {message.get_channel_display().lower()} to {message.recipient}"


def payment_request_send(
    *, merchant: Merchant, sending: Sending, invoice_id: int, customer_id: int | None = None
) -> Message:
    """Send invoice `invoice_id` to its customer with a new pay-invoice link, by e-mail (the
    invoice PDF attached), text message, Messenger or copy-link, and note it on the customer's
    timeline. The sending's `subject`/`body` are the sender's wording (else the merchant's default
    payment request); the body must keep `{payment.link}`. The recipient is its `to`, else the
    contact's address, else the customer's. With `customer_id`, the invoice must be that customer's.

    Returns the message: queued for e-mail and text (sent after commit), or shared / copied with
    its `share_url` for Messenger and copy-link. Raises NotAllowed for an invoice that is draft,
    paid, void, uncollectible or another customer's, NotFound for another merchant's invoice or
    another customer's contact, InvalidInput for the channel, recipient or wording; nothing is
    written then. A repeated `idempotency_key` (a double-clicked Send, a reloaded page) returns
    the first message: one link, one message."""

    def send(sending: Sending, fingerprint: str) -> Message:
        [invoice] = _collectible_invoices(merchant=merchant, invoice_ids=[invoice_id], customer_id=customer_id)
        return _invoice_request(merchant, sending, fingerprint, invoice)

    asked = {"invoice_id": invoice_id, "customer_id": customer_id}
    return send_once(merchant=merchant, sending=sending, asked=asked, send=send)


def quick_payment_request_send(
    *,
    merchant: Merchant,
    sending: Sending,
    customer_id: int,
    amount: Money,
    reference: str,
    public: bool = False,
) -> Message:
    """Make a quick payment request — an open invoice of `amount` for `reference`, due on receipt —
    and send it like `payment_request_send`, in the same transaction. A `public` link is the
    quick payment link the merchant copies and shares anywhere (reusable, a year long, never
    offering the customer's saved payment methods). The message's `concerns_invoice_id` is the new
    invoice.

    Raises InvalidInput for a missing reference or an amount that is not positive (and as
    `payment_request_send` does), NotFound for another merchant's customer or contact; nothing is
    written then, not even an invoice number. A repeated `idempotency_key` returns the first
    message: one invoice, one link, one message."""

    def send(sending: Sending, fingerprint: str) -> Message:
        invoice = quick_payment_request_create(
            merchant=merchant,
            customer_id=customer_id,
            amount=amount,
            reference=reference,
            actor=sending.actor,
            now=sending.now,
        )
        return _invoice_request(merchant, sending, fingerprint, invoice, public=public)

    asked = {
        "customer_id": customer_id,
        "amount": [amount.minor, amount.currency],
        "reference": reference,
        "public": public,
    }
    return send_once(merchant=merchant, sending=sending, asked=asked, send=send)


def _invoice_request(
    merchant: Merchant, sending: Sending, fingerprint: str, invoice: Invoice, *, public: bool = False
) -> Message:
    _, raw_token = secure_link_create(
        merchant=merchant,
        purpose=LinkPurpose.PAY_INVOICE,
        customer_id=invoice.customer_id,
        contact_id=sending.contact_id,
        invoice_ids=[invoice.pk],
        public=public,
        actor=sending.actor,
        now=sending.now,
    )
    message = sending_queue(
        merchant,
        sending,
        fingerprint,
        purpose=Purpose.PAYMENT_REQUEST,
        customer_id=invoice.customer_id,
        context={
            "payment.link": secure_link_url(raw_token),
            "payment.amount": invoice.balance,
            "invoice.number": invoice.number,
            "invoice.amount_due": invoice.balance,
            "invoice.total": invoice.total,
            "invoice.due_date": invoice.due_date,
        },
        attachments=_pdfs(merchant, sending, [invoice]),
        concerns_invoice_id=invoice.pk,
    )
    activity_record(
        merchant=merchant,
        customer_id=invoice.customer_id,
        verb="invoice.sent",
        summary=_sent_summary(f"Invoice {invoice.number}", message),
        actor=sending.actor,
        obj=invoice,
        now=sending.now,
    )
    return message


def statement_request_send(
    *, merchant: Merchant, sending: Sending, customer_id: int, invoice_ids: Sequence[int]
) -> Message:
    """Send the customer one link to pay several of their open invoices together (a statement
    link), by e-mail — the invoices listed under the message, each one's PDF attached — text
    message, Messenger or copy-link, and note it on the customer's timeline. The wording is the
    sender's, else the merchant's default statement; it must keep `{statement.link}` (or
    `{payment.link}`), and `{statement.balance}` is what the chosen invoices still owe.

    Raises InvalidInput when no invoice is chosen, for invoices in different currencies, a wording
    without the link, the channel or the recipient; NotAllowed for an invoice that is draft, paid,
    void, uncollectible or another customer's; NotFound for another merchant's customer, invoice
    or contact. Nothing is written then. A repeated `idempotency_key` returns the first message."""

    def send(sending: Sending, fingerprint: str) -> Message:
        customer = _customer(merchant=merchant, customer_id=customer_id)
        if not invoice_ids:
            raise InvalidInput("Choose the invoices to send.", field="invoices")
        invoices = _collectible_invoices(merchant=merchant, invoice_ids=invoice_ids, customer_id=customer.pk)
        if len({invoice.currency for invoice in invoices}) > 1:
            raise InvalidInput("Invoices in different currencies cannot be paid with one link.", field="invoices")
        language = sending.language or merchant_language(merchant)
        wording = template_text_for(merchant=merchant, purpose=Purpose.STATEMENT, language=language)
        subject = wording.subject if sending.subject is None else sending.subject
        body = wording.body if sending.body is None else sending.body
        language = wording.language if sending.body is None else language
        if sending.channel == MessageChannel.EMAIL:
            body = f"{body.rstrip()}\n\n{_statement_lines(merchant, invoices, language)}"
        _, raw_token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.PAY_STATEMENT,
            customer_id=customer.pk,
            contact_id=sending.contact_id,
            invoice_ids=[invoice.pk for invoice in invoices],
            actor=sending.actor,
            now=sending.now,
        )
        url = secure_link_url(raw_token)
        message = sending_queue(
            merchant,
            sending,
            fingerprint,
            purpose=Purpose.STATEMENT,
            customer_id=customer.pk,
            context={"statement.link": url, "payment.link": url, "statement.balance": _owed(invoices)},
            subject=subject,
            body=body,
            language=language,
            attachments=_pdfs(merchant, sending, invoices),
        )
        numbers = ", ".join(invoice.number for invoice in invoices)
        activity_record(
            merchant=merchant,
            customer_id=customer.pk,
            verb="statement.sent",
            summary=_sent_summary(f"Statement of {numbers}", message),
            actor=sending.actor,
            obj=message,
            now=sending.now,
        )
        return message

    asked = {"customer_id": customer_id, "invoice_ids": sorted(set(invoice_ids), key=str)}
    return send_once(merchant=merchant, sending=sending, asked=asked, send=send)


def _owed(invoices: Sequence[Invoice]) -> Money:
    return sum((invoice.balance for invoice in invoices[1:]), invoices[0].balance)


def _statement_lines(merchant: Merchant, invoices: Sequence[Invoice], language: str) -> str:
    """One line per invoice (number, due date, what it still owes) and the total, in the message's
    language, in words the customer needs no translation for."""
    locale = reader_locale(merchant, language)
    rows = [
        f"{invoice.number} · {format_date(invoice.due_date, format='medium', locale=locale)} · "
        f"{invoice.balance.format(locale)}"
        for invoice in invoices
    ]
    return "\n".join([*rows, f"= {_owed(invoices).format(locale)}"])


def customer_message_send(*, merchant: Merchant, sending: Sending, customer_id: int) -> Message:
    """Send the customer a message with no link (a saved reply, a note), by e-mail or text
    message, logged like every other; the sending's `body` is the whole message (no default
    wording stands in for a missing one). Only the placeholders of who it is to and from can be
    used (`placeholders.COMMON`, which `message_queue` fills itself; any other would reach the
    customer as a blank): a link or an amount needs a payment request or invoices.

    Raises InvalidInput for the channel, the recipient or the wording, NotFound for another
    merchant's customer or contact; nothing is written then. A repeated `idempotency_key` returns
    the first message."""

    def send(sending: Sending, fingerprint: str) -> Message:
        if sending.channel not in (MessageChannel.EMAIL, MessageChannel.SMS):
            raise InvalidInput("A message without a link goes by e-mail or text message.", field="channel")
        body = sending.body or ""
        for field, text in (("subject", sending.subject or ""), ("body", body)):
            unfilled = [f"{{{name}}}" for name in placeholders_in(text) if name not in COMMON]
            if unfilled:
                raise InvalidInput(
                    f"A message without a link cannot fill {', '.join(unfilled)}: remove it, or send a payment "
                    "request or invoices.",
                    field=field,
                )
        return sending_queue(
            merchant, sending, fingerprint, purpose=Purpose.SAVED_REPLY, customer_id=customer_id, context={}, body=body
        )

    return send_once(merchant=merchant, sending=sending, asked={"customer_id": customer_id}, send=send)
