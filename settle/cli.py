"""The `settle` command: Settle's own management commands up front, every other Django
management command (`migrate`, `collectstatic`, `shell`…) passed through unchanged."""

from __future__ import annotations

import os
import sys

DEFAULT_SETTINGS = "config.settings.dev"

SUBCOMMANDS = {
    "serve": "serve the app with gunicorn; --with-worker also runs the task worker",
    "worker": "run the background task worker",
    "demo": "load a demo merchant with customers, invoices and payments",
    "verify": "recompute every cached balance from the journal; exits non-zero on any mismatch",
    "createmerchant": "create a merchant and its owner's sign-in",
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [
        "usage: settle <command> [options]",
        "",
        "Settle: accounts receivable and payment collection.",
        "",
        "commands:",
        *(f"  {name.ljust(width)}  {summary}" for name, summary in SUBCOMMANDS.items()),
        "",
        "`settle <command> --help` describes a command's options; `settle help` lists every Django",
        "management command, which `settle` also runs (`settle migrate`, `settle collectstatic`…).",
        f"Settings come from DJANGO_SETTINGS_MODULE (default {DEFAULT_SETTINGS}) and the environment.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `settle` console script."""
    args = sys.argv[1:] if argv is None else argv
    # The overview needs no settings, so it works before anything is configured.
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["settle", *args])
