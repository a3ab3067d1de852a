"""Exact money: integer minor units with an ISO 4217 currency. Never floats.

Rounding happens only in the named helpers below; formatting only through Babel in the
reader's locale.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import NumberFormatError, format_currency, get_group_symbol, parse_decimal

from .errors import InvalidInput

# ISO 4217 active codes whose minor unit is not 2. Every other listed code has 2 decimals.
_EXPONENT_NOT_TWO = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD "
    "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP "
    "PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
).split()
CURRENCY_EXPONENTS: dict[str, int] = {**dict.fromkeys(_TWO_DECIMALS, 2), **_EXPONENT_NOT_TWO}

# The largest amount Settle accepts anywhere: 10^12 minor units (ten billion dollars). Well
# inside a 64-bit column even after summing millions of rows.
MAX_AMOUNT_MINOR = 10**12


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were combined."""


def currency_exponent(currency: str) -> int:
    """Number of decimals of an ISO 4217 currency; raises InvalidInput for unknown codes."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise InvalidInput(f"Unknown currency “{currency}”.", field="currency") from None


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` integer units of `currency` (cents for USD, yen for JPY)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | Decimal | int, currency: str, locale: str = "en_US") -> Money:
        """Parse an amount typed in `locale` ("1,200.50" in en_US, "1 200,50" in fr_CA) exactly.

        Ambiguous text ("445,00" in en_US) and more decimals than the currency has are errors,
        never a silent guess or rounding."""
        exponent = currency_exponent(currency)
        value = _parse_decimal(text, locale)
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidInput(f"{currency} amounts have at most {exponent} decimal places.", field="amount")
        return cls(int(scaled), currency)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} and {other.currency}.")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._check(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._check(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    @property
    def decimal(self) -> Decimal:
        """The amount in major units, exact (for display and form initial values only)."""
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def format(self, locale: str = "en_US") -> str:
        """Human text in the reader's locale, e.g. $1,234.50 or 1 234,50 $."""
        return _formatted(self.minor, self.currency, locale.replace("-", "_"))

    def __str__(self) -> str:
        return f"{self.decimal} {self.currency}"


@functools.lru_cache(maxsize=4096)
def _formatted(minor: int, currency: str, locale: str) -> str:
    """Babel's text for an amount. A page shows the same few amounts again and again, and Babel
    reads its locale data for each one, so the texts are remembered."""
    return format_currency(Money(minor, currency).decimal, currency, locale=locale)


_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _parse_decimal(text: str | Decimal | int, locale: str) -> Decimal:
    if isinstance(text, int | Decimal):
        value = Decimal(text)
    else:
        raw = "".join(str(text).split())  # spaces only ever group digits
        if "e" in raw.lower():
            raise InvalidInput(f"“{text}” is not an amount.", field="amount")
        try:
            value = parse_decimal(raw, locale=locale.replace("-", "_"), strict=True)
        except (NumberFormatError, ValueError):
            # "12.50" is accepted everywhere the locale does not group with dots.
            if not _PLAIN_NUMBER.fullmatch(raw) or get_group_symbol(locale.replace("-", "_")) == ".":
                raise InvalidInput(f"“{text}” is not an amount.", field="amount") from None
            value = Decimal(raw)
    if not value.is_finite():
        raise InvalidInput(f"“{text}” is not an amount.", field="amount")
    return value


def require_positive(amount: Money, *, field: str = "amount") -> Money:
    """The rule every entered amount follows: more than zero, at most MAX_AMOUNT_MINOR."""
    if amount.minor <= 0:
        raise InvalidInput("Enter an amount greater than zero.", field=field)
    if amount.minor > MAX_AMOUNT_MINOR:
        raise InvalidInput("That amount is too large.", field=field)
    return amount


def percent_of(amount_minor: int, basis_points: int) -> int:
    """`basis_points`/10000 of an amount, rounded half up to a whole minor unit (tax, discounts)."""
    return int((Decimal(amount_minor) * basis_points / 10000).quantize(Decimal(1), ROUND_HALF_UP))


def times_quantity(unit_minor: int, quantity: Decimal) -> int:
    """A unit price times a (possibly fractional) quantity, rounded half up to a minor unit."""
    return int((Decimal(unit_minor) * quantity).quantize(Decimal(1), ROUND_HALF_UP))


def allocate_proportionally(total_minor: int, weights: list[int]) -> list[int]:
    """Split `total_minor` across `weights` in proportion, exactly (largest remainder): the parts
    always add up to the total. Used to spread an order discount over its lines."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    shares = [total_minor * w // weight_sum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: -(total_minor * weights[i] % weight_sum))
    for i in remainders[: total_minor - sum(shares)]:
        shares[i] += 1
    return shares


class MoneyAttribute:
    """A model's `<name>_minor` column read with the row's `currency` as Money:
    `total = MoneyAttribute("total_minor")`."""

    def __init__(self, minor_field: str):
        self.minor_field = minor_field

    def __get__(self, row: Any, owner: type | None = None) -> Money:
        return Money(getattr(row, self.minor_field), row.currency)
