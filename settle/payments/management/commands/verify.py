"""`settle verify`: prove that every cached balance still agrees with the journal."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant


class Command(BaseCommand):
    help = (
        "Recompute every invoice, payment, credit memo and application balance from the journal and "
        "report each difference from what is stored. Reads only. Exits non-zero on any mismatch."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--merchant",
            type=int,
            action="append",
            dest="merchant_ids",
            metavar="ID",
            help="check only this merchant (repeat for several)",
        )

    def handle(self, *, merchant_ids: list[int] | None, **options: Any) -> None:
        if merchant_ids:
            missing = set(merchant_ids) - set(Merchant.objects.filter(pk__in=merchant_ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No merchant with id {', '.join(map(str, sorted(missing)))}.")
        report = ledger_verify(merchant_ids=merchant_ids)
        checked = {
            "Journal entries": f"{report.entries} ({report.lines} lines)",
            "Invoices": report.invoices,
            "Payments": report.payments,
            "Credit memos": report.credit_memos,
            "Applications": report.applications,
        }
        for label, count in checked.items():
            self.stdout.write(f"{label + ' checked:':<26}{count}")
        for mismatch in report.mismatches:
            self.stdout.write(f"MISMATCH {mismatch}")
        if not report.ok:
            raise CommandError(f"{len(report.mismatches)} mismatch(es) between the journal and stored balances.")
        self.stdout.write(self.style.SUCCESS("Every stored balance agrees with the journal."))
