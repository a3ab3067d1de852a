"""Adding a payment method behind a secure link (a payment profile request): /l/<token>/ trades the
token for a short session and redirects to /l/method/.

There the customer chooses card or bank account (what the merchant takes), names it, gives a
billing address and ticks the authorization (told which saved method it replaces, when the
merchant asked for a new one in place of one); /l/method/ keeps that in the session under a random
`state` and sends them to the gateway's own fields. The gateway sends them back to
/l/method/return/ with the state and a setup token, which is vaulted and saved with the exact
authorization text while the link is spent, in one transaction; /l/method/saved/ confirms it. A
reload of the return URL shows the confirmation again and saves nothing."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, NamedTuple, TypedDict

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from settle.core import clock
from settle.core.errors import SettleError
from settle.core.tenancy import merchant_scope
from settle.gateways.base import MethodKind
from settle.gateways.registry import gateway_get
from settle.payments.links import PORTAL_SESSION_LIFETIME, SecureLinkRefused
from settle.payments.models import LinkPurpose, PaymentSettings, SavedMethod, SecureLink
from settle.payments.payment_settings import payment_settings_get
from settle.payments.profile_requests import (
    payment_profile_request_complete,
    profile_request_kinds,
    profile_request_replaces,
)
from settle.tenants.models import Merchant

from .pay_views import (
    VaultedCheckout,
    checkout_drop,
    checkout_keep,
    checkout_vault,
    refused_page,
    session_link,
    vaulted_method,
)
from .security import customer_page

# The session's open checkouts by state, and the method last saved (for its confirmation page).
CHECKOUTS_KEY = "settle.method.checkouts"
SAVED_KEY = "settle.method.saved"

KIND_NAMES = {
    MethodKind.CARD: pgettext_lazy("payment method", "Card"),
    MethodKind.ACH: pgettext_lazy("payment method", "Bank account"),
}

# What the customer agrees to, shown beside the box they tick and stored word for word with the
# method, in the language they read it in.
CONSENTS = {
    MethodKind.CARD: _(
        "I authorize %(name)s to keep this card on file and to charge it for amounts I owe %(name)s, "
        "until I ask %(name)s to remove it."
    ),
    MethodKind.ACH: _(
        "I authorize %(name)s to keep this bank account on file and to debit it electronically for "
        "amounts I owe %(name)s, until I ask %(name)s to remove it."
    ),
}


class MethodForm(forms.Form):
    friendly_name = forms.CharField(
        label=_("Name for this payment method"),
        max_length=80,
        required=False,
        help_text=_("So you recognize it later, for example “Mary’s business Visa”."),
    )
    billing_address = forms.CharField(
        label=_("Billing address"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    consent = forms.BooleanField(error_messages={"required": _("Tick the box to give your authorization.")})


class _Checkout(VaultedCheckout, total=False):
    link_id: int
    friendly_name: str
    billing_address: str
    consent_text: str
    consent_ip: str


class _Saved(TypedDict):
    merchant_id: int
    state: str
    saved_method_id: int
    expires_at: int  # POSIX seconds


class _Request(NamedTuple):
    link: SecureLink
    merchant: Merchant
    payment_settings: PaymentSettings
    kinds: list[MethodKind]


def _session_request(request: HttpRequest, now: dt.datetime) -> _Request | HttpResponse:
    """The session's add-payment-method link, the merchant's payment settings and what they let
    the customer save, or the refusal page."""
    link = session_link(request, (LinkPurpose.ADD_PAYMENT_METHOD,), now)
    if isinstance(link, HttpResponse):
        return link
    with merchant_scope(link.merchant):
        payment_settings = payment_settings_get(merchant=link.merchant)
    return _Request(link, link.merchant, payment_settings, profile_request_kinds(payment_settings))


def _consent_text(kind: MethodKind, merchant: Merchant) -> str:
    return str(CONSENTS[kind]) % {"name": merchant.name}


def _form_page(request: HttpRequest, found: _Request, kind: MethodKind | None, form: MethodForm) -> HttpResponse:
    with merchant_scope(found.merchant):
        replaces = profile_request_replaces(merchant=found.merchant, link=found.link)
    context = {
        "merchant": found.merchant,
        "kinds": [(k.value, KIND_NAMES[k]) for k in found.kinds],
        "kind": kind.value if kind else "",
        "form": form,
        "consent_text": _consent_text(kind, found.merchant) if kind else "",
        "replaces": f"{replaces.brand} •••• {replaces.last4}" if replaces else "",
    }
    return render(request, "portal/pay/method.html", context, status=400 if form.errors else 200)


def _kind(found: _Request, chosen: Any) -> MethodKind | None:
    return next((kind for kind in found.kinds if kind.value == chosen), None)


@customer_page
@require_http_methods(["GET", "HEAD", "POST"])
def method_page(request: HttpRequest) -> HttpResponse:
    """The choice of card or bank account, its name, billing address and authorization; posting
    them keeps a checkout under a new `state` and sends the customer to the gateway's fields."""
    now = clock.now()
    found = _session_request(request, now)
    if isinstance(found, HttpResponse):
        return found
    if request.method != "POST":
        kind = _kind(found, request.GET.get("kind")) or next(iter(found.kinds), None)
        return _form_page(request, found, kind, MethodForm())
    kind = _kind(found, request.POST.get("kind"))
    form = MethodForm(request.POST)
    if kind is None:
        form.add_error(None, gettext("This kind of payment method is not available."))
    if not form.is_valid() or kind is None:
        return _form_page(request, found, kind, form)
    state = secrets.token_urlsafe(16)
    checkout: _Checkout = {
        "link_id": found.link.pk,
        "kind": kind.value,
        "friendly_name": form.cleaned_data["friendly_name"],
        "billing_address": form.cleaned_data["billing_address"],
        "consent_text": _consent_text(kind, found.merchant),
        "consent_ip": request.META.get("REMOTE_ADDR", ""),
    }
    checkout_keep(request, CHECKOUTS_KEY, state, checkout)
    gateway = gateway_get(found.payment_settings.gateway)
    return_url = settings.SETTLE_BASE_URL + reverse("pay:method_return")
    return HttpResponseRedirect(gateway.hosted_fields_url(kind=kind, return_url=return_url, state=state), status=303)


def _back_to_form(request: HttpRequest, state: str, message: str) -> HttpResponse:
    checkout_drop(request, CHECKOUTS_KEY, state)
    messages.error(request, message)
    return HttpResponseRedirect(reverse("pay:method"), status=303)


@customer_page
@require_safe
def method_return(request: HttpRequest) -> HttpResponse:
    """Where the gateway sends the customer back: vault the method named by `state`'s setup token
    and save it while spending the link; a reload of this URL goes to the confirmation again."""
    now = clock.now()
    state = request.GET.get("state", "")
    saved: _Saved | None = request.session.get(SAVED_KEY)
    if saved and saved["state"] == state:
        return HttpResponseRedirect(reverse("pay:method_saved"), status=303)
    found = _session_request(request, now)
    if isinstance(found, HttpResponse):
        return found
    checkout = request.session.get(CHECKOUTS_KEY, {}).get(state)
    if checkout is None or checkout["link_id"] != found.link.pk:
        return refused_page(request, None)
    if request.GET.get("error"):
        return _back_to_form(request, state, gettext("Cancelled. Nothing was saved."))
    merchant = found.merchant
    if "token" not in checkout:
        method = checkout_vault(request, found.payment_settings, checkout)
        if method is None:
            return _back_to_form(
                request, state, gettext("We could not read your payment details. Please enter them again.")
            )
        if method.single_use:  # a wallet's or pay-later token pays once: it is no method to keep
            return _back_to_form(request, state, gettext("This kind of payment method is not available."))
    with merchant_scope(merchant):
        try:
            saved_method = payment_profile_request_complete(
                merchant=merchant,
                link_id=found.link.pk,
                vaulted=vaulted_method(checkout),
                friendly_name=checkout["friendly_name"],
                billing_address=checkout["billing_address"],
                consent_text=checkout["consent_text"],
                consent_ip=checkout["consent_ip"],
                now=now,
            )
        except SecureLinkRefused as refused:
            checkout_drop(request, CHECKOUTS_KEY, state)
            return refused_page(request, refused.reason)
        except SettleError:
            return _back_to_form(request, state, gettext("This payment method could not be saved. Please try again."))
    checkout_drop(request, CHECKOUTS_KEY, state)
    request.session[SAVED_KEY] = _Saved(
        merchant_id=merchant.pk,
        state=state,
        saved_method_id=saved_method.pk,
        expires_at=int((now + PORTAL_SESSION_LIFETIME).timestamp()),
    )
    return HttpResponseRedirect(reverse("pay:method_saved"), status=303)


@customer_page
@require_safe
def method_saved(request: HttpRequest) -> HttpResponse:
    """The confirmation: the method saved in this browser, as its name, brand and last four
    digits. The link is spent by then, so the page reads what the session noted when saving."""
    saved: _Saved | None = request.session.get(SAVED_KEY)
    if not saved or clock.now().timestamp() >= saved["expires_at"]:
        return refused_page(request, None)
    merchant = Merchant.objects.get(pk=saved["merchant_id"])
    with merchant_scope(merchant):
        method = SavedMethod.objects.get(merchant=merchant, pk=saved["saved_method_id"])
    return render(request, "portal/pay/method_saved.html", {"merchant": merchant, "method": method})
