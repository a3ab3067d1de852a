"""Money: exact parsing per ISO 4217 exponent, refusal of anything inexact, Babel formatting and
the named rounding helpers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settle.core.errors import InvalidInput
from settle.core.money import (
    MAX_AMOUNT_MINOR,
    CurrencyMismatch,
    Money,
    allocate_proportionally,
    currency_exponent,
    percent_of,
    require_positive,
    times_quantity,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1200", "JPY", 1200),
        ("1,200", "JPY", 1200),
        ("0", "JPY", 0),
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("0.01", "USD", 1),
        (" 1,234.56 ", "USD", 123456),
        ("12", "USD", 1200),
        ("1.234", "KWD", 1234),
        ("0.001", "KWD", 1),
        ("7", "KWD", 7000),
        (Decimal("19.99"), "USD", 1999),
        (5, "USD", 500),
    ],
)
def test_parse_is_exact_in_the_currency_minor_unit(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.5", "JPY"), ("0.001", "USD"), ("12.505", "USD"), ("1.2345", "KWD")],
)
def test_parse_refuses_more_decimals_than_the_currency_has(text: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, currency)
    assert refused.value.field == "amount"
    assert f"at most {currency_exponent(currency)} decimal places" in refused.value.message


@pytest.mark.parametrize("text", ["", "abc", "12.3.4", "NaN", "Infinity", "$5"])
def test_parse_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, "USD")
    assert refused.value.field == "amount"


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", ""])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money(100, currency)
    assert refused.value.field == "currency"
    with pytest.raises(InvalidInput):
        Money.parse("1", currency)


def test_exponents_of_zero_two_and_three_decimal_currencies() -> None:
    assert (currency_exponent("JPY"), currency_exponent("USD"), currency_exponent("KWD")) == (0, 2, 3)
    assert Money(1234, "KWD").decimal == Decimal("1.234")
    assert Money(1234, "JPY").decimal == Decimal("1234")
    assert str(Money(1250, "USD")) == "12.50 USD"


def test_minor_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        Money(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")


def test_arithmetic_and_comparison_in_one_currency() -> None:
    a, b = Money(1050, "USD"), Money(25, "USD")
    assert a + b == Money(1075, "USD")
    assert a - b == Money(1025, "USD")
    assert -b == Money(-25, "USD")
    assert b < a and b <= a and a > b and a >= b
    assert not Money.zero("USD") and bool(b)


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_mixing_currencies_raises(combine: Callable[[Money, Money], object]) -> None:
    with pytest.raises(CurrencyMismatch, match="Cannot combine USD and EUR"):
        combine(Money(100, "USD"), Money(100, "EUR"))


def test_money_of_different_currencies_is_never_equal() -> None:
    assert Money(100, "USD") != Money(100, "CAD")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(123450, "USD"), "en_US", "$1,234.50"),
        (Money(123450, "USD"), "en-US", "$1,234.50"),
        (Money(-500, "USD"), "en_US", "-$5.00"),
        (Money(123450, "CAD"), "fr_CA", "1\xa0234,50\xa0$"),
        (Money(123450, "USD"), "fr_CA", "1\xa0234,50\xa0$\xa0US"),
        (Money(1235, "JPY"), "ja_JP", "￥1,235"),
        (Money(1235, "JPY"), "en_US", "¥1,235"),
        (Money(1234567, "KWD"), "en_US", "KWD1,234.567"),
    ],
)
def test_format_uses_babel_in_the_readers_locale(money: Money, locale: str, text: str) -> None:
    assert money.format(locale) == text


def test_require_positive_bounds() -> None:
    assert require_positive(Money(1, "USD")) == Money(1, "USD")
    assert require_positive(Money(MAX_AMOUNT_MINOR, "USD")).minor == MAX_AMOUNT_MINOR
    for minor, message in [(0, "greater than zero"), (-1, "greater than zero"), (MAX_AMOUNT_MINOR + 1, "too large")]:
        with pytest.raises(InvalidInput, match=message) as refused:
            require_positive(Money(minor, "USD"), field="unit_price")
        assert refused.value.field == "unit_price"


@pytest.mark.parametrize(
    ("amount", "basis_points", "result"),
    [
        (1000, 825, 83),  # 82.5 rounds up
        (1000, 815, 82),  # 81.5 rounds up
        (1000, 814, 81),  # 81.4 rounds down
        (1, 5000, 1),  # 0.5 rounds up
        (1, 4999, 0),
        (0, 825, 0),
        (12345, 10000, 12345),
        (-1000, 825, -83),  # half away from zero
    ],
)
def test_percent_of_rounds_half_up(amount: int, basis_points: int, result: int) -> None:
    assert percent_of(amount, basis_points) == result


def test_times_quantity_rounds_half_up() -> None:
    assert times_quantity(333, Decimal("1.5")) == 500  # 499.5
    assert times_quantity(333, Decimal("0.001")) == 0
    assert times_quantity(1999, Decimal("3")) == 5997


def test_allocate_proportionally_examples() -> None:
    assert allocate_proportionally(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate_proportionally(1000, [3000, 1000]) == [750, 250]
    assert allocate_proportionally(0, [5, 5]) == [0, 0]
    assert allocate_proportionally(10, [0, 0]) == [0, 0]
    assert allocate_proportionally(10, [0, 7]) == [0, 10]


@given(
    total=st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR),
    weights=st.lists(st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR), min_size=1, max_size=30).filter(
        lambda w: sum(w) > 0
    ),
)
def test_allocate_proportionally_sums_exactly_and_stays_within_one_unit(total: int, weights: list[int]) -> None:
    shares = allocate_proportionally(total, weights)
    assert sum(shares) == total
    weight_sum = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        exact = Decimal(total) * weight / weight_sum
        assert 0 <= share and abs(share - exact) < 1
        if weight == 0:
            assert share == 0


@given(
    amount=st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR), basis_points=st.integers(min_value=0, max_value=10_000)
)
def test_percent_of_is_the_nearest_unit_with_halves_up(amount: int, basis_points: int) -> None:
    exact = Decimal(amount) * basis_points / 10000
    result = percent_of(amount, basis_points)
    assert exact - Decimal("0.5") < result <= exact + Decimal("0.5")
