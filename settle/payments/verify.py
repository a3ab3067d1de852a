"""`settle verify`: recompute every cached balance from the journal and compare."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Sum

from settle.core.tenancy import all_merchants
from settle.invoicing.journal import LINE_FIELDS, journal_lines_as_legs, totals_from_lines
from settle.invoicing.models import CreditMemo, Invoice, InvoiceStatus, JournalLine

from .models import Application, Payment


@dataclass
class VerifyReport:
    entries: int = 0
    lines: int = 0
    invoices: int = 0
    payments: int = 0
    credit_memos: int = 0
    applications: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _compare(report: VerifyReport, label: str, stored: int, derived: int) -> None:
    if stored != derived:
        report.mismatches.append(f"{label}: stored {stored}, journal says {derived}")


def ledger_verify(*, merchant_ids: Iterable[int] | None = None) -> VerifyReport:
    """Recompute invoice balances, payments, applications and customer credit from the journal
    and report every difference from what is stored. Reads only; safe on a live database."""
    report = VerifyReport()
    with all_merchants():
        lines = JournalLine.objects.all()
        invoices = Invoice.objects.all()
        payments = Payment.objects.all()
        memos = CreditMemo.objects.all()
        applications = Application.objects.all()
        if merchant_ids is not None:
            ids = list(merchant_ids)
            lines, invoices, payments, memos, applications = (
                q.filter(merchant_id__in=ids) for q in (lines, invoices, payments, memos, applications)
            )
        unbalanced = lines.values("entry_id").annotate(total=Sum("amount_minor"), n=Count("id")).exclude(total=0)
        for row in unbalanced:
            report.mismatches.append(f"journal entry {row['entry_id']} does not balance: {row['total']}")
        report.entries = lines.values("entry_id").distinct().count()
        report.lines = lines.count()
        totals = totals_from_lines(journal_lines_as_legs(lines.values(*LINE_FIELDS).iterator(chunk_size=5000)))

        for inv in invoices.values_list(
            "pk", "number", "status", "balance_minor", "paid_minor", "refunded_minor", "total_minor"
        ).iterator():
            pk, number, status, balance, paid, refunded, total = inv
            report.invoices += 1
            _compare(report, f"invoice {number} balance", balance, totals.invoice_balance.get(pk, 0))
            _compare(report, f"invoice {number} paid", paid, totals.invoice_paid.get(pk, 0))
            _compare(report, f"invoice {number} refunded", refunded, totals.invoice_refunded.get(pk, 0))
            if status == InvoiceStatus.PAID and balance != 0:
                report.mismatches.append(f"invoice {number} is paid but owes {balance}")
            if status in (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID) and balance == 0 and total:
                report.mismatches.append(f"invoice {number} is {status} but owes nothing")
            if balance < 0:
                report.mismatches.append(f"invoice {number} has a negative balance")

        known_payments = set()
        for pk, amount, unapplied, refunded in payments.values_list(
            "pk", "amount_minor", "unapplied_minor", "refunded_minor"
        ).iterator():
            report.payments += 1
            known_payments.add(pk)
            _compare(report, f"payment {pk} amount", amount, totals.payment_amount.get(pk, 0))
            _compare(report, f"payment {pk} unapplied", unapplied, totals.payment_unapplied.get(pk, 0))
            _compare(report, f"payment {pk} refunded", refunded, totals.payment_refunded.get(pk, 0))
        for pk in set(totals.payment_amount) - known_payments:
            report.mismatches.append(f"journal names payment {pk}, which does not exist")

        for pk, remaining in memos.values_list("pk", "remaining_minor").iterator():
            report.credit_memos += 1
            _compare(report, f"credit memo {pk} remaining", remaining, totals.credit_remaining.get(pk, 0))

        stored_applications: dict[tuple[int, int | None, int | None], int] = {}
        for invoice_id, payment_id, memo_id, amount in applications.values_list(
            "invoice_id", "payment_id", "credit_memo_id", "amount_minor"
        ).iterator():
            report.applications += 1
            stored_applications[(invoice_id, payment_id, memo_id)] = amount
        for key in set(stored_applications) | set(totals.applied):
            _compare(report, f"application {key}", stored_applications.get(key, 0), totals.applied.get(key, 0))
    return report
