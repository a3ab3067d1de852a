"""Telling the merchant's staff, and their To-Dos.

`merchant_notify` runs inside the caller's transaction: the notification and its e-mails are rows
written with the payment (or whatever happened), so a rolled-back payment tells no one, and the
e-mails leave from the message outbox once it commits. Each event has a key, so a recording that
is retried or reconciled tells the staff once."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from settle.core import clock
from settle.core.errors import NotAllowed, NotFound, PermissionDenied, SettleError
from settle.messaging.services import notice_queue
from settle.tenants.models import Membership, Merchant, Role

from .models import Notification

logger = logging.getLogger(__name__)

# Who is e-mailed about each notification: the people who run the business's money.
NOTIFIED_ROLES = (Role.OWNER, Role.ADMIN)


def merchant_notify(
    *,
    merchant: Merchant,
    kind: str,
    title: str,
    key: str,
    body: str = "",
    customer_id: int | None = None,
    invoice_id: int | None = None,
    payment_id: int | None = None,
    needs_action: bool = False,
    action_path: str = "",
    now: dt.datetime | None = None,
) -> Notification:
    """Tell the merchant: one notification (a To-Do when `needs_action`), and an e-mail to each
    owner and admin with an address, queued in the outbox and sent after commit. Call it inside
    the transaction that did what it tells, so a rollback tells no one.

    `key` names the event (e.g. "payment_received:42"): the same key again, or at the same time,
    returns the first notification and sends nothing more. A staff address the mail cannot take is
    skipped and logged: it never undoes the caller's work."""
    now = now or clock.now()
    found = Notification.objects.filter(merchant=merchant, key=key).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                merchant=merchant,
                kind=kind,
                title=title[:200],
                body=body,
                customer_id=customer_id,
                invoice_id=invoice_id,
                payment_id=payment_id,
                needs_action=needs_action,
                action_path=action_path[:300],
                key=key,
                created_at=now,
            )
    except IntegrityError:
        # The same event told at the same moment by another transaction, which committed first.
        return Notification.objects.get(merchant=merchant, key=key)
    _email_staff(merchant=merchant, notification=notification, now=now)
    return notification


def _email_staff(*, merchant: Merchant, notification: Notification, now: dt.datetime) -> None:
    memberships = (
        Membership.objects.filter(merchant=merchant, role__in=NOTIFIED_ROLES, user__is_active=True)
        .exclude(user__email="")
        .select_related("user")
        .order_by("pk")
    )
    link = settings.SETTLE_BASE_URL + reverse("backoffice:notification_list")
    todo = "\n\nThis is a To-Do: mark it done in Settle once it is handled." if notification.needs_action else ""
    text = f"{notification.title}\n\n{notification.body}".strip() + f"{todo}\n\nSee it in Settle: {link}\n"
    emailed: set[str] = set()
    for membership in memberships:
        address = membership.user.email.strip().lower()
        if address in emailed:
            continue
        emailed.add(address)
        try:
            with transaction.atomic():
                notice_queue(
                    merchant=merchant,
                    to=address,
                    subject=f"{merchant.name}: {notification.title}",
                    body=text,
                    idempotency_key=f"notification-{notification.pk}-{membership.user_id}",
                    now=now,
                )
        except SettleError as error:
            logger.warning("Notification %s: not e-mailed to user %s: %s", notification.pk, membership.user_id, error)


def _locked(*, merchant: Merchant, notification_id: int) -> Notification:
    try:
        return Notification.objects.select_for_update().get(merchant=merchant, pk=notification_id)
    except (Notification.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such notification.") from None


@transaction.atomic
def notification_mark_read(*, merchant: Merchant, notification_id: int, now: dt.datetime | None = None) -> Notification:
    """Mark one notification read (again: no change). Raises NotFound for another merchant's id."""
    notification = _locked(merchant=merchant, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = now or clock.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, merchant: Merchant, now: dt.datetime | None = None) -> int:
    """Mark every unread notification of the merchant read; returns how many were unread."""
    return Notification.objects.filter(merchant=merchant, read_at__isnull=True).update(read_at=now or clock.now())


@transaction.atomic
def notification_mark_done(
    *, merchant: Merchant, notification_id: int, acting: Membership, now: dt.datetime | None = None
) -> Notification:
    """Mark a To-Do done (and read), recording who and when; done twice keeps the first. Raises
    PermissionDenied for read-only staff (To-Dos are about money), NotAllowed for a notification
    that is not a To-Do, NotFound for another merchant's id."""
    if acting.merchant_id != merchant.pk or not acting.can_change_money:
        raise PermissionDenied("Read-only staff cannot mark To-Dos done.")
    notification = _locked(merchant=merchant, notification_id=notification_id)
    if not notification.needs_action:
        raise NotAllowed("This notification is not a To-Do.")
    if notification.done_at is None:
        now = now or clock.now()
        notification.done_at, notification.done_by_id = now, acting.user_id
        notification.read_at = notification.read_at or now
        notification.save(update_fields=["done_at", "done_by", "read_at"])
    return notification
