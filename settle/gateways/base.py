"""The gateway interface: plain dataclasses in, plain dataclasses out, never ORM objects.

A gateway is the outside world (a card processor, an ACH network, a buy-now-pay-later lender).
Every call ends in one of four outcomes. UNKNOWN means the call may or may not have happened (a
timeout, a lost reply): it is never guessed; reconciliation asks the gateway again with
`fetch_charge`, by the same idempotency key.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from settle.core.money import Money


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"
    UNKNOWN = "unknown"


class MethodKind(StrEnum):
    CARD = "card"
    ACH = "ach"
    WALLET = "wallet"
    BNPL = "bnpl"


@dataclass(frozen=True, slots=True)
class VaultedMethod:
    """What Settle may keep of a payment method: a token and what a person needs to recognise it.
    Never a card or account number."""

    token: str
    kind: MethodKind
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    amount: Money
    token: str
    idempotency_key: str
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    return_url: str = ""  # where a 3-D Secure style confirmation sends the customer back


@dataclass(frozen=True, slots=True)
class ChargeResult:
    outcome: Outcome
    reference: str = ""  # the gateway's id for the charge, when it has one
    decline_code: str = ""
    message: str = ""
    action_url: str = ""  # PENDING with an action: the customer must confirm there (3-D Secure)


@dataclass(frozen=True, slots=True)
class RefundRequest:
    charge_reference: str
    amount: Money
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    outcome: Outcome
    reference: str = ""
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    type: str
    data: Mapping[str, object]


class InvalidWebhook(Exception):
    """Unsigned, altered, stale or malformed: answer 400 and store nothing."""


class Gateway(abc.ABC):
    """What Settle needs of a processor. Implementations are chosen per merchant from the registry."""

    name: str
    kinds: frozenset[MethodKind]

    @abc.abstractmethod
    def hosted_fields_url(self, *, kind: MethodKind, return_url: str, state: str) -> str:
        """The processor's own page where the customer types card or bank details; it sends the
        browser back to `return_url` with `state` and a setup token, so Settle never sees them."""

    @abc.abstractmethod
    def vault_complete(self, *, setup_token: str) -> VaultedMethod:
        """Exchange the setup token the hosted fields returned for a reusable method."""

    @abc.abstractmethod
    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a vaulted method. Repeating the same idempotency key never charges twice."""

    @abc.abstractmethod
    def fetch_charge(self, *, idempotency_key: str) -> ChargeResult:
        """Ask what became of a charge (reconciliation of PENDING and UNKNOWN)."""

    @abc.abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult:
        """Give back part or all of a successful charge."""

    @abc.abstractmethod
    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check the signature and age of an inbound event and parse it; raise InvalidWebhook."""
