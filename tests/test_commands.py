"""The `settle` command line: its overview and each subcommand's help, `verify` on consistent and
tampered books, `createmerchant`, and `serve` stopping the server and the worker together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from settle.cli import main
from settle.core.tenancy import merchant_scope
from settle.customers.models import Customer
from settle.invoicing.models import Invoice
from settle.tenants.models import Membership, Merchant, Role
from tests.conftest import make_customer, make_invoice, make_merchant, make_payment

SETTLE = Path(sys.executable).with_name("settle")
SUBCOMMAND_OPTIONS = {
    "serve": ["--bind", "--workers", "--with-worker"],
    "worker": ["--queue-name", "--batch"],
    "demo": ["--if-empty"],
    "verify": ["--merchant"],
    "createmerchant": ["--owner-email", "--password", "--currency", "--locale", "--time-zone"],
}
PASSWORD = "correct horse battery"


def settle(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SETTLE), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def test_overview_lists_every_subcommand() -> None:
    result = settle("--help")

    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(SUBCOMMAND_OPTIONS)


@pytest.mark.parametrize(("name", "options"), SUBCOMMAND_OPTIONS.items())
def test_each_subcommand_explains_itself(name: str, options: list[str]) -> None:
    result = settle(name, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: settle {name} ")
    for option in options:
        assert option in result.stdout


# `main` runs a command the way the console script does, exit status included; Django closes the
# database connection afterwards, which only a transactional test survives.
@pytest.mark.django_db(transaction=True)
def test_verify_exits_zero_on_consistent_books(
    merchant: Merchant, customer: Customer, capsys: pytest.CaptureFixture[str]
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 4_000, [invoice])

    main(["verify"])

    out = capsys.readouterr().out
    counts = checked_counts(out)
    assert re.fullmatch(r"[1-9]\d* \([1-9]\d* lines\)", counts.pop("Journal entries"))
    assert counts == {
        "Invoices": "1",
        "Payments": "1",
        "Credit memos": "0",
        "Applications": "1",
    }
    assert "MISMATCH" not in out
    assert "Every stored balance agrees with the journal." in out


@pytest.mark.django_db(transaction=True)
def test_verify_exits_non_zero_and_names_a_tampered_balance(
    merchant: Merchant, customer: Customer, capsys: pytest.CaptureFixture[str]
) -> None:
    invoice = make_invoice(merchant, customer, 10_000)
    make_payment(merchant, customer, 4_000, [invoice])
    Invoice.objects.filter(pk=invoice.pk).update(balance_minor=F("balance_minor") + 1)

    with pytest.raises(SystemExit) as exit_:
        main(["verify"])

    assert exit_.value.code == 1
    captured = capsys.readouterr()
    mismatches = [line for line in captured.out.splitlines() if line.startswith("MISMATCH")]
    assert mismatches == [f"MISMATCH invoice {invoice.number} balance: stored 6001, journal says 6000"]
    assert "1 mismatch(es)" in captured.err


def test_verify_checks_only_the_merchants_asked_for(merchant: Merchant, customer: Customer) -> None:
    other = make_merchant(name="Other Shop")
    tampered = make_invoice(other, make_customer(other), 5_000)
    with merchant_scope(other):
        Invoice.objects.filter(pk=tampered.pk).update(balance_minor=1)
    make_invoice(merchant, customer, 10_000)

    call_command("verify", "--merchant", str(merchant.pk), stdout=StringIO())

    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("verify", "--merchant", str(merchant.pk), "--merchant", str(other.pk), stdout=StringIO())
    with pytest.raises(CommandError, match="No merchant with id 999999."):
        call_command("verify", "--merchant", str(merchant.pk), "--merchant", "999999", stdout=StringIO())


def checked_counts(out: str) -> dict[str, str]:
    """`Invoices checked:   3` lines → {"Invoices": "3"}."""
    rows = (line.partition(" checked:") for line in out.splitlines())
    return {label: value.strip() for label, found, value in rows if found}


def test_createmerchant_creates_the_merchant_and_its_owner(db: None) -> None:
    out = StringIO()

    call_command(
        "createmerchant",
        "Bob's Bakes",
        owner_email="Bob@Example.com",
        password=PASSWORD,
        currency="eur",
        locale="fr_FR",
        time_zone="Europe/Paris",
        stdout=out,
    )

    merchant = Merchant.objects.get()
    assert (merchant.name, merchant.currency, merchant.locale, merchant.time_zone) == (
        "Bob's Bakes",
        "EUR",
        "fr_FR",
        "Europe/Paris",
    )
    membership = Membership.objects.get(merchant=merchant)
    assert (membership.role, membership.user.email) == (Role.OWNER, "bob@example.com")
    assert membership.user.check_password(PASSWORD)
    assert f"bob@example.com signs in at {settings.SETTLE_BASE_URL}/accounts/login/" in out.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"currency": "XYZ", "password": PASSWORD}, "Unknown currency “XYZ”."),
        ({"time_zone": "Mars/Olympus", "password": PASSWORD}, "Unknown time zone “Mars/Olympus”."),
        ({"password": "123"}, "This password is too short."),
        ({}, "Give the owner's password with --password"),
    ],
)
def test_createmerchant_refuses_bad_input_and_writes_nothing(db: None, options: dict[str, str], message: str) -> None:
    with pytest.raises(CommandError) as error:
        call_command("createmerchant", "Bob's Bakes", owner_email="bob@example.com", stdout=StringIO(), **options)

    assert str(error.value).startswith(message)
    assert not Merchant.objects.exists()
    assert not get_user_model().objects.exists()


def test_createmerchant_adds_an_existing_user_as_owner_keeping_their_password(db: None) -> None:
    first = make_merchant(owner_email="bob@example.com", owner_password=PASSWORD)
    out = StringIO()

    call_command(
        "createmerchant", "Second Shop", owner_email="bob@example.com", password="another long phrase", stdout=out
    )

    second = Merchant.objects.exclude(pk=first.pk).get()
    owner = Membership.objects.get(merchant=second, role=Role.OWNER).user
    assert owner.check_password(PASSWORD)
    assert "already had a sign-in" in out.getvalue()


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    """A separate SQLite database in a temporary var/, with the development settings `make run` uses."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.dev", SETTLE_VAR_DIR=str(tmp_path))
    result = settle("migrate", "--noinput", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_runs_server_and_worker_and_ctrl_c_stops_both(app_env: dict[str, str], free_port: int) -> None:
    serve = subprocess.Popen(
        [str(SETTLE), "serve", "--with-worker", "--workers=1", f"--bind=127.0.0.1:{free_port}"],
        env=app_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert http_status(f"http://127.0.0.1:{free_port}/accounts/login/") == 200
        children = list(child_processes(serve.pid))
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children]
        assert sorted(b"gunicorn" in cmd or b"worker" in cmd for cmd in commands) == [True, True]

        serve.send_signal(signal.SIGINT)

        assert serve.wait(timeout=30) == 0
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def http_status(url: str, *, timeout: float = 30) -> int:
    """The first answer from a server that is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local http URL)
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def child_processes(pid: int) -> Iterator[int]:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            yield int(stat.parent.name)
