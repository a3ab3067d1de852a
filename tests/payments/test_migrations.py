"""The migration that makes a gateway token saved once keeps the first of any repeated saves."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from settle.core import clock
from settle.core.tenancy import all_merchants
from settle.payments.models import SavedMethod
from tests.conftest import make_customer, make_merchant

BEFORE = ("payments", "0008_charge_attempt_language")
AFTER = ("payments", "0009_saved_method_token_once")


def migrate(target: tuple[str, str] | None = None) -> None:
    """To `target`, or every app to its latest migration."""
    executor = MigrationExecutor(connection)
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_token_saved_twice_before_the_constraint_is_kept_once() -> None:
    merchant = make_merchant()
    customer = make_customer(merchant)
    migrate(BEFORE)
    try:
        now = clock.now()
        fields = {
            "merchant": merchant,
            "customer": customer,
            "gateway": "sandbox",
            "kind": "card",
            "brand": "Visa",
            "last4": "4242",
            "consent_text": "I agree.",
            "consent_at": now,
            "created_at": now,
        }
        with all_merchants():
            first = SavedMethod._base_manager.create(token="tok_same", **fields)
            again = SavedMethod._base_manager.create(token="tok_same", is_default=True, **fields)
            other = SavedMethod._base_manager.create(token="tok_other", **fields)
    finally:
        migrate()

    with all_merchants():
        live = set(SavedMethod._base_manager.filter(removed_at__isnull=True).values_list("pk", flat=True))
        assert live == {first.pk, other.pk}
        assert SavedMethod._base_manager.get(pk=again.pk).removed_at is not None
        assert SavedMethod._base_manager.get(pk=first.pk).is_default  # the default stays a default
    assert AFTER in MigrationExecutor(connection).loader.applied_migrations
