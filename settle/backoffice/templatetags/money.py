"""Money in templates, always through Babel in the merchant's locale.

`{{ invoice.balance|money:merchant.locale }}` for a `Money`;
`{% money_minor invoice.balance_minor invoice.currency merchant.locale %}` for a raw `_minor` int.
"""

from __future__ import annotations

from django import template

from settle.core.money import Money

register = template.Library()

DEFAULT_LOCALE = "en_US"


@register.filter(name="money")
def money_filter(value: Money | None, locale: str | None = None) -> str:
    if not isinstance(value, Money):
        return ""
    return value.format(locale or DEFAULT_LOCALE)


@register.simple_tag
def money_minor(minor: int | None, currency: str, locale: str | None = None) -> str:
    if minor is None:
        return ""
    return Money(int(minor), currency).format(locale or DEFAULT_LOCALE)
