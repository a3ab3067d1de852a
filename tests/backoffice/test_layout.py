"""The back office's frame: the nav marks the section a page belongs to, and its icons need no
emoji font."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from settle.core.tenancy import merchant_scope
from settle.tenants.models import Merchant
from tests.conftest import make_customer

pytestmark = pytest.mark.django_db


def current_nav_entry(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    nav = re.search(r'<nav class="nav"[^>]*>(.*?)</nav>', response.content.decode(), re.S)
    assert nav is not None
    current = re.findall(r'<a [^>]*aria-current="page"[^>]*>(.*?)</a>', nav.group(1), re.S)
    assert len(current) == 1, current
    return " ".join(re.sub(r"<[^>]+>", " ", current[0]).split())


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("backoffice:message_new", "New message"),
        ("backoffice:message_list", "Messages"),
        ("backoffice:payment_list", "Payments"),
        ("backoffice:notification_list", "Notifications"),
        ("backoffice:settings_payments", "Settings"),
    ],
)
def test_nav_marks_the_section_of_the_page(owner: Client, name: str, entry: str) -> None:
    assert current_nav_entry(owner, reverse(name)) == entry


def test_a_payment_method_request_belongs_to_customers_not_payments(owner: Client, merchant: Merchant) -> None:
    with merchant_scope(merchant):
        customer = make_customer(merchant)
    url = reverse("backoffice:payment_profile_request", args=[customer.pk])
    assert current_nav_entry(owner, url) == "Customers"


def test_the_notifications_entry_draws_its_bell_without_an_emoji(owner: Client) -> None:
    page = owner.get(reverse("backoffice:dashboard")).content.decode()
    assert "🔔" not in page
    assert re.search(r'<svg class="nav-icon" aria-hidden="true" focusable="false"', page)
