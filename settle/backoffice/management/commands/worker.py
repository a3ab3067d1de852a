"""`settle worker`: the background task worker, reading the queue that django-tasks-db keeps in
the database."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from settle.core.periodic import PeriodicEnqueuer


class Command(DatabaseWorkerCommand):
    help = "Run the background task worker: it takes queued work from every queue in the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        # One worker serves every queue unless told otherwise; and it runs beside a real server,
        # restarted on deploy rather than on each file change (the reloader would also leave an
        # orphan behind when `serve` stops it).
        parser.set_defaults(queue_name="*", reload=False)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the queue, and beside it enqueue the periodic sweeps (`SETTLE_PERIODIC_TASKS`)."""
        periodic = PeriodicEnqueuer(settings.SETTLE_PERIODIC_TASKS)
        periodic.start()
        try:
            super().handle(*args, **options)
        finally:
            periodic.stop()
