"""Forms for the people pages. They only shape input: every rule (valid e-mail, E.164 phone, one
default billing contact, roles) is the service's, and its refusal is shown inline."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms

from settle.core.money import CURRENCY_EXPONENTS
from settle.customers.models import Channel, ContactProfile, CustomerKind, ExternalSystem
from settle.tenants.models import Role

PROFILE_PERMISSION_LABELS = {
    "can_view_invoices": "View invoices",
    "can_pay": "Pay invoices",
    "can_manage_payment_methods": "Manage payment methods",
    "can_manage_autopay": "Manage autopay",
    "can_view_credits": "View credits",
    "receives_invoices": "Receive invoices",
    "receives_receipts": "Receive receipts",
}


def split_lines(text: str) -> list[str]:
    """Several e-mails or phones typed one per line (commas and semicolons work too)."""
    return [part.strip() for part in text.replace(";", "\n").replace(",", "\n").splitlines() if part.strip()]


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    open = forms.BooleanField(required=False, label="Only customers with open invoices")


class CustomerForm(forms.Form):
    kind = forms.ChoiceField(choices=CustomerKind.choices, widget=forms.RadioSelect, initial=CustomerKind.PERSON)
    display_name = forms.CharField(label="Display name", max_length=200)
    emails = forms.CharField(
        label="E-mail addresses", required=False, help_text="One per line.", widget=forms.Textarea(attrs={"rows": 2})
    )
    phones = forms.CharField(
        label="Phone numbers",
        required=False,
        help_text="One per line; saved in international format.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    address_line1 = forms.CharField(label="Address", required=False, max_length=200)
    address_line2 = forms.CharField(label="Address line 2", required=False, max_length=200)
    city = forms.CharField(required=False, max_length=100)
    region = forms.CharField(label="State / region", required=False, max_length=100)
    postal_code = forms.CharField(label="Postal code", required=False, max_length=20)
    country = forms.CharField(label="Country", required=False, max_length=2, help_text="Two-letter code, e.g. US.")
    tags = forms.CharField(required=False, help_text="Separate tags with commas.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    ADDRESS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "display_name": data["display_name"],
            "kind": data["kind"],
            "emails": split_lines(data["emails"]),
            "phones": split_lines(data["phones"]),
            "address": {name: data[name] for name in self.ADDRESS},
            "tags": [tag.strip() for tag in data["tags"].split(",") if tag.strip()],
            "notes": data["notes"],
        }

    @classmethod
    def initial_for(cls, customer: Any) -> dict[str, Any]:
        return {
            "kind": customer.kind,
            "display_name": customer.display_name,
            "emails": "\n".join(customer.emails),
            "phones": "\n".join(customer.phones),
            "tags": ", ".join(customer.tags),
            "notes": customer.notes,
            **{name: getattr(customer, name) for name in cls.ADDRESS},
        }


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    # Plain text: the service validates and normalizes (one rule, one message).
    email = forms.CharField(label="E-mail", required=False, max_length=254, widget=forms.EmailInput)
    phone = forms.CharField(required=False, max_length=40, widget=forms.TextInput(attrs={"type": "tel"}))
    preferred_channel = forms.ChoiceField(label="Preferred channel", choices=Channel.choices)
    profile: forms.ModelChoiceField[ContactProfile] = forms.ModelChoiceField(
        label="Portal access", queryset=ContactProfile.objects.none(), required=False, empty_label="No portal access"
    )
    is_default_billing = forms.BooleanField(label="Default billing contact", required=False)

    def __init__(self, *args: Any, profiles: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["profile"].queryset = profiles  # type: ignore[attr-defined]

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "email": data["email"],
            "phone": data["phone"],
            "preferred_channel": data["preferred_channel"],
            "is_default_billing": data["is_default_billing"],
            "profile_id": data["profile"].pk if data["profile"] else None,
        }


class ContactListForm(forms.Form):
    SORTS = [("name", "Name"), ("email", "E-mail"), ("newest", "Newest"), ("access", "Access level")]

    contact_q = forms.CharField(required=False, label="Search contacts", max_length=100)
    contact_sort = forms.ChoiceField(required=False, label="Sort by", choices=SORTS)


class ExternalReferenceForm(forms.Form):
    system = forms.ChoiceField(choices=ExternalSystem.choices)
    label = forms.CharField(max_length=60, help_text="e.g. HubSpot, QuickBooks, Stripe")
    external_id = forms.CharField(label="ID in that system", max_length=120)


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class MerchantForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.CharField(label="E-mail", required=False, max_length=254, widget=forms.EmailInput)
    phone = forms.CharField(required=False, max_length=40, widget=forms.TextInput(attrs={"type": "tel"}))
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    logo = forms.FileField(required=False, help_text="PNG, JPEG, GIF or WebP, up to 2 MB.")
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    currency = forms.ChoiceField(choices=[(code, code) for code in sorted(CURRENCY_EXPONENTS)])
    locale = forms.CharField(max_length=10, help_text="How amounts and dates read, e.g. en_US, fr_CA, de_DE.")
    time_zone = forms.ChoiceField(label="Time zone", choices=_time_zone_choices)
    invoice_prefix = forms.CharField(label="Invoice prefix", required=False, max_length=12)

    FIELDS = ("name", "email", "phone", "address", "currency", "locale", "time_zone", "invoice_prefix")

    @classmethod
    def initial_for(cls, merchant: Any) -> dict[str, Any]:
        return {name: getattr(merchant, name) for name in cls.FIELDS}


class ContactProfileForm(forms.Form):
    name = forms.CharField(max_length=60)
    can_view_invoices = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["can_view_invoices"])
    can_pay = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["can_pay"])
    can_manage_payment_methods = forms.BooleanField(
        required=False, label=PROFILE_PERMISSION_LABELS["can_manage_payment_methods"]
    )
    can_manage_autopay = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["can_manage_autopay"])
    can_view_credits = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["can_view_credits"])
    receives_invoices = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["receives_invoices"])
    receives_receipts = forms.BooleanField(required=False, label=PROFILE_PERMISSION_LABELS["receives_receipts"])

    @classmethod
    def initial_for(cls, profile: ContactProfile | None) -> dict[str, Any]:
        source = profile if profile is not None else ContactProfile()  # a new profile starts from the defaults
        return {"name": source.name, **{field: getattr(source, field) for field in ContactProfile.PERMISSION_FIELDS}}

    def permission_fields(self) -> list[forms.BoundField]:
        return [self[field] for field in ContactProfile.PERMISSION_FIELDS]


class MemberAddForm(forms.Form):
    email = forms.CharField(label="E-mail", max_length=254, widget=forms.EmailInput)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STAFF)


class MemberRoleForm(forms.Form):
    email = forms.CharField(widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=Role.choices)
