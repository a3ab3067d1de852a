"""`settle sandbox_advance` and its task move the processor's clock, never back, and do what falls due."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from settle.gateways.base import Outcome
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox import webhooks
from settle.sandbox.models import Event
from settle.sandbox.selectors import sandbox_now
from settle.sandbox.services import sandbox_advance
from settle.sandbox.tasks import sandbox_advance_task
from tests.sandbox.factories import bank_account, card, charge, move_to_a_monday

pytestmark = pytest.mark.django_db


def test_the_command_moves_the_clock_and_settles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "http_post", lambda url, body, headers: 200)
    gateway = SandboxGateway()
    monday = move_to_a_monday()
    charge(gateway, bank_account(gateway), key="ach")
    out = StringIO()

    call_command("sandbox_advance", "--days", "3", stdout=out)

    assert sandbox_now() == monday + dt.timedelta(days=3)
    assert gateway.fetch_charge(idempotency_key="ach").outcome == Outcome.SUCCESS
    assert out.getvalue().strip() == (
        f"Sandbox time {(monday + dt.timedelta(days=3)).isoformat()}: 1 settled, 0 returned, "
        "0 confirmations expired; 1 events delivered, 0 not delivered."
    )


def test_the_command_takes_a_time_and_never_goes_back() -> None:
    later = move_to_a_monday() + dt.timedelta(days=1)
    call_command("sandbox_advance", "--to", later.isoformat(), stdout=StringIO())
    call_command("sandbox_advance", "--to", (later - dt.timedelta(days=10)).isoformat(), stdout=StringIO())

    assert sandbox_now() == later
    assert sandbox_advance(now=later - dt.timedelta(days=1)).now == later


@pytest.mark.parametrize("moment", ["tomorrow", "2030-01-01T09:00:00"])
def test_the_command_refuses_a_vague_time(moment: str) -> None:
    with pytest.raises(CommandError):
        call_command("sandbox_advance", "--to", moment, stdout=StringIO())


def test_the_task_catches_up_with_real_time_and_retries_deliveries(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[bytes] = []

    def post(url: str, body: bytes, headers: object) -> int:
        sent.append(body)
        return 200

    monkeypatch.setattr(webhooks, "http_post", post)
    gateway = SandboxGateway()
    charge(gateway, card(gateway))  # its delivery would be queued on commit; the task's sweep sends it

    sandbox_advance_task.enqueue()

    assert len(sent) == 1
    assert Event.objects.get().delivered_at is not None
