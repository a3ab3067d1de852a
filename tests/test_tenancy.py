"""Tenant sealing: an unscoped query of a tenant model fails loudly, and every service handed
another merchant's ids answers NotFound and writes nothing — both under the acting merchant's
scope and with the scope check disabled (so the services' own merchant filters are what hold)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django_scopes import ScopeError

from settle.core.errors import NotFound
from settle.core.money import Money
from settle.core.tenancy import TenantModel, all_merchants, merchant_scope
from settle.customers.models import Contact, ContactProfile, Customer
from settle.customers.services import (
    contact_profile_save,
    contact_revoke_access,
    contact_save,
    customer_update,
    external_reference_set,
)
from settle.invoicing.models import CreditMemo, Invoice, Order
from settle.invoicing.selectors import invoice_list
from settle.invoicing.services import (
    LineInput,
    OrderItemInput,
    credit_memo_create,
    invoice_create,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_void,
    order_checkout,
    order_create,
    quick_payment_request_create,
)
from settle.payments.models import Application, Payment
from settle.payments.selectors import credits_list, payment_list
from settle.payments.services import application_move_to_credit, credit_apply, payment_record, refund_create
from settle.tenants.models import Merchant
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment, writes_nothing

NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=dt.UTC)
TENANT_MODELS = sorted((m for m in apps.get_models() if issubclass(m, TenantModel)), key=lambda m: m._meta.label)


def test_every_domain_model_is_a_tenant_model() -> None:
    domain_models = [m for app in ("customers", "invoicing", "payments") for m in apps.get_app_config(app).get_models()]
    assert domain_models and all(issubclass(m, TenantModel) for m in domain_models)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
@pytest.mark.django_db
def test_querying_a_tenant_model_outside_a_scope_raises(model: type[TenantModel]) -> None:
    with pytest.raises(ScopeError):
        model.objects.count()
    with pytest.raises(ScopeError):
        list(model.objects.filter(pk=1))


@pytest.mark.django_db
def test_a_scope_shows_only_its_merchants_rows() -> None:
    mine, theirs = make_merchant(), make_merchant()
    make_invoice(mine, make_customer(mine))
    make_invoice(theirs, make_customer(theirs))
    make_invoice(theirs, make_customer(theirs))
    with merchant_scope(mine):
        assert Invoice.objects.count() == 1
        assert invoice_list(merchant=mine).count() == 1
        # Even a selector asked for another merchant sees nothing through this scope.
        assert invoice_list(merchant=theirs).count() == 0
    with all_merchants():
        assert Invoice.objects.count() == 3


@dataclass
class World:
    mine: Merchant
    my_customer: Customer
    my_invoice: Invoice
    my_payment: Payment
    theirs: Merchant
    their_customer: Customer
    their_contact: Contact
    their_profile: ContactProfile
    their_invoice: Invoice
    their_draft: Invoice
    their_order: Order
    their_payment: Payment
    their_memo: CreditMemo
    their_application: Application


@pytest.fixture
def world(db: None) -> World:
    mine, theirs = make_merchant(name="Mine"), make_merchant(name="Theirs")
    my_customer = make_customer(mine)
    my_invoice = make_invoice(mine, my_customer, 5000)
    my_payment = make_payment(mine, my_customer, 1000, [my_invoice])
    their_customer = make_customer(theirs, "Their customer")
    with merchant_scope(theirs):
        their_profile = contact_profile_save(merchant=theirs, name="Billing")
        their_contact = contact_save(
            merchant=theirs, customer_id=their_customer.pk, name="Tee", email="t@x.com", profile_id=their_profile.pk
        )
        their_invoice = make_invoice(theirs, their_customer, 5000)
        their_draft = make_invoice(theirs, their_customer, 5000, draft=True)
        their_order = order_create(
            merchant=theirs, customer_id=their_customer.pk, items=[OrderItemInput("A", 1, Money(100, "USD"))], now=NOW
        )
        their_payment = make_payment(theirs, their_customer, 3000, [their_invoice], keep_excess_as_credit=True)
        their_memo = credit_memo_create(
            merchant=theirs, customer_id=their_customer.pk, amount=Money(500, "USD"), reason="Goodwill", now=NOW
        )
        their_application = Application.objects.get(payment=their_payment)
    return World(
        mine,
        my_customer,
        my_invoice,
        my_payment,
        theirs,
        their_customer,
        their_contact,
        their_profile,
        their_invoice,
        their_draft,
        their_order,
        their_payment,
        their_memo,
        their_application,
    )


def usd(minor: int) -> Money:
    return Money(minor, "USD")


CROSS_TENANT_CALLS: dict[str, Callable[[World], Any]] = {
    "customer_update": lambda w: customer_update(
        merchant=w.mine,
        customer_id=w.their_customer.pk,
        display_name="X",
        kind="person",
        emails=[],
        phones=[],
        address=None,
        tags=[],
        notes="",
    ),
    "contact_save on their customer": lambda w: contact_save(
        merchant=w.mine, customer_id=w.their_customer.pk, name="X", email="x@x.com"
    ),
    "contact_save of their contact": lambda w: contact_save(
        merchant=w.mine, customer_id=w.my_customer.pk, contact_id=w.their_contact.pk, name="X", email="x@x.com"
    ),
    "contact_save with their profile": lambda w: contact_save(
        merchant=w.mine, customer_id=w.my_customer.pk, name="X", email="x@x.com", profile_id=w.their_profile.pk
    ),
    "contact_revoke_access": lambda w: contact_revoke_access(
        merchant=w.mine, customer_id=w.their_customer.pk, contact_id=w.their_contact.pk
    ),
    "contact_revoke_access of their contact": lambda w: contact_revoke_access(
        merchant=w.mine, customer_id=w.my_customer.pk, contact_id=w.their_contact.pk
    ),
    "contact_profile_save": lambda w: contact_profile_save(
        merchant=w.mine, profile_id=w.their_profile.pk, name="Renamed"
    ),
    "external_reference_set": lambda w: external_reference_set(
        merchant=w.mine, customer_id=w.their_customer.pk, system="crm", label="CW", external_id="1"
    ),
    "invoice_create": lambda w: invoice_create(
        merchant=w.mine, customer_id=w.their_customer.pk, lines=[LineInput("A", 1, usd(100))], now=NOW
    ),
    "invoice_issue": lambda w: invoice_issue(merchant=w.mine, invoice_id=w.their_draft.pk, now=NOW),
    "invoice_void": lambda w: invoice_void(merchant=w.mine, invoice_id=w.their_draft.pk, now=NOW),
    "invoice_mark_uncollectible": lambda w: invoice_mark_uncollectible(
        merchant=w.mine, invoice_id=w.their_invoice.pk, now=NOW
    ),
    "quick_payment_request_create": lambda w: quick_payment_request_create(
        merchant=w.mine, customer_id=w.their_customer.pk, amount=usd(100), reference="R1", now=NOW
    ),
    "order_create": lambda w: order_create(
        merchant=w.mine, customer_id=w.their_customer.pk, items=[OrderItemInput("A", 1, usd(100))], now=NOW
    ),
    "order_checkout": lambda w: order_checkout(merchant=w.mine, order_id=w.their_order.pk, now=NOW),
    "credit_memo_create": lambda w: credit_memo_create(
        merchant=w.mine, customer_id=w.their_customer.pk, amount=usd(100), reason="x", now=NOW
    ),
    "payment_record for their customer": lambda w: payment_record(
        merchant=w.mine,
        customer_id=w.their_customer.pk,
        amount=usd(100),
        method="cash",
        keep_excess_as_credit=True,
        now=NOW,
    ),
    "payment_record on their invoice": lambda w: payment_record(
        merchant=w.mine,
        customer_id=w.my_customer.pk,
        amount=usd(100),
        method="cash",
        invoice_ids=[w.their_invoice.pk],
        now=NOW,
    ),
    "payment_record with amounts on their invoice": lambda w: payment_record(
        merchant=w.mine,
        customer_id=w.my_customer.pk,
        amount=usd(100),
        method="cash",
        amounts={w.their_invoice.pk: usd(100)},
        now=NOW,
    ),
    "credit_apply of their payment": lambda w: credit_apply(
        merchant=w.mine,
        customer_id=w.my_customer.pk,
        payment_id=w.their_payment.pk,
        invoice_ids=[w.my_invoice.pk],
        now=NOW,
    ),
    "credit_apply of their memo": lambda w: credit_apply(
        merchant=w.mine,
        customer_id=w.my_customer.pk,
        credit_memo_id=w.their_memo.pk,
        invoice_ids=[w.my_invoice.pk],
        now=NOW,
    ),
    "credit_apply for their customer": lambda w: credit_apply(
        merchant=w.mine,
        customer_id=w.their_customer.pk,
        credit_memo_id=w.their_memo.pk,
        invoice_ids=[w.their_invoice.pk],
        now=NOW,
    ),
    "application_move_to_credit": lambda w: application_move_to_credit(
        merchant=w.mine, application_id=w.their_application.pk, now=NOW
    ),
    "refund_create": lambda w: refund_create(merchant=w.mine, payment_id=w.their_payment.pk, amount=usd(100), now=NOW),
}


def _mine(w: World) -> AbstractContextManager[None]:
    return merchant_scope(w.mine)


def _unscoped(w: World) -> AbstractContextManager[None]:
    return all_merchants()


@pytest.mark.parametrize("acting_as", [_mine, _unscoped], ids=["in my scope", "scope check off"])
@pytest.mark.parametrize("call", CROSS_TENANT_CALLS.values(), ids=CROSS_TENANT_CALLS.keys())
def test_another_merchants_ids_are_not_found_and_nothing_is_written(
    world: World, call: Callable[[World], Any], acting_as: Callable[[World], AbstractContextManager[None]]
) -> None:
    with writes_nothing(), acting_as(world), pytest.raises(NotFound):
        call(world)
    with merchant_scope(world.theirs):
        their_invoice = Invoice.objects.get(pk=world.their_invoice.pk)
        their_contact = Contact.objects.get(pk=world.their_contact.pk)
    assert (their_invoice.status, their_invoice.balance_minor) == ("partially_paid", 2000)
    assert their_contact.has_access


def test_selectors_never_show_another_merchants_money(world: World) -> None:
    with merchant_scope(world.mine):
        assert [p.pk for p in payment_list(merchant=world.mine)] == [world.my_payment.pk]
        rows, total, count = credits_list(merchant=world.mine)
        assert (rows, total, count) == ([], usd(0), 0)


def test_a_scope_ends_with_its_block(db: None) -> None:
    shop = make_merchant()
    with merchant_scope(shop):
        assert Invoice.objects.count() == 0
    with pytest.raises(ScopeError):
        Invoice.objects.count()
