"""Settings: the merchant's profile, contact profiles (portal access levels) and staff. Every member
may look; owners and admins change."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from settle.core.errors import SettleError
from settle.customers.models import ContactProfile
from settle.customers.selectors import contact_profiles as contact_profiles_of
from settle.customers.services import contact_profile_save
from settle.payments.selectors import money_history_exists
from settle.tenants.models import Merchant
from settle.tenants.selectors import merchant_members
from settle.tenants.services import membership_set, merchant_update

from ..forms_people import PROFILE_PERMISSION_LABELS, ContactProfileForm, MemberAddForm, MemberRoleForm, MerchantForm
from .common import add_domain_error, current, get_scoped_or_404, merchant_required


def admin_for_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anyone on the staff sees settings; only owners and admins may POST (others get 403)."""

    @merchant_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not request.membership.can_manage_staff:  # type: ignore[attr-defined]
            reason = "Only owners and admins change settings."
            return render(request, "backoffice/forbidden.html", {"reason": reason}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def contact_form_url(merchant: Merchant) -> str:
    """The public link to share; built from SETTLE_BASE_URL, never from the request's Host."""
    return django_settings.SETTLE_BASE_URL + reverse("portal:contact_form", args=[merchant.contact_form_token])


@admin_for_post
def merchant_settings(request: HttpRequest) -> HttpResponse:
    merchant, membership = current(request)
    form = MerchantForm(request.POST or None, request.FILES or None, initial=MerchantForm.initial_for(merchant))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            merchant_update(
                merchant=merchant,
                acting=membership,
                currency_in_use=money_history_exists(merchant=merchant),
                logo=data["logo"],
                remove_logo=data["remove_logo"],
                **{name: data[name] for name in MerchantForm.FIELDS},
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("backoffice:settings")
    context = {"form": form, "contact_form_url": contact_form_url(merchant), "tab": "general"}
    return render(request, "backoffice/settings/general.html", context)


@admin_for_post
def contact_profiles(request: HttpRequest) -> HttpResponse:
    return _contact_profile_page(request, None)


@admin_for_post
def contact_profile_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _contact_profile_page(request, get_scoped_or_404(ContactProfile, request, pk))


def _contact_profile_page(request: HttpRequest, profile: ContactProfile | None) -> HttpResponse:
    merchant, _ = current(request)
    form = ContactProfileForm(request.POST or None, initial=ContactProfileForm.initial_for(profile))
    if request.method == "POST" and form.is_valid():
        try:
            saved = contact_profile_save(
                merchant=merchant, profile_id=profile.pk if profile else None, **form.cleaned_data
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Contact profile “{saved.name}” saved.")
            return redirect("backoffice:contact_profiles")
    context = {
        "form": form,
        "profile": profile,
        "profiles": [
            (item, [getattr(item, field) for field in ContactProfile.PERMISSION_FIELDS])
            for item in contact_profiles_of(merchant=merchant)
        ],
        "permissions": PROFILE_PERMISSION_LABELS,
        "tab": "contact_profiles",
    }
    return render(request, "backoffice/settings/contact_profiles.html", context)


@admin_for_post
def staff(request: HttpRequest) -> HttpResponse:
    merchant, membership = current(request)
    add_form = MemberAddForm(request.POST if request.POST.get("action") == "add" else None)
    role_form = MemberRoleForm(request.POST if request.POST.get("action") == "role" else None)
    form = add_form if add_form.is_bound else role_form
    if request.method == "POST" and form.is_valid():
        try:
            changed = membership_set(
                merchant=merchant, acting=membership, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request, f"{changed.user.email or changed.user.username} is now {changed.get_role_display()}."
            )
            return redirect("backoffice:staff")
    members = merchant_members(merchant=merchant)
    context = {"add_form": add_form, "role_form": role_form, "members": list(members), "tab": "staff"}
    return render(request, "backoffice/settings/staff.html", context)
