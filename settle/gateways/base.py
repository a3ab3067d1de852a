"""The gateway interface: plain dataclasses in, plain dataclasses out, never ORM objects.

A gateway is the outside world (a card processor, an ACH network, a buy-now-pay-later lender).
Every call ends in one of four outcomes. UNKNOWN means the call may or may not have happened (a
timeout, a lost reply): it is never guessed; reconciliation asks the gateway again with
`fetch_charge`, by the same idempotency key.
"""

from __future__ import annotations

import abc
import datetime as dt
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


class Wallet(StrEnum):
    APPLE_PAY = "apple_pay"
    GOOGLE_PAY = "google_pay"


@dataclass(frozen=True, slots=True)
class VaultedMethod:
    """What Settle may keep of a payment method: a token and what a person needs to recognise it.
    Never a card or account number.

    `single_use`: a wallet payment or a buy-now-pay-later approval. Its token pays once, for the
    amount the customer approved, and is not a method to save."""

    token: str
    kind: MethodKind
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None
    single_use: bool = False


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    amount: Money
    token: str
    idempotency_key: str
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    return_url: str = ""  # where a 3-D Secure style confirmation sends the customer back


# The decline code with which a voided charge answers FAILURE (`fetch_charge`, webhooks).
DECLINE_VOIDED = "voided"


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
class VoidResult:
    """SUCCESS: the charge is cancelled and no money moves. FAILURE: too late (the funds have
    settled: refund instead) or nothing to cancel."""

    outcome: Outcome
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    type: str
    data: Mapping[str, object]


class InvalidWebhook(Exception):
    """Unsigned, altered, stale or malformed: answer 400 and store nothing."""


class VaultFailed(Exception):
    """The setup token could not be exchanged: unknown, already used or expired (`code` says
    which), or the gateway could not be reached (`code` "unavailable"). Nothing was saved; the
    customer enters the details again."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


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
        """Exchange the setup token a hosted page returned (fields, wallet sheet, pay-later approval)
        for a method to charge; each setup token works once. Raises VaultFailed."""

    def wallet_sheet_url(self, *, wallet: Wallet, amount: Money, label: str, return_url: str, state: str) -> str:
        """The wallet's payment sheet for `amount` (only when `MethodKind.WALLET in kinds`). It sends
        the browser back to `return_url` with `state` and a setup token for a single-use method, or
        with `error=cancelled`."""
        raise NotImplementedError(f"The {self.name} gateway offers no wallets.")

    def bnpl_checkout_url(self, *, amount: Money, description: str, return_url: str, state: str) -> str:
        """The buy-now-pay-later lender's approval page for `amount` (only when `MethodKind.BNPL in
        kinds`). It sends the browser back to `return_url` with `state` and a setup token for a
        single-use method worth exactly `amount`, or with `error=declined` or `error=cancelled`."""
        raise NotImplementedError(f"The {self.name} gateway offers no buy-now-pay-later.")

    @abc.abstractmethod
    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a vaulted method. Repeating the same idempotency key never charges twice."""

    @abc.abstractmethod
    def fetch_charge(self, *, idempotency_key: str) -> ChargeResult:
        """Ask what became of a charge (reconciliation of PENDING and UNKNOWN). A key the gateway
        never received answers FAILURE with decline code `not_found`: nothing was charged."""

    @abc.abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult:
        """Give back part or all of a successful charge. Repeating the same idempotency key never
        refunds twice."""

    @abc.abstractmethod
    def fetch_refund(self, *, idempotency_key: str) -> RefundResult:
        """Ask what became of a refund (reconciliation of UNKNOWN)."""

    @abc.abstractmethod
    def void(self, *, charge_reference: str) -> VoidResult:
        """Cancel a charge whose funds have not settled (awaiting confirmation, a pending bank debit,
        a card charge before the next business day). Voiding twice is harmless."""

    @abc.abstractmethod
    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: dt.datetime | None = None
    ) -> WebhookEvent:
        """Check the signature and age (at `now`, default the current time) of an inbound event and
        parse it; raise InvalidWebhook. The caller stores each event id once: a replay within the
        age limit passes this check with the same id."""
