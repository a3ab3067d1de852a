"""The hosted pages' fields. They only read what was typed; the processor's rules are in `services`."""

from __future__ import annotations

import re

from django import forms


class CardForm(forms.Form):
    number = forms.CharField(max_length=30, error_messages={"required": "Enter your card number."})
    exp = forms.CharField(max_length=9, error_messages={"required": "Enter the expiry date."})
    cvc = forms.CharField(max_length=4, error_messages={"required": "Enter the security code."})
    postal_code = forms.CharField(max_length=10, error_messages={"required": "Enter your postal code."})

    def clean_exp(self) -> tuple[int, int]:
        """ "MM/YY", "MM / YYYY" or "MMYY" → (month, year)."""
        match = re.fullmatch(r"(\d{1,2})\s*/?\s*(\d{2}|\d{4})", self.cleaned_data["exp"].strip())
        if match is None:
            raise forms.ValidationError("Enter the expiry as MM/YY.")
        month, year = int(match[1]), int(match[2])
        return month, year + 2000 if year < 100 else year


class BankAccountForm(forms.Form):
    routing_number = forms.CharField(max_length=20, error_messages={"required": "Enter the routing number."})
    account_number = forms.CharField(max_length=34, error_messages={"required": "Enter the account number."})
    holder_name = forms.CharField(max_length=100, error_messages={"required": "Enter the name on the account."})
