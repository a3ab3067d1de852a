"""`settle demo`: two demo merchants with six months of customers, invoices and payments."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from settle.backoffice.demo_data import (
    DEMO_PASSWORD,
    OWNER_EMAIL,
    DemoFailed,
    DemoReport,
    MerchantReport,
    demo_load,
)
from settle.core.tenancy import all_merchants
from settle.invoicing.models import InvoiceStatus
from settle.payments.models import PaymentMethod
from settle.tenants.models import Merchant


class Command(BaseCommand):
    help = "Load demo data: two merchants, their customers, invoices and payments, and sign-ins to try them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="only print the sign-in if the database already has a merchant"
        )
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="how much history to make: 1.0 is about 50 customers and 250 invoices per merchant",
        )

    def handle(self, *, if_empty: bool, scale: float, **options: Any) -> None:
        with all_merchants():
            has_merchants = Merchant.objects.exists()
        if has_merchants:
            if if_empty:
                if User.objects.filter(username=OWNER_EMAIL).exists():
                    self.stdout.write(f"Demo data is loaded: sign in at {settings.SETTLE_BASE_URL}/accounts/login/")
                    self.stdout.write(f"  {OWNER_EMAIL} / {DEMO_PASSWORD}")
                return
            raise CommandError("This database already has merchants; demo data is only loaded into an empty one.")
        if not 0 < scale <= 20:
            raise CommandError("--scale must be more than 0 and at most 20.")
        started = time.monotonic()
        try:
            report = demo_load(scale=scale)
        except DemoFailed as failure:
            raise CommandError(f"The demo data did not verify against the journal: {failure}") from failure
        self._summary(report, time.monotonic() - started)

    def _summary(self, report: DemoReport, seconds: float) -> None:
        for merchant in report.merchants:
            self.stdout.write(self.style.SUCCESS(f"{merchant.name} ({merchant.currency})"))
            for label, text in _lines(merchant):
                self.stdout.write(f"  {label:<13} {text}")
        entries = counted(report.journal_entries, "journal entry balances", "journal entries balance")
        self.stdout.write(f"Ledger verified: {entries}. Took {seconds:.1f} s.")
        self.stdout.write("")
        self.stdout.write(f"Sign in at {settings.SETTLE_BASE_URL}/accounts/login/")
        self.stdout.write(f"  {report.owner_email} / {report.password}  (owner of both merchants)")
        self.stdout.write(f"  {report.viewer_email} / {report.password}  (read-only at {report.merchants[0].name})")


def _lines(merchant: MerchantReport) -> list[tuple[str, str]]:
    n = merchant.counts
    statuses = ", ".join(
        f"{merchant.invoice_statuses[status]} {label.lower()}"
        for status, label in InvoiceStatus.choices
        if merchant.invoice_statuses.get(status)
    )
    methods = ", ".join(
        f"{label} {n[f'payments by {method}']}" for method, label in PaymentMethod.choices if n[f"payments by {method}"]
    )
    return [
        ("invoices", f"{sum(merchant.invoice_statuses.values())}: {statuses}; {merchant.past_due} past due"),
        (
            "customers",
            f"{n['customers']}, {counted(n['contacts'], 'contact')} ({n['contacts revoked']} with access revoked), "
            f"{counted(n['external references'], 'external reference')}",
        ),
        (
            "orders",
            f"{n['orders']} ({n['orders not checked out']} not checked out); "
            f"{counted(n['quick payment requests'], 'quick payment request')}",
        ),
        ("payments", f"{n['payments']}: {methods}; {n['payments kept as credit']} kept as customer credit"),
        (
            "paid online",
            f"{n['paid online']} through the payment processor "
            f"({counted(n['bank debits succeeded'], 'bank debit')} settled, "
            f"{n['bank debits returned']} returned, {n['payments voided']} voided); "
            f"{counted(n['payment methods saved'], 'payment method')} saved, "
            f"{counted(n['requests sent'], 'request')} sent, "
            f"{n['paid elsewhere, to confirm']} paid by app to confirm",
        ),
        ("refunds", str(n["refunds"])),
        (
            "credits",
            f"{counted(n['credit memos'], 'credit memo')}, {counted(n['credits applied'], 'credit')} applied, "
            f"{counted(n['applications moved to credit'], 'payment')} moved to credit",
        ),
        ("templates", f"{counted(n['message templates'], 'message template')} in English and French"),
    ]


def counted(count: int, singular: str, plural: str = "") -> str:
    """`1 payment`, `2 payments`: the count and the word that agrees with it (`plural` when adding
    an s is not enough)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
