"""Bad input anywhere is an InvalidInput naming the field to fix, and writes nothing: amounts
that are not positive, exact or sane, unknown currencies, oversized text, malformed e-mail
addresses and phone numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from settle.core.errors import InvalidInput
from settle.core.money import MAX_AMOUNT_MINOR, Money
from settle.customers.services import contact_form_submit, contact_save, customer_create, external_reference_set
from settle.invoicing.services import (
    LineInput,
    OrderItemInput,
    credit_memo_create,
    invoice_create,
    order_create,
    quick_payment_request_create,
)
from settle.payments.services import payment_record, refund_create
from settle.tenants.services import merchant_create
from tests.conftest import make_invoice, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)
HUGE = MAX_AMOUNT_MINOR + 1


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("10.005", "USD"), ("0.001", "USD"), ("1.5", "JPY"), ("0.0001", "KWD"), ("1e-3", "USD")],
)
def test_fractional_minor_units_are_refused(text: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, currency)
    assert refused.value.field == "amount"


@pytest.mark.parametrize("currency", ["XYZ", "BTC", "EURO", "us$"])
def test_unknown_currency_is_refused_everywhere(currency: str, merchant: Any, customer: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse("10", currency)
    assert refused.value.field == "currency"
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        invoice_create(
            merchant=merchant, customer_id=customer.pk, currency=currency, lines=[LineInput("A", 1, usd(100))], now=NOW
        )
    assert refused.value.field == "currency"
    with pytest.raises(InvalidInput) as refused:
        merchant_create(name="Shop", owner_email="o@x.com", currency=currency)
    assert refused.value.field == "currency"


AMOUNT_CALLS: dict[str, Callable[[Any, Any, Any, Money], Any]] = {
    "payment": lambda m, c, p, amount: payment_record(
        merchant=m, customer_id=c.pk, amount=amount, method="cash", keep_excess_as_credit=True, now=NOW
    ),
    "credit memo": lambda m, c, p, amount: credit_memo_create(
        merchant=m, customer_id=c.pk, amount=amount, reason="r", now=NOW
    ),
    "quick payment request": lambda m, c, p, amount: quick_payment_request_create(
        merchant=m, customer_id=c.pk, amount=amount, reference="R-1", now=NOW
    ),
    "refund": lambda m, c, p, amount: refund_create(merchant=m, payment_id=p.pk, amount=amount, now=NOW),
}


@pytest.mark.parametrize("minor", [0, -1, -10_000, HUGE, 10**18])
@pytest.mark.parametrize("call", AMOUNT_CALLS.values(), ids=AMOUNT_CALLS.keys())
def test_amounts_must_be_positive_and_sane(
    merchant: Any, customer: Any, call: Callable[[Any, Any, Any, Money], Any], minor: int
) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    call(merchant, customer, payment, usd(1))  # the same call with a sane amount is accepted
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        call(merchant, customer, payment, usd(minor))
    assert refused.value.field == "amount"


def _refused_without_writing(call: Callable[[], Any]) -> InvalidInput:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        call()
    return refused.value


LONG_TEXT: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "invoice memo": (
        lambda m, c: invoice_create(
            merchant=m, customer_id=c.pk, lines=[LineInput("A", 1, usd(100))], memo="m" * 1001, now=NOW
        ),
        "memo",
    ),
    "invoice PO number": (
        lambda m, c: invoice_create(
            merchant=m, customer_id=c.pk, lines=[LineInput("A", 1, usd(100))], po_number="p" * 61, now=NOW
        ),
        "po_number",
    ),
    "invoice contract": (
        lambda m, c: invoice_create(
            merchant=m, customer_id=c.pk, lines=[LineInput("A", 1, usd(100))], contract_reference="c" * 61, now=NOW
        ),
        "contract_reference",
    ),
    "line description": (
        lambda m, c: invoice_create(merchant=m, customer_id=c.pk, lines=[LineInput("d" * 201, 1, usd(100))], now=NOW),
        "description",
    ),
    "customer notes": (lambda m, c: customer_create(merchant=m, display_name="Ann", notes="n" * 10_001), "notes"),
    "customer name": (lambda m, c: customer_create(merchant=m, display_name="N" * 201), "display_name"),
    "payment reference": (
        lambda m, c: payment_record(
            merchant=m,
            customer_id=c.pk,
            amount=usd(100),
            method="cash",
            keep_excess_as_credit=True,
            reference="r" * 101,
            now=NOW,
        ),
        "reference",
    ),
    "payment note": (
        lambda m, c: payment_record(
            merchant=m,
            customer_id=c.pk,
            amount=usd(100),
            method="cash",
            keep_excess_as_credit=True,
            note="n" * 501,
            now=NOW,
        ),
        "note",
    ),
    "quick request reference": (
        lambda m, c: quick_payment_request_create(
            merchant=m, customer_id=c.pk, amount=usd(100), reference="r" * 61, now=NOW
        ),
        "reference",
    ),
    "credit memo reason": (
        lambda m, c: credit_memo_create(merchant=m, customer_id=c.pk, amount=usd(100), reason="r" * 301, now=NOW),
        "reason",
    ),
    "order note": (
        lambda m, c: order_create(
            merchant=m, customer_id=c.pk, items=[OrderItemInput("A", 1, usd(100))], note="n" * 501, now=NOW
        ),
        "note",
    ),
    "contact name": (lambda m, c: contact_save(merchant=m, customer_id=c.pk, name="N" * 201, email="a@x.com"), "name"),
    "external id": (
        lambda m, c: external_reference_set(
            merchant=m, customer_id=c.pk, system="crm", label="CW", external_id="9" * 121
        ),
        "external_id",
    ),
    "contact form company": (
        lambda m, c: contact_form_submit(merchant=m, name="Cy", email="cy@x.com", company="C" * 201),
        "company",
    ),
}


@pytest.mark.parametrize("case", LONG_TEXT.values(), ids=LONG_TEXT.keys())
def test_oversized_text_is_refused(merchant: Any, customer: Any, case: tuple[Callable[[Any, Any], Any], str]) -> None:
    call, field = case
    assert _refused_without_writing(lambda: call(merchant, customer)).field == field


def test_refund_reason_too_long(merchant: Any, customer: Any) -> None:
    payment = make_payment(merchant, customer, 500, [make_invoice(merchant, customer, 500)])
    refused = _refused_without_writing(
        lambda: refund_create(merchant=merchant, payment_id=payment.pk, amount=usd(100), reason="r" * 301, now=NOW)
    )
    assert refused.field == "reason"


BAD_EMAILS = [
    "plainaddress",
    "@no-local.com",
    "no-at.example.com",
    "two@@example.com",
    "spaces in@example.com",
    "trailing@dot.",
    "x@" + "d" * 250 + ".com",
]
BAD_PHONES = ["123", "555-0123", "phone", "+1 (000) 000-0000", "+999 1234 5678"]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_malformed_email_is_refused(merchant: Any, customer: Any, email: str) -> None:
    assert (
        _refused_without_writing(lambda: customer_create(merchant=merchant, display_name="Ann", emails=[email])).field
        == "emails"
    )
    assert (
        _refused_without_writing(
            lambda: contact_save(merchant=merchant, customer_id=customer.pk, name="Bo", email=email)
        ).field
        == "email"
    )
    assert (
        _refused_without_writing(lambda: contact_form_submit(merchant=merchant, name="Bo", email=email)).field
        == "email"
    )


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_malformed_phone_is_refused(merchant: Any, customer: Any, phone: str) -> None:
    assert (
        _refused_without_writing(lambda: customer_create(merchant=merchant, display_name="Ann", phones=[phone])).field
        == "phones"
    )
    assert (
        _refused_without_writing(
            lambda: contact_save(
                merchant=merchant, customer_id=customer.pk, name="Bo", phone=phone, preferred_channel="sms"
            )
        ).field
        == "phone"
    )
    assert (
        _refused_without_writing(lambda: contact_form_submit(merchant=merchant, name="Bo", phone=phone)).field
        == "phone"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"owner_email": "nobody"}, "email"),
        ({"locale": "xx_YY"}, "locale"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_merchant_settings_are_refused(db: None, kwargs: dict[str, str], field: str) -> None:
    arguments = {"name": "Shop", "owner_email": "o@x.com", **kwargs}
    with pytest.raises(InvalidInput) as refused:
        merchant_create(**arguments)
    assert refused.value.field == field
