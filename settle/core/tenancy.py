"""Tenant sealing: every domain row has a merchant, and querying a tenant model outside a merchant
scope raises `django_scopes.ScopeError` instead of silently returning every merchant's rows.

Requests get their scope from `CurrentMerchantMiddleware`; services and commands enter one with
`merchant_scope(merchant)`; cross-tenant jobs (verify, demo) say so with `all_merchants()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models
from django_scopes import ScopedManager, scope, scopes_disabled


def is_row_id(value: int) -> bool:
    """Whether `value` can be a row's id: ids are positive 64-bit integers, and a larger number must
    not reach the database (SQLite's driver raises OverflowError, PostgreSQL a DataError)."""
    return 0 < value < 2**63


class _InsertsNeedNoScope(models.Manager):  # type: ignore[type-arg]
    """Inserts name their merchant explicitly, so the scope's filter adds nothing to them but the
    cost of building it (measurable on the payment path)."""

    def _plain(self) -> models.QuerySet[Any]:
        return models.QuerySet(model=self.model, using=self._db)

    def create(self, **kwargs: Any) -> Any:
        return self._plain().create(**kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        return self._plain().bulk_create(objs, *args, **kwargs)


class TenantModel(models.Model):
    merchant = models.ForeignKey("tenants.Merchant", on_delete=models.CASCADE, related_name="+")

    objects = ScopedManager(_manager_class=_InsertsNeedNoScope, merchant="merchant")

    class Meta:
        abstract = True


@contextmanager
def merchant_scope(merchant: Any) -> Iterator[None]:
    with scope(merchant=merchant):
        yield


all_merchants = scopes_disabled
