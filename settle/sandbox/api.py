"""The processor's API as a network carries it: an operation and a JSON body in, an HTTP status and
a JSON body out. Nothing but bytes crosses, so the adapter cannot lean on anything in-process.

Scripted faults act here, at the edge (see `services.fault_script`): `error_500` answers 500 and
does nothing; `timeout` raises TimeoutError and does nothing; `reply_lost` does the work, commits
it, then raises ConnectionResetError so the caller never learns the answer.

Operations and bodies (amounts in integer minor units):

    vault_complete  {setup_token}                → {token, kind, brand, last4, exp_month, exp_year, single_use}
    charge          {token, amount_minor, currency, idempotency_key, description?, metadata?, return_url?}
                                                 → {outcome, reference, decline_code, message, action_url}
    fetch_charge    {idempotency_key}            → the same, as the charge stands now
    refund          {charge_reference, amount_minor, currency, idempotency_key}
                                                 → {outcome, reference, decline_code, message}
    fetch_refund    {idempotency_key}            → the same
    void            {charge_reference}           → {outcome, decline_code, message}

`outcome` is "success", "failure" or "pending". A request that cannot be carried out at all answers
400 with {error: {code, message}}."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from settle.core.errors import InvalidInput
from settle.core.money import Money

from . import services
from .models import FaultKind, Operation
from .selectors import sandbox_now

Handler = Callable[[dict[str, Any], dt.datetime], dict[str, Any]]


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"`{key}` must be a non-empty string.", field=key, code="invalid_request")
    return value


def _amount(payload: dict[str, Any]) -> Money:
    minor = payload.get("amount_minor")
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise InvalidInput("`amount_minor` must be an integer.", field="amount_minor", code="invalid_request")
    return Money(minor, _text(payload, "currency"))


def _metadata(payload: dict[str, Any]) -> dict[str, str]:
    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidInput("`metadata` must map strings to strings.", field="metadata", code="invalid_request")
    return {str(k): v for k, v in metadata.items()}


def _vault_complete(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.source_reply(services.setup_token_exchange(setup_token=_text(payload, "setup_token"), now=now))


def _charge(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.charge_create(
        token=_text(payload, "token"),
        amount=_amount(payload),
        idempotency_key=_text(payload, "idempotency_key"),
        description=_text(payload, "description", required=False),
        metadata=_metadata(payload),
        return_url=_text(payload, "return_url", required=False),
        now=now,
    )


def _fetch_charge(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.charge_fetch(idempotency_key=_text(payload, "idempotency_key"))


def _refund(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.refund_create(
        charge_reference=_text(payload, "charge_reference"),
        amount=_amount(payload),
        idempotency_key=_text(payload, "idempotency_key"),
        now=now,
    )


def _fetch_refund(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.refund_fetch(idempotency_key=_text(payload, "idempotency_key"))


def _void(payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return services.charge_void(reference=_text(payload, "charge_reference"), now=now)


HANDLERS: dict[str, Handler] = {
    Operation.VAULT_COMPLETE: _vault_complete,
    Operation.CHARGE: _charge,
    Operation.FETCH_CHARGE: _fetch_charge,
    Operation.REFUND: _refund,
    Operation.FETCH_REFUND: _fetch_refund,
    Operation.VOID: _void,
}


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": {"code": code, "message": message}}).encode()


def receive(operation: str, body: bytes) -> tuple[int, bytes]:
    """Answer one API call: (HTTP status, JSON body). Raises TimeoutError or ConnectionResetError
    only when a fault is scripted."""
    handler = HANDLERS.get(operation)
    if handler is None:
        return _error(404, "unknown_operation", f"No operation {operation!r}.")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _error(400, "invalid_request", "The body must be a JSON object.")
    fault = services.fault_take(operation=operation)
    if fault == FaultKind.ERROR_500:
        return _error(500, "internal_error", "The sandbox failed (a scripted fault).")
    if fault == FaultKind.TIMEOUT:
        raise TimeoutError(f"The sandbox did not answer {operation} in time (a scripted fault).")
    try:
        status, reply = 200, handler(payload, sandbox_now())
    except InvalidInput as exc:
        # Codes are snake_case; core's checks (amounts, currencies) leave their class name instead.
        code = exc.code if exc.code.islower() else "invalid_request"
        status, reply = 400, {"error": {"code": code, "message": exc.message}}
    if fault == FaultKind.REPLY_LOST:
        raise ConnectionResetError(f"The sandbox's reply to {operation} was lost (a scripted fault).")
    return status, json.dumps(reply).encode()
