"""Charging a customer through a gateway, exactly once.

A charge attempt is a row committed *before* the gateway is called, carrying the idempotency key
the gateway receives. The gateway is then called outside any transaction (it is another system: a
rollback here would not undo it), and its answer is recorded in a new transaction by
`_attempt_move`, the one transition function. Whatever path brings news of a charge — the reply,
a reconciliation, a webhook — goes through it, so the payment is recorded once: the function
holds the customer's lock and then the attempt's row lock while it decides, and the attempt links
at most one payment (a unique one-to-one).

A call that ended UNKNOWN is never guessed: `charge_attempt_reconcile` asks the gateway by the same
key, on a backoff (2 minutes, 10 minutes, an hour, then every 6 hours) driven by the sweeper
`charge_attempts_reconcile_due`. An attempt still `created` (its process died before recording
any answer) is charged again under the same key, which the gateway answers without charging twice.

A payment whose funds have not settled is voided at the gateway (`payment_void`), and the void is
recorded through the same transition function, like news of a void from a webhook or a check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound, SettleError
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.core.money import Money
from settle.core.periodic import rows_due_leased
from settle.core.tasks import enqueue_on_commit
from settle.core.tenancy import all_merchants
from settle.customers.services import customer_lock
from settle.gateways.base import DECLINE_VOIDED, ChargeRequest, ChargeResult, MethodKind, Outcome
from settle.gateways.registry import gateway_get
from settle.tenants.models import Merchant

from . import tasks
from .confirmations import late_charge_notify, online_payment_announce
from .models import ChargeAttempt, ChargeState, Payment, PaymentMethod, PaymentStatus
from .payment_settings import payment_settings_get
from .services import (
    GatewayCharge,
    gateway_idempotency_key,
    gateway_next_check,
    gateway_payment_check,
    gateway_payment_record,
    payment_return,
    payment_settle,
    payment_void_record,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    ChargeState.CREATED: frozenset(
        {
            ChargeState.REQUIRES_ACTION,
            ChargeState.PENDING,
            ChargeState.UNKNOWN,
            ChargeState.SUCCEEDED,
            ChargeState.FAILED,
        }
    ),
    ChargeState.UNKNOWN: frozenset(
        {ChargeState.REQUIRES_ACTION, ChargeState.PENDING, ChargeState.SUCCEEDED, ChargeState.FAILED}
    ),
    ChargeState.REQUIRES_ACTION: frozenset({ChargeState.SUCCEEDED, ChargeState.FAILED}),
    # A pending bank debit is already a payment: its failure is a return, which reverses it.
    ChargeState.PENDING: frozenset({ChargeState.SUCCEEDED, ChargeState.RETURNED, ChargeState.VOIDED}),
    ChargeState.SUCCEEDED: frozenset({ChargeState.RETURNED, ChargeState.VOIDED}),
    # Failed is final for Settle, but not for the gateway's books: an answer that arrives after the
    # attempt was given up on (a charge the gateway said it never got, then took) is recorded, and
    # the merchant is asked to check (`late_charge_notify`).
    ChargeState.FAILED: frozenset({ChargeState.PENDING, ChargeState.SUCCEEDED}),
    ChargeState.RETURNED: frozenset(),
    ChargeState.VOIDED: frozenset(),
}

# States whose outcome the gateway may still change without anyone asking: checked on a backoff.
RECONCILED_STATES = (ChargeState.CREATED, ChargeState.UNKNOWN, ChargeState.REQUIRES_ACTION, ChargeState.PENDING)
# States of an attempt that may still take money without a payment recorded yet: while one is open
# for an invoice, no other charge for that invoice starts (the customer would pay twice).
OPEN_STATES = (ChargeState.CREATED, ChargeState.UNKNOWN, ChargeState.REQUIRES_ACTION)

PAYMENT_METHODS = {
    MethodKind.CARD: PaymentMethod.CARD,
    MethodKind.ACH: PaymentMethod.BANK_ACCOUNT,
    MethodKind.WALLET: PaymentMethod.WALLET,
    MethodKind.BNPL: PaymentMethod.BNPL,
}

# The NACHA return codes a bank debit can come back with, as a merchant reads them.
ACH_RETURN_REASONS = {
    "R01": "Insufficient funds",
    "R02": "Account closed",
    "R03": "No account or unable to locate account",
    "R10": "Customer advises not authorized",
}


def charge_attempt_start(
    *,
    merchant: Merchant,
    customer_id: int,
    invoice_ids: Sequence[int],
    amount: Money,
    kind: str,
    token: str,
    idempotency_key: str,
    return_url: str,
    allow_partial: bool = False,
    card_brand: str = "",
    last4: str = "",
    language: str = "",
    now: dt.datetime | None = None,
) -> ChargeAttempt:
    """Charge a vaulted method (`token`, of `kind`) through the merchant's gateway for `invoice_ids`
    (none: the money is kept as customer credit), at most once per `idempotency_key`.

    Call it outside a transaction: the attempt must be committed before the gateway is called.
    Returns the attempt in the state the gateway's answer put it in: succeeded (the payment is
    recorded and applied), requires_action (send the customer to `action_url`), pending (a bank
    debit: the payment is recorded as pending), failed (nothing recorded; `decline_code`,
    `message`) or unknown (being reconciled). The same key and request again returns the same
    attempt without calling the gateway; the same key with another request raises
    IdempotencyConflict. Refuses, before any money moves, what `payment_record` refuses
    (InvalidInput, NotFound, NotAllowed), less than the invoices owe unless `allow_partial`, and a
    payment type the gateway does not take. `language` is the customer's, for the confirmation
    message sent when the payment is recorded (perhaps later, by a sweeper or a webhook)."""
    now = now or clock.now()
    if not idempotency_key:
        raise InvalidInput("An idempotency key is required to charge.", field="idempotency_key")
    try:
        method_kind = MethodKind(kind)
    except ValueError:
        raise InvalidInput("Choose how to pay.", field="kind") from None
    fingerprint = request_fingerprint(
        customer_id=customer_id,
        invoice_ids=sorted(set(invoice_ids)),
        amount=[amount.minor, amount.currency],
        kind=method_kind.value,
        token=token,
        allow_partial=allow_partial,
    )
    replay = idempotent_replay(ChargeAttempt, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay

    def refusals() -> str:
        """Refuse what would be refused anyway; the merchant's gateway when nothing is."""
        gateway_payment_check(
            merchant=merchant,
            customer_id=customer_id,
            amount=amount,
            invoice_ids=invoice_ids,
            allow_partial=allow_partial,
        )
        gateway_name = payment_settings_get(merchant=merchant).gateway
        if method_kind not in gateway_get(gateway_name).kinds:
            raise NotAllowed("This payment type is not available.", code="payment_type_unavailable")
        return gateway_name

    open_attempts = _open_attempts(
        merchant=merchant, customer_id=customer_id, invoice_ids=invoice_ids, idempotency_key=idempotency_key
    )
    if open_attempts:
        # A request that will be refused touches none of the customer's open charges.
        with transaction.atomic():
            customer_lock(merchant=merchant, customer_id=customer_id)
            refusals()
        _open_attempts_settle(merchant=merchant, attempts=open_attempts, now=now)
    made: list[ChargeAttempt] = []

    def create() -> ChargeAttempt:
        customer_lock(merchant=merchant, customer_id=customer_id)
        # A request with this key may have committed while this one waited for the lock; its
        # attempt is the answer (checking the invoices again would find them already paid).
        replay = idempotent_replay(ChargeAttempt, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return replay
        if _open_attempts(
            merchant=merchant, customer_id=customer_id, invoice_ids=invoice_ids, idempotency_key=idempotency_key
        ):
            raise NotAllowed(
                "An earlier payment of this invoice is still being confirmed: nothing more was charged.",
                code="charge_open",
            )
        gateway_name = refusals()
        attempt = ChargeAttempt.objects.create(
            merchant=merchant,
            customer_id=customer_id,
            invoice_ids=list(dict.fromkeys(int(pk) for pk in invoice_ids)),
            allow_partial=allow_partial,
            currency=amount.currency,
            amount_minor=amount.minor,
            kind=method_kind.value,
            gateway=gateway_name,
            token=token[:100],
            card_brand=card_brand[:40],
            last4=last4 if len(last4) == 4 and last4.isdigit() else "",
            idempotency_key=idempotency_key,
            gateway_key=gateway_idempotency_key(merchant=merchant, key=idempotency_key),
            request_fingerprint=fingerprint,
            return_url=return_url[:500],
            language=language[:10],
            next_check_at=gateway_next_check(0, now),
            created_at=now,
            updated_at=now,
        )
        made.append(attempt)
        return attempt

    # Committed here, before the gateway hears of it. A concurrent request with the same key loses
    # on the unique key and gets the winner's attempt, without calling the gateway.
    attempt = idempotent_create(
        ChargeAttempt, merchant=merchant, key=idempotency_key, fingerprint=fingerprint, create=create
    )
    if not (made and made[0].pk == attempt.pk):
        return attempt
    return _attempt_move(merchant=merchant, attempt_id=attempt.pk, result=_charge(attempt), now=now)


def _open_attempts(
    *, merchant: Merchant, customer_id: int, invoice_ids: Sequence[int], idempotency_key: str
) -> list[ChargeAttempt]:
    """The customer's other attempts, still open (`OPEN_STATES`), for any of `invoice_ids`."""
    wanted = {int(pk) for pk in invoice_ids}
    if not wanted:
        return []
    attempts = ChargeAttempt.objects.filter(merchant=merchant, customer_id=customer_id, state__in=OPEN_STATES)
    return [
        attempt
        for attempt in attempts.exclude(idempotency_key=idempotency_key).order_by("pk")
        if wanted.intersection(attempt.invoice_ids)
    ]


def _open_attempts_settle(*, merchant: Merchant, attempts: Sequence[ChargeAttempt], now: dt.datetime) -> None:
    """Before a new charge for some invoices, settle the customer's open ones for them, outside any
    transaction (the gateway is asked): each is asked about, and one still waiting for a
    confirmation the customer walked away from (a 3-D Secure page) is then cancelled at the
    gateway. One that took the money is recorded, which the new charge's check then sees; one
    still open after this makes the new charge refused (`charge_open`)."""
    for open_attempt in attempts:
        # One never answered is sent again under its key, which the gateway answers with the charge
        # it made or makes now: asking about it instead could hear "not found" from a gateway that
        # has not yet seen a request still on its way, and a second charge would follow it.
        unanswered = open_attempt.state in (ChargeState.CREATED, ChargeState.UNKNOWN)
        attempt = charge_attempt_reconcile(
            merchant=merchant, attempt_id=open_attempt.pk, now=now, charge_again=unanswered
        )
        if attempt.state != ChargeState.REQUIRES_ACTION or not attempt.gateway_reference:
            continue
        # Confirmed between the question and this void, it is cancelled all the same (no money
        # moves) and recorded as such: either way the customer pays once.
        if gateway_get(attempt.gateway).void(charge_reference=attempt.gateway_reference).outcome == Outcome.SUCCESS:
            cancelled = ChargeResult(
                Outcome.FAILURE,
                reference=attempt.gateway_reference,
                decline_code=DECLINE_VOIDED,
                message="Cancelled: another payment was started.",
            )
            _attempt_move(merchant=merchant, attempt_id=attempt.pk, result=cancelled, now=now)


def _charge(attempt: ChargeAttempt) -> ChargeResult:
    """Ask the gateway to charge; the same attempt asks with the same key, so never twice."""
    return gateway_get(attempt.gateway).charge(
        ChargeRequest(
            amount=attempt.amount,
            token=attempt.token,
            idempotency_key=attempt.gateway_key,
            description=attempt.merchant.name,
            metadata={"merchant_id": str(attempt.merchant_id), "charge_attempt_id": str(attempt.pk)},
            return_url=attempt.return_url,
        )
    )


def charge_attempt_reconcile(
    *, merchant: Merchant, attempt_id: int, now: dt.datetime, charge_again: bool = False, failed_too: bool = False
) -> ChargeAttempt:
    """Ask the gateway what became of an attempt that is not settled (unknown, pending, awaiting
    the customer's confirmation, or never answered) and record it like a reply; with
    `charge_again`, an unknown one is asked by charging again under its key, like one never
    answered; with `failed_too`, a failed one is asked as well (news said it went through), unless
    Settle cancelled it itself. Any other attempt is returned as it is. Raises NotFound."""
    try:
        attempt = ChargeAttempt.objects.select_related("merchant").get(merchant=merchant, pk=attempt_id)
    except (ChargeAttempt.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such charge.") from None
    revisited = failed_too and attempt.state == ChargeState.FAILED and attempt.decline_code != DECLINE_VOIDED
    if attempt.state not in RECONCILED_STATES and not revisited:
        return attempt
    if attempt.state == ChargeState.CREATED or (charge_again and attempt.state == ChargeState.UNKNOWN):
        # No answer was ever recorded (the starting process died, or the reply was lost): charging
        # again under the same key either makes the charge or answers the one already made.
        result = _charge(attempt)
    else:
        result = gateway_get(attempt.gateway).fetch_charge(idempotency_key=attempt.gateway_key)
    return _attempt_move(merchant=merchant, attempt_id=attempt.pk, result=result, now=now, checked=True)


def charge_attempt_news(
    *, gateway: str, gateway_key: str, result: ChargeResult, now: dt.datetime
) -> ChargeAttempt | None:
    """Record what a gateway's webhook says about the charge made with `gateway_key`, like a
    reply. News of a failed attempt is only a nudge: an event is a snapshot that may be older than
    the failure (a charge confirmed, then cancelled by Settle), so the gateway is asked again, after
    commit and outside any transaction (`charge_attempt_reconcile` with `failed_too`). None when no
    attempt of that gateway has that key (not one of ours)."""
    with all_merchants():
        attempt = (
            ChargeAttempt.objects.select_related("merchant").filter(gateway=gateway, gateway_key=gateway_key).first()
        )
        if attempt is None:
            return None
        if attempt.state == ChargeState.FAILED:
            if attempt.decline_code != DECLINE_VOIDED and result.outcome in (Outcome.SUCCESS, Outcome.PENDING):
                enqueue_on_commit(
                    tasks.charge_attempt_reconcile_task,
                    merchant_id=attempt.merchant_id,
                    attempt_id=attempt.pk,
                    failed_too=True,
                )
            return attempt
        return _attempt_move(merchant=attempt.merchant, attempt_id=attempt.pk, result=result, now=now)


def _target(attempt: ChargeAttempt, result: ChargeResult) -> str:
    if result.outcome == Outcome.SUCCESS:
        return ChargeState.SUCCEEDED
    if result.outcome == Outcome.PENDING:
        return ChargeState.REQUIRES_ACTION if result.action_url else ChargeState.PENDING
    if result.outcome == Outcome.FAILURE:
        if attempt.payment_id is None:
            return ChargeState.FAILED
        return ChargeState.VOIDED if result.decline_code == DECLINE_VOIDED else ChargeState.RETURNED
    return ChargeState.UNKNOWN


def _attempt_move(
    *,
    merchant: Merchant,
    attempt_id: int,
    result: ChargeResult,
    now: dt.datetime,
    checked: bool = False,
    actor: Any = None,
) -> ChargeAttempt:
    """The one transition function: lock the customer, then the attempt; move it to the state the
    gateway's answer means if the table allows it, recording, settling, voiding or reversing its
    payment in the same transaction. An answer that moves nothing (a repeat, a stale event, no
    news) only reschedules the next check. `checked`: this answer came from a reconciliation check;
    `actor`: who asked for it (a void)."""
    with transaction.atomic():
        customer_id = ChargeAttempt.objects.values_list("customer_id", flat=True).get(pk=attempt_id)
        customer_lock(merchant=merchant, customer_id=customer_id)
        attempt = ChargeAttempt.objects.select_for_update().get(merchant=merchant, pk=attempt_id)
        if checked:
            attempt.attempts += 1
        target = _target(attempt, result)
        # A failed charge comes back only on the gateway's own answer to a question (never on an
        # event's snapshot), and never one Settle cancelled itself.
        revived = attempt.state == ChargeState.FAILED
        trusted = not revived or (checked and attempt.decline_code != DECLINE_VOIDED)
        if target != attempt.state and target in TRANSITIONS[attempt.state] and trusted:
            _payment_follow(merchant=merchant, attempt=attempt, target=target, result=result, now=now, actor=actor)
            attempt.state = target
            attempt.gateway_reference = result.reference or attempt.gateway_reference
            failed = target in (ChargeState.FAILED, ChargeState.RETURNED, ChargeState.VOIDED)
            attempt.decline_code = result.decline_code[:60] if failed else ""
            attempt.message = result.message[:300] if failed else ""
            attempt.action_url = result.action_url[:500] if target == ChargeState.REQUIRES_ACTION else ""
        attempt.next_check_at = (
            gateway_next_check(attempt.attempts, now) if attempt.state in RECONCILED_STATES else None
        )
        attempt.updated_at = now
        attempt.save()
        return attempt


def _payment_follow(
    *, merchant: Merchant, attempt: ChargeAttempt, target: str, result: ChargeResult, now: dt.datetime, actor: Any
) -> None:
    """What the move does to the attempt's payment: record it (succeeded, or pending for a bank
    debit), settle it, void it, or reverse it when the debit came back."""
    if target in (ChargeState.SUCCEEDED, ChargeState.PENDING) and attempt.payment_id is None:
        attempt.payment = gateway_payment_record(
            merchant=merchant,
            customer_id=attempt.customer_id,
            amount=attempt.amount,
            method=PAYMENT_METHODS[MethodKind(attempt.kind)],
            invoice_ids=attempt.invoice_ids,
            charged=GatewayCharge(
                gateway=attempt.gateway,
                reference=result.reference or attempt.gateway_reference,
                card_brand=attempt.card_brand,
                last4=attempt.last4,
                pending=target == ChargeState.PENDING,
            ),
            now=now,
        )
        online_payment_announce(merchant=merchant, payment=attempt.payment, language=attempt.language, now=now)
        if attempt.state == ChargeState.FAILED:
            late_charge_notify(merchant=merchant, payment=attempt.payment, now=now)
    elif target == ChargeState.SUCCEEDED and attempt.payment_id is not None:
        payment_settle(merchant=merchant, payment_id=attempt.payment_id, now=now)
    elif target == ChargeState.VOIDED and attempt.payment_id is not None:
        payment_void_record(merchant=merchant, payment_id=attempt.payment_id, actor=actor, now=now)
    elif target == ChargeState.RETURNED and attempt.payment_id is not None:
        code = result.decline_code
        payment_return(
            merchant=merchant,
            payment_id=attempt.payment_id,
            code=code,
            reason=ACH_RETURN_REASONS.get(code, result.message),
            now=now,
        )


def charge_attempts_reconcile_due(*, now: dt.datetime) -> int:
    """Enqueue a reconciliation for every merchant's attempt whose next check has come; returns
    how many. Each is leased for the first backoff step so the next sweep does not enqueue it
    again while its check runs. Run it every minute or so."""
    with all_merchants():
        unsettled = ChargeAttempt.objects.filter(state__in=RECONCILED_STATES)
        lease = {"next_check_at": gateway_next_check(0, now)}
        due = rows_due_leased(unsettled, due_field="next_check_at", now=now, columns=("merchant_id",), lease=lease)
    for attempt_id, merchant_id in due:
        enqueue_on_commit(tasks.charge_attempt_reconcile_task, merchant_id=merchant_id, attempt_id=attempt_id)
    return len(due)


class VoidNotConfirmed(SettleError):
    """The gateway did not confirm the void (unreachable, or no answer). Nothing was recorded;
    voiding again is safe."""

    status_code = 503


def payment_void(*, merchant: Merchant, payment_id: int, actor: Any = None, now: dt.datetime | None = None) -> Payment:
    """Void a payment a gateway took whose funds have not settled (a card charge before the next
    business day, a bank debit still pending): no money moves, the payment is void, it is taken off
    every invoice it paid with a balanced entry, and those invoices owe again.

    The gateway voids the charge first, outside any transaction (a rollback here would not undo
    it); the void is then recorded in one transaction by `_attempt_move`, which records it once
    whichever of this reply, a webhook or a check brings it. A void payment is returned as it is,
    so a double submit voids once. Raises NotFound; NotAllowed for a manual payment (refund it or
    move it to credit instead), one returned, refunded in part or with a refund pending, and one the
    gateway will not void (its funds have settled: refund instead), with the gateway's message;
    VoidNotConfirmed when the gateway gave no answer, and nothing changed."""
    now = now or clock.now()
    try:
        payment = Payment.objects.select_related("charge_attempt").get(merchant=merchant, pk=payment_id)
    except (Payment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such payment.") from None
    if payment.status == PaymentStatus.VOIDED:
        return payment
    attempt: ChargeAttempt | None = getattr(payment, "charge_attempt", None)
    if attempt is None:
        raise NotAllowed(f"Payment {payment.number} was not taken through the payment gateway: refund it instead.")
    if payment.status == PaymentStatus.RETURNED:
        raise NotAllowed(f"Payment {payment.number} was returned by the bank; there is nothing left to void.")
    if payment.refunded_minor or payment.refund_pending:
        raise NotAllowed(f"Payment {payment.number} is already refunded in part: refund the rest instead.")
    gateway = gateway_get(payment.gateway)
    result = gateway.void(charge_reference=payment.gateway_reference)
    if result.outcome == Outcome.UNKNOWN:
        # Never guessed: the charge as the gateway now has it says whether the void happened.
        charge = gateway.fetch_charge(idempotency_key=attempt.gateway_key)
        if not (charge.outcome == Outcome.FAILURE and charge.decline_code == DECLINE_VOIDED):
            raise VoidNotConfirmed(
                "The payment processor did not confirm the void, so nothing was voided. Try again in a moment."
            )
    elif result.outcome != Outcome.SUCCESS:
        raise NotAllowed(result.message or "The payment processor refused the void.", code=result.decline_code)
    voided = ChargeResult(
        Outcome.FAILURE, reference=payment.gateway_reference, decline_code=DECLINE_VOIDED, message="Voided."
    )
    _attempt_move(merchant=merchant, attempt_id=attempt.pk, result=voided, now=now, actor=actor)
    payment.refresh_from_db()
    return payment
