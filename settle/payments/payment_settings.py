"""A merchant's payment settings: read (created with defaults on first use), changed by owners and
admins, and what a pay page offers for an amount."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from settle.core.contact_points import region_of_locale
from settle.core.errors import InvalidInput, PermissionDenied
from settle.core.money import MAX_AMOUNT_MINOR, CurrencyMismatch, Money
from settle.gateways.base import MethodKind
from settle.gateways.registry import gateway_get, gateway_paths
from settle.tenants.models import Membership, Merchant

from .models import PaymentSettings
from .social import HANDLE_FIELDS, LABELS, SocialApp, app_takes, configured_apps, handle_normalize

# Offered from this amount on unless the merchant says otherwise, in whole units of their currency.
BNPL_DEFAULT_MINIMUM = 50

# The `PaymentSettings` switch for each payment type a gateway handles, and its name in errors.
KIND_FIELDS: dict[MethodKind, str] = {
    MethodKind.CARD: "card_enabled",
    MethodKind.ACH: "ach_enabled",
    MethodKind.WALLET: "wallets_enabled",
    MethodKind.BNPL: "bnpl_enabled",
}
KIND_LABELS: dict[MethodKind, str] = {
    MethodKind.CARD: "cards",
    MethodKind.ACH: "bank accounts (ACH)",
    MethodKind.WALLET: "Apple Pay or Google Pay",
    MethodKind.BNPL: "buy now, pay later",
}


def _bnpl_default_minor(currency: str) -> int:
    return Money.parse(BNPL_DEFAULT_MINIMUM, currency).minor


def payment_settings_get(*, merchant: Merchant) -> PaymentSettings:
    """The merchant's payment settings (one query once they exist). The first read creates them:
    the first configured gateway, cards, bank accounts and wallets on, buy-now-pay-later off from
    50 in the merchant's currency, no partial payments, no automatic confirmation, no social apps.
    Two first reads at once still make one row (unique per merchant). Every pay page view reads
    them, so the read is plain SQL: building it through the ORM cost several times its run."""
    sql = f"SELECT * FROM {PaymentSettings._meta.db_table} WHERE merchant_id = %s"  # noqa: S608  # table from the model
    row = next(iter(PaymentSettings._base_manager.raw(sql, [merchant.pk])), None)
    if row is None:
        row, _ = PaymentSettings.objects.get_or_create(
            merchant=merchant,
            defaults={
                "gateway": next(iter(gateway_paths()), ""),
                "currency": merchant.currency,
                "bnpl_minimum_minor": _bnpl_default_minor(merchant.currency),
            },
        )
    if row.currency != merchant.currency:
        # The merchant changed currency (possible only before any money exists): a minimum
        # written in the old one means nothing in the new one.
        row.currency = merchant.currency
        row.bnpl_minimum_minor = _bnpl_default_minor(merchant.currency)
        row.save(update_fields=["currency", "bnpl_minimum_minor"])
    return row


@transaction.atomic
def payment_settings_update(
    *,
    merchant: Merchant,
    acting: Membership,
    now: dt.datetime,
    gateway: str,
    card_enabled: bool,
    ach_enabled: bool,
    wallets_enabled: bool,
    bnpl_enabled: bool,
    bnpl_minimum: Money,
    partial_payments_allowed: bool,
    confirmation_message_enabled: bool,
    venmo_username: str,
    paypal_handle: str,
    cashapp_cashtag: str,
    zelle_recipient: str,
) -> PaymentSettings:
    """Replace the merchant's payment settings and record who changed them and when. Handles are
    stored normalised (`social.handle_normalize`); a blank one turns its app off.

    Raises PermissionDenied unless `acting` is an owner or admin of `merchant`; InvalidInput naming
    the field for an unknown gateway (UnknownGateway), a payment type it does not handle, a minimum
    that is negative, too large or in another currency, a malformed handle, or an app that cannot
    send the merchant's currency. Nothing is written when it raises."""
    if acting.merchant_id != merchant.pk or not acting.can_manage_staff:
        raise PermissionDenied("Only owners and admins change payment settings.")
    switches = {
        MethodKind.CARD: card_enabled,
        MethodKind.ACH: ach_enabled,
        MethodKind.WALLET: wallets_enabled,
        MethodKind.BNPL: bnpl_enabled,
    }
    kinds = gateway_get(gateway).kinds
    for kind, enabled in switches.items():
        if enabled and kind not in kinds:
            raise InvalidInput(f"The {gateway} gateway does not take {KIND_LABELS[kind]}.", field=KIND_FIELDS[kind])
    if bnpl_minimum.currency != merchant.currency:
        raise CurrencyMismatch(f"Enter the minimum in {merchant.currency}.", field="bnpl_minimum")
    if bnpl_minimum.minor < 0:
        raise InvalidInput("The minimum cannot be negative.", field="bnpl_minimum")
    if bnpl_minimum.minor > MAX_AMOUNT_MINOR:
        raise InvalidInput("That amount is too large.", field="bnpl_minimum")
    typed = {
        SocialApp.VENMO: venmo_username,
        SocialApp.PAYPAL: paypal_handle,
        SocialApp.CASH_APP: cashapp_cashtag,
        SocialApp.ZELLE: zelle_recipient,
    }
    handles: dict[str, str] = {}
    for app, value in typed.items():
        handle = handle_normalize(app, value, region=region_of_locale(merchant.locale))
        if handle and not app_takes(app, merchant.currency):
            raise InvalidInput(f"{LABELS[app]} cannot send {merchant.currency}.", field=HANDLE_FIELDS[app])
        handles[HANDLE_FIELDS[app]] = handle

    row = payment_settings_get(merchant=merchant)
    row.gateway = gateway
    for kind, enabled in switches.items():
        setattr(row, KIND_FIELDS[kind], enabled)
    row.bnpl_minimum_minor = bnpl_minimum.minor
    row.partial_payments_allowed = partial_payments_allowed
    row.confirmation_message_enabled = confirmation_message_enabled
    for field, handle in handles.items():
        setattr(row, field, handle)
    row.updated_at = now
    row.updated_by_id = acting.user_id
    row.save()
    return row


def payment_types_offered(settings: PaymentSettings, amount: Money) -> list[MethodKind | SocialApp]:
    """What a pay page offers for `amount`, in display order: cards, bank accounts and wallets when
    on; buy-now-pay-later when on and `amount` is at least the minimum; each configured social app.
    Nothing for an amount that is not positive. Raises CurrencyMismatch for an amount in another
    currency than the merchant's."""
    if amount.currency != settings.currency:
        raise CurrencyMismatch(f"Payments are taken in {settings.currency}, not {amount.currency}.")
    if amount.minor <= 0:
        return []
    offered: list[MethodKind | SocialApp] = []
    if settings.gateway:
        offered += [kind for kind, field in KIND_FIELDS.items() if getattr(settings, field)]
        if MethodKind.BNPL in offered and amount < settings.bnpl_minimum:
            offered.remove(MethodKind.BNPL)
    return offered + configured_apps(settings)
