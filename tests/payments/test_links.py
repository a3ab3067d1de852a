"""Secure links: unguessable tokens kept only as hashes, expiry, single use (also under a race on
PostgreSQL), revocation, voided invoices, guessing limits and the short session a link opens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from pytest_django.fixtures import DjangoAssertNumQueries

from settle.core.errors import InvalidInput, NotAllowed, NotFound, SettleError
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Activity, Customer
from settle.customers.services import contact_save
from settle.invoicing.models import Invoice
from settle.invoicing.services import invoice_issue, invoice_void
from settle.payments.links import (
    GUESS_LIMIT,
    LINK_PATH,
    PORTAL_SESSION_KEY,
    Refusal,
    SecureLinkRefused,
    portal_session_grant,
    portal_session_link,
    secure_link_create,
    secure_link_guess_allowed,
    secure_link_resolve,
    secure_link_revoke,
    secure_link_url,
    secure_link_use,
)
from settle.payments.models import LinkPurpose, SecureLink, SecureLinkInvoice
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def invoice(merchant: Merchant, customer: Customer) -> Invoice:
    return make_invoice(merchant, customer, 10_000)


def pay_link(merchant: Merchant, invoice: Invoice, **kwargs: object) -> tuple[SecureLink, str]:
    return secure_link_create(
        merchant=merchant,
        purpose=LinkPurpose.PAY_INVOICE,
        customer_id=invoice.customer_id,
        invoice_ids=[invoice.pk],
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def profile_request(merchant: Merchant, customer: Customer, **kwargs: object) -> tuple[SecureLink, str]:
    return secure_link_create(
        merchant=merchant,
        purpose=LinkPurpose.ADD_PAYMENT_METHOD,
        customer_id=customer.pk,
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def refusal(raw_token: str, *, now: dt.datetime = NOW, client_ip: str | None = None) -> Refusal:
    with pytest.raises(SecureLinkRefused) as refused:
        secure_link_resolve(raw_token, now=now, client_ip=client_ip)
    return refused.value.reason


def all_stored_text() -> str:
    """Every value of every row of every table, as text."""
    values: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (our own table names)
            values.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(values)


# Tokens


def test_a_token_carries_at_least_128_random_bits_and_resolves_to_its_link(
    merchant: Merchant, invoice: Invoice
) -> None:
    link, raw = pay_link(merchant, invoice)
    _, other = pay_link(merchant, invoice)

    assert len(base64.urlsafe_b64decode(raw + "=")) * 8 == 256
    assert raw != other
    resolved = secure_link_resolve(raw, now=NOW)
    assert resolved.pk == link.pk
    assert (resolved.merchant, resolved.customer_id, resolved.purpose) == (merchant, invoice.customer_id, "pay_invoice")
    assert list(resolved.invoices.all()) == [invoice]
    assert not resolved.single_use and resolved.expires_at == NOW + dt.timedelta(days=60)


def test_only_the_hash_of_a_token_is_stored(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {SecureLink._meta.db_table} WHERE id = %s", [link.pk])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    assert hashlib.sha256(raw.encode()).hexdigest() in row
    assert not any(raw in str(value) for value in row)
    with all_merchants():
        assert raw not in all_stored_text()


@override_settings(SETTLE_BASE_URL="https://pay.example.com")
def test_the_url_is_built_from_the_configured_base_url(merchant: Merchant, invoice: Invoice) -> None:
    _, raw = pay_link(merchant, invoice)

    assert secure_link_url(raw) == f"https://pay.example.com{LINK_PATH}{raw}/"


def test_a_tampered_or_malformed_token_is_unknown_and_costs_no_query_when_malformed(
    merchant: Merchant, invoice: Invoice, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    _, raw = pay_link(merchant, invoice)
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    assert refusal(tampered) == Refusal.UNKNOWN
    with django_assert_num_queries(0):
        for malformed in ("", raw[:-1], raw + "A", raw[:-1] + "!", raw[:-1] + "é", "' OR 1=1 --"):
            assert refusal(malformed) == Refusal.UNKNOWN


def test_a_refusal_is_a_settle_error_with_a_status_for_the_page(merchant: Merchant, invoice: Invoice) -> None:
    with pytest.raises(SecureLinkRefused) as unknown:
        secure_link_resolve("x" * 43, now=NOW)

    assert isinstance(unknown.value, NotAllowed)
    assert (unknown.value.status_code, unknown.value.code) == (404, "link_unknown")
    assert SecureLinkRefused(Refusal.EXPIRED).status_code == 410


# Expiry


def test_a_link_works_until_it_expires(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice)

    assert secure_link_resolve(raw, now=link.expires_at - SECOND).pk == link.pk
    assert refusal(raw, now=link.expires_at) == Refusal.EXPIRED


def test_each_purpose_has_its_default_lifetime(merchant: Merchant, customer: Customer, invoice: Invoice) -> None:
    payment = make_payment(merchant, customer, 10_000, [invoice])

    statement, _ = secure_link_create(
        merchant=merchant, purpose="pay_statement", customer_id=customer.pk, invoice_ids=[invoice.pk], now=NOW
    )
    profile, _ = profile_request(merchant, customer)
    receipt, _ = secure_link_create(
        merchant=merchant, purpose="view_receipt", customer_id=customer.pk, payment_id=payment.pk, now=NOW
    )

    assert statement.expires_at == NOW + dt.timedelta(days=30) and not statement.single_use
    assert profile.expires_at == NOW + dt.timedelta(days=7) and profile.single_use
    assert receipt.expires_at == NOW + dt.timedelta(days=365) and receipt.payment == payment


def test_the_merchant_chooses_how_long_a_profile_request_lasts(merchant: Merchant, customer: Customer) -> None:
    link, raw = profile_request(merchant, customer, expires_in=dt.timedelta(hours=48))

    assert link.expires_at == NOW + dt.timedelta(hours=48)
    assert refusal(raw, now=NOW + dt.timedelta(hours=48)) == Refusal.EXPIRED


@pytest.mark.parametrize("expires_in", [dt.timedelta(minutes=5), dt.timedelta(days=31), -dt.timedelta(days=1)])
def test_a_lifetime_out_of_bounds_is_refused(merchant: Merchant, customer: Customer, expires_in: dt.timedelta) -> None:
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        profile_request(merchant, customer, expires_in=expires_in)

    assert refused.value.field == "expires_in"
    assert not SecureLink.objects.exists()


def test_a_public_quick_payment_link_lasts_a_year_and_is_never_spent(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice, public=True)

    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)
    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW + SECOND)

    assert link.public and not link.single_use
    assert link.expires_at == NOW + dt.timedelta(days=365)
    assert secure_link_resolve(raw, now=NOW + dt.timedelta(days=364)).pk == link.pk


@pytest.mark.parametrize("purpose", ["pay_statement", "add_payment_method"])
def test_only_an_invoice_link_can_be_public(merchant: Merchant, invoice: Invoice, purpose: str) -> None:
    invoice_ids = [invoice.pk] if purpose == "pay_statement" else []
    with writes_nothing(), pytest.raises(InvalidInput) as refused:
        secure_link_create(
            merchant=merchant,
            purpose=purpose,
            customer_id=invoice.customer_id,
            invoice_ids=invoice_ids,
            public=True,
            now=NOW,
        )

    assert refused.value.field == "public"


def test_a_public_link_cannot_be_single_use(merchant: Merchant, invoice: Invoice) -> None:
    with writes_nothing(), pytest.raises(InvalidInput):
        pay_link(merchant, invoice, public=True, single_use=True)


# Single use


def test_a_single_use_link_is_used_once(merchant: Merchant, customer: Customer) -> None:
    link, raw = profile_request(merchant, customer)

    used = secure_link_use(merchant=merchant, link_id=link.pk, now=NOW + SECOND)

    assert used.used_at == NOW + SECOND
    with pytest.raises(SecureLinkRefused) as again:
        secure_link_use(merchant=merchant, link_id=link.pk, now=NOW + 2 * SECOND)
    assert again.value.reason == Refusal.USED
    assert refusal(raw, now=NOW + 2 * SECOND) == Refusal.USED
    link.refresh_from_db()
    assert link.used_at == NOW + SECOND


def test_a_rolled_back_use_leaves_the_link_unused(merchant: Merchant, customer: Customer) -> None:
    link, raw = profile_request(merchant, customer)

    @transaction.atomic
    def save_payment_method() -> None:
        secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)
        raise InvalidInput("The card form was incomplete.")

    with pytest.raises(InvalidInput):
        save_payment_method()

    assert secure_link_resolve(raw, now=NOW).used_at is None


def test_a_reusable_link_is_checked_but_never_spent(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice)

    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)
    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)

    assert secure_link_resolve(raw, now=NOW).used_at is None
    with pytest.raises(SecureLinkRefused) as expired:
        secure_link_use(merchant=merchant, link_id=link.pk, now=link.expires_at)
    assert expired.value.reason == Refusal.EXPIRED


def test_a_link_made_single_use_on_request(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice, single_use=True)

    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)

    assert refusal(raw) == Refusal.USED


def test_another_merchants_link_cannot_be_used(
    merchant: Merchant, customer: Customer, other_merchant: Merchant
) -> None:
    link, _ = profile_request(merchant, customer)

    with merchant_scope(other_merchant), pytest.raises(SecureLinkRefused) as refused:
        secure_link_use(merchant=other_merchant, link_id=link.pk, now=NOW)

    assert refused.value.reason == Refusal.UNKNOWN
    link.refresh_from_db()
    assert link.used_at is None


# Revocation and voided invoices


def test_a_revoked_link_stops_working_at_once(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice)

    secure_link_revoke(merchant=merchant, link_id=link.pk, now=NOW + SECOND)
    secure_link_revoke(merchant=merchant, link_id=link.pk, now=NOW + 2 * SECOND)

    link.refresh_from_db()
    assert link.revoked_at == NOW + SECOND
    assert refusal(raw, now=NOW + 2 * SECOND) == Refusal.REVOKED
    assert refusal(raw, now=link.expires_at + SECOND) == Refusal.REVOKED  # the most useful reason wins
    with pytest.raises(SecureLinkRefused) as refused:
        secure_link_use(merchant=merchant, link_id=link.pk, now=NOW + 2 * SECOND)
    assert refused.value.reason == Refusal.REVOKED
    verbs = list(Activity.objects.filter(object_type="securelink").values_list("verb", flat=True))
    assert sorted(verbs) == ["secure_link_created", "secure_link_revoked"]


def test_another_merchant_cannot_revoke_a_link(merchant: Merchant, invoice: Invoice, other_merchant: Merchant) -> None:
    link, raw = pay_link(merchant, invoice)

    with merchant_scope(other_merchant), pytest.raises(NotFound):
        secure_link_revoke(merchant=other_merchant, link_id=link.pk, now=NOW)

    assert secure_link_resolve(raw, now=NOW).revoked_at is None


def test_links_to_a_voided_invoice_stop_working(merchant: Merchant, customer: Customer, invoice: Invoice) -> None:
    other = make_invoice(merchant, customer, 2_000)
    link, raw = pay_link(merchant, invoice)
    _, statement = secure_link_create(
        merchant=merchant, purpose="pay_statement", customer_id=customer.pk, invoice_ids=[other.pk, invoice.pk], now=NOW
    )

    invoice_void(merchant=merchant, invoice_id=invoice.pk)

    assert refusal(raw) == Refusal.INVOICE_VOID
    assert refusal(statement) == Refusal.INVOICE_VOID
    with pytest.raises(SecureLinkRefused) as refused:
        secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)
    assert refused.value.reason == Refusal.INVOICE_VOID


def test_a_link_to_a_paid_invoice_still_opens_for_its_receipt(
    merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    make_payment(merchant, customer, 10_000, [invoice])

    _, raw = pay_link(merchant, invoice)

    assert secure_link_resolve(raw, now=NOW).invoices.get().status == "paid"


# What a link may be for


def test_what_a_link_is_for_is_checked(
    merchant: Merchant, customer: Customer, invoice: Invoice, other_merchant: Merchant
) -> None:
    second = make_invoice(merchant, customer, 2_000)
    stranger = make_customer(merchant, "Someone Else")
    theirs = make_invoice(merchant, stranger, 2_000)
    draft = make_invoice(merchant, customer, 2_000, draft=True)
    payment = make_payment(merchant, customer, 10_000, [invoice])
    stranger_contact = contact_save(merchant=merchant, customer_id=stranger.pk, name="Sam", email="sam@example.com")
    cases: list[tuple[type[SettleError], dict[str, object]]] = [
        (InvalidInput, {"purpose": "pay_everything"}),
        (InvalidInput, {"purpose": "pay_invoice"}),
        (InvalidInput, {"purpose": "pay_invoice", "invoice_ids": [invoice.pk, second.pk]}),
        (InvalidInput, {"purpose": "pay_statement"}),
        (InvalidInput, {"purpose": "add_payment_method", "invoice_ids": [invoice.pk]}),
        (InvalidInput, {"purpose": "view_receipt"}),
        (InvalidInput, {"purpose": "pay_invoice", "invoice_ids": [second.pk], "payment_id": payment.pk}),
        (NotFound, {"purpose": "pay_invoice", "invoice_ids": [theirs.pk]}),
        (NotFound, {"purpose": "pay_statement", "invoice_ids": [second.pk, 10**9]}),
        (NotFound, {"purpose": "view_receipt", "payment_id": 10**9}),
        (NotFound, {"purpose": "add_payment_method", "contact_id": stranger_contact.pk}),
        (NotAllowed, {"purpose": "pay_invoice", "invoice_ids": [draft.pk]}),
    ]
    for error, arguments in cases:
        with writes_nothing(), pytest.raises(error):
            secure_link_create(merchant=merchant, customer_id=customer.pk, now=NOW, **arguments)  # type: ignore[arg-type]
    with merchant_scope(other_merchant), pytest.raises(NotFound):
        secure_link_create(merchant=other_merchant, purpose="add_payment_method", customer_id=customer.pk, now=NOW)
    assert not SecureLink.objects.exists() and not SecureLinkInvoice.objects.exists()
    invoice_issue(merchant=merchant, invoice_id=draft.pk)
    assert pay_link(merchant, draft)[0].invoices.get() == draft


def test_a_statement_link_names_several_invoices_and_a_contact(
    merchant: Merchant, customer: Customer, invoice: Invoice
) -> None:
    second = make_invoice(merchant, customer, 2_000)
    contact = contact_save(merchant=merchant, customer_id=customer.pk, name="Ann", email="ann@example.com")

    link, raw = secure_link_create(
        merchant=merchant,
        purpose=LinkPurpose.PAY_STATEMENT,
        customer_id=customer.pk,
        contact_id=contact.pk,
        invoice_ids=[second.pk, invoice.pk, second.pk],
        now=NOW,
    )

    resolved = secure_link_resolve(raw, now=NOW)
    assert resolved.contact == contact
    assert set(resolved.invoices.all()) == {invoice, second}
    activity = Activity.objects.get(object_type="securelink", object_id=link.pk)
    assert invoice.number in activity.summary and second.number in activity.summary


# Guessing


def test_guessing_is_limited_per_client_address(merchant: Merchant, invoice: Invoice) -> None:
    _, raw = pay_link(merchant, invoice)
    for _ in range(GUESS_LIMIT - 1):
        refusal("A" * 43, client_ip="203.0.113.7")
    secure_link_resolve(raw, now=NOW, client_ip="203.0.113.7")  # a real token is no guess

    assert secure_link_guess_allowed("203.0.113.7")
    refusal("B" * 43, client_ip="203.0.113.7")
    assert not secure_link_guess_allowed("203.0.113.7")
    assert secure_link_guess_allowed("198.51.100.1")


# The short session a link opens


def session_request() -> HttpRequest:
    request = RequestFactory().get("/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.session.save()
    return request


def test_a_link_is_exchanged_for_a_short_session(merchant: Merchant, invoice: Invoice) -> None:
    link, raw = pay_link(merchant, invoice)
    request = session_request()
    before = request.session.session_key

    portal_session_grant(request, secure_link_resolve(raw, now=NOW), now=NOW)

    assert request.session.session_key != before  # a session planted before does not carry over
    assert raw not in str(dict(request.session))
    claimed = portal_session_link(request, now=NOW + dt.timedelta(minutes=29))
    assert claimed is not None and claimed.pk == link.pk and claimed.merchant == merchant
    assert portal_session_link(request, now=NOW + dt.timedelta(minutes=30)) is None
    assert PORTAL_SESSION_KEY not in request.session


def test_the_session_ends_no_later_than_its_link(merchant: Merchant, customer: Customer) -> None:
    link, raw = profile_request(merchant, customer, expires_in=dt.timedelta(minutes=20))
    request = session_request()

    portal_session_grant(request, secure_link_resolve(raw, now=NOW), now=NOW)

    assert portal_session_link(request, now=NOW + dt.timedelta(minutes=19)) is not None
    assert portal_session_link(request, now=NOW + dt.timedelta(minutes=20)) is None


def test_the_session_cookie_expires_with_the_claim_whatever_the_real_clock_says(
    merchant: Merchant, customer: Customer
) -> None:
    _, raw = profile_request(merchant, customer, expires_in=dt.timedelta(minutes=20))
    request = session_request()

    portal_session_grant(request, secure_link_resolve(raw, now=NOW), now=NOW)  # NOW is long past

    assert request.session.get_expiry_age() == 20 * 60


def test_the_session_ends_when_its_link_stops_working(merchant: Merchant, customer: Customer) -> None:
    link, raw = profile_request(merchant, customer)
    request = session_request()
    portal_session_grant(request, secure_link_resolve(raw, now=NOW), now=NOW)

    secure_link_use(merchant=merchant, link_id=link.pk, now=NOW + SECOND)

    assert portal_session_link(request, now=NOW + 2 * SECOND) is None


@pytest.mark.parametrize(
    "claim", ["a string", {"link_id": "1", "merchant_id": 1, "expires_at": 2**40}, {"link_id": 1}, None]
)
def test_a_session_without_a_sound_claim_has_no_link(merchant: Merchant, invoice: Invoice, claim: object) -> None:
    link, _ = pay_link(merchant, invoice)
    request = session_request()
    if claim is not None:
        request.session[PORTAL_SESSION_KEY] = claim

    assert portal_session_link(request, now=NOW) is None
    assert PORTAL_SESSION_KEY not in request.session


def test_a_claim_naming_another_merchant_has_no_link(
    merchant: Merchant, invoice: Invoice, other_merchant: Merchant
) -> None:
    link, _ = pay_link(merchant, invoice)
    request = session_request()
    request.session[PORTAL_SESSION_KEY] = {"link_id": link.pk, "merchant_id": other_merchant.pk, "expires_at": 2**40}

    assert portal_session_link(request, now=NOW) is None


# A race for a single-use link


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL")
def test_two_requests_racing_for_a_single_use_link_use_it_once() -> None:
    from tests.test_concurrency_postgres import at_once

    merchant = make_merchant()
    customer = make_customer(merchant)
    with merchant_scope(merchant):
        link, raw = profile_request(merchant, customer)

    outcomes = at_once(merchant, [lambda: secure_link_use(merchant=merchant, link_id=link.pk, now=NOW)] * 2)

    used = [outcome for outcome in outcomes if isinstance(outcome, SecureLink)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, SecureLinkRefused)]
    assert len(used) == 1 and len(refused) == 1
    assert refused[0].reason == Refusal.USED
    with merchant_scope(merchant):
        link.refresh_from_db()
    assert link.used_at == NOW


@pytest.mark.parametrize("link_id", [0, -1, 2**63, 2**70])
def test_an_id_no_row_can_have_is_an_unknown_link(merchant: Merchant, link_id: int) -> None:
    with pytest.raises(SecureLinkRefused) as refused:
        secure_link_use(merchant=merchant, link_id=link_id, now=NOW)
    assert refused.value.reason == Refusal.UNKNOWN
