"""The people side of the back office: signing in, the dashboard, customers and their profile,
contacts, settings, staff and switching merchants. Exact figures, tenant isolation, read-only
staff, inline errors that write nothing, and a bounded number of queries per page."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Activity, Contact, ContactProfile, Customer, ExternalReference
from settle.customers.services import contact_profile_save, contact_save
from settle.invoicing.models import Terms
from settle.invoicing.services import credit_memo_create, invoice_void
from settle.tenants.middleware import SESSION_KEY
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 20, 16, 0, tzinfo=dt.UTC)  # 20 March, noon in New York
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


def owner_of(merchant: Merchant) -> User:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER).user


def member(merchant: Merchant, email: str, role: str) -> User:
    acting = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    return membership_set(merchant=merchant, acting=acting, email=email, role=role).user


@pytest.fixture
def owner_client(client: Client, merchant: Merchant) -> Client:
    client.force_login(owner_of(merchant))
    return client


@pytest.fixture
def read_only_client(client: Client, merchant: Merchant) -> Client:
    client.force_login(member(merchant, "viewer@example.com", Role.READ_ONLY))
    return client


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">(.*?)</span>', html, re.S)
    assert match, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def invoice_on(merchant: Merchant, customer: Customer, minor: int, issued: dt.date, terms: str = Terms.NET_30):
    created = dt.datetime.combine(issued, dt.time(12), tzinfo=dt.UTC)
    return make_invoice(merchant, customer, minor, issue_date=issued, terms=terms, now=created)


# --- signing in -------------------------------------------------------------------------------


def test_sign_in_with_email_and_password_lands_on_the_dashboard(client: Client, merchant: Merchant) -> None:
    owner = owner_of(merchant)
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content

    response = client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:dashboard")
    dashboard = client.get(reverse("backoffice:dashboard"))
    assert dashboard.status_code == 200
    assert merchant.name in dashboard.content.decode()


def test_wrong_password_stays_on_the_form(client: Client, merchant: Merchant) -> None:
    response = client.post(reverse("login"), {"username": owner_of(merchant).username, "password": "nope"})
    assert response.status_code == 200
    assert b"errorlist" in response.content


def test_signed_out_visitors_are_sent_to_sign_in(client: Client, db: None) -> None:
    response = client.get(reverse("backoffice:customer_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_out_is_a_post(owner_client: Client) -> None:
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302
    assert owner_client.get(reverse("backoffice:dashboard")).status_code == 302


def test_password_reset_queues_the_email_and_links_to_the_configured_host(
    client: Client, merchant: Merchant, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SETTLE_BASE_URL = "https://billing.example.com"
    owner = owner_of(merchant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("password_reset"), {"email": owner.email.upper()}, HTTP_HOST="testserver")
    assert response.status_code == 302
    assert mail.outbox == []  # nothing is sent inside the request
    assert len(callbacks) == 1

    for callback in callbacks:
        callback()

    [message] = mail.outbox
    assert message.to == [owner.email]
    link = re.search(r"https://billing\.example\.com/accounts/reset/\S+/", str(message.body))
    assert link, message.body
    confirm = client.get(link.group(0).removeprefix("https://billing.example.com"), follow=True)
    assert b'name="new_password1"' in confirm.content


def test_password_reset_for_an_unknown_address_sends_nothing(
    client: Client, db: None, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_staff_added_by_email_set_their_first_password_through_reset(
    client: Client, merchant: Merchant, django_capture_on_commit_callbacks
) -> None:
    new = member(merchant, "new@example.com", Role.STAFF)
    assert not new.has_usable_password()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password_reset"), {"email": "new@example.com"})
    assert [m.to for m in mail.outbox] == [["new@example.com"]]


# --- merchants ----------------------------------------------------------------------------------


def test_switch_merchant_only_to_ones_you_belong_to(owner_client: Client, merchant: Merchant) -> None:
    owner = owner_of(merchant)
    second = make_merchant(name="Second Shop", owner_email=owner.email)
    stranger = make_merchant(name="Not Yours")

    page = owner_client.get(reverse("backoffice:dashboard")).content.decode()
    assert reverse("backoffice:switch_merchant", args=[second.pk]) in page

    response = owner_client.post(reverse("backoffice:switch_merchant", args=[second.pk]))
    assert response.status_code == 302
    assert owner_client.session[SESSION_KEY] == second.pk
    assert "Second Shop" in owner_client.get(reverse("backoffice:settings")).content.decode()

    assert owner_client.post(reverse("backoffice:switch_merchant", args=[stranger.pk])).status_code == 404
    assert owner_client.session[SESSION_KEY] == second.pk
    assert owner_client.get(reverse("backoffice:switch_merchant", args=[second.pk])).status_code == 405


# --- dashboard ----------------------------------------------------------------------------------


def test_dashboard_figures(owner_client: Client, merchant: Merchant) -> None:
    ann = make_customer(merchant, "Ann")
    bob = make_customer(merchant, "Bob")
    invoice_on(merchant, ann, 10_000, dt.date(2024, 1, 10))  # due 9 Feb: past due
    invoice_on(merchant, bob, 25_050, dt.date(2024, 3, 15))  # due 14 April
    partly = invoice_on(merchant, bob, 4_000, dt.date(2024, 2, 1), Terms.NET_15)  # due 16 Feb: past due
    make_payment(merchant, bob, 1_500, [partly], received_on=dt.date(2024, 3, 2), now=NOW)
    make_payment(merchant, ann, 700, [], keep_excess_as_credit=True, received_on=dt.date(2024, 2, 28), now=NOW)

    html = owner_client.get(reverse("backoffice:dashboard")).content.decode()

    assert "$375.50" in html  # open balance: 100.00 + 250.50 + 25.00
    assert "$125.00" in html  # past due: 100.00 + 25.00
    assert "$15.00" in html  # collected in March (the February payment is not)
    assert "3 open invoices" in html
    assert "2 invoices past due" in html
    assert "Payment PAY-" in html  # recent activity across customers
    for name in ("invoice_new", "payment_new", "quick_request_new", "customer_new"):
        assert reverse(f"backoffice:{name}") in html


def test_collected_this_month_follows_the_merchant_time_zone(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = dt.datetime(2024, 3, 31, 16, 0, tzinfo=dt.UTC)  # already 1 April in Tokyo
    monkeypatch.setattr(clock, "now", lambda: moment)
    tokyo = make_merchant(name="Tokyo", currency="JPY", locale="ja_JP", time_zone="Asia/Tokyo")
    buyer = make_customer(tokyo, "Buyer")
    for amount, day in [(5_000, dt.date(2024, 4, 1)), (700, dt.date(2024, 3, 31))]:
        make_payment(tokyo, buyer, amount, [], keep_excess_as_credit=True, received_on=day, now=moment)
    client.force_login(owner_of(tokyo))

    html = client.get(reverse("backoffice:dashboard")).content.decode()

    assert re.search(r"Collected this month</span>\s*<span class=\"kpi-value\">￥5,000</span>", html)
    assert "Since April 1" in html


def test_a_user_without_a_merchant_gets_a_clear_page(client: Client, db: None) -> None:
    client.force_login(User.objects.create_user("lonely@example.com", "lonely@example.com", PASSWORD))
    response = client.get(reverse("backoffice:dashboard"))
    assert response.status_code == 403
    assert b"isn\xe2\x80\x99t a member of any merchant" in response.content


# --- customers list -----------------------------------------------------------------------------


def test_customer_search_by_name_email_phone_and_contact(owner_client: Client, merchant: Merchant) -> None:
    make_customer(merchant, "Acme Plumbing", emails=["billing@acme.test"], phones=["201-555-0123"])
    globex = make_customer(merchant, "Globex")
    contact_save(merchant=merchant, customer_id=globex.pk, name="Hank Scorpio", email="hank@globex.test")
    make_customer(merchant, "Initech")
    url = reverse("backoffice:customer_list")

    def names(query: str) -> list[str]:
        html = owner_client.get(url, {"q": query}).content.decode()
        return re.findall(r"<strong>([^<]+)</strong>", html)

    assert names("") == ["Acme Plumbing", "Globex", "Initech"]
    assert names("acme") == ["Acme Plumbing"]
    assert names("billing@acme") == ["Acme Plumbing"]
    assert names("2015550123") == ["Acme Plumbing"]
    assert names("scorpio") == ["Globex"]
    assert "No customers match" in owner_client.get(url, {"q": "zzz"}).content.decode()


def test_only_customers_with_open_invoices_filter_and_balances(owner_client: Client, merchant: Merchant) -> None:
    owing = make_customer(merchant, "Owing")
    settled = make_customer(merchant, "Settled")
    make_customer(merchant, "New")
    make_invoice(merchant, owing, 12_345)
    paid = make_invoice(merchant, settled, 5_000)
    make_payment(merchant, settled, 5_000, [paid])
    url = reverse("backoffice:customer_list")

    everyone = owner_client.get(url).content.decode()
    assert "$123.45" in everyone
    assert re.findall(r"<strong>([^<]+)</strong>", everyone) == ["New", "Owing", "Settled"]

    filtered = owner_client.get(url, {"open": "on"}).content.decode()
    assert re.findall(r"<strong>([^<]+)</strong>", filtered) == ["Owing"]
    assert "checked" in filtered


def test_customer_list_paginates_with_a_bounded_number_of_queries(
    owner_client: Client, merchant: Merchant, django_assert_max_num_queries
) -> None:
    for n in range(30):
        customer = make_customer(merchant, f"Customer {n:02d}")
        make_invoice(merchant, customer, 1_000 + n)
    url = reverse("backoffice:customer_list")

    with django_assert_max_num_queries(6):
        first = owner_client.get(url).content.decode()
    second = owner_client.get(url, {"page": 2}).content.decode()

    assert "Customer 00" in first and "Customer 24" in first and "Customer 25" not in first
    assert "Customer 25" in second and "Customer 29" in second
    assert "Page 2 of 2" in second


# --- customer create / edit ---------------------------------------------------------------------


def test_create_a_company_with_several_emails_and_phones(owner_client: Client, merchant: Merchant) -> None:
    response = owner_client.post(
        reverse("backoffice:customer_new"),
        {
            "kind": "company",
            "display_name": "Middle Earth Tech",
            "emails": "AP@middle.test\nboss@middle.test",
            "phones": "(201) 555-0123\n+1 212 555 0188",
            "address_line1": "1 Bag End",
            "city": "Hobbiton",
            "country": "us",
            "tags": "vip, net-30",
            "notes": "Pays by check.",
        },
    )
    customer = Customer.objects.get(display_name="Middle Earth Tech")
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:customer_detail", args=[customer.pk])
    assert customer.kind == "company"
    assert customer.emails == ["ap@middle.test", "boss@middle.test"]
    assert customer.phones == ["+12015550123", "+12125550188"]
    assert (customer.country, customer.tags) == ("US", ["net-30", "vip"])


def test_customer_form_shows_a_bad_phone_inline_and_writes_nothing(owner_client: Client, merchant: Merchant) -> None:
    with writes_nothing():
        response = owner_client.post(
            reverse("backoffice:customer_new"), {"kind": "person", "display_name": "Ann", "phones": "555-01"}
        )
    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()


def test_edit_a_customer(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    form = owner_client.get(reverse("backoffice:customer_edit", args=[customer.pk])).content.decode()
    assert customer.display_name in form
    response = owner_client.post(
        reverse("backoffice:customer_edit", args=[customer.pk]),
        {"kind": "person", "display_name": "Ann Renamed", "emails": "ann@example.com"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.display_name, customer.emails) == ("Ann Renamed", ["ann@example.com"])


def test_external_references_are_added_and_shown_as_chips(
    owner_client: Client, merchant: Merchant, customer: Customer
) -> None:
    url = reverse("backoffice:external_reference_new", args=[customer.pk])
    response = owner_client.post(url, {"system": "accounting", "label": "QuickBooks", "external_id": "QB-991"})
    assert response.status_code == 302
    assert ExternalReference.objects.get(customer=customer).external_id == "QB-991"
    html = owner_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    assert re.search(r'class="chip".*QuickBooks</span> QB-991', html)

    missing = owner_client.post(url, {"system": "crm", "label": "HubSpot", "external_id": ""})
    assert missing.status_code == 200
    assert "errorlist" in missing.content.decode()


# --- the profile --------------------------------------------------------------------------------


def test_profile_balance_card_figures(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    oldest = invoice_on(merchant, customer, 10_000, dt.date(2024, 1, 5))  # due 4 Feb: past due
    invoice_on(merchant, customer, 25_000, dt.date(2024, 3, 1))  # due 31 March
    partly = invoice_on(merchant, customer, 4_000, dt.date(2024, 2, 1), Terms.NET_15)  # due 16 Feb: past due
    make_payment(merchant, customer, 1_500, [partly], now=NOW)
    paid = invoice_on(merchant, customer, 6_000, dt.date(2023, 12, 1))
    make_payment(merchant, customer, 6_000, [paid], now=NOW)
    void = invoice_on(merchant, customer, 9_900, dt.date(2023, 11, 1))
    invoice_void(merchant=merchant, invoice_id=void.pk, now=NOW)
    someone_else = make_customer(merchant, "Someone Else")
    invoice_on(merchant, someone_else, 50_000, dt.date(2023, 10, 1))

    html = owner_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()

    assert figure(html, "total-balance") == "$375.00"
    assert figure(html, "total-past-due") == "$125.00"
    assert figure(html, "oldest-invoice") == oldest.number
    assert figure(html, "invoices-with-balance") == "3"


def test_profile_sections(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    late = invoice_on(merchant, customer, 10_000, dt.date(2024, 1, 5))
    current = invoice_on(merchant, customer, 20_000, dt.date(2024, 3, 15))
    check = make_payment(
        merchant,
        customer,
        3_000,
        [late],
        method="check",
        check_number="1042",
        received_on=dt.date(2024, 3, 18),
        now=NOW,
    )
    credit_memo_create(merchant=merchant, customer_id=customer.pk, amount=Money(2_500, "USD"), reason="Return", now=NOW)
    contact_save(
        merchant=merchant, customer_id=customer.pk, name="Gandalf", email="g@example.com", is_default_billing=True
    )

    html = owner_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()

    # Open invoices: the late one carries the marker, and "Pay Selected" is a GET to record payment.
    row = re.search(rf"{late.number}</a></td>.*?</tr>", html, re.S)
    assert row and 'class="past-due"' in row.group(0)
    row = re.search(rf"{current.number}</a></td>.*?</tr>", html, re.S)
    assert row and 'class="past-due"' not in row.group(0)
    form = re.search(
        r'<form method="get" action="([^"]+)">\s*<input type="hidden" name="customer" value="(\d+)">', html
    )
    assert form and form.groups() == (reverse("backoffice:payment_new"), str(customer.pk))
    assert f'name="invoice" value="{late.pk}"' in html and "Pay Selected" in html
    # Transaction history: the paper check links to its payment.
    assert reverse("backoffice:payment_detail", args=[check.pk]) in html
    assert "Check #1042" in html
    # Customer credits: the memo, with total and count, and a link to the credits page.
    assert figure(html, "credit-total") == "$25.00"
    assert "1 credit on account" in html
    assert f"{reverse('backoffice:credit_list')}?customer={customer.pk}" in html
    # Contacts, timeline and the buttons that start money work for this customer.
    assert "Gandalf" in html and "Default billing" in html
    assert "Contact Gandalf added" in html
    for name in ("order_new", "invoice_new", "quick_request_new", "payment_new"):
        assert f"{reverse(f'backoffice:{name}')}?customer={customer.pk}" in html


def test_profile_contacts_sort_and_search(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    for name, email in [("Bilbo", "z@example.com"), ("Arwen", "y@example.com"), ("Celeborn", "a@example.com")]:
        contact_save(merchant=merchant, customer_id=customer.pk, name=name, email=email)
    url = reverse("backoffice:customer_detail", args=[customer.pk])

    def order(**params: str) -> list[str]:
        html = owner_client.get(url, params).content.decode()
        return re.findall(r'<article class="contact-card">\s*<div class="contact-head">\s*<strong>(\w+)', html)

    assert order() == ["Arwen", "Bilbo", "Celeborn"]
    assert order(contact_sort="email") == ["Celeborn", "Arwen", "Bilbo"]
    assert order(contact_q="bil") == ["Bilbo"]


def test_profile_needs_a_bounded_number_of_queries(
    owner_client: Client, merchant: Merchant, django_assert_max_num_queries
) -> None:
    def build(name: str, size: int) -> Customer:
        customer = make_customer(merchant, name)
        profile = contact_profile_save(merchant=merchant, name=f"Full {name}")
        for n in range(size):
            invoice = invoice_on(merchant, customer, 10_000 + n, dt.date(2024, 1, 1) + dt.timedelta(days=n))
            make_payment(merchant, customer, 1_000, [invoice], now=NOW)
            contact_save(
                merchant=merchant,
                customer_id=customer.pk,
                name=f"C{n}",
                email=f"c{n}@{name}.test",
                profile_id=profile.pk,
            )
            credit_memo_create(
                merchant=merchant, customer_id=customer.pk, amount=Money(100, "USD"), reason="x", now=NOW
            )
        return customer

    small, large = build("small", 1), build("large", 25)

    def queries(customer: Customer) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).status_code == 200
        return len(captured)

    assert queries(small) == queries(large)
    with django_assert_max_num_queries(18):
        owner_client.get(reverse("backoffice:customer_detail", args=[large.pk]))


def test_another_merchants_customer_is_a_404(
    owner_client: Client, merchant: Merchant, other_merchant: Merchant
) -> None:
    theirs = make_customer(other_merchant, "Their Customer")
    with merchant_scope(other_merchant):
        contact = contact_save(merchant=other_merchant, customer_id=theirs.pk, name="Theirs", email="t@example.com")

    for name, args in [
        ("customer_detail", [theirs.pk]),
        ("customer_edit", [theirs.pk]),
        ("contact_new", [theirs.pk]),
        ("contact_edit", [theirs.pk, contact.pk]),
        ("external_reference_new", [theirs.pk]),
    ]:
        assert owner_client.get(reverse(f"backoffice:{name}", args=args)).status_code == 404, name
    with writes_nothing():
        response = owner_client.post(reverse("backoffice:contact_revoke", args=[theirs.pk, contact.pk]))
    assert response.status_code == 404


def test_a_contact_of_another_customer_is_a_404(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    other = make_customer(merchant, "Other")
    contact = contact_save(merchant=merchant, customer_id=other.pk, name="Theirs", email="t@example.com")
    assert owner_client.get(reverse("backoffice:contact_edit", args=[customer.pk, contact.pk])).status_code == 404


# --- read-only staff ----------------------------------------------------------------------------


def test_read_only_staff_see_no_money_buttons(read_only_client: Client, merchant: Merchant, customer: Customer) -> None:
    make_invoice(merchant, customer, 5_000)
    contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        name="Gandalf",
        email="g@example.com",
        profile_id=contact_profile_save(merchant=merchant, name="Full").pk,
    )

    profile = read_only_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    dashboard = read_only_client.get(reverse("backoffice:dashboard")).content.decode()
    customers = read_only_client.get(reverse("backoffice:customer_list")).content.decode()

    assert "$50.00" in profile  # they still see everything
    for html in (profile, dashboard, customers):
        for name in ("payment_new", "invoice_new", "quick_request_new", "order_new", "customer_new"):
            assert reverse(f"backoffice:{name}") not in html, name
    assert "Pay Selected" not in profile
    assert "Revoke access" not in profile
    assert 'name="invoice"' not in profile


def test_read_only_staff_get_403_when_they_post(
    read_only_client: Client, merchant: Merchant, customer: Customer
) -> None:
    contact = contact_save(
        merchant=merchant,
        customer_id=customer.pk,
        name="Gandalf",
        email="g@example.com",
        profile_id=contact_profile_save(merchant=merchant, name="Full").pk,
    )
    posts = [
        (reverse("backoffice:customer_new"), {"kind": "person", "display_name": "X"}),
        (reverse("backoffice:customer_edit", args=[customer.pk]), {"kind": "person", "display_name": "X"}),
        (
            reverse("backoffice:contact_new", args=[customer.pk]),
            {"name": "X", "email": "x@example.com", "preferred_channel": "email"},
        ),
        (reverse("backoffice:contact_revoke", args=[customer.pk, contact.pk]), {}),
        (
            reverse("backoffice:external_reference_new", args=[customer.pk]),
            {"system": "crm", "label": "A", "external_id": "1"},
        ),
        (reverse("backoffice:settings"), {"name": "Renamed"}),
        (reverse("backoffice:contact_profiles"), {"name": "New"}),
        (reverse("backoffice:staff"), {"action": "add", "email": "x@example.com", "role": "owner"}),
    ]
    with writes_nothing():
        for url, data in posts:
            assert read_only_client.post(url, data).status_code == 403, url
    contact.refresh_from_db()
    assert contact.has_access
    assert Membership.objects.filter(merchant=merchant).count() == 2


# --- contacts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "555-01", "is not a valid phone number"),
        ("phone", "call me", "is not a phone number"),
        ("email", "gandalf@", "is not a valid e-mail address"),
    ],
)
def test_contact_with_a_malformed_phone_or_email_shows_inline_and_writes_nothing(
    owner_client: Client, merchant: Merchant, customer: Customer, field: str, value: str, message: str
) -> None:
    data = {"name": "Gandalf", "email": "g@example.com", "phone": "", "preferred_channel": "email", field: value}
    with writes_nothing():
        response = owner_client.post(reverse("backoffice:contact_new", args=[customer.pk]), data)
    assert response.status_code == 200
    html = response.content.decode()
    error = re.search(rf'name="{field}".*?<ul class="errorlist"[^>]*>\s*<li>([^<]+)</li>', html, re.S)
    assert error and message in error.group(1)


def test_add_and_edit_a_contact(owner_client: Client, merchant: Merchant, customer: Customer) -> None:
    profile = contact_profile_save(merchant=merchant, name="Billing")
    response = owner_client.post(
        reverse("backoffice:contact_new", args=[customer.pk]),
        {
            "name": "Gandalf",
            "email": "G@Example.com",
            "phone": "(201) 555-0123",
            "preferred_channel": "sms",
            "profile": profile.pk,
            "is_default_billing": "on",
        },
    )
    assert response.status_code == 302
    contact = Contact.objects.get(customer=customer)
    assert (contact.email, contact.phone, contact.preferred_channel) == ("g@example.com", "+12015550123", "sms")
    assert (contact.profile_id, contact.is_default_billing) == (profile.pk, True)

    edit = reverse("backoffice:contact_edit", args=[customer.pk, contact.pk])
    assert "Gandalf" in owner_client.get(edit).content.decode()
    owner_client.post(edit, {"name": "Gandalf the White", "email": "g@example.com", "preferred_channel": "email"})
    contact.refresh_from_db()
    assert (contact.name, contact.profile_id, contact.is_default_billing) == ("Gandalf the White", None, False)


def test_revoke_access_asks_first_and_keeps_the_contact(
    owner_client: Client, merchant: Merchant, customer: Customer
) -> None:
    profile = contact_profile_save(merchant=merchant, name="Full")
    contact = contact_save(
        merchant=merchant, customer_id=customer.pk, name="Gandalf", email="g@example.com", profile_id=profile.pk
    )
    url = reverse("backoffice:contact_revoke", args=[customer.pk, contact.pk])
    html = owner_client.get(reverse("backoffice:customer_detail", args=[customer.pk])).content.decode()
    assert re.search(rf'<form method="post" action="{url}">.*?data-confirm="[^"]*Are you sure\?"', html, re.S)

    assert owner_client.get(url).status_code == 405
    response = owner_client.post(url, follow=True)

    contact.refresh_from_db()
    assert (contact.profile_id, contact.access_revoked_at) == (None, NOW)
    assert "Portal access revoked for Gandalf" in response.content.decode()
    assert "Revoked Mar 20, 2024" in response.content.decode()
    assert Activity.objects.filter(verb="contact.revoked", customer=customer).exists()


# --- settings -----------------------------------------------------------------------------------


def test_settings_show_the_contact_form_link_from_the_base_url(
    owner_client: Client, merchant: Merchant, settings
) -> None:
    settings.SETTLE_BASE_URL = "https://pay.example.com"
    html = owner_client.get(reverse("backoffice:settings"), HTTP_HOST="localhost").content.decode()
    assert f'value="https://pay.example.com/join/{merchant.contact_form_token}/"' in html
    assert "localhost" not in html


def test_owner_updates_the_merchant_profile(owner_client: Client, merchant: Merchant, tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    logo = _png()
    response = owner_client.post(
        reverse("backoffice:settings"),
        {
            "name": "Renamed Shop",
            "email": "Hello@Shop.test",
            "phone": "+1 201 555 0123",
            "address": "1 Main St",
            "currency": "EUR",
            "locale": "fr_FR",
            "time_zone": "Europe/Paris",
            "invoice_prefix": "F-",
            "logo": logo,
        },
    )
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert (merchant.name, merchant.email, merchant.phone) == ("Renamed Shop", "hello@shop.test", "+12015550123")
    assert (merchant.currency, merchant.locale, merchant.time_zone, merchant.invoice_prefix) == (
        "EUR",
        "fr_FR",
        "Europe/Paris",
        "F-",
    )
    assert str(merchant.logo.name).endswith(".png")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("locale", "xx_YY", "Unknown locale"),
        ("phone", "12", "is not a valid phone number"),
        ("invoice_prefix", "INV1", "cannot end with a digit"),
        ("name", "   ", "This field is required."),
    ],
)
def test_merchant_settings_errors_are_inline(
    owner_client: Client, merchant: Merchant, field: str, value: str, message: str
) -> None:
    data = {
        "name": "Shop",
        "currency": "USD",
        "locale": "en_US",
        "time_zone": "America/New_York",
        "invoice_prefix": "INV-",
        field: value,
    }
    response = owner_client.post(reverse("backoffice:settings"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    merchant.refresh_from_db()
    assert merchant.invoice_prefix == "INV-"


def test_a_logo_must_be_an_image(owner_client: Client, merchant: Merchant, tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    fake = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")
    data = {"name": "Shop", "currency": "USD", "locale": "en_US", "time_zone": "America/New_York", "logo": fake}
    response = owner_client.post(reverse("backoffice:settings"), data)
    assert "Upload a PNG, JPEG, GIF or WebP image." in response.content.decode()
    merchant.refresh_from_db()
    assert not merchant.logo


def test_staff_members_see_settings_but_cannot_change_them(client: Client, merchant: Merchant) -> None:
    client.force_login(member(merchant, "staff@example.com", Role.STAFF))
    html = client.get(reverse("backoffice:settings")).content.decode()
    assert merchant.name in html and "Only owners and admins" in html
    assert 'name="currency"' not in html
    assert client.post(reverse("backoffice:settings"), {"name": "Mine now"}).status_code == 403


def test_contact_profiles_create_and_edit(owner_client: Client, merchant: Merchant) -> None:
    url = reverse("backoffice:contact_profiles")
    response = owner_client.post(
        url, {"name": "Accounts payable", "can_view_invoices": "on", "can_pay": "on", "receives_receipts": "on"}
    )
    assert response.status_code == 302
    profile = ContactProfile.objects.get(name="Accounts payable")
    assert [getattr(profile, f) for f in ContactProfile.PERMISSION_FIELDS] == [
        True,
        True,
        False,
        False,
        False,
        False,
        True,
    ]
    edit = reverse("backoffice:contact_profile_edit", args=[profile.pk])
    owner_client.post(edit, {"name": "AP", "can_view_credits": "on", "can_manage_autopay": "on"})
    profile.refresh_from_db()
    assert (profile.name, profile.can_view_credits, profile.can_manage_autopay, profile.can_pay) == (
        "AP",
        True,
        True,
        False,
    )
    duplicate = owner_client.post(url, {"name": "AP"})
    assert "A profile with that name exists." in duplicate.content.decode()
    assert "AP" in owner_client.get(url).content.decode()


def test_staff_add_and_change_role(owner_client: Client, merchant: Merchant) -> None:
    url = reverse("backoffice:staff")
    assert owner_client.post(url, {"action": "add", "email": "Clerk@Example.com", "role": "staff"}).status_code == 302
    clerk = Membership.objects.get(merchant=merchant, user__username="clerk@example.com")
    assert clerk.role == Role.STAFF

    owner_client.post(url, {"action": "role", "email": "clerk@example.com", "role": "read_only"})
    clerk.refresh_from_db()
    assert clerk.role == Role.READ_ONLY
    html = owner_client.get(url).content.decode()
    assert "clerk@example.com" in html and "no password yet" in html


def test_the_last_owner_stays_an_owner(owner_client: Client, merchant: Merchant) -> None:
    owner = owner_of(merchant)
    response = owner_client.post(
        reverse("backoffice:staff"), {"action": "role", "email": owner.username, "role": "staff"}
    )
    assert response.status_code == 200
    assert "A merchant keeps at least one owner." in response.content.decode()
    assert Membership.objects.get(merchant=merchant, user=owner).role == Role.OWNER


def _png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "navy").save(buffer, format="PNG")
    return SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")


def test_the_currency_is_fixed_once_money_has_been_invoiced(
    owner_client: Client, merchant: Merchant, customer: Customer
) -> None:
    data = {
        "name": "Shop",
        "currency": "EUR",
        "locale": "en_US",
        "time_zone": "America/New_York",
        "invoice_prefix": "INV-",
    }
    assert owner_client.post(reverse("backoffice:settings"), data).status_code == 302
    merchant.refresh_from_db()
    assert merchant.currency == "EUR"

    make_invoice(merchant, customer, 5000)
    data["currency"] = "USD"
    response = owner_client.post(reverse("backoffice:settings"), data)
    assert response.status_code == 200
    assert "The currency stays EUR once invoices or payments exist." in response.content.decode()
    merchant.refresh_from_db()
    assert merchant.currency == "EUR"
