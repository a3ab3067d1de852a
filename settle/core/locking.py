"""Row locks on the money path, written as plain SQL.

Every change to what is owed or paid starts by locking the customer and the invoices it touches.
Those two statements run on every payment, and building them through the ORM costs several times
what the database spends running them, so they are written once here. Tenant sealing stays
explicit: every statement names the merchant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def _for_update() -> str:
    # SQLite has no row locks: its transactions take the write lock at BEGIN (IMMEDIATE mode).
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def lock_ids(model: type[models.Model], *, merchant_id: int, ids: Sequence[int], **equal: int) -> list[int]:
    """Lock the merchant's rows of `model` with these ids (and these column values), in id order so
    two callers never deadlock; return the ids found."""
    return [row[0] for row in _select(model, "id", merchant_id=merchant_id, ids=ids, equal=equal)]


def lock_rows(model: type[M], *, merchant_id: int, ids: Sequence[int], **equal: int) -> list[M]:
    """Like `lock_ids`, returning model instances."""
    sql, params = _statement(model, "*", merchant_id=merchant_id, ids=ids, equal=equal)
    return list(model._base_manager.raw(sql, params))


def _select(
    model: type[models.Model], columns: str, *, merchant_id: int, ids: Sequence[int], equal: dict[str, int]
) -> list[tuple[int, ...]]:
    sql, params = _statement(model, columns, merchant_id=merchant_id, ids=ids, equal=equal)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _statement(
    model: type[models.Model], columns: str, *, merchant_id: int, ids: Sequence[int], equal: dict[str, int]
) -> tuple[str, list[int]]:
    known_columns = {field.column for field in model._meta.concrete_fields}
    if not set(equal) <= known_columns:
        raise ValueError(f"not columns of {model.__name__}: {set(equal) - known_columns}")
    conditions = ["merchant_id = %s", f"id IN ({', '.join(['%s'] * len(ids))})", *(f"{name} = %s" for name in equal)]
    table = model._meta.db_table
    # Table and column names come from the model; every value is a parameter.
    sql = f"SELECT {columns} FROM {table} WHERE {' AND '.join(conditions)} ORDER BY id{_for_update()}"  # noqa: S608
    return sql, [merchant_id, *ids, *equal.values()]
