"""`settle sandbox_advance`: move the sandbox processor's clock and do what falls due (3-D Secure
confirmations expire, charges settle, bank debits come back returned), then deliver due webhook
events. Run it on a schedule beside the worker; tests call `sandbox_advance(now=…)` instead."""

from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import sandbox_advance
from settle.sandbox.webhooks import events_deliver_due


class Command(BaseCommand):
    help = (
        "Move the sandbox processor's clock forward (to now by default) and do what falls due by then: "
        "settlements, bank returns, expired confirmations; then deliver due webhook events."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--days", type=float, help="move this many days past the sandbox's current time")
        target.add_argument("--to", dest="moment", metavar="ISO_DATETIME", help="move to this time (with a UTC offset)")

    def handle(self, *, days: float | None, moment: str | None, **options: Any) -> None:
        now = sandbox_now()
        if days is not None:
            now += dt.timedelta(days=days)
        elif moment is not None:
            try:
                now = dt.datetime.fromisoformat(moment)
            except ValueError:
                raise CommandError(f"Not an ISO date and time: {moment}") from None
            if now.tzinfo is None:
                raise CommandError("Give the time with its UTC offset, e.g. 2025-01-31T09:00:00+00:00.")
        report = sandbox_advance(now=now)
        delivered, failed = events_deliver_due(now=report.now)
        self.stdout.write(
            f"Sandbox time {report.now.isoformat()}: {report.settled} settled, {report.returned} returned, "
            f"{report.expired} confirmations expired; {delivered} events delivered, {failed} not delivered."
        )
