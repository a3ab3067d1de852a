"""The processor's own pages: card and bank-account fields, the wallet sheet, the pay-later approval
and the 3-D Secure style confirmation. Settle links to them or frames them and gets the browser back
with a one-time setup token; what was typed never reaches Settle.

Every page: no script at all, a Content-Security-Policy that lets only Settle frame it, no caching,
no referrer to other sites. Return URLs must be on Settle (`links.return_url_allowed`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.money import Money, require_positive

from . import services
from .catalogue import BNPL_BRAND, TEST_BANK_ACCOUNTS, TEST_CARDS, TEST_ROUTING_NUMBER, WALLET_BRANDS, WALLET_CARDS
from .forms import BankAccountForm, CardForm
from .links import return_url_allowed, settle_origin, url_with_params
from .models import ChargeStatus
from .selectors import charge_for_action, sandbox_now

MAX_STATE = 500


def hosted_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @xframe_options_exempt
    @require_http_methods(["GET", "HEAD", "POST"])
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        origin = settle_origin()
        response["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
            f"form-action 'self' {origin}; frame-ancestors 'self' {origin}"
        )
        response["Cache-Control"] = "no-store"
        # Same-origin keeps the URL from any other site while the forms' posts still carry their
        # real Origin, so Django's stock CSRF check passes; the customer pages send no-referrer
        # instead and rely on `SameOriginCsrfMiddleware` to accept their `Origin: null`.
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapper


def _return_to(request: HttpRequest) -> tuple[str, str] | None:
    """(return_url, state) from the query string, or None when the return URL is not Settle's."""
    return_url, state = request.GET.get("return_url", ""), request.GET.get("state", "")
    if not return_url_allowed(return_url) or len(state) > MAX_STATE:
        return None
    return return_url, state


def _refused(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/refused.html", status=400)


def _back(return_url: str, state: str, **params: str) -> HttpResponse:
    return redirect(url_with_params(return_url, {"state": state, **params}))


def _form_error(form: forms.Form, exc: InvalidInput) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _amount(request: HttpRequest) -> Money | None:
    try:
        return require_positive(Money(int(request.GET.get("amount_minor", "")), request.GET.get("currency", "")))
    except (ValueError, InvalidInput):
        return None


def _grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


@sensitive_post_parameters("number", "cvc")
@hosted_page
def card_fields(request: HttpRequest) -> HttpResponse:
    target = _return_to(request)
    if target is None:
        return _refused(request)
    return_url, state = target
    form = CardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        month, year = form.cleaned_data["exp"]
        try:
            source = services.card_tokenise(
                number=form.cleaned_data["number"],
                exp_month=month,
                exp_year=year,
                cvc=form.cleaned_data["cvc"],
                postal_code=form.cleaned_data["postal_code"],
                now=sandbox_now(),
            )
        except InvalidInput as exc:
            _form_error(form, exc)
        else:
            return _back(return_url, state, setup_token=source.setup_token)
    context = {
        "form": form,
        "cancel_url": url_with_params(return_url, {"state": state, "error": "cancelled"}),
        "test_cards": [(_grouped(number), card.behaviour.label) for number, card in TEST_CARDS.items()],
    }
    return render(request, "sandbox/card.html", context, status=400 if form.errors else 200)


@sensitive_post_parameters("account_number")
@hosted_page
def bank_fields(request: HttpRequest) -> HttpResponse:
    target = _return_to(request)
    if target is None:
        return _refused(request)
    return_url, state = target
    form = BankAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = services.bank_account_tokenise(**form.cleaned_data, now=sandbox_now())
        except InvalidInput as exc:
            _form_error(form, exc)
        else:
            return _back(return_url, state, setup_token=source.setup_token)
    context = {
        "form": form,
        "cancel_url": url_with_params(return_url, {"state": state, "error": "cancelled"}),
        "routing_number": TEST_ROUTING_NUMBER,
        "test_accounts": [(number, behaviour.label) for number, behaviour in TEST_BANK_ACCOUNTS.items()],
    }
    return render(request, "sandbox/bank.html", context, status=400 if form.errors else 200)


@hosted_page
def wallet_sheet(request: HttpRequest) -> HttpResponse:
    target, amount, wallet = _return_to(request), _amount(request), request.GET.get("wallet", "")
    if target is None or amount is None or wallet not in WALLET_BRANDS:
        return _refused(request)
    return_url, state = target
    error = ""
    if request.method == "POST":
        try:
            source = services.wallet_tokenise(
                wallet=wallet, card_last4=request.POST.get("card", ""), amount=amount, now=sandbox_now()
            )
        except InvalidInput as exc:
            error = exc.message
        else:
            return _back(return_url, state, setup_token=source.setup_token)
    context = {
        "wallet": WALLET_BRANDS[wallet],
        "label": request.GET.get("label", "")[:100],
        "amount": amount.format(),
        "cards": [(last4, card.brand, card.behaviour.label) for last4, card in WALLET_CARDS.items()],
        "error": error,
        "cancel_url": url_with_params(return_url, {"state": state, "error": "cancelled"}),
    }
    return render(request, "sandbox/wallet.html", context, status=400 if error else 200)


@hosted_page
def bnpl_checkout(request: HttpRequest) -> HttpResponse:
    target, amount = _return_to(request), _amount(request)
    if target is None or amount is None:
        return _refused(request)
    return_url, state = target
    if request.method == "POST":
        if request.POST.get("decision") != "approve":
            return _back(return_url, state, error="declined")
        source = services.bnpl_approve(amount=amount, now=sandbox_now())
        return _back(return_url, state, setup_token=source.setup_token)
    instalment = Money(-(-amount.minor // 4), amount.currency)  # rounded up: four payments cover it
    context = {
        "brand": BNPL_BRAND,
        "amount": amount.format(),
        "instalment": instalment.format(),
        "description": request.GET.get("description", "")[:200],
        "cancel_url": url_with_params(return_url, {"state": state, "error": "cancelled"}),
    }
    return render(request, "sandbox/bnpl.html", context)


@hosted_page
def authenticate(request: HttpRequest, action_token: str) -> HttpResponse:
    charge = charge_for_action(action_token)
    if charge is None:
        return render(request, "sandbox/done.html", {"message": "This confirmation link is not valid."}, status=404)
    if request.method == "POST":
        try:
            charge = services.charge_authenticate(
                action_token=action_token, approve=request.POST.get("decision") == "approve", now=sandbox_now()
            )
        except (NotAllowed, NotFound) as exc:
            return render(request, "sandbox/done.html", {"message": exc.message}, status=exc.status_code)
        if charge.return_url:
            return redirect(charge.return_url)
        return render(request, "sandbox/done.html", {"message": "Done. You can close this page."})
    context = {
        "charge": charge,
        "amount": Money(charge.amount_minor, charge.currency).format(),
        "waiting": charge.status == ChargeStatus.REQUIRES_ACTION,
    }
    return render(request, "sandbox/authenticate.html", context)
