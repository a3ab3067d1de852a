"""Shared by the customer's pages: each test starts and ends with an empty cache (the link-guessing
limit counts there), an invoice to pay, and a way to set the merchant's payment settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from settle.customers.models import Customer
from settle.invoicing.models import Invoice
from settle.payments.models import PaymentSettings
from settle.payments.payment_settings import payment_settings_get
from settle.tenants.models import Merchant
from tests.conftest import make_invoice


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer) -> Invoice:
    return make_invoice(merchant, customer, 123_45, due_date=dt.date(2031, 3, 15), terms="custom")


def payment_settings_set(merchant: Merchant, **fields: Any) -> None:
    """Change the merchant's payment settings for a test (the defaults are made on first read)."""
    payment_settings_get(merchant=merchant)
    PaymentSettings.objects.filter(merchant=merchant).update(**fields)
