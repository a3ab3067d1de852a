"""The processor's behaviour: what the hosted pages receive, charges, confirmations, refunds,
voids, scripted faults and the passing of time.

Replies are plain JSON-able dicts, the bodies its API answers with (see `api`). Every write happens
in one transaction; each change a merchant would hear about appends an `Event`, whose delivery is
queued once the transaction commits. Card numbers and CVCs are checked against the test catalogue
where they arrive and are never stored, passed on or logged."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from django.db import IntegrityError, transaction

from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.money import Money, require_positive
from settle.core.tasks import enqueue_on_commit

from . import tasks
from .catalogue import (
    ACH_RETURNS,
    BNPL_BRAND,
    CARD_DECLINES,
    TEST_BANK_ACCOUNTS,
    TEST_BANK_NAME,
    TEST_CARDS,
    TEST_ROUTING_NUMBER,
    WALLET_BRANDS,
    WALLET_CARDS,
    Behaviour,
    luhn_valid,
)
from .links import absolute_url, return_url_allowed
from .models import Charge, ChargeStatus, Clock, Event, Fault, FaultKind, Kind, Operation, Refund, Source

SETUP_TOKEN_LIFETIME = dt.timedelta(hours=1)
ACTION_LIFETIME = dt.timedelta(days=1)  # a 3-D Secure confirmation nobody answers fails after this
BNPL_REFUND_WINDOW = dt.timedelta(days=120)
CARD_SETTLEMENT_BUSINESS_DAYS = 1
ACH_SETTLEMENT_BUSINESS_DAYS = 3
ACH_RETURN_BUSINESS_DAYS = 2  # after settlement
MAX_IDEMPOTENCY_KEY = 255

# The wire values of a reply's "outcome" (the gateway interface's Outcome, as the API spells it).
SUCCESS, FAILURE, PENDING = "success", "failure", "pending"

Reply = dict[str, str]


def business_days_after(moment: dt.datetime, days: int) -> dt.datetime:
    """`moment` plus `days` weekdays (the banks' calendar, without holidays)."""
    while days:
        moment += dt.timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def _source_create(*, now: dt.datetime, **fields: object) -> Source:
    return Source.objects.create(setup_expires_at=now + SETUP_TOKEN_LIFETIME, created_at=now, **fields)


def card_tokenise(
    *, number: str, exp_month: int, exp_year: int, cvc: str, postal_code: str, now: dt.datetime
) -> Source:
    """Check a card typed on the hosted page and keep only its brand, last four, expiry, postal code
    and the behaviour its test number stands for. Like a real processor's tokenisation it never
    declines; declines come from charges. Raises InvalidInput (field `number`, `exp`, `cvc` or
    `postal_code`): an invalid number, a real card in test mode, a past expiry."""
    digits = re.sub(r"[\s-]", "", number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise InvalidInput("Your card number is invalid.", field="number", code="invalid_number")
    card = TEST_CARDS.get(digits)
    if card is None:
        raise InvalidInput(
            "Your card was declined: this is test mode and the card is a live one. Use a test card.",
            field="number",
            code="live_card_in_test_mode",
        )
    if not 1 <= exp_month <= 12 or exp_year > now.year + 20:
        raise InvalidInput("Your card's expiration date is invalid.", field="exp", code="invalid_expiry")
    if (exp_year, exp_month) < (now.year, now.month):
        raise InvalidInput("Your card's expiration date is in the past.", field="exp", code="invalid_expiry")
    if not re.fullmatch(r"\d{3,4}", cvc.strip()):
        raise InvalidInput("Your card's security code is incomplete.", field="cvc", code="invalid_cvc")
    postal_code = postal_code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9 -]{1,8}[A-Z0-9]", postal_code):
        raise InvalidInput("Enter your postal code.", field="postal_code", code="invalid_postal_code")
    return _source_create(
        kind=Kind.CARD,
        behaviour=card.behaviour,
        brand=card.brand,
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        postal_code=postal_code,
        now=now,
    )


def bank_account_tokenise(*, routing_number: str, account_number: str, holder_name: str, now: dt.datetime) -> Source:
    """Check a US bank account typed on the hosted page; keep the last four digits and what the test
    account does. Raises InvalidInput (field `routing_number`, `account_number` or `holder_name`)."""
    routing_number = routing_number.strip()
    account_number = account_number.strip()
    holder_name = " ".join(holder_name.split())
    if not re.fullmatch(r"\d{9}", routing_number):
        raise InvalidInput("Enter the 9-digit routing number.", field="routing_number", code="invalid_routing_number")
    if routing_number != TEST_ROUTING_NUMBER:
        raise InvalidInput(
            f"This is test mode: use the test routing number {TEST_ROUTING_NUMBER}.",
            field="routing_number",
            code="live_account_in_test_mode",
        )
    if not re.fullmatch(r"\d{4,17}", account_number):
        raise InvalidInput(
            "Enter the account number (digits only).", field="account_number", code="invalid_account_number"
        )
    behaviour = TEST_BANK_ACCOUNTS.get(account_number)
    if behaviour is None:
        raise InvalidInput(
            "This is test mode: use one of the test account numbers.",
            field="account_number",
            code="live_account_in_test_mode",
        )
    if not holder_name or len(holder_name) > 100:
        raise InvalidInput("Enter the name on the account.", field="holder_name", code="invalid_holder_name")
    return _source_create(
        kind=Kind.ACH,
        behaviour=behaviour,
        brand=TEST_BANK_NAME,
        last4=account_number[-4:],
        holder_name=holder_name,
        now=now,
    )


def wallet_tokenise(*, wallet: str, card_last4: str, amount: Money, now: dt.datetime) -> Source:
    """The customer paid on the simulated wallet sheet: a single-use source for exactly `amount`."""
    if wallet not in WALLET_BRANDS:
        raise InvalidInput("Unknown wallet.", field="wallet")
    card = WALLET_CARDS.get(card_last4)
    if card is None:
        raise InvalidInput("Choose a card.", field="card")
    require_positive(amount)
    return _source_create(
        kind=Kind.WALLET,
        behaviour=card.behaviour,
        brand=WALLET_BRANDS[wallet],
        last4=card_last4,
        single_use=True,
        amount_minor=amount.minor,
        currency=amount.currency,
        now=now,
    )


def bnpl_approve(*, amount: Money, now: dt.datetime) -> Source:
    """The lender approved a plan: a single-use source for exactly `amount`."""
    require_positive(amount)
    return _source_create(
        kind=Kind.BNPL,
        behaviour=Behaviour.SUCCEED,
        brand=BNPL_BRAND,
        single_use=True,
        amount_minor=amount.minor,
        currency=amount.currency,
        now=now,
    )


def setup_token_exchange(*, setup_token: str, now: dt.datetime) -> Source:
    """Hand over the source a hosted page created, once. Raises InvalidInput with code
    `setup_token_unknown`, `setup_token_used` or `setup_token_expired`."""
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(setup_token=setup_token).first()
        if source is None:
            raise InvalidInput("Unknown setup token.", code="setup_token_unknown")
        if source.setup_used_at is not None:
            raise InvalidInput("This setup token was already used.", code="setup_token_used")
        if source.setup_expires_at <= now:
            raise InvalidInput("This setup token has expired.", code="setup_token_expired")
        source.setup_used_at = now
        source.save(update_fields=["setup_used_at"])
        return source


def source_reply(source: Source) -> dict[str, object]:
    return {
        "token": source.token,
        "kind": source.kind,
        "brand": source.brand,
        "last4": source.last4,
        "exp_month": source.exp_month,
        "exp_year": source.exp_year,
        "single_use": source.single_use,
    }


def charge_reply(charge: Charge) -> Reply:
    """What the API says about a charge as it stands."""
    outcome = {
        ChargeStatus.REQUIRES_ACTION: PENDING,
        ChargeStatus.PENDING: PENDING,
        ChargeStatus.SUCCEEDED: SUCCESS,
    }.get(ChargeStatus(charge.status), FAILURE)
    decline_code, message = charge.decline_code, charge.message
    if charge.status == ChargeStatus.VOIDED:
        decline_code, message = "voided", "The charge was voided."
    return {
        "outcome": outcome,
        "reference": charge.reference,
        "decline_code": decline_code,
        "message": message,
        "action_url": absolute_url("sandbox:authenticate", charge.action_token)
        if charge.status == ChargeStatus.REQUIRES_ACTION
        else "",
    }


def charge_object(charge: Charge) -> dict[str, object]:
    """A charge as webhook events describe it."""
    return {
        "object": "charge",
        **charge_reply(charge),
        "idempotency_key": charge.idempotency_key,
        "status": charge.status,
        "amount_minor": charge.amount_minor,
        "currency": charge.currency,
        "refunded_minor": charge.refunded_minor,
        "kind": charge.source.kind,
        "brand": charge.source.brand,
        "last4": charge.source.last4,
        "settled": charge.settled_at is not None,
        "return_code": charge.return_code if charge.status == ChargeStatus.RETURNED else "",
        "metadata": charge.metadata,
    }


def _event_record(*, type: str, data: dict[str, object], now: dt.datetime) -> Event:
    event = Event.objects.create(type=type, data=data, created_at=now, next_attempt_at=now)
    enqueue_on_commit(tasks.event_deliver_task, event_id=event.event_id)
    return event


def _idempotency_key_check(key: str) -> None:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(f"Give an idempotency key of 1 to {MAX_IDEMPOTENCY_KEY} characters.", code="invalid_request")


def _mismatch() -> Reply:
    return {
        "outcome": FAILURE,
        "reference": "",
        "decline_code": "idempotency_mismatch",
        "message": "This idempotency key was already used for a different request.",
    }


def _charge_replay(charge: Charge, *, token: str, amount: Money) -> Reply:
    if (charge.source.token, charge.amount_minor, charge.currency) != (token, amount.minor, amount.currency):
        return {**_mismatch(), "action_url": ""}
    return dict(charge.first_reply)


def _charge_succeed(charge: Charge, *, now: dt.datetime) -> None:
    charge.status = ChargeStatus.SUCCEEDED
    charge.succeeded_at = now
    charge.settles_at = business_days_after(now, CARD_SETTLEMENT_BUSINESS_DAYS)


def _charge_fail(charge: Charge, *, decline_code: str, message: str) -> None:
    charge.status = ChargeStatus.FAILED
    charge.decline_code = decline_code
    charge.message = message


def _charge_start(charge: Charge, *, now: dt.datetime) -> None:
    """Decide what a new charge does from what its source stands for."""
    behaviour = Behaviour(charge.source.behaviour)
    if charge.source.kind == Kind.ACH:
        charge.status = ChargeStatus.PENDING
        charge.settles_at = business_days_after(now, ACH_SETTLEMENT_BUSINESS_DAYS)
        if behaviour in ACH_RETURNS:
            charge.return_code = ACH_RETURNS[behaviour][0]
            charge.returns_at = business_days_after(charge.settles_at, ACH_RETURN_BUSINESS_DAYS)
    elif behaviour == Behaviour.REQUIRES_ACTION:
        charge.status = ChargeStatus.REQUIRES_ACTION
    elif behaviour in CARD_DECLINES:
        decline_code, message = CARD_DECLINES[behaviour]
        _charge_fail(charge, decline_code=decline_code, message=message)
    else:
        _charge_succeed(charge, now=now)


def _charge_announce(charge: Charge, *, now: dt.datetime) -> None:
    if charge.status == ChargeStatus.SUCCEEDED:
        _event_record(type="charge.succeeded", data=charge_object(charge), now=now)
    elif charge.status == ChargeStatus.FAILED:
        _event_record(type="charge.failed", data=charge_object(charge), now=now)


def charge_create(
    *,
    token: str,
    amount: Money,
    idempotency_key: str,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    return_url: str = "",
    now: dt.datetime,
) -> Reply:
    """Charge a source, once per idempotency key. The same key with the same method and amount
    answers the first reply again (even while a concurrent first call is still running: they queue
    on the source's lock); with another amount or method it answers FAILURE `idempotency_mismatch`
    and changes nothing.

    Raises InvalidInput (nothing stored) for a request that cannot be a charge at all: a bad amount
    or key, an unknown token (`invalid_token`), a single-use token already used (`token_used`) or
    for another amount (`amount_mismatch`), a bank debit not in USD, a return URL off Settle."""
    _idempotency_key_check(idempotency_key)
    require_positive(amount)
    if return_url and not return_url_allowed(return_url):
        raise InvalidInput("The return URL must be on Settle.", field="return_url", code="invalid_return_url")
    with transaction.atomic():
        existing = Charge.objects.select_related("source").filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _charge_replay(existing, token=token, amount=amount)
        source = Source.objects.select_for_update().filter(token=token, setup_used_at__isnull=False).first()
        if source is None:
            raise InvalidInput("No such payment method.", field="token", code="invalid_token")
        # A concurrent call with this key may have held the source's lock and committed meanwhile.
        existing = Charge.objects.select_related("source").filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _charge_replay(existing, token=token, amount=amount)
        if source.single_use and source.used_at is not None:
            raise InvalidInput("This payment token was already used.", field="token", code="token_used")
        if source.single_use and (source.amount_minor, source.currency) != (amount.minor, amount.currency):
            approved = Money(source.amount_minor or 0, source.currency).format()
            raise InvalidInput(f"This token pays exactly {approved}.", field="amount", code="amount_mismatch")
        if source.kind == Kind.ACH and amount.currency != "USD":
            raise InvalidInput("Bank debits are in USD only.", field="amount", code="currency_not_supported")
        charge = Charge(
            idempotency_key=idempotency_key,
            source=source,
            amount_minor=amount.minor,
            currency=amount.currency,
            description=description[:500],
            metadata=dict(metadata or {}),
            return_url=return_url,
            created_at=now,
        )
        _charge_start(charge, now=now)
        charge.first_reply = charge_reply(charge)
        try:
            with transaction.atomic():
                charge.save()
        except IntegrityError:
            # The same key with another method committed first (the unique key is the last guard).
            winner = Charge.objects.select_related("source").get(idempotency_key=idempotency_key)
            return _charge_replay(winner, token=token, amount=amount)
        if source.single_use:
            source.used_at = now
            source.save(update_fields=["used_at"])
        _charge_announce(charge, now=now)
        return dict(charge.first_reply)


def charge_fetch(*, idempotency_key: str) -> Reply:
    """The charge made with this key as it stands now, or FAILURE `not_found` when there is none."""
    charge = Charge.objects.select_related("source").filter(idempotency_key=idempotency_key).first()
    if charge is None:
        return {
            "outcome": FAILURE,
            "reference": "",
            "decline_code": "not_found",
            "message": "No charge was made with this idempotency key.",
            "action_url": "",
        }
    return charge_reply(charge)


def charge_authenticate(*, action_token: str, approve: bool, now: dt.datetime) -> Charge:
    """The customer answered the 3-D Secure style confirmation: the charge succeeds or fails.
    Raises NotFound, or NotAllowed when it is no longer waiting (answered, voided or expired)."""
    with transaction.atomic():
        charge = Charge.objects.select_for_update().select_related("source").filter(action_token=action_token).first()
        if charge is None:
            raise NotFound("No such payment.")
        if charge.status != ChargeStatus.REQUIRES_ACTION:
            raise NotAllowed("This payment is no longer waiting for a confirmation.")
        if approve:
            _charge_succeed(charge, now=now)
        else:
            _charge_fail(
                charge, decline_code="authentication_failed", message="The card's bank did not confirm the payment."
            )
        charge.save()
        _charge_announce(charge, now=now)
        return charge


def charge_void(*, reference: str, now: dt.datetime) -> Reply:
    """Cancel a charge before its funds settle; a voided charge voided again succeeds again."""
    with transaction.atomic():
        charge = Charge.objects.select_for_update().select_related("source").filter(reference=reference).first()
        if charge is None:
            return {"outcome": FAILURE, "decline_code": "not_found", "message": "No such charge."}
        if charge.status == ChargeStatus.VOIDED:
            return {"outcome": SUCCESS, "decline_code": "", "message": ""}
        if charge.status in (ChargeStatus.FAILED, ChargeStatus.RETURNED) or charge.refunded_minor:
            return {"outcome": FAILURE, "decline_code": "not_voidable", "message": "This charge cannot be voided."}
        if charge.settles_at is not None and charge.settles_at <= now:
            return {
                "outcome": FAILURE,
                "decline_code": "already_settled",
                "message": "The funds have settled: refund the charge instead.",
            }
        charge.status = ChargeStatus.VOIDED
        charge.voided_at = now
        charge.save(update_fields=["status", "voided_at"])
        _event_record(type="charge.voided", data=charge_object(charge), now=now)
        return {"outcome": SUCCESS, "decline_code": "", "message": ""}


def refund_reply(refund: Refund) -> Reply:
    return {
        "outcome": SUCCESS if refund.succeeded else FAILURE,
        "reference": refund.reference,
        "decline_code": refund.decline_code,
        "message": refund.message,
    }


def _refund_refusal(charge: Charge, amount: Money, *, now: dt.datetime) -> tuple[str, str] | None:
    if charge.status == ChargeStatus.PENDING:
        return "charge_pending", "The bank debit has not settled yet: void it instead."
    if charge.status != ChargeStatus.SUCCEEDED:
        return "not_refundable", "Only a successful charge can be refunded."
    if amount.currency != charge.currency:
        return "currency_mismatch", f"The charge is in {charge.currency}."
    if charge.source.kind == Kind.BNPL and charge.succeeded_at and now > charge.succeeded_at + BNPL_REFUND_WINDOW:
        return "refund_window_expired", "Pay-later purchases can be refunded for 120 days only."
    left = charge.amount_minor - charge.refunded_minor
    if amount.minor > left:
        return "amount_too_large", f"Only {Money(left, charge.currency).format()} of this charge is left to refund."
    return None


def refund_create(*, charge_reference: str, amount: Money, idempotency_key: str, now: dt.datetime) -> Reply:
    """Refund part or all of a successful charge, once per idempotency key (a repeat answers the
    first reply; another charge or amount answers FAILURE `idempotency_mismatch`). Refused, and
    remembered as refused: a bank debit still pending (void it), more than is left, a pay-later
    charge older than 120 days. Raises InvalidInput for a bad amount or key or an unknown charge."""
    _idempotency_key_check(idempotency_key)
    require_positive(amount)
    with transaction.atomic():
        charge = Charge.objects.select_for_update().select_related("source").filter(reference=charge_reference).first()
        existing = Refund.objects.select_related("charge").filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            same = (existing.charge.reference, existing.amount_minor, existing.currency) == (
                charge_reference,
                amount.minor,
                amount.currency,
            )
            return refund_reply(existing) if same else _mismatch()
        if charge is None:
            raise InvalidInput("No such charge.", field="charge_reference", code="not_found")
        refusal = _refund_refusal(charge, amount, now=now)
        refund = Refund(
            idempotency_key=idempotency_key,
            charge=charge,
            amount_minor=amount.minor,
            currency=amount.currency,
            succeeded=refusal is None,
            decline_code=refusal[0] if refusal else "",
            message=refusal[1] if refusal else "",
            created_at=now,
        )
        refund.save()
        if refund.succeeded:
            charge.refunded_minor += amount.minor
            charge.save(update_fields=["refunded_minor"])
            data = {
                "object": "refund",
                **refund_reply(refund),
                "idempotency_key": refund.idempotency_key,
                "amount_minor": refund.amount_minor,
                "currency": refund.currency,
                "charge_reference": charge.reference,
                "charge_idempotency_key": charge.idempotency_key,
                "charge_refunded_minor": charge.refunded_minor,
            }
            _event_record(type="refund.succeeded", data=data, now=now)
        return refund_reply(refund)


def refund_fetch(*, idempotency_key: str) -> Reply:
    refund = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if refund is None:
        return {
            "outcome": FAILURE,
            "reference": "",
            "decline_code": "not_found",
            "message": "No refund was made with this idempotency key.",
        }
    return refund_reply(refund)


def fault_script(*, operation: Operation, kind: FaultKind, now: dt.datetime, count: int = 1) -> Fault:
    """Make the next `count` calls of `operation` fail as `kind` says (for tests)."""
    if count < 1:
        raise InvalidInput("Script at least one call.", field="count")
    return Fault.objects.create(operation=Operation(operation), kind=FaultKind(kind), remaining=count, created_at=now)


def fault_take(*, operation: str) -> FaultKind | None:
    """The fault scripted for this call of `operation`, if any, used up."""
    with transaction.atomic():
        fault = Fault.objects.select_for_update().filter(operation=operation).first()
        if fault is None:
            return None
        if fault.remaining <= 1:
            fault.delete()
        else:
            fault.remaining -= 1
            fault.save(update_fields=["remaining"])
        return FaultKind(fault.kind)


@dataclass(frozen=True)
class AdvanceReport:
    now: dt.datetime
    expired: int
    settled: int
    returned: int


def sandbox_advance(*, now: dt.datetime) -> AdvanceReport:
    """Move the processor's clock to `now` (never back) and do what falls due by then, in order:
    unanswered confirmations fail, charges settle (a bank debit succeeds then), bank debits on the
    bouncing test accounts come back returned. Each change is an event dated when it fell due.
    Running it twice for the same time changes nothing more."""
    with transaction.atomic():
        clock_row, created = Clock.objects.select_for_update().get_or_create(pk=1, defaults={"advanced_to": now})
        if not created and clock_row.advanced_to < now:
            clock_row.advanced_to = now
            clock_row.save(update_fields=["advanced_to"])
        now = clock_row.advanced_to
        charges = Charge.objects.select_for_update().select_related("source")

        expired = list(charges.filter(status=ChargeStatus.REQUIRES_ACTION, created_at__lte=now - ACTION_LIFETIME))
        for charge in expired:
            _charge_fail(charge, decline_code="authentication_expired", message="The payment was never confirmed.")
            charge.save(update_fields=["status", "decline_code", "message"])
            _event_record(type="charge.failed", data=charge_object(charge), now=charge.created_at + ACTION_LIFETIME)

        settling = list(
            charges.filter(
                status__in=[ChargeStatus.PENDING, ChargeStatus.SUCCEEDED], settled_at__isnull=True, settles_at__lte=now
            ).order_by("settles_at", "pk")
        )
        for charge in settling:
            due = cast(dt.datetime, charge.settles_at)
            charge.settled_at = due
            if charge.status == ChargeStatus.PENDING:
                charge.status = ChargeStatus.SUCCEEDED
                charge.succeeded_at = due
            charge.save(update_fields=["settled_at", "status", "succeeded_at"])
            _event_record(type="charge.settled", data=charge_object(charge), now=due)

        returning = list(
            charges.filter(status=ChargeStatus.SUCCEEDED, settled_at__isnull=False, returns_at__lte=now)
            .exclude(return_code="")
            .order_by("returns_at", "pk")
        )
        for charge in returning:
            due = cast(dt.datetime, charge.returns_at)
            reason = next(reason for code, reason in ACH_RETURNS.values() if code == charge.return_code)
            charge.status = ChargeStatus.RETURNED
            charge.returned_at = due
            charge.decline_code = charge.return_code
            charge.message = f"Returned by the bank: {reason} ({charge.return_code})."
            charge.save(update_fields=["status", "returned_at", "decline_code", "message"])
            _event_record(type="charge.returned", data=charge_object(charge), now=due)
        return AdvanceReport(now=now, expired=len(expired), settled=len(settling), returned=len(returning))
