"""Payment profile requests: the merchant sends a contact a single-use link to add a card or bank
account, and the customer saves one through the gateway's own fields.

Sending writes the link, the message and the timeline entry in one transaction, so a request that
fails anywhere leaves no link nobody was sent; the message goes out after commit through the
outbox. Saving spends the link in the transaction that saves the method, so a failure leaves the
link usable and a second submit saves nothing.

A request may name the saved method it replaces (editing one means entering it again): the method
saved through it then takes the old one's place, default flag and all, in that same transaction."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from django.db import transaction

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed
from settle.customers.services import customer_lock
from settle.gateways.base import MethodKind, VaultedMethod
from settle.gateways.registry import gateway_get
from settle.messaging.models import Message, MessageChannel, Purpose
from settle.tenants.models import Merchant

from .links import secure_link_create, secure_link_url, secure_link_use
from .models import LinkPurpose, PaymentSettings, SavedMethod, SecureLink
from .payment_settings import KIND_FIELDS, payment_settings_get
from .requests import Sending, send_once, sending_queue
from .selectors import saved_methods_for_customer
from .vault import SAVABLE_KINDS, saved_method_add, saved_method_replace

# How a profile request may reach its contact: the link is typed into nothing but a phone or inbox.
PROFILE_REQUEST_CHANNELS = (MessageChannel.EMAIL, MessageChannel.SMS)


def profile_request_kinds(settings: PaymentSettings) -> list[MethodKind]:
    """What a customer may save through a profile request: cards and bank accounts, those the
    merchant takes and its gateway handles."""
    if not settings.gateway:
        return []
    handled = gateway_get(settings.gateway).kinds
    return [kind for kind in SAVABLE_KINDS if kind in handled and getattr(settings, KIND_FIELDS[kind])]


def profile_request_replaces(*, merchant: Merchant, link: SecureLink) -> SavedMethod | None:
    """The saved method that the one saved through profile request `link` replaces, without its
    token; None when the link names none or it has been removed since."""
    if link.replaces_method_id is None:
        return None
    return (
        saved_methods_for_customer(merchant=merchant, customer_id=link.customer_id)
        .filter(pk=link.replaces_method_id)
        .first()
    )


def payment_profile_request_send(
    *,
    merchant: Merchant,
    sending: Sending,
    customer_id: int,
    replaces_method_id: int | None = None,
    expires_in: dt.timedelta | None = None,
) -> Message:
    """Send the customer a single-use link to add a payment method, by e-mail or text message, and
    put it on their timeline and in the message log. The link lasts `expires_in` (the default and
    bounds of `links.LIFETIMES`); the sending's `subject`/`body` are the sender's wording (else the
    merchant's profile request template), and the body must keep `{Secure Link}`. The recipient is
    its `to`, else the contact's address, else the customer's. With `replaces_method_id` (one of
    the customer's saved methods, not removed), the method saved through the link replaces that one.

    Returns the queued message (sent after commit). Raises InvalidInput for the channel, the
    lifetime, the recipient or the wording, NotFound for another merchant's customer, another
    customer's contact or saved method, or a removed one; nothing is written then. A repeated
    `idempotency_key` (a double-clicked Send, a reloaded page) returns the first message: one link,
    one message."""

    def send(sending: Sending, fingerprint: str) -> Message:
        if sending.channel not in PROFILE_REQUEST_CHANNELS:
            raise InvalidInput("Send a payment profile request by e-mail or text message.", field="channel")
        link, raw_token = secure_link_create(
            merchant=merchant,
            purpose=LinkPurpose.ADD_PAYMENT_METHOD,
            customer_id=customer_id,
            contact_id=sending.contact_id,
            replaces_method_id=replaces_method_id,
            expires_in=expires_in,
            single_use=True,
            actor=sending.actor,
            now=sending.now,
        )
        context = {
            "Secure Link": secure_link_url(raw_token),
            "link.expires": link.expires_at.astimezone(zoneinfo.ZoneInfo(merchant.time_zone)),
        }
        return sending_queue(
            merchant, sending, fingerprint, purpose=Purpose.PROFILE_REQUEST, customer_id=customer_id, context=context
        )

    asked = {"customer_id": customer_id, "expires_in": expires_in, "replaces_method_id": replaces_method_id}
    return send_once(merchant=merchant, sending=sending, asked=asked, send=send)


@transaction.atomic
def payment_profile_request_complete(
    *,
    merchant: Merchant,
    link_id: int,
    vaulted: VaultedMethod,
    friendly_name: str,
    billing_address: str,
    consent_text: str,
    consent_ip: str | None,
    now: dt.datetime | None = None,
) -> SavedMethod:
    """Save the method the customer entered through add-payment-method link `link_id`, with the
    exact authorization they agreed to, when and from which IP, and spend the link, all or nothing:
    a failure leaves the link usable, and once it is spent a second submit saves nothing. When the
    link names a method it replaces and that method is still saved, the new one takes its place
    (`vault.saved_method_replace`: the old one removed, its default flag carried over); when it has
    been removed since, the new one is simply added. Never charges. Raises SecureLinkRefused (used,
    expired, revoked, unknown, or not such a link), NotAllowed for a payment type the merchant does
    not take, and as `vault.saved_method_add`."""
    now = now or clock.now()
    link = secure_link_use(merchant=merchant, link_id=link_id, now=now)
    if link.purpose != LinkPurpose.ADD_PAYMENT_METHOD:
        raise NotAllowed("This link is not for adding a payment method.")
    if vaulted.kind not in profile_request_kinds(payment_settings_get(merchant=merchant)):
        raise NotAllowed("This kind of payment method is not accepted.")
    # Under the customer's lock, which removing a method takes too, the method still saved now is
    # still saved when `saved_method_replace` locks it.
    customer_lock(merchant=merchant, customer_id=link.customer_id)
    replaced = profile_request_replaces(merchant=merchant, link=link)
    save = (
        functools.partial(saved_method_replace, saved_method_id=replaced.pk)
        if replaced is not None
        else functools.partial(saved_method_add, customer_id=link.customer_id)
    )
    return save(
        merchant=merchant,
        vaulted=vaulted,
        friendly_name=friendly_name,
        billing_address=billing_address,
        consent_text=consent_text,
        consent_ip=consent_ip,
        now=now,
    )
