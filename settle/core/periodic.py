"""Periodic work (sweepers, reconciliation) enqueued on a timer by `settle worker`.

django-tasks runs what is queued but has no schedule of its own, so the worker keeps a small
thread that enqueues each task named in `settings.SETTLE_PERIODIC_TASKS` (dotted path → seconds)
at its interval. The tasks themselves are idempotent sweeps: two workers enqueueing the same one
cost a little work, never a double side effect."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from django.db import close_old_connections, models, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# How many rows one sweep hands out; the rest wait for the next one.
SWEEP_BATCH = 200


def rows_due_leased(
    rows: models.QuerySet[Any],
    *,
    due_field: str,
    now: Any,
    columns: tuple[str, ...],
    lease: Mapping[str, Any],
) -> list[tuple[Any, ...]]:
    """A sweep's share of work: (id, *columns) of the rows whose `due_field` has come at `now`,
    oldest first, at most SWEEP_BATCH, each updated with `lease` (a later `due_field`, say) in the
    same transaction, so the next sweep does not hand them out again while their work runs."""
    with transaction.atomic():
        due = list(
            rows.filter(**{f"{due_field}__lte": now}).order_by(due_field).values_list("pk", *columns)[:SWEEP_BATCH]
        )
        rows.model._base_manager.filter(pk__in=[row[0] for row in due]).update(**lease)
    return due


class PeriodicEnqueuer:
    def __init__(self, schedule: Mapping[str, float], *, tick: float = 1.0):
        self.schedule = {import_string(path): float(seconds) for path, seconds in schedule.items()}
        self.tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="settle-periodic", daemon=True)

    def start(self) -> None:
        if self.schedule:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def run_due(self, due: dict[Any, float], now: float) -> None:
        """Enqueue every task whose time has come and set its next time."""
        for task, seconds in self.schedule.items():
            if due.get(task, 0.0) <= now:
                try:
                    task.enqueue()
                except Exception:  # the next tick tries again; a worker must not die of it
                    logger.exception("could not enqueue %s", task)
                due[task] = now + seconds

    def _run(self) -> None:
        due: dict[Any, float] = {}
        while not self._stop.wait(self.tick):
            close_old_connections()
            self.run_due(due, time.monotonic())
        close_old_connections()
