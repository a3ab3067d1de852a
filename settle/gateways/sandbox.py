"""The sandbox processor (`settle.sandbox`) behind the gateway interface.

The sandbox stands in for an outside company. This adapter is the only code in Settle that talks
to it, through `SandboxClient`, which carries JSON bytes the way a network would (a test can hand
it another transport). A 500, a timeout or a lost reply ends UNKNOWN, never a guess: ask again
with `fetch_charge` / `fetch_refund`, by the same idempotency key. Call the gateway outside a
database transaction: the sandbox shares Settle's database, so a rollback around the call would
also undo the processor's side, which a real processor would not do.

Test cards, bank accounts, wallets and buy-now-pay-later are listed on the sandbox's own pages and
in `settle.sandbox.catalogue`.

Webhook events
--------------
POSTed to SETTLE_BASE_URL + "/webhooks/sandbox/" as JSON, signed (`verify_webhook` checks it):

    Sandbox-Signature: t=<unix time of sending>,v1=<hex HMAC-SHA256 of f"{t}.{body}">
    {"id": "evt_…", "type": "charge.succeeded", "created": <unix time of the change>, "data": {…}}

A delivery that does not get a 2xx is retried with backoff, with the same id: store each id once.

`charge.succeeded`  a card, wallet or pay-later charge went through (at once, or after 3-D Secure)
`charge.failed`     a charge was declined, its 3-D Secure confirmation failed, or nobody answered
                    the confirmation within a day (decline code `authentication_expired`)
`charge.settled`    the funds settled: a card the next business day; a bank debit after 3 business
                    days, which is when a bank debit succeeds
`charge.returned`   a settled bank debit came back (2 business days later): `return_code` R01,
                    R02, R03 or R10; the charge is a failure from then on
`charge.voided`     the charge was voided before settling
`refund.succeeded`  a refund went through

`data` of the `charge.*` events:

    {"object": "charge", "reference": "ch_…", "idempotency_key": "…", "status": "succeeded",
     "outcome": "success" | "failure" | "pending", "decline_code": "", "message": "",
     "action_url": "", "amount_minor": 12500, "currency": "USD", "refunded_minor": 0,
     "kind": "card" | "ach" | "wallet" | "bnpl", "brand": "Visa", "last4": "4242",
     "settled": false, "return_code": "" | "R01" | …, "metadata": {…the charge's metadata}}

`status` is one of requires_action, pending, succeeded, failed, voided, returned; `outcome` is
what `fetch_charge` would answer (a returned charge: failure with the return code as decline code).

`data` of `refund.succeeded`:

    {"object": "refund", "reference": "re_…", "idempotency_key": "…", "outcome": "success",
     "decline_code": "", "message": "", "amount_minor": 2500, "currency": "USD",
     "charge_reference": "ch_…", "charge_idempotency_key": "…", "charge_refunded_minor": 2500}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from settle.core import clock
from settle.core.money import Money
from settle.sandbox import api, catalogue, services, webhooks
from settle.sandbox.links import absolute_url
from settle.sandbox.selectors import sandbox_now

from .base import (
    ChargeRequest,
    ChargeResult,
    Gateway,
    InvalidWebhook,
    MethodKind,
    Outcome,
    RefundRequest,
    RefundResult,
    VaultedMethod,
    VaultFailed,
    VoidResult,
    Wallet,
    WebhookEvent,
)

WEBHOOK_TOLERANCE = dt.timedelta(minutes=5)

# (operation, JSON request body) → (HTTP status, JSON reply body); raises OSError when no reply came.
Transport = Callable[[str, bytes], tuple[int, bytes]]

Answer = TypeVar("Answer", ChargeResult, RefundResult, VoidResult)


class SandboxUnreachable(Exception):
    """No usable reply: a 5xx, a timeout, a dropped connection, or bytes that are not JSON. The
    request may or may not have been carried out."""


class SandboxClient:
    """Speaks to the sandbox as a network would: a JSON body out, a status and a JSON body back."""

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport: Transport = transport or api.receive

    def call(self, operation: str, payload: Mapping[str, object]) -> dict[str, Any]:
        """The reply body: the answer, or `{"error": {code, message}}` for a refused request (4xx).
        Raises SandboxUnreachable."""
        try:
            status, body = self.transport(operation, json.dumps(payload).encode())
        except OSError as exc:
            raise SandboxUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            raise SandboxUnreachable(f"HTTP {status}")
        try:
            reply = json.loads(body)
        except ValueError as exc:
            raise SandboxUnreachable("The reply was not JSON.") from exc
        if not isinstance(reply, dict):
            raise SandboxUnreachable("The reply was not a JSON object.")
        return reply


def _refusal(reply: Mapping[str, Any]) -> tuple[str, str] | None:
    """(code, message) when the sandbox refused the request outright."""
    error = reply.get("error")
    if not isinstance(error, dict):
        return None
    return str(error.get("code", "invalid_request")), str(error.get("message", ""))


def _unreachable_message(exc: SandboxUnreachable) -> str:
    return f"The sandbox gave no usable answer ({exc}); the outcome is unknown."


class SandboxGateway(Gateway):
    name = "sandbox"
    kinds = frozenset(MethodKind)

    def __init__(self, client: SandboxClient | None = None) -> None:
        self.client = client or SandboxClient()

    def hosted_fields_url(self, *, kind: MethodKind, return_url: str, state: str) -> str:
        pages = {MethodKind.CARD: "sandbox:card_fields", MethodKind.ACH: "sandbox:bank_fields"}
        if kind not in pages:
            raise ValueError(f"No hosted fields for {kind}: use wallet_sheet_url or bnpl_checkout_url.")
        return absolute_url(pages[kind], query={"return_url": return_url, "state": state})

    def wallet_sheet_url(self, *, wallet: Wallet, amount: Money, label: str, return_url: str, state: str) -> str:
        query = {
            "wallet": Wallet(wallet).value,
            "amount_minor": str(amount.minor),
            "currency": amount.currency,
            "label": label,
            "return_url": return_url,
            "state": state,
        }
        return absolute_url("sandbox:wallet_sheet", query=query)

    def bnpl_checkout_url(self, *, amount: Money, description: str, return_url: str, state: str) -> str:
        query = {
            "amount_minor": str(amount.minor),
            "currency": amount.currency,
            "description": description,
            "return_url": return_url,
            "state": state,
        }
        return absolute_url("sandbox:bnpl_checkout", query=query)

    def vault_complete(self, *, setup_token: str) -> VaultedMethod:
        try:
            reply = self.client.call("vault_complete", {"setup_token": setup_token})
        except SandboxUnreachable as exc:
            raise VaultFailed("The payment processor could not be reached.", code="unavailable") from exc
        if refusal := _refusal(reply):
            code, message = refusal
            raise VaultFailed(message, code=code)
        return VaultedMethod(
            token=str(reply["token"]),
            kind=MethodKind(reply["kind"]),
            brand=str(reply["brand"]),
            last4=str(reply["last4"]),
            exp_month=reply.get("exp_month"),
            exp_year=reply.get("exp_year"),
            single_use=bool(reply.get("single_use")),
        )

    def _answer(self, result: type[Answer], operation: str, payload: Mapping[str, object]) -> Answer:
        """Call `operation` and read its reply as a `result` (the fields it has of reference,
        decline code, message and action URL): UNKNOWN without a usable reply, FAILURE with the
        refusal's code when the sandbox refused the request outright."""
        try:
            reply = self.client.call(operation, payload)
        except SandboxUnreachable as exc:
            return result(Outcome.UNKNOWN, message=_unreachable_message(exc))
        if refusal := _refusal(reply):
            code, message = refusal
            return result(Outcome.FAILURE, decline_code=code, message=message)
        texts = {name: str(reply.get(name, "")) for name in result.__dataclass_fields__ if name != "outcome"}
        return result(Outcome(reply["outcome"]), **texts)

    def charge(self, request: ChargeRequest) -> ChargeResult:
        payload = {
            "token": request.token,
            "amount_minor": request.amount.minor,
            "currency": request.amount.currency,
            "idempotency_key": request.idempotency_key,
            "description": request.description,
            "metadata": dict(request.metadata),
            "return_url": request.return_url,
        }
        return self._answer(ChargeResult, "charge", payload)

    def fetch_charge(self, *, idempotency_key: str) -> ChargeResult:
        return self._answer(ChargeResult, "fetch_charge", {"idempotency_key": idempotency_key})

    def refund(self, request: RefundRequest) -> RefundResult:
        payload = {
            "charge_reference": request.charge_reference,
            "amount_minor": request.amount.minor,
            "currency": request.amount.currency,
            "idempotency_key": request.idempotency_key,
        }
        return self._answer(RefundResult, "refund", payload)

    def fetch_refund(self, *, idempotency_key: str) -> RefundResult:
        return self._answer(RefundResult, "fetch_refund", {"idempotency_key": idempotency_key})

    def void(self, *, charge_reference: str) -> VoidResult:
        return self._answer(VoidResult, "void", {"charge_reference": charge_reference})

    def test_method_vault(self, *, kind: MethodKind, behaviour: str = "succeed", holder_name: str) -> VaultedMethod:
        """A card or bank account of the test catalogue that does `behaviour` (a
        `settle.sandbox.catalogue.Behaviour` value), entered as a customer would on the hosted
        fields, then vaulted. For demo data, which has no browser to type it; the number is picked
        here and forgotten like any typed one."""
        now = sandbox_now()
        if kind == MethodKind.CARD:
            number = next(n for n, card in catalogue.TEST_CARDS.items() if card.behaviour == behaviour)
            source = services.card_tokenise(
                number=number, exp_month=12, exp_year=now.year + 3, cvc="123", postal_code="10001", now=now
            )
        elif kind == MethodKind.ACH:
            account = next(a for a, does in catalogue.TEST_BANK_ACCOUNTS.items() if does == behaviour)
            source = services.bank_account_tokenise(
                routing_number=catalogue.TEST_ROUTING_NUMBER, account_number=account, holder_name=holder_name, now=now
            )
        else:
            raise ValueError(f"Only cards and bank accounts are typed on the hosted fields, not {kind}.")
        return self.vault_complete(setup_token=source.setup_token)

    def test_clock_advance(self, *, days: int) -> dt.datetime:
        """Let `days` pass at the processor, as `settle sandbox_advance --days` does without
        delivering the events (they go out from the task queue): charges settle, bank debits come
        back. Returns the processor's new time."""
        return services.sandbox_advance(now=sandbox_now() + dt.timedelta(days=days)).now

    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: dt.datetime | None = None
    ) -> WebhookEvent:
        """Accept an event only when its signature matches the body under the shared secret and was
        made within 5 minutes of `now` (either way, for clock skew); signatures compare in constant
        time. Pass the request's headers as they came (`request.headers`); the name is matched
        without regard to case."""
        wanted = webhooks.SIGNATURE_HEADER.lower()
        header = next((value for name, value in headers.items() if name.lower() == wanted), "")
        if not header:
            raise InvalidWebhook(f"Unsigned: no {webhooks.SIGNATURE_HEADER} header.")
        timestamp, candidates = _signature_parts(header)
        moment = now or clock.now()
        if abs(moment.timestamp() - timestamp) > WEBHOOK_TOLERANCE.total_seconds():
            raise InvalidWebhook("Stale: signed more than 5 minutes from now.")
        expected = hmac.new(webhooks.signing_secret(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
            raise InvalidWebhook("Altered: the signature does not match the body.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidWebhook("The body is not JSON.") from exc
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("id"), str)
            and payload["id"]
            and isinstance(payload.get("type"), str)
            and isinstance(payload.get("data"), dict)
        ):
            raise InvalidWebhook("The body is not an event.")
        return WebhookEvent(id=payload["id"], type=payload["type"], data=payload["data"])


def _signature_parts(header: str) -> tuple[int, list[str]]:
    """`t=<unix>,v1=<hex>[,v1=<hex>…]` → (t, [hex…]); raises InvalidWebhook when malformed."""
    timestamp = ""
    candidates = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            candidates.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not candidates:
        raise InvalidWebhook(f"Malformed {webhooks.SIGNATURE_HEADER} header.")
    return int(timestamp), candidates
