"""The money pages of the back office: invoices, quick payment requests, orders, payments,
refunds and credits, driven through the test client as a signed-in owner and as read-only staff.

Every test ends with the books balanced (`ledger_verify`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from settle.core import clock
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import CreditMemo, Invoice, InvoiceStatus, Order, Terms
from settle.invoicing.services import OrderItemInput, credit_memo_create, order_checkout, order_create
from settle.messaging.models import Message
from settle.payments.models import Application, Payment, Refund
from settle.payments.verify import ledger_verify
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

TODAY = clock.local_date(clock.now(), "America/New_York")  # the merchant fixture's calendar


@pytest.fixture(autouse=True)
def _books_balance(db: None) -> Iterator[None]:
    yield
    report = ledger_verify()
    assert report.ok, report.mismatches


def owner_of(merchant: Merchant) -> User:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER).user


@pytest.fixture
def owner(client: Client, merchant: Merchant) -> Client:
    client.force_login(owner_of(merchant))
    return client


@pytest.fixture
def viewer(merchant: Merchant) -> Client:
    """A signed-in read-only staff member of `merchant`."""
    acting = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    membership = membership_set(merchant=merchant, acting=acting, email="viewer@example.com", role=Role.READ_ONLY)
    viewer = Client()
    viewer.force_login(membership.user)
    return viewer


def url(name: str, *args: object, **query: Any) -> str:
    """A back-office URL; list values repeat the parameter (`invoice=[1, 2]`)."""
    path = reverse(f"backoffice:{name}", args=args)
    pairs = [(k, v) for k, values in query.items() for v in (values if isinstance(values, list) else [values])]
    return path + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")


def lines_data(rows: list[tuple[str, str, str, str]], prefix: str = "lines", total: int = 5) -> dict[str, str]:
    """Formset POST data: (description, quantity, unit price, tax %) rows, the rest left blank."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(max(total, len(rows))),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "200",
    }
    for n, (description, quantity, price, tax) in enumerate(rows):
        data |= {
            f"{prefix}-{n}-description": description,
            f"{prefix}-{n}-quantity": quantity,
            f"{prefix}-{n}-unit_price": price,
            f"{prefix}-{n}-tax_rate": tax,
        }
    return data


def payment_data(amount: str, **extra: str) -> dict[str, str]:
    return {
        "amount": amount,
        "received_on": str(TODAY),
        "method": "check",
        "check_number": "1042",
        "idempotency_key": uuid.uuid4().hex,
        **extra,
    }


def form_errors(response: Any, form: str = "form") -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context[form].errors.items()}


def refreshed(invoice: Invoice) -> Invoice:
    invoice.refresh_from_db()
    return invoice


# ---- Invoices ----


def test_invoice_from_the_form_has_exact_totals(owner: Client, customer: Customer) -> None:
    data = {
        "customer": str(customer.pk),
        "issue_date": "2025-03-01",
        "terms": Terms.NET_30,
        "discount": "10.00",
        "po_number": "PO-7",
        "contract_reference": "C-12",
        "memo": "Thanks!",
        **lines_data([("Widget", "3", "19.99", "8.25"), ("Service", "1.5", "100", "")]),
    }

    response = owner.post(url("invoice_new"), data)

    invoice = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"] == url("invoice_detail", invoice.pk)
    # 59.97 + 150.00; the 10.00 discount is shared 2.86 / 7.14; tax 8.25 % of 57.11 = 4.71.
    assert (invoice.subtotal_minor, invoice.discount_minor, invoice.tax_minor, invoice.total_minor) == (
        20_997,
        1000,
        471,
        20_468,
    )
    assert [(line.description, line.tax_rate_bp, line.discount_minor) for line in invoice.lines.all()] == [
        ("Widget", 825, 286),
        ("Service", 0, 714),
    ]
    assert (invoice.status, invoice.balance_minor, invoice.due_date) == (
        InvoiceStatus.OPEN,
        20_468,
        dt.date(2025, 3, 31),
    )
    assert (invoice.po_number, invoice.contract_reference, invoice.memo) == ("PO-7", "C-12", "Thanks!")

    page = owner.get(url("invoice_detail", invoice.pk)).content.decode()
    assert "$204.68" in page and "8.25%" in page and "PO-7" in page


def test_new_invoice_preselects_the_customer_and_can_be_a_draft(owner: Client, customer: Customer) -> None:
    form = owner.get(url("invoice_new", customer=customer.pk)).context["form"]
    assert form["customer"].value() == customer.pk

    owner.post(
        url("invoice_new"),
        {
            "customer": customer.pk,
            "terms": Terms.DUE_ON_RECEIPT,
            "draft": "on",
            **lines_data([("Draft work", "1", "50", "")]),
        },
    )

    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.balance_minor) == (InvoiceStatus.DRAFT, 0)
    response = owner.post(url("invoice_issue", invoice.pk))
    assert response.status_code == 302
    assert (refreshed(invoice).status, invoice.balance_minor) == (InvoiceStatus.OPEN, 5000)


@pytest.mark.parametrize(
    ("rate", "error"),
    [
        ("8.255", "A rate has at most two decimals."),
        ("101", "Enter a rate between 0 and 100."),
        ("-1", "Enter a rate between 0 and 100."),
        ("eight", "Enter a percentage like 8.25."),
    ],
)
def test_bad_tax_rates_are_refused_on_their_line(owner: Client, customer: Customer, rate: str, error: str) -> None:
    with writes_nothing():
        response = owner.post(
            url("invoice_new"),
            {"customer": customer.pk, "terms": Terms.DUE_ON_RECEIPT, **lines_data([("Widget", "1", "10", rate)])},
        )
    assert response.status_code == 200
    assert response.context["lines"].errors[0] == {"tax_rate": [error]}


def test_service_refusals_show_on_the_invoice_form(owner: Client, customer: Customer) -> None:
    base = {"customer": customer.pk, "terms": Terms.DUE_ON_RECEIPT}
    with writes_nothing():
        no_lines = owner.post(url("invoice_new"), {**base, **lines_data([])})
        big_discount = owner.post(url("invoice_new"), {**base, "discount": "11", **lines_data([("A", "1", "10", "")])})
        no_due_date = owner.post(
            url("invoice_new"), {**base, "terms": Terms.CUSTOM, **lines_data([("A", "1", "10", "")])}
        )
    assert form_errors(no_lines) == {"__all__": ["Add at least one line."]}
    assert form_errors(big_discount) == {"discount": ["The discount must be between zero and the subtotal."]}
    assert form_errors(no_due_date) == {"due_date": ["Choose a due date."]}


def test_invoice_list_filters_searches_marks_past_due_and_pages(owner: Client, merchant: Merchant) -> None:
    ann, bob = make_customer(merchant, "Ann Archer"), make_customer(merchant, "Bob Baker")
    overdue = make_invoice(merchant, ann, 1000, issue_date=TODAY - dt.timedelta(days=40), terms=Terms.NET_30)
    current = make_invoice(merchant, bob, 2000, issue_date=TODAY, terms=Terms.NET_30)
    paid = make_invoice(merchant, bob, 3000, issue_date=TODAY - dt.timedelta(days=90))
    make_payment(merchant, bob, 3000, [paid])

    def numbers(**query: Any) -> list[str]:
        return [invoice.number for invoice, _ in owner.get(url("invoice_list", **query)).context["rows"]]

    assert numbers() == [current.number, overdue.number, paid.number]
    assert numbers(status="past_due") == [overdue.number]
    assert numbers(status="paid") == [paid.number]
    assert numbers(q="archer") == [overdue.number]
    page = owner.get(url("invoice_list")).content.decode()
    assert page.count('class="past-due"') == 1 and "badge-paid" in page

    for _ in range(25):
        make_invoice(merchant, ann, 100, issue_date=TODAY - dt.timedelta(days=200))
    assert len(numbers()) == 25 and len(numbers(page=2)) == 3


def test_past_due_is_judged_in_the_merchants_time_zone(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    kiritimati = make_merchant(time_zone="Pacific/Kiritimati")  # UTC+14
    customer = make_customer(kiritimati)
    invoice = make_invoice(kiritimati, customer, 1000, issue_date=dt.date(2025, 3, 10))  # due on receipt
    client.force_login(owner_of(kiritimati))

    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 3, 9, 11, 0, tzinfo=dt.UTC))  # 10 March there
    assert client.get(url("invoice_list", status="past_due")).context["rows"] == []
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 3, 10, 11, 0, tzinfo=dt.UTC))  # 11 March there
    with merchant_scope(kiritimati):
        assert client.get(url("invoice_list", status="past_due")).context["rows"] == [(invoice, True)]
        assert client.get(url("invoice_detail", invoice.pk)).context["past_due"] is True


def test_void_is_refused_while_paid_and_nothing_changes(owner: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 10_000, [invoice])

    with writes_nothing():
        response = owner.post(url("invoice_void", invoice.pk))

    assert response.status_code == 409
    assert "has $100.00 applied. Refund the payment or move it to credit first, then void." in response.content.decode()
    assert (refreshed(invoice).status, invoice.balance_minor, invoice.paid_minor) == (InvoiceStatus.PAID, 0, 10_000)


def test_void_and_write_off_an_open_invoice(owner: Client, merchant: Merchant, customer: Customer) -> None:
    to_void, to_write_off = make_invoice(merchant, customer, 1000), make_invoice(merchant, customer, 2000)

    assert owner.get(url("invoice_void", to_void.pk)).status_code == 405
    assert owner.post(url("invoice_void", to_void.pk)).status_code == 302
    assert owner.post(url("invoice_uncollectible", to_write_off.pk)).status_code == 302

    assert (refreshed(to_void).status, to_void.balance_minor) == (InvoiceStatus.VOID, 0)
    assert (refreshed(to_write_off).status, to_write_off.balance_minor) == (InvoiceStatus.UNCOLLECTIBLE, 0)
    again = owner.post(url("invoice_void", to_void.pk))
    assert again.status_code == 409 and "already void" in again.content.decode()


def test_move_to_credit_reopens_the_invoice_so_it_can_be_voided(
    owner: Client, merchant: Merchant, customer: Customer
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 10_000, [invoice])
    application = Application.objects.get(payment=payment)
    page = owner.get(url("invoice_detail", invoice.pk)).content.decode()
    assert url("application_move_to_credit", application.pk) in page and payment.number in page

    response = owner.post(url("application_move_to_credit", application.pk))

    assert response.status_code == 302 and response["Location"] == url("invoice_detail", invoice.pk)
    assert (refreshed(invoice).status, invoice.balance_minor) == (InvoiceStatus.OPEN, 10_000)
    payment.refresh_from_db()
    assert payment.unapplied_minor == 10_000
    assert owner.post(url("invoice_void", invoice.pk)).status_code == 302
    assert refreshed(invoice).status == InvoiceStatus.VOID


def test_print_view_is_clean_and_stamped(owner: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000, po_number="PO-1")
    page = owner.get(url("invoice_print", invoice.pk)).content.decode()
    assert merchant.name in page and customer.display_name in page and "PO-1" in page and "@media print" in page
    assert "<nav" not in page and '<div class="stamp' not in page

    make_payment(merchant, customer, 10_000, [invoice])
    assert '<div class="stamp stamp-paid">Paid</div>' in owner.get(url("invoice_print", invoice.pk)).content.decode()


# ---- Quick payment requests ----


def test_quick_request_needs_both_amount_and_reference(owner: Client, customer: Customer) -> None:
    with writes_nothing():
        no_reference = owner.post(
            url("quick_request_new"), {"customer": customer.pk, "amount": "45.00", "idempotency_key": "q1"}
        )
        no_amount = owner.post(
            url("quick_request_new"), {"customer": customer.pk, "reference": "RO-991", "idempotency_key": "q1"}
        )
    assert form_errors(no_reference) == {"reference": ["This field is required."]}
    assert form_errors(no_amount) == {"amount": ["This field is required."]}

    response = owner.post(
        url("quick_request_new"),
        {"customer": customer.pk, "amount": "45.00", "reference": "RO-991", "idempotency_key": "q1"},
    )

    invoice = Invoice.objects.get()
    assert response["Location"] == url("quick_request_link", Message.objects.get(concerns_invoice_id=invoice.pk).pk)
    assert (invoice.reference, invoice.total_minor, invoice.status) == ("RO-991", 4500, InvoiceStatus.OPEN)


# ---- Payments ----


@pytest.fixture
def two_invoices(merchant: Merchant, customer: Customer) -> tuple[Invoice, Invoice]:
    """An older one due first (100.00) and a newer one (50.00)."""
    older = make_invoice(merchant, customer, 10_000, issue_date=TODAY - dt.timedelta(days=20))
    newer = make_invoice(merchant, customer, 5000, issue_date=TODAY - dt.timedelta(days=5))
    return older, newer


def test_pay_selected_defaults_to_their_balance_and_pays_oldest_first(
    owner: Client, customer: Customer, two_invoices: tuple[Invoice, Invoice]
) -> None:
    older, newer = two_invoices
    selected = url("payment_new", customer=customer.pk, invoice=[newer.pk, older.pk])
    form = owner.get(selected).context["form"]
    assert form["amount"].value() == "150.00"
    assert form[f"pay_{older.pk}"].value() and form[f"pay_{newer.pk}"].value()

    response = owner.post(selected, payment_data("120.00", **{f"pay_{older.pk}": "on", f"pay_{newer.pk}": "on"}))

    payment = Payment.objects.get()
    assert response["Location"] == url("payment_detail", payment.pk)
    assert (payment.amount_minor, payment.method, payment.check_number) == (12_000, "check", "1042")
    assert (refreshed(older).status, older.balance_minor) == (InvoiceStatus.PAID, 0)
    assert (refreshed(newer).status, newer.balance_minor) == (InvoiceStatus.PARTIALLY_PAID, 3000)
    page = owner.get(url("payment_detail", payment.pk)).content.decode()
    assert older.number in page and newer.number in page and "$20.00" in page


def test_explicit_amounts_pay_exactly_those(
    owner: Client, customer: Customer, two_invoices: tuple[Invoice, Invoice]
) -> None:
    older, newer = two_invoices
    data = payment_data("60.00", **{f"amount_{older.pk}": "10.00", f"amount_{newer.pk}": "50"})

    owner.post(url("payment_new", customer=customer.pk), data)

    assert refreshed(older).balance_minor == 9000 and refreshed(newer).status == InvoiceStatus.PAID


def test_ticked_rows_need_amounts_once_any_amount_is_given(
    owner: Client, customer: Customer, two_invoices: tuple[Invoice, Invoice]
) -> None:
    older, newer = two_invoices
    data = payment_data("60.00", **{f"pay_{older.pk}": "on", f"amount_{newer.pk}": "50"})
    with writes_nothing():
        response = owner.post(url("payment_new", customer=customer.pk), data)
    assert form_errors(response) == {
        "__all__": [
            "Enter an amount for every ticked invoice, or leave every amount empty to pay the oldest due first."
        ]
    }


def test_overpayment_is_refused_inline_then_kept_as_credit(
    owner: Client, merchant: Merchant, customer: Customer
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    data = payment_data("150.00", **{f"pay_{invoice.pk}": "on"})

    with writes_nothing():
        refused = owner.post(url("payment_new", customer=customer.pk), data)

    assert refused.status_code == 200
    assert form_errors(refused) == {
        "__all__": [
            "This payment is $50.00 more than the $100.00 applied to invoices. "
            "Lower the amount, or keep the excess as customer credit."
        ]
    }
    page = refused.content.decode()
    assert 'value="150.00"' in page and f'value="{data["idempotency_key"]}"' in page

    owner.post(url("payment_new", customer=customer.pk), {**data, "keep_excess_as_credit": "on"})

    payment = Payment.objects.get()
    assert (payment.amount_minor, payment.unapplied_minor) == (15_000, 5000)
    assert refreshed(invoice).status == InvoiceStatus.PAID
    credits = owner.get(url("credit_list", tab="unapplied"))
    assert (credits.context["total"], credits.context["count"]) == (Money(5000, "USD"), 1)
    assert payment.number in credits.content.decode()


def test_double_submit_records_one_payment(owner: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    data = payment_data("100.00", **{f"pay_{invoice.pk}": "on"})

    first = owner.post(url("payment_new", customer=customer.pk), data)
    second = owner.post(url("payment_new", customer=customer.pk), data)

    payment = Payment.objects.get()
    assert first["Location"] == second["Location"] == url("payment_detail", payment.pk)
    assert refreshed(invoice).paid_minor == 10_000


def test_payment_page_without_customer_asks_for_one(owner: Client, customer: Customer) -> None:
    response = owner.get(url("payment_new"))
    assert response.status_code == 200 and customer.display_name in response.content.decode()
    assert owner.get(url("payment_new", customer="x")).status_code == 404


def test_payment_list_shows_method_invoices_and_refund_label(
    owner: Client, merchant: Merchant, customer: Customer
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 10_000, [invoice], method="zelle")
    owner.post(url("refund_new", payment.pk), {"amount": "10", "idempotency_key": "r1"})

    page = owner.get(url("payment_list")).content.decode()

    assert payment.number in page and "Zelle" in page and invoice.number in page and "Partially refunded" in page
    assert owner.get(url("payment_list", customer=customer.pk)).context["page"].object_list[0] == payment


# ---- Refunds ----


def test_refund_partial_then_full(owner: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 10_000, [invoice])
    assert owner.get(url("refund_new", payment.pk)).context["form"]["amount"].value() == "100.00"

    owner.post(url("refund_new", payment.pk), {"amount": "40.00", "reason": "Damaged", "idempotency_key": "k1"})

    payment.refresh_from_db()
    assert (payment.refunded_minor, payment.refund_label) == (4000, "Partially refunded")
    assert (refreshed(invoice).status, invoice.balance_minor, invoice.refund_label) == (
        InvoiceStatus.PARTIALLY_PAID,
        4000,
        "Partially refunded",
    )
    assert "Partially refunded" in owner.get(url("payment_detail", payment.pk)).content.decode()
    full = owner.get(url("refund_new", payment.pk, invoice=invoice.pk))
    assert full.context["form"]["amount"].value() == "60.00"

    response = owner.post(
        url("refund_new", payment.pk, invoice=invoice.pk), {"amount": "60.00", "idempotency_key": "k2"}
    )
    repeat = owner.post(url("refund_new", payment.pk, invoice=invoice.pk), {"amount": "60.00", "idempotency_key": "k2"})

    assert response["Location"] == repeat["Location"] == url("invoice_detail", invoice.pk)
    assert Refund.objects.count() == 2
    payment.refresh_from_db()
    assert (payment.refunded_minor, payment.refund_label) == (10_000, "Refunded")
    assert (refreshed(invoice).status, invoice.balance_minor, invoice.refund_label) == (
        InvoiceStatus.OPEN,
        10_000,
        "Refunded",
    )
    assert "Refunded" in owner.get(url("invoice_detail", invoice.pk)).content.decode()


def test_refund_more_than_refundable_is_refused_inline(owner: Client, merchant: Merchant, customer: Customer) -> None:
    payment = make_payment(merchant, customer, 5000, keep_excess_as_credit=True)
    with writes_nothing():
        response = owner.post(url("refund_new", payment.pk), {"amount": "50.01", "idempotency_key": "k"})
    assert form_errors(response) == {"__all__": [f"Only $50.00 of payment {payment.number} can still be refunded."]}
    with writes_nothing():
        elsewhere = owner.post(url("refund_new", payment.pk, invoice=999_999), {"amount": "1", "idempotency_key": "k"})
    assert form_errors(elsewhere) == {"__all__": ["This payment did not pay that invoice."]}


# ---- Credits ----


def test_credit_memo_create_and_apply(owner: Client, merchant: Merchant, customer: Customer) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    response = owner.post(
        url("credit_memo_new"),
        {"customer": customer.pk, "amount": "30.00", "reason": "Returned a part", "idempotency_key": "cm-a"},
    )

    memo = CreditMemo.objects.get()
    assert response["Location"] == url("credit_list", customer=customer.pk)
    credits = owner.get(url("credit_list", tab="credit_memos", customer=customer.pk))
    assert (credits.context["total"], credits.context["count"]) == (Money(3000, "USD"), 1)
    assert memo.number in credits.content.decode() and "Returned a part" in credits.content.decode()
    form = owner.get(url("credit_apply", memo=memo.pk)).context["form"]
    assert form[f"pay_{invoice.pk}"].value()

    owner.post(url("credit_apply", memo=memo.pk), {f"pay_{invoice.pk}": "on"})

    memo.refresh_from_db()
    assert (memo.remaining_minor, refreshed(invoice).balance_minor) == (0, 7000)
    assert owner.get(url("credit_list")).context["count"] == 0


def test_apply_an_unapplied_payment_with_an_explicit_amount(
    owner: Client, merchant: Merchant, customer: Customer, two_invoices: tuple[Invoice, Invoice]
) -> None:
    older, newer = two_invoices
    payment = make_payment(merchant, customer, 8000, keep_excess_as_credit=True)

    owner.post(url("credit_apply", payment=payment.pk), {f"amount_{newer.pk}": "50.00"})

    payment.refresh_from_db()
    assert (payment.unapplied_minor, refreshed(newer).status, refreshed(older).balance_minor) == (3000, "paid", 10_000)
    with writes_nothing():
        response = owner.post(url("credit_apply", payment=payment.pk), {f"amount_{older.pk}": "30.01"})
    assert form_errors(response) == {"__all__": ["The amounts applied add up to more than the $30.00 available."]}
    assert owner.get(url("credit_apply")).status_code == 302


# ---- Orders ----


def test_order_checkout_makes_the_invoice(owner: Client, merchant: Merchant, customer: Customer) -> None:
    response = owner.post(
        url("order_new"),
        {
            "customer": customer.pk,
            "discount": "5",
            "note": "At the fair",
            **lines_data([("Mug", "2", "12.50", "8"), ("Poster", "1", "20", "")]),
        },
    )
    order = Order.objects.get()
    assert response["Location"] == url("order_detail", order.pk)
    page = owner.get(url("order_detail", order.pk)).content.decode()
    assert "Checkout" in page and "$45.00" in page

    response = owner.post(url("order_checkout", order.pk), {"terms": Terms.NET_15})

    invoice = Invoice.objects.get()
    assert response["Location"] == url("invoice_detail", invoice.pk)
    # 25.00 + 20.00 - 5.00 discount (2.78 / 2.22); tax 8 % of 22.22 = 1.78.
    assert (invoice.order_id, invoice.terms, invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (
        order.pk,
        Terms.NET_15,
        4500,
        178,
        4178,
    )
    with writes_nothing():
        again = owner.post(url("order_checkout", order.pk), {"terms": Terms.NET_15})
    assert again.status_code == 409 and "This order already has an invoice." in again.content.decode()


def test_orders_tabs_and_stamps(owner: Client, merchant: Merchant, customer: Customer) -> None:
    def order() -> Order:
        items = [OrderItemInput("Mug", 1, Money(1000, "USD"))]
        return order_create(merchant=merchant, customer_id=customer.pk, items=items)

    not_checked_out, paid, unpaid = order(), order(), order()
    paid_invoice = order_checkout(merchant=merchant, order_id=paid.pk)
    order_checkout(merchant=merchant, order_id=unpaid.pk)
    make_payment(merchant, customer, 1000, [paid_invoice])

    everything = owner.get(url("order_list"))
    invoiced = owner.get(url("order_list", tab="invoiced"))

    assert [o for o, _ in everything.context["rows"]] == [unpaid, paid, not_checked_out]
    assert [o for o, _ in invoiced.context["rows"]] == [unpaid, paid]
    page = invoiced.content.decode()
    assert (
        page.count('<span class="stamp-paid">Paid</span>') == 1
        and page.count('<span class="stamp-open">Open</span>') == 1
    )
    assert "Not checked out" in everything.content.decode()


# ---- Amounts ----


BAD_AMOUNTS = [
    ("-5", "Enter an amount greater than zero."),
    ("0", "Enter an amount greater than zero."),
    ("1.234", "USD amounts have at most 2 decimal places."),
    ("abc", "“abc” is not an amount."),
    ("99999999999", "That amount is too large."),
    ("1e400", "“1e400” is not an amount."),
]


@pytest.mark.parametrize(("amount", "error"), BAD_AMOUNTS)
def test_bad_amounts_are_refused_inline_everywhere(
    owner: Client, merchant: Merchant, customer: Customer, amount: str, error: str
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 1000, [invoice])
    posts = {
        url("payment_new", customer=customer.pk): payment_data(amount, **{f"pay_{invoice.pk}": "on"}),
        url("quick_request_new"): {
            "customer": customer.pk,
            "amount": amount,
            "reference": "R1",
            "idempotency_key": "q",
        },
        url("credit_memo_new"): {
            "customer": customer.pk,
            "amount": amount,
            "reason": "Goodwill",
            "idempotency_key": "cm-b",
        },
        url("refund_new", payment.pk): {"amount": amount, "idempotency_key": "k"},
    }
    for target, data in posts.items():
        with writes_nothing():
            response = owner.post(target, data)
        assert response.status_code == 200 and form_errors(response) == {"amount": [error]}, target
    with writes_nothing():
        row = owner.post(
            url("payment_new", customer=customer.pk), payment_data("10", **{f"amount_{invoice.pk}": amount})
        )
    assert form_errors(row) == {f"amount_{invoice.pk}": [error]}


@pytest.mark.parametrize(
    ("currency", "too_precise", "error", "good", "minor"),
    [
        ("JPY", "10.5", "JPY amounts have at most 0 decimal places.", "1,050", 1050),
        ("KWD", "1.2345", "KWD amounts have at most 3 decimal places.", "1.234", 1234),
    ],
)
def test_amounts_follow_the_merchants_currency(
    client: Client, currency: str, too_precise: str, error: str, good: str, minor: int
) -> None:
    shop = make_merchant(currency=currency)
    customer = make_customer(shop)
    client.force_login(owner_of(shop))
    with merchant_scope(shop):
        with writes_nothing():
            response = client.post(
                url("quick_request_new"),
                {"customer": customer.pk, "amount": too_precise, "reference": "R", "idempotency_key": "q"},
            )
        assert form_errors(response) == {"amount": [error]}

        client.post(
            url("quick_request_new"),
            {"customer": customer.pk, "amount": good, "reference": "R", "idempotency_key": "q"},
        )
        invoice = Invoice.objects.get()
        assert (invoice.currency, invoice.total_minor) == (currency, minor)

        client.post(url("payment_new", customer=customer.pk), payment_data(good, **{f"pay_{invoice.pk}": "on"}))
        assert refreshed(invoice).status == InvoiceStatus.PAID
        assert (
            Money(minor, currency).format(shop.locale) in client.get(url("invoice_detail", invoice.pk)).content.decode()
        )


# ---- Tenancy and roles ----


def test_another_merchants_ids_are_404(owner: Client, other_merchant: Merchant) -> None:
    theirs = make_customer(other_merchant, "Their customer")
    invoice = make_invoice(other_merchant, theirs, 10_000)
    payment = make_payment(other_merchant, theirs, 10_000, [invoice])
    with merchant_scope(other_merchant):
        application = Application.objects.get(payment=payment)
        order = order_create(
            merchant=other_merchant, customer_id=theirs.pk, items=[OrderItemInput("A", 1, Money(100, "USD"))]
        )
        memo = credit_memo_create(merchant=other_merchant, customer_id=theirs.pk, amount=Money(100, "USD"), reason="x")

    gets = [
        url("invoice_detail", invoice.pk),
        url("invoice_print", invoice.pk),
        url("payment_detail", payment.pk),
        url("refund_new", payment.pk),
        url("order_detail", order.pk),
        url("payment_new", customer=theirs.pk),
        url("credit_apply", memo=memo.pk),
        url("credit_apply", payment=payment.pk),
        url("credit_list", customer=theirs.pk),
        url("payment_list", customer=theirs.pk),
        url("invoice_detail", 10**30),
    ]
    posts = [
        url("invoice_void", invoice.pk),
        url("invoice_issue", invoice.pk),
        url("invoice_uncollectible", invoice.pk),
        url("application_move_to_credit", application.pk),
        url("order_checkout", order.pk),
        url("refund_new", payment.pk),
    ]
    with writes_nothing():
        assert [owner.get(target).status_code for target in gets] == [404] * len(gets)
        assert [owner.post(target, {"amount": "1", "terms": "net_15"}).status_code for target in posts] == [404] * len(
            posts
        )


def test_read_only_staff_see_pages_but_cannot_change_money(
    viewer: Client, merchant: Merchant, customer: Customer
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    payment = make_payment(merchant, customer, 4000, [invoice])
    application = Application.objects.get(payment=payment)
    order = order_create(merchant=merchant, customer_id=customer.pk, items=[OrderItemInput("A", 1, Money(100, "USD"))])

    page = viewer.get(url("invoice_detail", invoice.pk)).content.decode()
    assert viewer.get(url("invoice_list")).status_code == 200
    assert "Void invoice" not in page and "Record payment" not in page and "Move to credit" not in page
    assert "Refund" not in viewer.get(url("payment_detail", payment.pk)).content.decode()
    assert ">Checkout</button>" not in viewer.get(url("order_detail", order.pk)).content.decode()

    posts = {
        url("invoice_new"): {
            "customer": customer.pk,
            "terms": Terms.DUE_ON_RECEIPT,
            **lines_data([("A", "1", "1", "")]),
        },
        url("quick_request_new"): {"customer": customer.pk, "amount": "1", "reference": "R"},
        url("invoice_void", invoice.pk): {},
        url("invoice_issue", invoice.pk): {},
        url("invoice_uncollectible", invoice.pk): {},
        url("application_move_to_credit", application.pk): {},
        url("payment_new", customer=customer.pk): payment_data("10", **{f"pay_{invoice.pk}": "on"}),
        url("refund_new", payment.pk): {"amount": "1", "idempotency_key": "k"},
        url("credit_memo_new"): {"customer": customer.pk, "amount": "1", "reason": "x", "idempotency_key": "cm-c"},
        url("credit_apply", payment=payment.pk): {f"pay_{invoice.pk}": "on"},
        url("order_new"): {"customer": customer.pk, **lines_data([("A", "1", "1", "")])},
        url("order_checkout", order.pk): {"terms": Terms.NET_15},
    }
    with writes_nothing():
        for target, data in posts.items():
            assert viewer.post(target, data).status_code == 403, target
    assert viewer.get(url("payment_new", customer=customer.pk)).status_code == 403
    assert (refreshed(invoice).status, invoice.balance_minor) == (InvoiceStatus.PARTIALLY_PAID, 6000)


def test_signed_out_visitors_are_sent_to_sign_in(client: Client, merchant: Merchant) -> None:
    response = client.get(url("invoice_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# ---- Query counts ----


def test_list_pages_make_a_bounded_number_of_queries(
    owner: Client, merchant: Merchant, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        customer = make_customer(merchant, f"Customer {n}")
        invoice = make_invoice(merchant, customer, 10_000)
        payment = make_payment(merchant, customer, 12_000, [invoice], keep_excess_as_credit=True)
        if n % 3 == 0:
            owner.post(url("refund_new", payment.pk), {"amount": "1", "idempotency_key": f"k{n}"})
        order = order_create(
            merchant=merchant, customer_id=customer.pk, items=[OrderItemInput("A", 2, Money(500, "USD"))]
        )
        if n % 2 == 0:
            order_checkout(merchant=merchant, order_id=order.pk)
        credit_memo_create(merchant=merchant, customer_id=customer.pk, amount=Money(100, "USD"), reason="Goodwill")

    for target in [
        url("invoice_list"),
        url("invoice_list", status="past_due", q="Customer"),
        url("payment_list"),
        url("order_list"),
        url("order_list", tab="invoiced"),
        url("credit_list"),
    ]:
        with django_assert_max_num_queries(8):
            assert owner.get(target).status_code == 200


def test_double_submitted_credit_memo_issues_one(owner: Client, merchant: Merchant, customer: Customer) -> None:
    form = {"customer": customer.pk, "amount": "30.00", "reason": "Returned a part", "idempotency_key": "cm-twice"}
    first = owner.post(url("credit_memo_new"), form)
    second = owner.post(url("credit_memo_new"), form)
    assert first.status_code == second.status_code == 302
    assert CreditMemo.objects.filter(merchant=merchant).count() == 1


def test_gateway_methods_cannot_be_typed_in_as_manual_payments(owner: Client, customer: Customer) -> None:
    page = owner.get(url("payment_new", customer=customer.pk)).content.decode()
    assert 'value="check"' in page
    assert 'value="card"' not in page and 'value="bank_account"' not in page
