"""Queueing side effects after commit: django-tasks runs a task once and has no on-commit
enqueue of its own, so every side effect goes through this helper."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_tasks.base import Task


def enqueue_on_commit(task: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Enqueue `task` once the surrounding transaction commits (at once outside a transaction);
    nothing is enqueued if it rolls back."""
    transaction.on_commit(lambda: task.enqueue(*args, **kwargs))
