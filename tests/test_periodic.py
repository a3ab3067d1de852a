"""The worker's timer enqueues each periodic task at its interval and survives a failing enqueue."""

from __future__ import annotations

from settle.core.periodic import PeriodicEnqueuer


class RecordingTask:
    def __init__(self, fail: bool = False) -> None:
        self.enqueued = 0
        self.fail = fail

    def enqueue(self) -> None:
        self.enqueued += 1
        if self.fail:
            raise RuntimeError("queue unavailable")


SWEEP = RecordingTask()
BROKEN = RecordingTask(fail=True)


def test_each_task_is_enqueued_once_per_interval() -> None:
    periodic = PeriodicEnqueuer({"tests.test_periodic.SWEEP": 60})
    due: dict[object, float] = {}
    for now in (0, 1, 30, 59.9, 60, 61, 119, 120):
        periodic.run_due(due, now)
    assert SWEEP.enqueued == 3  # at 0, 60 and 120


def test_a_failing_enqueue_is_logged_and_tried_again_next_interval() -> None:
    periodic = PeriodicEnqueuer({"tests.test_periodic.BROKEN": 10})
    due: dict[object, float] = {}
    for now in (0, 5, 10):
        periodic.run_due(due, now)
    assert BROKEN.enqueued == 2


def test_the_sweepers_are_scheduled(settings: object) -> None:
    periodic = PeriodicEnqueuer(settings.SETTLE_PERIODIC_TASKS)  # type: ignore[attr-defined]
    assert sorted(task.name for task in periodic.schedule) == [
        "charge_attempts_reconcile_due",
        "inbound_events_process_due",
        "messages_sweep",
        "refunds_reconcile_due",
        "sandbox_advance_task",
    ]
