"""Merchants, staff and roles."""

from __future__ import annotations

import zoneinfo

from babel import Locale, UnknownLocaleError
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from PIL import Image

from settle.core.contact_points import email_normalize, phone_normalize, region_of_locale
from settle.core.errors import InvalidInput, PermissionDenied
from settle.core.money import currency_exponent

from .models import Membership, Merchant, Role


def _validate_merchant_fields(*, currency: str, locale: str, time_zone: str) -> None:
    currency_exponent(currency)
    try:
        Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        raise InvalidInput(f"Unknown locale “{locale}”.", field="locale") from None
    if time_zone not in zoneinfo.available_timezones():
        raise InvalidInput(f"Unknown time zone “{time_zone}”.", field="time_zone")


@transaction.atomic
def merchant_create(
    *,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    currency: str = "USD",
    locale: str = "en_US",
    time_zone: str = "America/New_York",
    email: str = "",
    phone: str = "",
    address: str = "",
    invoice_prefix: str = "INV-",
) -> Merchant:
    """Create a merchant and its owner (an existing user with that e-mail joins as owner)."""
    name = name.strip()
    if not name:
        raise InvalidInput("A merchant needs a name.", field="name")
    currency = currency.upper()
    _validate_merchant_fields(currency=currency, locale=locale, time_zone=time_zone)
    merchant = Merchant.objects.create(
        name=name,
        currency=currency,
        locale=locale,
        time_zone=time_zone,
        email=email or owner_email,
        phone=phone,
        address=address,
        invoice_prefix=invoice_prefix,
    )
    owner = user_get_or_create(email=owner_email, password=owner_password)
    Membership.objects.create(user=owner, merchant=merchant, role=Role.OWNER)
    return merchant


def user_get_or_create(*, email: str, password: str | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("Enter a valid e-mail address.", field="email")
    user, created = User.objects.get_or_create(username=email, defaults={"email": email})
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


@transaction.atomic
def membership_set(*, merchant: Merchant, acting: Membership, email: str, role: str) -> Membership:
    """Add a staff member or change their role. Only owners and admins may; the last owner stays."""
    if not acting.can_manage_staff:
        raise PermissionDenied("Only owners and admins manage staff.")
    if role not in Role.values:
        raise InvalidInput("Unknown role.", field="role")
    user = user_get_or_create(email=email)
    membership, _ = Membership.objects.select_for_update().get_or_create(
        user=user, merchant=merchant, defaults={"role": role}
    )
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.filter(merchant=merchant, role=Role.OWNER).count()
        if owners <= 1:
            raise InvalidInput("A merchant keeps at least one owner.", field="role")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


def _logo_extension(logo: File) -> str:
    """The file's real image format (never SVG or HTML: logos are served from our own origin)."""
    if logo.size is not None and logo.size > LOGO_MAX_BYTES:
        raise InvalidInput("The logo must be 2 MB or smaller.", field="logo")
    try:
        logo.seek(0)
        with Image.open(logo) as image:
            image.verify()
            image_format = image.format or ""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput("Upload a PNG, JPEG, GIF or WebP image.", field="logo") from None
    finally:
        logo.seek(0)
    if image_format not in LOGO_FORMATS:
        raise InvalidInput("Upload a PNG, JPEG, GIF or WebP image.", field="logo")
    return LOGO_FORMATS[image_format]


def _invoice_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if len(prefix) > 12 or any(ch.isspace() for ch in prefix):
        raise InvalidInput("Use up to 12 characters without spaces.", field="invoice_prefix")
    # A trailing digit would run into the number: "INV-1" + 00002 reads like "INV-" + 100002.
    if prefix[-1:].isdigit():
        raise InvalidInput("The prefix cannot end with a digit.", field="invoice_prefix")
    return prefix


@transaction.atomic
def merchant_update(
    *,
    merchant: Merchant,
    acting: Membership,
    name: str,
    email: str,
    phone: str,
    address: str,
    currency: str,
    locale: str,
    time_zone: str,
    invoice_prefix: str,
    currency_in_use: bool,
    logo: File | None = None,
    remove_logo: bool = False,
) -> Merchant:
    """Change a merchant's profile, checked like `merchant_create`; the phone is stored as E.164 and
    a logo must really be a PNG, JPEG, GIF or WebP image. Only the merchant's owners and admins may
    (PermissionDenied); a bad field raises InvalidInput naming it, and so does a new currency when
    `currency_in_use` (the caller knows whether invoices or payments exist). The invoice counter is
    untouched."""
    if acting.merchant_id != merchant.pk or not acting.can_manage_staff:
        raise PermissionDenied("Only owners and admins change the merchant's settings.")
    name = name.strip()
    if not name:
        raise InvalidInput("A merchant needs a name.", field="name")
    if len(name) > 200:
        raise InvalidInput("Keep the name under 200 characters.", field="name")
    currency = currency.strip().upper()
    if currency != merchant.currency and currency_in_use:
        # Balances and reports are kept in the merchant's currency; amounts already invoiced or
        # received in the old one would silently drop out of them.
        raise InvalidInput(f"The currency stays {merchant.currency} once invoices or payments exist.", field="currency")
    locale = locale.strip()
    _validate_merchant_fields(currency=currency, locale=locale, time_zone=time_zone)
    email = email_normalize(email) if email.strip() else ""
    if len(address) > 1000:
        raise InvalidInput("Keep the address under 1000 characters.", field="address")
    fields = {
        "name": name,
        "email": email,
        "phone": phone_normalize(phone, region=region_of_locale(locale)) if phone.strip() else "",
        "address": address.strip(),
        "currency": currency,
        "locale": locale,
        "time_zone": time_zone,
        "invoice_prefix": _invoice_prefix(invoice_prefix),
    }
    extension = _logo_extension(logo) if logo is not None else None
    locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
    for key, value in fields.items():
        setattr(locked, key, value)
    old_logo = locked.logo.name
    if remove_logo:
        locked.logo = ""
    if logo is not None:
        locked.logo.save(f"merchant-{locked.pk}.{extension}", logo, save=False)
    locked.save(update_fields=[*fields, "logo"])
    if old_logo and old_logo != locked.logo.name:
        # Only once the new settings are committed: a rollback keeps the old logo working.
        storage = locked.logo.storage
        transaction.on_commit(lambda: storage.delete(old_logo))
    return locked
