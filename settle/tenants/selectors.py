from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import Membership, Merchant


def memberships_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user_id=user.pk).select_related("merchant").order_by("merchant__name")


def merchant_members(*, merchant: Merchant) -> QuerySet[Membership]:
    """The merchant's staff with their users, by e-mail."""
    return Membership.objects.filter(merchant=merchant).select_related("user").order_by("user__email", "user__username")
