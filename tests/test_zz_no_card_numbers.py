"""No card number anywhere Settle keeps things: after customers have paid on the pay page with every
sandbox test card (a 3-D Secure one, declines, a typo and a live card refused on the way), no
value of any table (sessions decoded) holds a Luhn-valid run of 13 to 19 digits, and neither does
the log that the whole test run wrote. The card numbers are typed only on the sandbox's own page,
which stands for the processor and keeps none of them.

These tests run last (tests/conftest.py puts this module at the end), so the log they read is the
whole run's."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import Client

from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.payments.models import ChargeAttempt, ChargeState, Payment
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice
from tests.portal.test_pay_by_card import EXPIRY, enter_account, enter_card, local, opened, start
from tests.sandbox.factories import ACCOUNTS, CARDS
from tests.sandbox.test_no_card_numbers import database_text, luhn_numbers

# What the sandbox's page refuses: a typo (fails the checksum) and a real card in test mode.
REFUSED_NUMBERS = ("4242 4242 4242 4241", "4111 1111 1111 1111")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def log_text() -> str:
    """What this test run has logged so far (config/settings/test.py sends it to this file, which
    the first line logged creates)."""
    log_file = Path(settings.TEST_LOG_FILE)
    return log_file.read_text(encoding="utf-8") if log_file.exists() else ""


def test_the_log_file_takes_django_and_settle_at_info() -> None:
    marker = uuid.uuid4().hex
    logging.getLogger("settle.payments").info("settle %s", marker)
    logging.getLogger("django.request").info("django %s", marker)

    assert f"settle {marker}" in log_text() and f"django {marker}" in log_text()


@pytest.mark.django_db
def test_the_scan_finds_a_planted_number(merchant: Merchant, tmp_path: Path) -> None:
    assert luhn_numbers(database_text()) == []
    make_customer(merchant, "Careless Customer", notes="Card on file: 4242-4242-4242-4242")
    session = SessionStore()
    session["typed"] = {"number": "5555 5555 5555 4444"}  # stored encoded: only a decoded scan sees it
    session.save()
    planted_log = tmp_path / "planted.log"
    planted_log.write_text("INFO charged card 378282246310005 at 2025-03-10 15:00\n")

    assert sorted(luhn_numbers(database_text())) == ["4242424242424242", "5555555555554444"]
    assert luhn_numbers(planted_log.read_text()) == ["378282246310005"]


@pytest.mark.django_db
def test_paying_on_the_pay_page_with_every_test_card_keeps_no_number(
    merchant: Merchant, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, number in CARDS.items():
        browser = opened(Client(HTTP_ACCEPT_LANGUAGE="fr"), merchant, make_invoice(merchant, customer, 42_00))
        fields_url = start(browser)
        for refused in REFUSED_NUMBERS:
            typed = {"number": refused, "exp": EXPIRY, "cvc": "123", "postal_code": "10001"}
            assert browser.post(fields_url, typed).status_code == 400, name
        response = browser.get(enter_card(browser, fields_url, " ".join(number[i : i + 4] for i in range(0, 16, 4))))
        if "/sandbox/authenticate/" in response["Location"]:
            approved = browser.post(local(response["Location"]), {"decision": "approve"})
            response = browser.get(local(approved["Location"]))
        assert response.status_code == 303, name
    browser = opened(Client(), merchant, make_invoice(merchant, customer, 42_00))
    browser.get(enter_account(browser, start(browser, "ach"), ACCOUNTS["success"]))

    with merchant_scope(merchant):
        states = sorted(ChargeAttempt.objects.values_list("state", flat=True))
        assert Payment.objects.count() == 3  # 4242, the 3-D Secure card and the bank account
    assert states == sorted([ChargeState.SUCCEEDED] * 2 + [ChargeState.PENDING] + [ChargeState.FAILED] * 6)
    assert luhn_numbers(database_text()) == []
    assert luhn_numbers(caplog.text) == []
    assert luhn_numbers(log_text()) == []


def test_the_whole_runs_log_holds_no_card_number() -> None:
    assert luhn_numbers(log_text()) == []
