"""A customer's saved payment methods: tokens the gateway keeps, never numbers.

Saving never charges. Editing a method means entering it again (a new token from the hosted
fields), so `saved_method_replace` removes the old one and saves the new one in its place. Each
change runs in one transaction behind the customer's lock, so a customer's methods change one at
a time and keep at most one default (a partial unique constraint is the last guard)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.customers.services import activity_record, customer_lock
from settle.gateways.base import MethodKind, VaultedMethod
from settle.tenants.models import Merchant

from .models import SavedMethod
from .payment_settings import payment_settings_get

SAVABLE_KINDS = (MethodKind.CARD, MethodKind.ACH)


def _saved_get(*, merchant: Merchant, saved_method_id: int) -> SavedMethod:
    """The merchant's method that is not removed, locked behind its customer's lock."""
    try:
        customer_id = SavedMethod.objects.values_list("customer_id", flat=True).get(
            merchant=merchant, pk=saved_method_id, removed_at__isnull=True
        )
    except (SavedMethod.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such payment method.") from None
    customer_lock(merchant=merchant, customer_id=customer_id)
    return SavedMethod.objects.select_for_update().get(pk=saved_method_id)


def _save(
    *,
    merchant: Merchant,
    customer_id: int,
    vaulted: VaultedMethod,
    friendly_name: str,
    billing_address: str,
    consent_text: str,
    consent_ip: str | None,
    is_default: bool,
    consent_at: dt.datetime,
    now: dt.datetime,
) -> SavedMethod:
    if vaulted.single_use or vaulted.kind not in SAVABLE_KINDS:
        raise NotAllowed("A wallet payment or a pay-later approval pays once and cannot be saved.")
    if not (len(vaulted.last4) == 4 and vaulted.last4.isdigit()):
        raise InvalidInput("The gateway did not give the last four digits.", field="last4")
    friendly_name = (friendly_name or "").strip()
    if len(friendly_name) > 80:
        raise InvalidInput("Keep the name under 80 characters.", field="friendly_name")
    if not (consent_text or "").strip():
        raise InvalidInput("The customer must agree to the authorization.", field="consent_text")
    return SavedMethod.objects.create(
        merchant=merchant,
        customer_id=customer_id,
        gateway=payment_settings_get(merchant=merchant).gateway,
        token=vaulted.token,
        kind=vaulted.kind.value,
        brand=vaulted.brand[:40],
        last4=vaulted.last4,
        exp_month=vaulted.exp_month,
        exp_year=vaulted.exp_year,
        friendly_name=friendly_name,
        billing_address=(billing_address or "").strip()[:1000],
        consent_text=consent_text,
        consent_at=consent_at,
        consent_ip=consent_ip or None,
        is_default=is_default,
        created_at=now,
    )


def _saved_with_token(*, merchant: Merchant, customer_id: int, token: str) -> SavedMethod | None:
    """The customer's method, not removed, kept under this gateway token (a token is saved once)."""
    return SavedMethod.objects.filter(
        merchant=merchant, customer_id=customer_id, token=token, removed_at__isnull=True
    ).first()


@transaction.atomic
def saved_method_add(
    *,
    merchant: Merchant,
    customer_id: int,
    vaulted: VaultedMethod,
    friendly_name: str,
    billing_address: str,
    consent_text: str,
    consent_ip: str | None,
    now: dt.datetime,
    consent_at: dt.datetime | None = None,
) -> SavedMethod:
    """Save a card or bank account the gateway vaulted, with the exact authorization text the
    customer agreed to, when (`consent_at`, by default `now`) and from which IP. The customer's
    first method is the default. Never
    charges. Saving the same token again (a repeated request) returns the method saved first.
    Raises NotFound (customer), NotAllowed (a single-use wallet or pay-later token), InvalidInput
    (no consent, a name too long)."""
    customer_lock(merchant=merchant, customer_id=customer_id)
    already = _saved_with_token(merchant=merchant, customer_id=customer_id, token=vaulted.token)
    if already is not None:
        return already
    has_default = SavedMethod.objects.filter(
        merchant=merchant, customer_id=customer_id, is_default=True, removed_at__isnull=True
    ).exists()
    method = _save(
        merchant=merchant,
        customer_id=customer_id,
        vaulted=vaulted,
        friendly_name=friendly_name,
        billing_address=billing_address,
        consent_text=consent_text,
        consent_ip=consent_ip,
        is_default=not has_default,
        consent_at=consent_at or now,
        now=now,
    )
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="payment_method.saved",
        summary=f"Payment method saved: {method.label}",
        obj=method,
        now=now,
    )
    return method


@transaction.atomic
def saved_method_replace(
    *,
    merchant: Merchant,
    saved_method_id: int,
    vaulted: VaultedMethod,
    friendly_name: str,
    billing_address: str,
    consent_text: str,
    consent_ip: str | None,
    now: dt.datetime,
) -> SavedMethod:
    """Edit a method by entering it again: the old one is removed and the new token saved in its
    place (its default flag carries over), with the consent given now. Raises as
    `saved_method_add`, and NotFound for a removed or unknown method."""
    old = _saved_get(merchant=merchant, saved_method_id=saved_method_id)
    was_default = old.is_default
    old.removed_at = now
    old.is_default = False
    old.save(update_fields=["removed_at", "is_default"])
    already = _saved_with_token(merchant=merchant, customer_id=old.customer_id, token=vaulted.token)
    if already is not None:  # the method entered again is one the customer had saved already
        if was_default:
            already.is_default = True
            already.save(update_fields=["is_default"])
        return already
    method = _save(
        merchant=merchant,
        customer_id=old.customer_id,
        vaulted=vaulted,
        friendly_name=friendly_name,
        billing_address=billing_address,
        consent_text=consent_text,
        consent_ip=consent_ip,
        is_default=was_default,
        consent_at=now,
        now=now,
    )
    activity_record(
        merchant=merchant,
        customer_id=old.customer_id,
        verb="payment_method.replaced",
        summary=f"Payment method {old.label} replaced by {method.label}",
        obj=method,
        now=now,
    )
    return method


@transaction.atomic
def saved_method_remove(*, merchant: Merchant, saved_method_id: int, now: dt.datetime) -> SavedMethod:
    """Remove a method; when it was the default, the newest remaining one becomes the default.
    Raises NotFound for a removed or unknown method."""
    method = _saved_get(merchant=merchant, saved_method_id=saved_method_id)
    was_default = method.is_default
    method.removed_at = now
    method.is_default = False
    method.save(update_fields=["removed_at", "is_default"])
    if was_default:
        successor = (
            SavedMethod.objects.filter(merchant=merchant, customer_id=method.customer_id, removed_at__isnull=True)
            .order_by("-created_at", "-id")
            .first()
        )
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default"])
    activity_record(
        merchant=merchant,
        customer_id=method.customer_id,
        verb="payment_method.removed",
        summary=f"Payment method removed: {method.label}",
        obj=method,
        now=now,
    )
    return method


@transaction.atomic
def saved_method_set_default(*, merchant: Merchant, saved_method_id: int, now: dt.datetime) -> SavedMethod:
    """Make a method the customer's default (and no other). Raises NotFound for a removed or
    unknown method."""
    method = _saved_get(merchant=merchant, saved_method_id=saved_method_id)
    if method.is_default:
        return method
    SavedMethod.objects.filter(merchant=merchant, customer_id=method.customer_id, is_default=True).update(
        is_default=False
    )
    method.is_default = True
    method.save(update_fields=["is_default"])
    activity_record(
        merchant=merchant,
        customer_id=method.customer_id,
        verb="payment_method.default",
        summary=f"Default payment method: {method.label}",
        obj=method,
        now=now,
    )
    return method
