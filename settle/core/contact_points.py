"""E-mail addresses and phone numbers as Settle stores them: validated, e-mail lower-cased, phones
in E.164 (+15145550123). One definition for merchants, customers, contacts and messages."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .errors import InvalidInput


def email_normalize(value: str, *, field: str = "email") -> str:
    value = value.strip().lower()
    if len(value) > 254:
        raise InvalidInput("That e-mail address is too long.", field=field)
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidInput(f"“{value}” is not a valid e-mail address.", field=field) from None
    return value


def phone_normalize(value: str, *, region: str = "US", field: str = "phone") -> str:
    """Validate a phone number (national numbers read in `region`) and return it as E.164."""
    try:
        number = phonenumbers.parse(value.strip(), region or "US")
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"“{value}” is not a phone number.", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"“{value}” is not a valid phone number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of_locale(locale: str) -> str:
    """The country part of a locale (fr_CA → CA), where national phone numbers are read; US if none."""
    parts = locale.replace("-", "_").split("_")
    return parts[1].upper() if len(parts) > 1 else "US"
