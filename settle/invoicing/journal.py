"""The double-entry journal: every change to what is owed or paid posts one balanced entry, in the
same transaction as the change. Cached balances on invoices, credit memos, payments and
applications are all derived from journal lines by `totals_from_lines`: services feed it the
lines they just posted (deltas), `settle verify` feeds it every line (full recomputation)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from settle.tenants.models import Merchant

from .models import Account, EntryKind, JournalEntry, JournalLine


class UnbalancedEntry(AssertionError):
    """A service tried to post debits and credits that do not sum to zero: a bug, never user input."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One journal line before it is written: debit positive, credit negative."""

    account: str
    amount_minor: int
    invoice_id: int | None = None
    credit_memo_id: int | None = None
    payment_id: int | None = None
    method: str = ""


ApplicationKey = tuple[int, int | None, int | None]  # (invoice_id, payment_id, credit_memo_id)


@dataclass
class LedgerTotals:
    """Balances implied by a set of journal lines, keyed by the row they belong to."""

    invoice_balance: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    invoice_paid: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    invoice_refunded: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    credit_remaining: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    payment_amount: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    payment_unapplied: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    payment_refunded: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    applied: dict[ApplicationKey, int] = field(default_factory=lambda: defaultdict(int))


def totals_from_lines(lines: Iterable[tuple[str, Leg]]) -> LedgerTotals:
    """The single definition of every cached balance, from (entry kind, leg) pairs.

    - invoice balance: the invoice's receivable legs;
    - paid: receivable credits carrying a payment or credit memo (net of reversals);
    - refunded: receivable debits posted by refunds;
    - a payment's amount and refunds: its clearing debits and credits; its unapplied part: its
      unapplied-payments legs; a credit memo's remaining credit: its customer-credit legs;
    - an application: receivable legs carrying both the invoice and the payment or memo.
    """
    totals = LedgerTotals()
    for kind, leg in lines:
        if leg.account == Account.RECEIVABLE and leg.invoice_id is not None:
            totals.invoice_balance[leg.invoice_id] += leg.amount_minor
            if leg.payment_id is not None or leg.credit_memo_id is not None:
                totals.invoice_paid[leg.invoice_id] -= leg.amount_minor
                totals.applied[(leg.invoice_id, leg.payment_id, leg.credit_memo_id)] -= leg.amount_minor
                if kind == EntryKind.REFUND_ISSUED:
                    totals.invoice_refunded[leg.invoice_id] += leg.amount_minor
        elif leg.account == Account.CUSTOMER_CREDIT and leg.credit_memo_id is not None:
            totals.credit_remaining[leg.credit_memo_id] -= leg.amount_minor
        elif leg.account == Account.UNAPPLIED and leg.payment_id is not None:
            totals.payment_unapplied[leg.payment_id] -= leg.amount_minor
        elif leg.account == Account.CLEARING and leg.payment_id is not None:
            if leg.amount_minor > 0:
                totals.payment_amount[leg.payment_id] += leg.amount_minor
            else:
                totals.payment_refunded[leg.payment_id] -= leg.amount_minor
    return totals


# The journal is the most written table: its two statements are written once here instead of
# being built by the ORM on every posting (a third of a payment's time otherwise).
# Table names are the models' own; every value is a parameter.
_ENTRY_INSERT = (
    f"INSERT INTO {JournalEntry._meta.db_table} "  # noqa: S608
    "(merchant_id, kind, customer_id, actor_id, memo, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
_LINE_INSERT = (
    f"INSERT INTO {JournalLine._meta.db_table} "  # noqa: S608
    "(merchant_id, entry_id, kind, account, method, amount_minor, "
    "currency, invoice_id, credit_memo_id, payment_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def journal_post(
    *,
    merchant: Merchant,
    kind: str,
    customer_id: int,
    currency: str,
    legs: Sequence[Leg],
    now: dt.datetime,
    actor: Any = None,
    memo: str = "",
) -> LedgerTotals:
    """Write one balanced entry and return the balance changes it implies (for the caches).

    Must run inside the caller's transaction, after the caller has locked every row whose cache
    it will update."""
    legs = [leg for leg in legs if leg.amount_minor != 0]
    if not legs:
        raise UnbalancedEntry("empty journal entry")
    if sum(leg.amount_minor for leg in legs) != 0:
        raise UnbalancedEntry(f"{kind} entry does not balance: {legs}")
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with connection.cursor() as cursor:
        cursor.execute(
            _ENTRY_INSERT,
            [merchant.pk, kind, customer_id, actor_id, memo[:300], connection.ops.adapt_datetimefield_value(now)],
        )
        entry_id = cursor.fetchone()[0]
        cursor.executemany(
            _LINE_INSERT,
            [
                (
                    merchant.pk,
                    entry_id,
                    kind,
                    leg.account,
                    leg.method,
                    leg.amount_minor,
                    currency,
                    leg.invoice_id,
                    leg.credit_memo_id,
                    leg.payment_id,
                )
                for leg in legs
            ],
        )
    return totals_from_lines((kind, leg) for leg in legs)


def journal_lines_as_legs(lines: Iterable[dict[str, Any]]) -> Iterable[tuple[str, Leg]]:
    """Adapt `JournalLine.objects.values(...)` rows for `totals_from_lines`."""
    for row in lines:
        yield (
            row["kind"],
            Leg(
                account=row["account"],
                amount_minor=row["amount_minor"],
                invoice_id=row["invoice_id"],
                credit_memo_id=row["credit_memo_id"],
                payment_id=row["payment_id"],
                method=row["method"],
            ),
        )


LINE_FIELDS = ("kind", "account", "amount_minor", "invoice_id", "credit_memo_id", "payment_id", "method")
