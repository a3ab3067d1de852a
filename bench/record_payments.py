"""Recording payments: the service layer against raw SQL writing the same rows.

Records N payments, each paying two invoices in full, through `payment_record`, then writes the
same rows for N more payments with the DB-API cursor (one transaction per payment, in the same
scratch database, same connection settings), and prints both rates and their ratio. The ledger is
verified at the end, which also proves the raw rows are exactly the rows the service writes.

    python bench/record_payments.py [--n 2000] [--database-url postgres://postgres@127.0.0.1:5432/settle]

Without --database-url the scratch database is a temporary SQLite file; a PostgreSQL URL names
the server, and a scratch database beside the named one is created and dropped.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCRATCH_NAME = "settle_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="payments per path (default: %(default)s)")
    parser.add_argument("--database-url", help="PostgreSQL server to use instead of a temporary SQLite file")
    parser.add_argument("--profile", type=int, metavar="ROWS", default=0, help="profile the service path, print ROWS")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2 (the first payment of each path is not timed)")

    with tempfile.TemporaryDirectory(prefix="settle-bench-") as scratch:
        sqlite_path = Path(scratch) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{sqlite_path}"
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
        import django
        from django.conf import settings

        django.setup()
        # The dev settings turn DEBUG on, which makes Django keep every query in memory: not what
        # a deployment pays, so off for the measurement.
        settings.DEBUG = False
        from django.db import connection

        connection.settings_dict["TEST"]["NAME"] = str(sqlite_path) if args.database_url is None else SCRATCH_NAME
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            run(args.n, args.profile)
        finally:
            connection.creation.destroy_test_db(str(sqlite_path) if args.database_url is None else SCRATCH_NAME, 0)


@dataclass(frozen=True)
class Pair:
    customer_id: int
    invoices: tuple[tuple[int, int, str], tuple[int, int, str]]  # (id, total_minor, number)


def run(n: int, profile_rows: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from settle.core.tenancy import merchant_scope
    from settle.payments.verify import ledger_verify

    merchant, service_pairs, raw_pairs = setup(n)
    backend = connection.vendor
    print(f"backend={backend} n={n} (each payment pays two invoices; one transaction per payment)")

    with merchant_scope(merchant):
        with CaptureQueriesContext(connection) as captured:
            record_with_service(merchant, service_pairs[:1])
        queries = len(captured.captured_queries)

        profiler = cProfile.Profile() if profile_rows else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        record_with_service(merchant, service_pairs[1:])
        if profiler is not None:
            profiler.disable()
        service_seconds = time.perf_counter() - started

    started = time.perf_counter()
    record_with_raw_sql(merchant.pk, raw_pairs[1:])
    raw_seconds = time.perf_counter() - started

    report = ledger_verify(merchant_ids=[merchant.pk])
    if not report.ok:
        raise SystemExit("ledger does not verify: " + "; ".join(report.mismatches[:5]))

    timed = n - 1
    service_rate = timed / service_seconds
    raw_rate = timed / raw_seconds
    print(f"service queries per payment={queries}")
    for sql in captured.captured_queries:
        print(f"  {sql['sql'][:150]}")
    print(f"ledger verified: {report.payments} payments, {report.entries} journal entries")
    print(f"service payments/s={service_rate:.0f}")
    print(f"raw payments/s={raw_rate:.0f}")
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(profile_rows)
    print(f"ratio={service_rate / raw_rate:.3f}")


def setup(n: int) -> tuple[Any, list[Pair], list[Pair]]:
    """A merchant, customers and 4N open invoices (2N for each path), made by the services in one
    transaction (not timed)."""
    from django.db import transaction

    from settle.core.money import Money
    from settle.core.tenancy import all_merchants, merchant_scope
    from settle.customers.services import customer_create
    from settle.invoicing.services import LineInput, invoice_create
    from settle.tenants.services import merchant_create

    started = time.perf_counter()
    with all_merchants():
        merchant = merchant_create(name="Bench Garage", owner_email="bench@settle.local", invoice_prefix="B-")
    pairs: list[Pair] = []
    with merchant_scope(merchant), transaction.atomic():
        customers = [
            customer_create(merchant=merchant, display_name=f"Customer {k}", emails=[f"c{k}@example.com"]).pk
            for k in range(max(1, n // 10))
        ]
        for i in range(2 * n):
            customer_id = customers[i % len(customers)]
            made = []
            for amount in (12_000 + i % 700, 4_550 + i % 300):
                invoice = invoice_create(
                    merchant=merchant,
                    customer_id=customer_id,
                    lines=[LineInput("Service", 1, Money(amount, "USD"), 825)],
                )
                made.append((invoice.pk, invoice.total_minor, invoice.number))
            pairs.append(Pair(customer_id, (made[0], made[1])))
    print(f"setup: {4 * n} invoices for {len(customers)} customers in {time.perf_counter() - started:.1f} s")
    return merchant, pairs[:n], pairs[n:]


def record_with_service(merchant: Any, pairs: list[Pair]) -> None:
    from settle.core.money import Money
    from settle.payments.services import payment_record

    for pair in pairs:
        payment_record(
            merchant=merchant,
            customer_id=pair.customer_id,
            amount=Money(sum(total for _, total, _ in pair.invoices), "USD"),
            method="cash",
            invoice_ids=[invoice_id for invoice_id, _, _ in pair.invoices],
        )


def record_with_raw_sql(merchant_id: int, pairs: list[Pair]) -> None:
    """The rows `payment_record` writes for one payment paying two invoices in full — payment,
    journal entry and its six lines, two applications, the activity row and the invoices' caches —
    written with the DB-API cursor, one transaction per payment. (The payment's own caches are
    right as inserted when it is applied in full; the service does not update them either.)"""
    from django.db import connection

    from settle.core import clock
    from settle.customers.models import Activity
    from settle.invoicing.models import Invoice, JournalEntry, JournalLine
    from settle.payments.models import Application, Payment

    connection.ensure_connection()
    raw = connection.connection
    cursor = raw.cursor()
    sqlite = connection.vendor == "sqlite"
    begin = "BEGIN IMMEDIATE" if sqlite else "BEGIN"

    def sql(text: str) -> str:
        return text.replace("%s", "?") if sqlite else text

    insert_payment = sql(
        f"INSERT INTO {Payment._meta.db_table} (merchant_id, customer_id, currency, amount_minor, unapplied_minor, "
        "refunded_minor, method, check_number, reference, note, received_on, created_at, created_by_id, "
        "idempotency_key, request_fingerprint, status, gateway, gateway_reference, card_brand, last4) "
        "VALUES (%s, %s, 'USD', %s, 0, 0, 'cash', '', '', '', %s, %s, NULL, NULL, '', 'succeeded', '', '', '', '') "
        "RETURNING id"
    )
    insert_entry = sql(
        f"INSERT INTO {JournalEntry._meta.db_table} (merchant_id, kind, customer_id, actor_id, memo, created_at) "
        "VALUES (%s, 'payment_received', %s, NULL, %s, %s) RETURNING id"
    )
    line = "(%s, %s, 'payment_received', %s, %s, %s, 'USD', %s, NULL, %s)"
    insert_lines = sql(
        f"INSERT INTO {JournalLine._meta.db_table} (merchant_id, entry_id, kind, account, method, amount_minor, "
        f"currency, invoice_id, credit_memo_id, payment_id) VALUES {', '.join([line] * 6)}"
    )
    update_invoice = sql(
        f"UPDATE {Invoice._meta.db_table} SET balance_minor = 0, paid_minor = %s, refunded_minor = 0, "
        "status = 'paid' WHERE id = %s"
    )
    insert_applications = sql(
        f"INSERT INTO {Application._meta.db_table} (merchant_id, invoice_id, payment_id, credit_memo_id, "
        "amount_minor, created_at) VALUES (%s, %s, %s, NULL, %s, %s), (%s, %s, %s, NULL, %s, %s)"
    )
    insert_activity = sql(
        f"INSERT INTO {Activity._meta.db_table} (merchant_id, customer_id, actor_id, verb, summary, object_type, "
        "object_id, created_at) VALUES (%s, %s, NULL, 'payment.recorded', %s, 'payment', %s, %s)"
    )

    for pair in pairs:
        (a_id, a_total, a_number), (b_id, b_total, b_number) = pair.invoices
        amount = a_total + b_total
        now = connection.ops.adapt_datetimefield_value(clock.now())
        today = connection.ops.adapt_datefield_value(clock.local_date(clock.now(), "America/New_York"))
        cursor.execute(begin)
        cursor.execute(insert_payment, (merchant_id, pair.customer_id, amount, today, now))
        payment_id = cursor.fetchone()[0]
        cursor.execute(insert_entry, (merchant_id, pair.customer_id, f"Payment PAY-{payment_id:05d}", now))
        entry_id = cursor.fetchone()[0]
        legs = [
            ("clearing", "cash", amount, None),
            ("unapplied_payments", "", -amount, None),
            ("unapplied_payments", "", a_total, None),
            ("receivable", "", -a_total, a_id),
            ("unapplied_payments", "", b_total, None),
            ("receivable", "", -b_total, b_id),
        ]
        cursor.execute(
            insert_lines,
            [
                value
                for account, method, minor, invoice in legs
                for value in (merchant_id, entry_id, account, method, minor, invoice, payment_id)
            ],
        )
        cursor.executemany(update_invoice, [(a_total, a_id), (b_total, b_id)])
        cursor.execute(
            insert_applications,
            (merchant_id, a_id, payment_id, a_total, now, merchant_id, b_id, payment_id, b_total, now),
        )
        # Babel writes the same text, slower; the baseline measures the database.
        dollars = f"${amount // 100:,}.{amount % 100:02d}"
        summary = f"Payment PAY-{payment_id:05d} of {dollars} by Cash → {a_number}, {b_number}"
        cursor.execute(insert_activity, (merchant_id, pair.customer_id, summary, payment_id, now))
        cursor.execute("COMMIT")


if __name__ == "__main__":
    main()
