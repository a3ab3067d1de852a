"""CSRF protection on pages that send no Referer: a form posted from one of our own pages passes,
a form posted from anywhere else does not."""

from __future__ import annotations

import pytest
from django.test import Client

LANGUAGE_URL = "/l/language/"


@pytest.fixture
def browser() -> Client:
    """A client that enforces CSRF like a real browser session, holding a CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32
    return client


def post(client: Client, *, token: str | None, **headers: str) -> int:
    data = {"language": "fr", "next": "/"}
    if token is not None:
        data["csrfmiddlewaretoken"] = token
    return client.post(LANGUAGE_URL, data, headers=headers).status_code


def test_a_form_from_our_own_no_referrer_page_passes(browser: Client) -> None:
    assert post(browser, token="a" * 32, origin="null", sec_fetch_site="same-origin") == 302


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none", ""])
def test_a_null_origin_from_anywhere_else_is_refused(browser: Client, site: str) -> None:
    assert post(browser, token="a" * 32, origin="null", sec_fetch_site=site) == 403


def test_the_token_is_still_required(browser: Client) -> None:
    assert post(browser, token=None, origin="null", sec_fetch_site="same-origin") == 403
    assert post(browser, token="b" * 32, origin="null", sec_fetch_site="same-origin") == 403


def test_another_origin_is_refused_whatever_it_claims(browser: Client) -> None:
    assert post(browser, token="a" * 32, origin="https://evil.example", sec_fetch_site="same-origin") == 403
