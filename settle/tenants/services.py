"""Merchants, staff and roles."""

from __future__ import annotations

import zoneinfo

from babel import Locale, UnknownLocaleError
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

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


def user_get_or_create(*, email: str, password: str | None = None) -> AbstractUser:
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("Enter a valid e-mail address.", field="email")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=email, defaults={"email": email})
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user  # type: ignore[return-value]


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


def require_money_role(membership: Membership) -> None:
    """Raise unless this staff member may change what is owed or paid."""
    if not membership.can_change_money:
        raise PermissionDenied("Read-only staff cannot change money.")
