"""The hosted pages in a real browser on a phone-sized screen: the card form posts (its CSRF check
passes with the pages' own headers), hands Settle a setup token, and the 3-D Secure page approves
and sends the customer back; no Content-Security-Policy violation on the way."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from settle.gateways.base import ChargeRequest, MethodKind, Outcome
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox import webhooks
from tests.sandbox.factories import usd

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
]


@pytest.fixture
def page(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
    # plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 204)
    with override_settings(SETTLE_BASE_URL=live_server.url), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page.csp_violations = []
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and page.csp_violations.append(message.text),
        )
        yield page
        browser.close()
        # Inside Playwright's loop Django keeps a separate connection for this thread: close it here.
        connections.close_all()


def test_a_card_typed_on_a_phone_comes_back_as_a_setup_token(page: Any, live_server: LiveServer) -> None:
    gateway = SandboxGateway()
    back = live_server.url + "/pay/return/"

    page.goto(gateway.hosted_fields_url(kind=MethodKind.CARD, return_url=back, state="st-1"))
    page.get_by_label("Card number").fill("4000 0027 6000 3184")
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Postal code").fill("10001")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(back + "?*")

    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["st-1"]
    method = gateway.vault_complete(setup_token=query["setup_token"][0])
    pending = gateway.charge(ChargeRequest(amount=usd(5_000), token=method.token, idempotency_key="k", return_url=back))
    assert pending.outcome == Outcome.PENDING

    page.goto(pending.action_url)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(back)

    assert gateway.fetch_charge(idempotency_key="k").outcome == Outcome.SUCCESS
    assert page.csp_violations == []
