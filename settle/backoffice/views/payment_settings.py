"""Settings → Payments: the gateway, the payment types a pay page offers, partial payments, the
automatic confirmation message and the social payment apps. Every member may look; owners and
admins change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from settle.core import clock
from settle.core.contact_points import region_of_locale
from settle.core.errors import SettleError
from settle.core.money import Money
from settle.gateways.registry import gateway_names
from settle.messaging.models import Purpose
from settle.payments.models import PaymentSettings
from settle.payments.payment_settings import payment_settings_get, payment_settings_update
from settle.payments.social import HANDLE_FIELDS, handle_normalize, social_options
from settle.tenants.models import Merchant

from .common import MoneyField, add_domain_error, current, set_form_currency
from .messaging import TestSendForm, sample_send
from .settings import admin_for_post


def _gateway_choices() -> list[tuple[str, str]]:
    return [(name, name.title()) for name in gateway_names()]


class PaymentSettingsForm(forms.Form):
    gateway = forms.ChoiceField(
        label="Payment gateway", choices=_gateway_choices, help_text="Processes cards, bank accounts and wallets."
    )
    card_enabled = forms.BooleanField(label="Cards", required=False)
    ach_enabled = forms.BooleanField(label="Bank accounts (ACH)", required=False)
    wallets_enabled = forms.BooleanField(label="Apple Pay and Google Pay", required=False)
    bnpl_enabled = forms.BooleanField(label="Buy now, pay later", required=False)
    bnpl_minimum = MoneyField(
        label="Offer buy now, pay later from",
        help_text="Amounts due below this never show the option.",
    )
    partial_payments_allowed = forms.BooleanField(label="Customers may pay part of an invoice", required=False)
    confirmation_message_enabled = forms.BooleanField(
        label="Send a confirmation message after each payment",
        required=False,
        help_text="Uses your payment confirmation template (Messages → Templates).",
    )
    venmo_username = forms.CharField(
        label="Venmo username", required=False, max_length=100, help_text="5 to 30 letters, digits, - or _."
    )
    paypal_handle = forms.CharField(
        label="PayPal.me handle", required=False, max_length=100, help_text="What follows paypal.me/ in your link."
    )
    cashapp_cashtag = forms.CharField(
        label="Cash App $Cashtag", required=False, max_length=100, help_text="For example $JaneDoe."
    )
    zelle_recipient = forms.CharField(
        label="Zelle e-mail or mobile number",
        required=False,
        max_length=254,
        help_text="The one your bank enrolled in Zelle.",
    )

    GATEWAY_TYPES = ("card_enabled", "ach_enabled", "wallets_enabled", "bnpl_enabled")
    FIELDS = (
        "gateway",
        *GATEWAY_TYPES,
        "bnpl_minimum",
        "partial_payments_allowed",
        "confirmation_message_enabled",
        *HANDLE_FIELDS.values(),
    )

    def __init__(self, *args: Any, merchant: Merchant, editable: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.region = region_of_locale(merchant.locale)
        set_form_currency(self, merchant.currency, merchant.locale)
        for field in self.fields.values():
            field.disabled = not editable

    @classmethod
    def initial_for(cls, row: PaymentSettings) -> dict[str, Any]:
        initial = {name: getattr(row, name) for name in cls.FIELDS if name != "bnpl_minimum"}
        return {**initial, "bnpl_minimum": row.bnpl_minimum}

    def clean(self) -> dict[str, Any]:
        """Check every handle now, so that all mistakes show at once (the service checks again)."""
        data = super().clean() or {}
        for app, name in HANDLE_FIELDS.items():
            if name in data:
                try:
                    handle_normalize(app, data[name], region=self.region)
                except SettleError as error:
                    self.add_error(name, error.message)
        return data


@admin_for_post
def payment_settings(request: HttpRequest) -> HttpResponse:
    merchant, membership = current(request)
    row = payment_settings_get(merchant=merchant)
    editable = membership.can_manage_staff
    sending_test = request.method == "POST" and "send_test" in request.POST
    form = PaymentSettingsForm(
        request.POST if request.method == "POST" and not sending_test else None,
        initial=PaymentSettingsForm.initial_for(row),
        merchant=merchant,
        editable=editable,
    )
    test_form = TestSendForm(request.POST if sending_test else None)
    if sending_test and (sent := sample_send(request, test_form, purpose=Purpose.PAYMENT_CONFIRMATION)):
        messages.success(request, f"Test confirmation queued to {sent.recipient}.")
        return redirect("backoffice:settings_payments")
    if form.is_bound and form.is_valid():
        try:
            payment_settings_update(
                merchant=merchant,
                acting=membership,
                now=clock.now(),
                **{name: form.cleaned_data[name] for name in PaymentSettingsForm.FIELDS},
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Payment settings saved.")
            return redirect("backoffice:settings_payments")
    # What a customer's app opens for one unit of the currency: a typo in a handle would send
    # customers' money to a stranger, so the merchant can try each link.
    sample = Money.parse(1, merchant.currency)
    context = {
        "form": form,
        "test_form": test_form,
        "row": row,
        "editable": editable,
        "gateway_types": [form[name] for name in PaymentSettingsForm.GATEWAY_TYPES],
        "handles": [form[name] for name in HANDLE_FIELDS.values()],
        "previews": social_options(row, sample, "TEST", locale=merchant.locale),
        "tab": "payments",
    }
    return render(request, "backoffice/settings/payments.html", context)
