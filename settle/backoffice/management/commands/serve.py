"""`settle serve`: the web app under gunicorn and, with --with-worker, the task worker beside it.

Each runs as a child in its own process group, so Ctrl-C or SIGTERM reaches it exactly once:
forwarded from here. A second Ctrl-C is forwarded too, which is how the worker is told to abandon
its current task."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

POLL_SECONDS = 0.25


class Command(BaseCommand):
    help = "Serve Settle with gunicorn; --with-worker also runs the background task worker. Stopping one stops both."
    requires_migrations_checks = True

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="address to listen on (default: %(default)s)")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default: %(default)s)")
        parser.add_argument("--with-worker", action="store_true", help="also run the background task worker")

    def handle(self, *, bind: str, workers: int, with_worker: bool, **options: Any) -> None:
        commands = {
            "server": [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                f"--bind={bind}",
                f"--workers={workers}",
                "--access-logfile=-",
            ],
        }
        if with_worker:
            commands["worker"] = [sys.executable, "-m", "django", "worker"]

        children: dict[str, subprocess.Popen[bytes]] = {}
        stop_signals: list[int] = []

        def forward(signum: int, frame: FrameType | None) -> None:
            stop_signals.append(signum)
            for child in children.values():
                child.send_signal(signum)

        # Installed before the first child starts, so no signal can leave one running unattended.
        previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            address = bind if bind.startswith(("unix:", "fd:")) else f"http://{bind}"
            beside = " with the task worker" if with_worker else ""
            self.stdout.write(f"Serving Settle at {address}{beside}. Ctrl-C stops.")
            for name, command in commands.items():
                children[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, process_group=0)
            while all(child.poll() is None for child in children.values()):
                time.sleep(POLL_SECONDS)
            exited = {name: child.returncode for name, child in children.items() if child.returncode is not None}
            if not stop_signals:
                # One stopped on its own: stop the rest. After a Ctrl-C they already have the
                # signal; a second one would make the worker abandon its task.
                for child in children.values():
                    child.terminate()
            for child in children.values():
                child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if not stop_signals:
            stopped = ", ".join(f"the {name} (exit status {code})" for name, code in exited.items())
            raise CommandError(f"Stopped because {stopped} exited.")
