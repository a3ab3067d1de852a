"""Display helpers for people: phone numbers are stored as E.164 and read in international format."""

from __future__ import annotations

import phonenumbers
from django import template

register = template.Library()


@register.filter
def phone(value: str | None) -> str:
    """+16135550182 → +1 613-555-0182; anything unparseable is shown as stored."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
