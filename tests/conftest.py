"""Shared fixtures. `merchant` activates that merchant's tenant scope for the whole test, the way
a signed-in request does; use `merchant_scope(other)` to act as another merchant."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from settle.core.money import Money
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Contact, Customer
from settle.customers.services import contact_save, customer_create
from settle.invoicing.models import CreditMemo, Invoice, JournalEntry, JournalLine, Order
from settle.invoicing.services import LineInput, invoice_create
from settle.payments.models import Application, Payment, Refund
from settle.payments.services import payment_record
from settle.tenants.models import Merchant
from settle.tenants.services import merchant_create

_seq = itertools.count(1)


def make_merchant(**kwargs: object) -> Merchant:
    n = next(_seq)
    defaults: dict[str, object] = {
        "name": f"Merchant {n}",
        "owner_email": f"owner{n}@example.com",
        "owner_password": "correct horse battery",
    }
    defaults.update(kwargs)
    with all_merchants():
        return merchant_create(**defaults)  # type: ignore[arg-type]


def make_customer(merchant: Merchant, name: str = "Ann Customer", **kwargs: object) -> Customer:
    with merchant_scope(merchant):
        return customer_create(merchant=merchant, display_name=name, **kwargs)  # type: ignore[arg-type]


def make_invoice(merchant: Merchant, customer: Customer, amount_minor: int = 10_000, **kwargs: object) -> Invoice:
    with merchant_scope(merchant):
        return invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=[LineInput("Service", 1, Money(amount_minor, kwargs.pop("currency", merchant.currency)))],  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def merchant(db: None) -> Iterator[Merchant]:
    m = make_merchant()
    with merchant_scope(m):
        yield m


@pytest.fixture
def other_merchant(db: None) -> Merchant:
    return make_merchant(name="Other Shop")


@pytest.fixture
def customer(merchant: Merchant) -> Customer:
    return make_customer(merchant)


@pytest.fixture
def contact(merchant: Merchant, customer: Customer) -> Contact:
    """The customer's default billing contact, with an e-mail address and a mobile number."""
    return contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        name="Ann Contact",
        email="ann@example.com",
        phone="+15145550123",
        is_default_billing=True,
    )


def written_rows() -> dict[str, int]:
    """Row counts of every table a money or timeline change writes to, across all merchants."""
    models = (
        Customer,
        Contact,
        Activity,
        Order,
        Invoice,
        CreditMemo,
        JournalEntry,
        JournalLine,
        Payment,
        Application,
        Refund,
    )
    with all_merchants():
        return {model.__name__: model.objects.count() for model in models}


@contextmanager
def writes_nothing() -> Iterator[None]:
    """Assert that the block (typically a refused service call) adds no row anywhere."""
    before = written_rows()
    try:
        yield
    finally:
        assert written_rows() == before


def make_payment(
    merchant: Merchant, customer: Customer, amount_minor: int, invoices: Sequence[Invoice] = (), **kwargs: object
) -> Payment:
    """Record a cash payment in the merchant's currency, applied oldest first to `invoices`."""
    with merchant_scope(merchant):
        return payment_record(
            merchant=merchant,
            customer_id=customer.pk,
            amount=Money(amount_minor, str(kwargs.pop("currency", merchant.currency))),
            method=str(kwargs.pop("method", "cash")),
            invoice_ids=[invoice.pk for invoice in invoices],
            **kwargs,  # type: ignore[arg-type]
        )


# The scan for card numbers reads the log the whole run wrote: it runs after every other test.
LAST_MODULE = "test_zz_no_card_numbers.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST_MODULE)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that passed removes its log file (tests/test_zz_no_card_numbers.py); a failed one keeps
    it to be read."""
    from django.conf import settings

    log_file = getattr(settings, "TEST_LOG_FILE", None)
    if exitstatus == 0 and log_file is not None:
        log_file.unlink(missing_ok=True)
