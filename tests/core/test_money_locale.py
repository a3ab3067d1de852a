"""Amounts are typed the way the reader writes numbers; ambiguity is refused, never guessed."""

from __future__ import annotations

import pytest

from settle.core.errors import InvalidInput
from settle.core.money import Money


@pytest.mark.parametrize(
    ("text", "currency", "locale", "minor"),
    [
        ("1,200.50", "USD", "en_US", 120050),
        ("12.5", "USD", "en_US", 1250),
        ("445,00", "CAD", "fr_CA", 44500),
        ("1 200,50", "CAD", "fr_CA", 120050),
        ("1\u202f200,50", "CAD", "fr_CA", 120050),
        ("445.00", "CAD", "fr_CA", 44500),
        ("1.200", "EUR", "es_ES", 120000),
        ("1000", "JPY", "ja_JP", 1000),
        ("1.234", "KWD", "ar_KW", 1234),
    ],
)
def test_amounts_parse_in_the_readers_locale(text: str, currency: str, locale: str, minor: int) -> None:
    assert Money.parse(text, currency, locale) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("445,00", "USD", "en_US"),  # a French habit in an English form: 44,500 or 445? Refuse.
        ("445.00", "EUR", "es_ES"),  # dots group thousands in Spanish
        ("1e5", "USD", "en_US"),
        ("NaN", "USD", "en_US"),
        ("1.5", "JPY", "ja_JP"),
    ],
)
def test_ambiguous_or_inexact_text_is_refused(text: str, currency: str, locale: str) -> None:
    with pytest.raises(InvalidInput):
        Money.parse(text, currency, locale)
