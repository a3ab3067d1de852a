"""Templates and the message outbox.

A message is a row first: `message_queue` writes it in the caller's transaction and the send task
is enqueued on commit, so a rolled-back payment request sends nothing and a crash after commit
loses nothing. The task claims the row, sends through the channel outside any lock, and records
the outcome; failures back off (`RETRY_DELAYS`) until `MAX_ATTEMPTS`, and the sweeper re-enqueues
whatever is due, including queued rows whose task never ran."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from settle.core import clock
from settle.core.contact_points import email_normalize, phone_normalize, region_of_locale
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.money import Money
from settle.core.tasks import enqueue_on_commit
from settle.core.tenancy import all_merchants
from settle.customers.models import Contact, Customer
from settle.customers.services import activity_record
from settle.tenants.models import Merchant

from . import tasks
from .channels.base import Attachment, Delivery, Outgoing, channel_get
from .models import (
    TEMPLATE_PURPOSES,
    Message,
    MessageAttachment,
    MessageChannel,
    MessageStatus,
    MessageTemplate,
    Purpose,
)
from .placeholders import LINK_OF, REQUIRED, canonical, placeholders_check, placeholders_in, render, value_text
from .selectors import language_codes, merchant_language, reader_locale, template_text_for
from .starters import STARTERS

logger = logging.getLogger(__name__)

# After the n-th failed attempt the next one waits RETRY_DELAYS[n-1]; the last failure is final.
RETRY_DELAYS = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A queued message whose task has not run by then is enqueued again by the sweeper.
STALE_AFTER = dt.timedelta(minutes=5)
# An attempt that has not reported back by then (a worker died mid-send) is presumed lost. Far
# longer than any channel's own timeout, so a slow send is never taken over while it runs.
SEND_LEASE = dt.timedelta(minutes=10)
SWEEP_BATCH = 500

MAX_NAME = 80
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_SMS = 1_600  # Twilio's limit for one message body
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- templates ----------------------------------------------------------------------------------


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise InvalidInput("This field is required.", field=field)
    if len(value) > limit:
        raise InvalidInput(f"Keep this under {limit} characters.", field=field)
    return value


def _purpose_and_language(purpose: str, language: str) -> None:
    if purpose not in TEMPLATE_PURPOSES:
        raise InvalidInput("Choose what the message is for.", field="purpose")
    if language not in language_codes():
        raise InvalidInput("Choose a language.", field="language")


@transaction.atomic
def template_save(
    *,
    merchant: Merchant,
    purpose: str,
    language: str,
    name: str,
    subject: str,
    body: str,
    is_default: bool = False,
    template_id: int | None = None,
    now: dt.datetime | None = None,
) -> MessageTemplate:
    """Create or change a template. Its placeholders are checked against the purpose: an unknown
    one, one the purpose cannot use, a stray brace, or a required placeholder taken out
    (`{payment.link}` of a payment request, `{Secure Link}` of a profile request) raises
    InvalidInput naming it, and nothing is saved. The default template of a purpose and language
    is the one sent when the sender picks none; marking one unmarks the other."""
    now = now or clock.now()
    _purpose_and_language(purpose, language)
    name = _text(name, field="name", limit=MAX_NAME, required=True)
    subject = " ".join(_text(subject, field="subject", limit=MAX_SUBJECT).split())
    body = _text(body, field="body", limit=MAX_BODY, required=True)
    placeholders_check(purpose=purpose, subject=subject, body=body)
    # Saves of one merchant's templates queue here, so names and the one default stay unique.
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    template = (
        MessageTemplate(merchant=merchant, created_at=now)
        if template_id is None
        else _template_locked(merchant=merchant, template_id=template_id)
    )
    others = MessageTemplate.objects.filter(merchant=merchant, purpose=purpose, language=language)
    if template.pk is not None:
        others = others.exclude(pk=template.pk)
    if others.filter(name=name).exists():
        raise InvalidInput("Another template for this purpose and language has that name.", field="name")
    if is_default:
        others.filter(is_default=True).update(is_default=False)
    template.purpose, template.language, template.name = purpose, language, name
    template.subject, template.body, template.is_default = subject, body, is_default
    template.updated_at = now
    template.save()
    return template


def _template_locked(*, merchant: Merchant, template_id: int) -> MessageTemplate:
    try:
        return MessageTemplate.objects.select_for_update().get(merchant=merchant, pk=template_id)
    except (MessageTemplate.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such template.") from None


@transaction.atomic
def template_delete(*, merchant: Merchant, template_id: int) -> None:
    """Remove a template; messages already written keep their text."""
    _template_locked(merchant=merchant, template_id=template_id).delete()


@transaction.atomic
def template_starters_load(
    *, merchant: Merchant, languages: Sequence[str] = ("en", "fr"), now: dt.datetime | None = None
) -> list[MessageTemplate]:
    """Give the merchant the starter templates (auto shop, bike shop, rent, vet and general wording
    for every purpose) in `languages` that they do not have yet, by starter or by name; loading
    again adds nothing. A starter becomes the default of its purpose only where the merchant has
    none. Returns the templates added."""
    now = now or clock.now()
    Merchant.objects.select_for_update().get(pk=merchant.pk)  # two clicks at once load once
    mine = MessageTemplate.objects.filter(merchant=merchant)
    loaded = set(mine.values_list("starter_key", "language"))
    names = set(mine.values_list("purpose", "language", "name"))
    defaults = set(mine.filter(is_default=True).values_list("purpose", "language"))
    added = []
    for starter in STARTERS:
        for language in languages:
            wording = starter.wordings.get(language)
            if (
                wording is None
                or (starter.key, language) in loaded
                or (starter.purpose, language, wording.name) in names
            ):
                continue
            is_default = starter.is_default and (starter.purpose, language) not in defaults
            added.append(
                MessageTemplate.objects.create(
                    merchant=merchant,
                    purpose=starter.purpose,
                    language=language,
                    name=wording.name,
                    subject=wording.subject,
                    body=wording.body,
                    is_default=is_default,
                    starter_key=starter.key,
                    created_at=now,
                    updated_at=now,
                )
            )
            if is_default:
                defaults.add((starter.purpose, language))
    return added


# --- queueing -----------------------------------------------------------------------------------


@transaction.atomic
def message_queue(
    *,
    merchant: Merchant,
    channel: str,
    purpose: str,
    customer_id: int | None = None,
    contact_id: int | None = None,
    to: str = "",
    template_id: int | None = None,
    subject: str | None = None,
    body: str | None = None,
    context: Mapping[str, object] | None = None,
    language: str = "",
    attachments: Sequence[Attachment] = (),
    concerns_invoice_id: int | None = None,
    concerns_payment_id: int | None = None,
    is_test: bool = False,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Message:
    """Write a message to the outbox, inside the caller's transaction.

    Wording: `subject`/`body` when given (what the sender edited), else template `template_id`,
    else the merchant's default for the purpose and language, else the built-in starter. Its
    placeholders are checked against the purpose and filled from `context` (placeholder name →
    text, Money or date, shown in the message's language) and from the merchant, customer and
    contact; a purpose's required link must have a value. The recipient is `to` (validated as an
    e-mail address or phone number), else the contact's address for the channel, else the
    customer's first one.

    E-mail and text messages are sent by a task once the transaction commits (never if it rolls
    back), and retried with backoff. Messenger and copy-link messages come back `shared` /
    `copied` at once, with `share_url` for the merchant to open or copy. `concerns_invoice_id` and
    `concerns_payment_id` put it on that invoice's or payment's audit trail; `is_test` marks a
    sample the merchant sent themselves. `idempotency_key` and `request_fingerprint` are stored for
    callers that replay a repeated request (`settle.core.idempotency`).

    Raises InvalidInput (channel, purpose, language, recipient, placeholder, link, attachment) or
    NotFound (a customer, contact or template not the merchant's); nothing is written then."""
    now = now or clock.now()
    if channel not in MessageChannel.values:
        raise InvalidInput("Choose how to send it.", field="channel")
    if purpose not in Purpose.values:
        raise InvalidInput("Choose what the message is for.", field="purpose")
    customer, contact = _people(merchant=merchant, customer_id=customer_id, contact_id=contact_id)
    template = _template(merchant=merchant, template_id=template_id, purpose=purpose) if template_id else None
    language = language or (template.language if template else merchant_language(merchant))
    _purpose_and_language(purpose, language)
    if subject is None or body is None:
        wording = template or template_text_for(merchant=merchant, purpose=purpose, language=language)
        subject = wording.subject if subject is None else subject
        body = wording.body if body is None else body
    placeholders_check(purpose=purpose, subject=subject, body=body)
    values = _values(merchant=merchant, customer=customer, contact=contact, context=context or {}, language=language)
    required = REQUIRED.get(purpose, ())
    if required and not any(values.get(name) for name in required):
        raise InvalidInput(f"There is no link for {{{required[0]}}}.", field="body")
    link = _link(values.get(LINK_OF.get(purpose, ""), ""))
    recipient = _recipient(merchant=merchant, channel=channel, to=to, customer=customer, contact=contact)
    rendered_subject = " ".join(render(subject, values).split())
    rendered_body = render(body.replace("\r\n", "\n"), values).strip()
    _check_rendered(channel=channel, subject=rendered_subject, body=rendered_body)
    files = _attachments(channel=channel, attachments=attachments)
    backend = channel_get(channel)

    message = Message.objects.create(
        merchant=merchant,
        channel=channel,
        purpose=purpose,
        is_test=is_test,
        language=language,
        recipient=recipient,
        subject=rendered_subject if channel == MessageChannel.EMAIL else "",
        body=rendered_body,
        link=link,
        customer=customer,
        contact=contact,
        concerns_invoice_id=concerns_invoice_id,
        concerns_payment_id=concerns_payment_id,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        next_attempt_at=now + STALE_AFTER,
        created_at=now,
        idempotency_key=idempotency_key or None,
        request_fingerprint=request_fingerprint,
    )
    MessageAttachment.objects.bulk_create(
        MessageAttachment(
            merchant=merchant,
            message=message,
            filename=file.filename,
            content_type=file.content_type,
            content=file.content,
            size=len(file.content),
        )
        for file in files
    )
    if backend.in_app:
        message.attempts, message.last_attempt_at = 1, now
        delivery = backend.send(_outgoing(merchant, message, files))
        if delivery.status == MessageStatus.FAILED:
            raise InvalidInput(delivery.error, field="channel")  # e.g. nothing to share: write nothing
        _record(message, delivery, now)
    else:
        enqueue_on_commit(tasks.message_send, merchant_id=merchant.pk, message_id=message.pk)
    if customer is not None:
        activity_record(
            merchant=merchant,
            customer_id=customer.pk,
            verb=f"message.{message.status}",
            summary=_summary(message),
            actor=actor,
            obj=message,
            now=now,
        )
    return message


def notice_queue(
    *, merchant: Merchant, to: str, subject: str, body: str, idempotency_key: str, now: dt.datetime | None = None
) -> Message:
    """Write an e-mail from Settle to one of the merchant's staff to the outbox, inside the caller's
    transaction; it is sent after commit like any message. The text is Settle's own, not a
    template: nothing in it is read as a placeholder, so a customer named "{Bob}" stays as written.
    The same `idempotency_key` again returns the first message. Raises InvalidInput for an address
    or a body that cannot be sent."""
    now = now or clock.now()
    found = Message.objects.filter(merchant=merchant, idempotency_key=idempotency_key).first()
    if found is not None:
        return found
    subject = " ".join(subject.split())[:MAX_SUBJECT]
    body = body.replace("\r\n", "\n").strip()
    _check_rendered(channel=MessageChannel.EMAIL, subject=subject, body=body)
    message = Message.objects.create(
        merchant=merchant,
        channel=MessageChannel.EMAIL,
        purpose=Purpose.STAFF_NOTICE,
        language=settings.LANGUAGE_CODE,
        recipient=email_normalize(to, field="to"),
        subject=subject,
        body=body,
        next_attempt_at=now + STALE_AFTER,
        created_at=now,
        idempotency_key=idempotency_key,
    )
    enqueue_on_commit(tasks.message_send, merchant_id=merchant.pk, message_id=message.pk)
    return message


@transaction.atomic
def message_send_test(
    *,
    merchant: Merchant,
    channel: str,
    to: str,
    template_id: int | None = None,
    purpose: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Message:
    """Send a template to an e-mail address or phone of the merchant's choosing, filled with sample
    values, to see it as a customer would: template `template_id`, else the wording a message for
    `purpose` gets when the sender picks none, in the merchant's language. It is marked as a test
    and concerns no customer. Raises InvalidInput (channel, address, purpose) or NotFound (template)."""
    now = now or clock.now()
    if channel not in (MessageChannel.EMAIL, MessageChannel.SMS):
        raise InvalidInput("Send a test by e-mail or text message.", field="channel")
    if not to.strip():
        raise InvalidInput("Enter where to send the test.", field="to")
    if template_id is not None:
        template = _template(merchant=merchant, template_id=template_id, purpose=None)
        purpose, language, subject, body = template.purpose, template.language, template.subject, template.body
    else:
        _purpose_and_language(purpose, merchant_language(merchant))
        wording = template_text_for(merchant=merchant, purpose=purpose, language=merchant_language(merchant))
        language, subject, body = wording.language, wording.subject, wording.body
    return message_queue(
        merchant=merchant,
        channel=channel,
        purpose=purpose,
        to=to,
        language=language,
        subject=f"[Test] {subject}".strip(),
        body=body,
        context=_sample_context(merchant, f"{subject}\n{body}", now),
        is_test=True,
        actor=actor,
        now=now,
    )


def _sample_context(merchant: Merchant, text: str, now: dt.datetime) -> dict[str, object]:
    today = clock.local_date(now, merchant.time_zone)
    amount = Money(12_500, merchant.currency)
    link = f"{settings.SETTLE_BASE_URL}/sample-link"
    values: dict[str, object] = {
        "customer.name": "Alex Sample",
        "contact.name": "Alex Sample",
        "invoice.number": f"{merchant.invoice_prefix}00042",
        "invoice.amount_due": amount,
        "invoice.total": amount,
        "invoice.due_date": today,
        "payment.link": link,
        "payment.amount": amount,
        "payment.date": today,
        "payment.method": "Visa •••• 4242",
        "receipt.link": link,
        "statement.link": link,
        "statement.balance": amount,
        "Secure Link": link,
        "link.expires": today + dt.timedelta(days=7),
    }
    for name in placeholders_in(text):
        values.setdefault(name, f"[{name.partition('.meta_')[2].replace('_', ' ')}]")
    return values


def _people(
    *, merchant: Merchant, customer_id: int | None, contact_id: int | None
) -> tuple[Customer | None, Contact | None]:
    if contact_id is not None:
        try:
            contact = Contact.objects.select_related("customer").get(merchant=merchant, pk=contact_id)
        except (Contact.DoesNotExist, ValueError, TypeError):
            raise NotFound("No such contact.") from None
        if customer_id is not None and contact.customer_id != customer_id:
            raise NotFound("No such contact.")
        return contact.customer, contact
    if customer_id is None:
        return None, None
    try:
        return Customer.objects.get(merchant=merchant, pk=customer_id), None
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such customer.") from None


def _template(*, merchant: Merchant, template_id: int, purpose: str | None) -> MessageTemplate:
    """The merchant's template; one for another purpose is refused, but a saved reply fits any."""
    try:
        template = MessageTemplate.objects.get(merchant=merchant, pk=template_id)
    except (MessageTemplate.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such template.") from None
    if purpose is not None and template.purpose not in (purpose, Purpose.SAVED_REPLY):
        raise InvalidInput(
            f"“{template.name}” is a {template.get_purpose_display().lower()} template.", field="template"
        )
    return template


def _values(
    *,
    merchant: Merchant,
    customer: Customer | None,
    contact: Contact | None,
    context: Mapping[str, object],
    language: str,
) -> dict[str, str]:
    values = {
        "company.name": merchant.name,
        "company.email": merchant.email,
        "company.phone": _phone_text(merchant.phone),
    }
    if customer is not None:
        values["customer.name"] = values["contact.name"] = customer.display_name
    if contact is not None:
        values["contact.name"] = contact.name
    locale = reader_locale(merchant, language)
    for key, value in context.items():
        name = canonical(key)
        if name is None:
            raise ValueError(f"{key!r} is not a placeholder.")
        if value is not None:
            values[name] = value_text(value, locale)
    return values


def _phone_text(phone: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return phone


def _link(url: str) -> str:
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InvalidInput("The message’s link is not a web address.", field="link") from None
    return url


def _recipient(*, merchant: Merchant, channel: str, to: str, customer: Customer | None, contact: Contact | None) -> str:
    """Where an e-mail or text goes. A contact without an address for the channel is an error,
    not a reason to write to someone else."""
    to = to.strip()
    if channel == MessageChannel.EMAIL:
        if to:
            return email_normalize(to, field="to")
        address = contact.email if contact else customer.primary_email if customer else ""
        what = "e-mail address"
    elif channel == MessageChannel.SMS:
        if to:
            return phone_normalize(to, region=region_of_locale(merchant.locale), field="to")
        address = contact.phone if contact else customer.primary_phone if customer else ""
        what = "mobile phone number"
    else:
        return ""
    if not address:
        who = contact.name if contact else customer.display_name if customer else ""
        raise InvalidInput(f"{who} has no {what}." if who else f"Enter where to send it: an {what}.", field="to")
    return address


def _check_rendered(*, channel: str, subject: str, body: str) -> None:
    if channel == MessageChannel.EMAIL and not subject:
        raise InvalidInput("An e-mail needs a subject.", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"Keep the subject under {MAX_SUBJECT} characters.", field="subject")
    if not body:
        raise InvalidInput("Write a message.", field="body")
    limit = MAX_SMS if channel == MessageChannel.SMS else MAX_BODY
    if len(body) > limit:
        raise InvalidInput(f"This message has {len(body)} characters; the limit is {limit}.", field="body")


def _attachments(*, channel: str, attachments: Sequence[Attachment]) -> list[Attachment]:
    if attachments and channel != MessageChannel.EMAIL:
        raise InvalidInput("Only e-mails carry attachments.", field="attachments")
    clean = []
    for attachment in attachments:
        filename = _CONTROL.sub("", attachment.filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()[:200]
        content_type = attachment.content_type.strip().lower() or "application/octet-stream"
        if not _CONTENT_TYPE.fullmatch(content_type):
            raise InvalidInput(f"“{attachment.content_type}” is not a content type.", field="attachments")
        clean.append(Attachment(filename or "attachment", bytes(attachment.content), content_type))
    if sum(len(a.content) for a in clean) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput("Attachments are limited to 15 MB in all.", field="attachments")
    return clean


def _summary(message: Message) -> str:
    what = message.get_purpose_display()
    if message.status == MessageStatus.SHARED:
        return f"{what} shared on Messenger"
    if message.status == MessageStatus.COPIED:
        return f"{what} link copied"
    return f"{what} queued by {message.get_channel_display().lower()} to {message.recipient}"


# --- sending ------------------------------------------------------------------------------------


def _locked(*, merchant: Merchant, message_id: int) -> Message:
    try:
        return Message.objects.select_for_update().get(merchant=merchant, pk=message_id)
    except (Message.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such message.") from None


def _is_due(message: Message, now: dt.datetime) -> bool:
    if message.status == MessageStatus.QUEUED:
        return True
    if message.status in (MessageStatus.SENDING, MessageStatus.FAILED):
        return message.next_attempt_at is not None and message.next_attempt_at <= now
    return False


def _outgoing(merchant: Merchant, message: Message, attachments: Sequence[Attachment]) -> Outgoing:
    return Outgoing(
        message_id=message.pk,
        merchant_id=merchant.pk,
        sender_name=merchant.name,
        reply_to=merchant.email,
        to=message.recipient,
        subject=message.subject,
        body=message.body,
        link=message.link,
        attachments=tuple(attachments),
    )


def _record(message: Message, delivery: Delivery, now: dt.datetime) -> None:
    message.provider_id = delivery.provider_id[:200]
    message.share_url = delivery.share_url
    if delivery.status == MessageStatus.FAILED:
        retry = delivery.retry and message.attempts < MAX_ATTEMPTS
        message.status = MessageStatus.FAILED
        message.last_error = delivery.error[:2000] or "Failed without a reason."
        message.next_attempt_at = now + RETRY_DELAYS[message.attempts - 1] if retry else None
    else:
        message.status = delivery.status
        message.sent_at = now
        message.last_error = ""
        message.next_attempt_at = None
    message.save(
        update_fields=[
            "status",
            "attempts",
            "last_attempt_at",
            "provider_id",
            "share_url",
            "last_error",
            "next_attempt_at",
            "sent_at",
        ]
    )


def message_deliver(*, merchant: Merchant, message_id: int, now: dt.datetime | None = None) -> Message:
    """Send one message if it is due (queued, or failed / in flight past its time) and record the
    outcome: sent with the provider's id, or failed with its error and the next attempt after
    RETRY_DELAYS (none after MAX_ATTEMPTS, or when the provider says retrying cannot help). A
    message that is not due is left as it is, so duplicate tasks send once. A channel that raises
    counts as a failed attempt."""
    now = now or clock.now()
    # Claim: one short transaction marks the attempt, so the row is not locked while the
    # provider is talked to; a concurrent task sees "sending" and leaves it.
    with transaction.atomic():
        message = _locked(merchant=merchant, message_id=message_id)
        if not _is_due(message, now):
            return message
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.last_attempt_at = now
        message.next_attempt_at = now + SEND_LEASE
        message.save(update_fields=["status", "attempts", "last_attempt_at", "next_attempt_at"])
        attempt = message.attempts
    attachments = [
        Attachment(a.filename, bytes(a.content), a.content_type)
        for a in MessageAttachment.objects.filter(merchant=merchant, message_id=message.pk).order_by("pk")
    ]
    try:
        delivery = channel_get(message.channel).send(_outgoing(merchant, message, attachments))
    except Exception as error:  # a provider's surprise must not lose the message: it is retried
        logger.exception("Message %s: the %s channel raised", message.pk, message.channel)
        delivery = Delivery.failed(f"{type(error).__name__}: {error}")
    with transaction.atomic():
        message = _locked(merchant=merchant, message_id=message_id)
        # Past its lease another attempt may have taken over; then that attempt's outcome counts.
        if message.status == MessageStatus.SENDING and message.attempts == attempt:
            _record(message, delivery, now)
    return message


@transaction.atomic
def message_retry(*, merchant: Merchant, message_id: int, now: dt.datetime | None = None) -> Message:
    """Send a failed message again now, once (also one whose retries ran out); it is queued and
    sent after commit. Raises NotAllowed unless it failed, NotFound for another merchant's id."""
    now = now or clock.now()
    message = _locked(merchant=merchant, message_id=message_id)
    if message.status != MessageStatus.FAILED:
        raise NotAllowed("Only a failed message can be retried.")
    message.status = MessageStatus.QUEUED
    message.next_attempt_at = now + STALE_AFTER
    message.save(update_fields=["status", "next_attempt_at"])
    enqueue_on_commit(tasks.message_send, merchant_id=merchant.pk, message_id=message.pk)
    return message


@transaction.atomic
def message_sweep(*, now: dt.datetime | None = None) -> int:
    """Every merchant's messages due now — failed ones whose next attempt has come, queued ones
    whose task never ran, attempts that never reported — go back to the queue and get a task.
    Returns how many. Run it every minute or so."""
    now = now or clock.now()
    with all_merchants():
        due = list(
            Message.objects.select_for_update()
            .filter(
                status__in=(MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED),
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at")
            .values_list("pk", "merchant_id")[:SWEEP_BATCH]
        )
        # Queued again with a fresh deadline, so the next sweep does not enqueue them twice.
        Message.objects.filter(pk__in=[pk for pk, _ in due]).update(
            status=MessageStatus.QUEUED, next_attempt_at=now + STALE_AFTER
        )
    for message_id, merchant_id in due:
        enqueue_on_commit(tasks.message_send, merchant_id=merchant_id, message_id=message_id)
    return len(due)
