"""`verify_webhook` of the sandbox gateway: a good signature passes; missing, altered, stale or
malformed ones are refused; a replay inside five minutes passes with the same event id, which is
what the receiver stores once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings

from settle.gateways.base import InvalidWebhook
from settle.gateways.sandbox import SandboxGateway
from settle.sandbox.webhooks import SIGNATURE_HEADER, signature_header

NOW = dt.datetime(2025, 3, 10, 15, 0, tzinfo=dt.UTC)
T = int(NOW.timestamp())
BODY = json.dumps({"id": "evt_1", "type": "charge.succeeded", "created": T, "data": {"reference": "ch_1"}}).encode()


def verify(headers: dict[str, str], body: bytes = BODY, now: dt.datetime = NOW) -> object:
    return SandboxGateway().verify_webhook(headers=headers, body=body, now=now)


def signed(body: bytes = BODY, timestamp: int = T) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature_header(body, timestamp), "Content-Type": "application/json"}


def test_a_good_signature_gives_the_event() -> None:
    event = SandboxGateway().verify_webhook(headers=signed(), body=BODY, now=NOW)

    assert (event.id, event.type, dict(event.data)) == ("evt_1", "charge.succeeded", {"reference": "ch_1"})


def test_the_header_name_is_matched_in_any_case() -> None:
    verify({"sandbox-signature": signed()[SIGNATURE_HEADER]})


def test_unsigned_is_refused() -> None:
    with pytest.raises(InvalidWebhook, match="Unsigned"):
        verify({"Content-Type": "application/json"})


def test_an_altered_body_is_refused() -> None:
    with pytest.raises(InvalidWebhook, match="Altered"):
        verify(signed(), body=BODY.replace(b"ch_1", b"ch_2"))


def test_an_altered_signature_is_refused() -> None:
    header = signed()[SIGNATURE_HEADER]
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")

    with pytest.raises(InvalidWebhook, match="Altered"):
        verify({SIGNATURE_HEADER: flipped})


def test_a_moved_timestamp_breaks_the_signature() -> None:
    header = signed()[SIGNATURE_HEADER].replace(f"t={T}", f"t={T + 60}")

    with pytest.raises(InvalidWebhook, match="Altered"):
        verify({SIGNATURE_HEADER: header})


def test_another_secret_is_refused() -> None:
    with override_settings(SANDBOX_WEBHOOK_SECRET="someone else's"):
        headers = signed()

    with pytest.raises(InvalidWebhook, match="Altered"):
        verify(headers)


@pytest.mark.parametrize(
    ("age", "accepted"), [(0, True), (299, True), (300, True), (301, False), (-301, False), (86_400, False)]
)
def test_signatures_older_than_five_minutes_are_stale(age: int, accepted: bool) -> None:
    headers = signed(timestamp=T - age)

    if accepted:
        verify(headers)
    else:
        with pytest.raises(InvalidWebhook, match="Stale"):
            verify(headers)


@pytest.mark.parametrize("header", ["", "v1=abc", f"t={T}", "t=soon,v1=abc", "garbage", "t=٣,v1=abc"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidWebhook):
        verify({SIGNATURE_HEADER: header})


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    for body in (b"not json", b"[]", json.dumps({"id": "", "type": "x", "data": {}}).encode()):
        with pytest.raises(InvalidWebhook):
            verify(signed(body), body=body)


def test_several_signatures_pass_when_one_matches() -> None:
    header = f"t={T},v1={'0' * 64},{signed()[SIGNATURE_HEADER].split(',')[1]}"

    verify({SIGNATURE_HEADER: header})


def test_a_replay_within_five_minutes_carries_the_same_id() -> None:
    """Nothing in the signature stops a copy sent again at once: the id is the receiver's guard."""
    first = SandboxGateway().verify_webhook(headers=signed(), body=BODY, now=NOW)
    replayed = SandboxGateway().verify_webhook(headers=signed(), body=BODY, now=NOW + dt.timedelta(minutes=4))

    assert replayed.id == first.id == "evt_1"
    with pytest.raises(InvalidWebhook, match="Stale"):
        SandboxGateway().verify_webhook(headers=signed(), body=BODY, now=NOW + dt.timedelta(minutes=6))


def test_the_default_is_the_current_time() -> None:
    with pytest.raises(InvalidWebhook, match="Stale"):
        SandboxGateway().verify_webhook(headers=signed(), body=BODY)
