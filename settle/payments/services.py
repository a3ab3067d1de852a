"""Payments, applications of payments and credit to invoices, and refunds.

Every public function here runs in one transaction and locks in one order — the customer row
first, then the rows it changes — so concurrent requests for one customer queue instead of
racing, and two requests never deadlock. Each posts one balanced journal entry and updates the
cached balances only through the `*_totals_apply` functions."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.core.money import Money, currency_exponent, require_positive
from settle.core.periodic import rows_due_leased
from settle.core.tasks import enqueue_on_commit
from settle.core.tenancy import all_merchants
from settle.customers.services import activity_record, customer_lock
from settle.gateways.base import Outcome, RefundRequest, RefundResult
from settle.gateways.registry import gateway_get
from settle.invoicing.journal import LedgerTotals, Leg, journal_post
from settle.invoicing.models import COLLECTIBLE_STATUSES, Account, CreditMemo, EntryKind, Invoice, InvoiceStatus
from settle.invoicing.services import credit_memos_totals_apply, invoice_totals_apply, invoices_lock
from settle.tenants.models import Merchant

from .confirmations import paid_back_twice_notify, payment_returned_notify
from .models import GATEWAY_METHODS, Application, Payment, PaymentMethod, PaymentStatus, Refund, RefundStatus

# How long to wait before asking a gateway again about something it has not settled (a charge, a
# refund): 2 minutes, 10 minutes, an hour, then every 6 hours.
CHECK_BACKOFF = (dt.timedelta(minutes=2), dt.timedelta(minutes=10), dt.timedelta(hours=1), dt.timedelta(hours=6))


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    """Where a gateway payment came from, kept on the payment for refunds and receipts. `pending`:
    a bank debit not settled yet."""

    gateway: str
    reference: str
    card_brand: str = ""
    last4: str = ""
    pending: bool = False


def gateway_next_check(attempts: int, now: dt.datetime) -> dt.datetime:
    """When to ask the gateway again after `attempts` checks."""
    return now + CHECK_BACKOFF[min(attempts, len(CHECK_BACKOFF) - 1)]


def gateway_idempotency_key(*, merchant: Merchant, key: str) -> str:
    """The key a gateway receives for a merchant's key: gateways know no merchants, so it is made
    unique across them."""
    return f"settle-{merchant.pk}-{key}"


def _merchant_key(gateway_key: str) -> tuple[int, str] | None:
    """The merchant id and key a `gateway_idempotency_key` was made from, or None."""
    merchant_id, _, key = gateway_key.removeprefix("settle-").partition("-")
    well_formed = gateway_key.startswith("settle-") and merchant_id.isascii() and merchant_id.isdigit() and key
    if well_formed and len(merchant_id) <= 18:
        return int(merchant_id), key
    return None


def _text(value: str, *, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"Keep this under {limit} characters.", field=field)
    return value


def _allocate(
    *, available: Money, invoices: Sequence[Invoice], amounts: Mapping[int, Money] | None, locale: str
) -> list[tuple[Invoice, int]]:
    """Decide how much of `available` goes to each invoice: the amounts asked for, or oldest
    due first. Refuses to pay an invoice that cannot be paid or to pay more than it owes."""
    for invoice in invoices:
        if invoice.currency != available.currency:
            raise InvalidInput(
                f"Invoice {invoice.number} is in {invoice.currency}, the payment in {available.currency}.",
                field="currency",
            )
        if invoice.status not in COLLECTIBLE_STATUSES:
            paid = invoice.status == InvoiceStatus.PAID
            state = "already paid" if paid else invoice.get_status_display().lower()
            raise NotAllowed(
                f"Invoice {invoice.number} is {state} and cannot be paid.",
                code="invoice_paid" if paid else "invoice_not_payable",
            )
    if amounts is not None:
        plan = []
        for invoice in invoices:
            amount = amounts.get(invoice.pk)
            if amount is None or amount.minor == 0:
                continue
            if amount.currency != available.currency:
                raise InvalidInput(f"Amounts must be in {available.currency}.", field="currency")
            require_positive(amount)
            if amount.minor > invoice.balance_minor:
                raise NotAllowed(
                    f"Invoice {invoice.number} only owes {invoice.balance.format(locale)}; "
                    f"you tried to apply {amount.format(locale)}."
                )
            plan.append((invoice, amount.minor))
        if sum(minor for _, minor in plan) > available.minor:
            raise NotAllowed(f"The amounts applied add up to more than the {available.format(locale)} available.")
        return plan
    plan = []
    left = available.minor
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.issue_date, i.sequence)):
        take = min(left, invoice.balance_minor)
        if take > 0:
            plan.append((invoice, take))
            left -= take
    return plan


def _application_legs(
    plan: Sequence[tuple[Invoice, int]], *, payment_id: int | None = None, credit_memo_id: int | None = None
) -> list[Leg]:
    source_account = Account.UNAPPLIED if payment_id is not None else Account.CUSTOMER_CREDIT
    legs = []
    for invoice, minor in plan:
        legs.append(Leg(source_account, minor, payment_id=payment_id, credit_memo_id=credit_memo_id))
        legs.append(
            Leg(Account.RECEIVABLE, -minor, invoice_id=invoice.pk, payment_id=payment_id, credit_memo_id=credit_memo_id)
        )
    return legs


def applications_totals_apply(
    *, merchant: Merchant, totals: LedgerTotals, now: dt.datetime, source_is_new: bool = False
) -> None:
    """The only writer of `Application.amount_minor`: add posted changes, creating rows as needed.

    `source_is_new`: the payment was created in this transaction, so it has no applications yet
    and there is nothing to look up (the unique constraint would refuse a second row anyway)."""
    if not totals.applied:
        return
    existing: dict[tuple[int, int | None, int | None], Application] = {}
    if not source_is_new:
        invoice_ids = {key[0] for key in totals.applied}
        existing = {
            (a.invoice_id, a.payment_id, a.credit_memo_id): a
            for a in Application.objects.select_for_update().filter(merchant=merchant, invoice_id__in=invoice_ids)
        }
    created = []
    for (invoice_id, payment_id, credit_memo_id), delta in totals.applied.items():
        application = existing.get((invoice_id, payment_id, credit_memo_id))
        if application is None:
            created.append(
                Application(
                    merchant=merchant,
                    invoice_id=invoice_id,
                    payment_id=payment_id,
                    credit_memo_id=credit_memo_id,
                    amount_minor=delta,
                    created_at=now,
                )
            )
        else:
            application.amount_minor += delta
            application.save(update_fields=["amount_minor"])
    Application.objects.bulk_create(created)


def payments_totals_apply(*, payments: Sequence[Payment], totals: LedgerTotals) -> None:
    """The only writer of a payment's unapplied and refunded caches. A payment the posted lines
    leave unchanged is not written (a payment applied in full as it is recorded nets to zero)."""
    for payment in payments:
        unapplied = totals.payment_unapplied.get(payment.pk, 0)
        refunded = totals.payment_refunded.get(payment.pk, 0)
        payment.unapplied_minor += unapplied
        payment.refunded_minor += refunded
        if payment.unapplied_minor < 0 or payment.refunded_minor > payment.amount_minor:
            raise NotAllowed(f"Payment {payment.number} does not have that much left.")
        if unapplied or refunded:
            payment.save(update_fields=["unapplied_minor", "refunded_minor"])


def payment_record(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    method: str,
    received_on: dt.date | None = None,
    invoice_ids: Sequence[int] = (),
    amounts: Mapping[int, Money] | None = None,
    keep_excess_as_credit: bool = False,
    check_number: str = "",
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Record money received and apply it to the given invoices — the amounts in `amounts`, or
    oldest due first.

    Overpayment is never silent: money left over after the invoices are paid raises NotAllowed
    unless `keep_excess_as_credit`, which keeps it as unapplied customer credit. A repeated
    `idempotency_key` returns the first payment instead of recording a second.
    Raises InvalidInput (amount, currency, method, date), NotFound (another merchant's or
    customer's invoice), NotAllowed (void/paid invoice, overpayment)."""
    fingerprint = request_fingerprint(
        customer_id=customer_id,
        amount=[amount.minor, amount.currency],
        method=method,
        received_on=received_on,
        invoice_ids=sorted(set(invoice_ids)),
        amounts={str(pk): [m.minor, m.currency] for pk, m in amounts.items()} if amounts is not None else None,
        keep_excess_as_credit=keep_excess_as_credit,
        check_number=check_number,
        reference=reference,
        note=note,
    )
    return idempotent_create(
        Payment,
        merchant=merchant,
        key=idempotency_key,
        fingerprint=fingerprint,
        create=lambda: _payment_record(
            merchant=merchant,
            customer_id=customer_id,
            amount=amount,
            method=method,
            received_on=received_on,
            invoice_ids=invoice_ids,
            amounts=amounts,
            keep_excess_as_credit=keep_excess_as_credit,
            check_number=check_number,
            reference=reference,
            note=note,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            actor=actor,
            now=now,
        ),
    )


def _payment_record(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    method: str,
    received_on: dt.date | None,
    invoice_ids: Sequence[int],
    amounts: Mapping[int, Money] | None,
    keep_excess_as_credit: bool,
    check_number: str,
    reference: str,
    note: str,
    idempotency_key: str | None,
    fingerprint: str,
    actor: Any,
    now: dt.datetime | None,
    charged: GatewayCharge | None = None,
) -> Payment:
    """`charged`: money a gateway already took. It is never refused for the invoices' sake: an
    invoice paid or voided since the charge began is skipped, and what is left over stays as
    customer credit."""
    now = now or clock.now()
    currency_exponent(amount.currency)
    require_positive(amount)
    if method not in PaymentMethod.values:
        raise InvalidInput("Choose how the payment was made.", field="method")
    if (method in GATEWAY_METHODS) != (charged is not None):
        raise InvalidInput(
            "Card, bank account, wallet and pay-later payments are taken through the payment gateway; "
            "record a card terminal or bank transfer payment instead.",
            field="method",
        )
    today = clock.local_date(now, merchant.time_zone)
    received_on = received_on or today
    if received_on > today + dt.timedelta(days=1):
        raise InvalidInput("The date received cannot be in the future.", field="received_on")
    customer_lock(merchant=merchant, customer_id=customer_id)
    replay = idempotent_replay(Payment, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    if amounts is not None:
        invoice_ids = list(dict.fromkeys([*invoice_ids, *amounts]))
    invoices = invoices_lock(merchant=merchant, invoice_ids=invoice_ids, customer_id=customer_id)
    if charged is not None:
        invoices = [invoice for invoice in invoices if invoice.status in COLLECTIBLE_STATUSES]
    plan = _allocate(available=amount, invoices=invoices, amounts=amounts, locale=merchant.locale)
    excess = amount.minor - sum(minor for _, minor in plan)
    if excess and not keep_excess_as_credit:
        owed = Money(amount.minor - excess, amount.currency)
        raise NotAllowed(
            f"This payment is {Money(excess, amount.currency).format(merchant.locale)} more than the "
            f"{owed.format(merchant.locale)} applied to invoices. "
            "Lower the amount, or keep the excess as customer credit."
        )
    payment = Payment.objects.create(
        merchant=merchant,
        customer_id=customer_id,
        currency=amount.currency,
        amount_minor=amount.minor,
        method=method,
        check_number=_text(check_number, field="check_number", limit=30) if method == PaymentMethod.CHECK else "",
        reference=_text(reference, field="reference", limit=100),
        note=_text(note, field="note", limit=500),
        received_on=received_on,
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        **_gateway_fields(charged),
    )
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.PAYMENT_RECEIVED,
        customer_id=customer_id,
        currency=amount.currency,
        legs=[
            Leg(Account.CLEARING, amount.minor, payment_id=payment.pk, method=method),
            Leg(Account.UNAPPLIED, -amount.minor, payment_id=payment.pk),
            *_application_legs(plan, payment_id=payment.pk),
        ],
        now=now,
        actor=actor,
        memo=f"Payment {payment.number}",
    )
    payments_totals_apply(payments=[payment], totals=totals)
    invoice_totals_apply(invoices=[invoice for invoice, _ in plan], totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now, source_is_new=True)
    paid = ", ".join(invoice.number for invoice, _ in plan) or "customer credit"
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="payment.recorded",
        summary=(
            f"Payment {payment.number} of {amount.format(merchant.locale)} by {payment.get_method_display()} → {paid}"
        ),
        actor=actor,
        obj=payment,
        now=now,
    )
    return payment


def _gateway_fields(charged: GatewayCharge | None) -> dict[str, str]:
    if charged is None:
        return {}
    last4 = charged.last4 if len(charged.last4) == 4 and charged.last4.isdigit() else ""
    return {
        "gateway": charged.gateway,
        "gateway_reference": charged.reference[:100],
        "card_brand": charged.card_brand[:40],
        "last4": last4,
        "status": PaymentStatus.PENDING if charged.pending else PaymentStatus.SUCCEEDED,
    }


def gateway_payment_check(
    *, merchant: Merchant, customer_id: int, amount: Money, invoice_ids: Sequence[int], allow_partial: bool
) -> None:
    """Refuse, before a gateway is asked for money, what `payment_record` would refuse: a bad
    amount or currency, another customer's invoice, a paid or void one, more than the invoices
    owe; and less than they owe unless `allow_partial`. No invoices: the payment is credit."""
    currency_exponent(amount.currency)
    require_positive(amount)
    invoices = invoices_lock(merchant=merchant, invoice_ids=invoice_ids, customer_id=customer_id)
    _allocate(available=amount, invoices=invoices, amounts=None, locale=merchant.locale)  # refuses paid, void, currency
    if not invoices:
        return
    owed = Money(sum(invoice.balance_minor for invoice in invoices), amount.currency)
    if amount.minor > owed.minor:
        raise NotAllowed(f"That is more than the {owed.format(merchant.locale)} owed.", code="amount_above_balance")
    if amount.minor < owed.minor and not allow_partial:
        raise NotAllowed(f"Pay the full {owed.format(merchant.locale)}.", code="amount_below_balance")


def gateway_payment_record(
    *,
    merchant: Merchant,
    customer_id: int,
    amount: Money,
    method: str,
    invoice_ids: Sequence[int],
    charged: GatewayCharge,
    now: dt.datetime,
) -> Payment:
    """Record money a gateway has taken (or, for a pending bank debit, is taking), through the same
    path as a manual payment: journal, applications, caches, timeline; never refused for the
    invoices' sake (see `_payment_record`). Runs inside the caller's transaction; the caller
    guarantees it runs once per charge."""
    return _payment_record(
        merchant=merchant,
        customer_id=customer_id,
        amount=amount,
        method=method,
        received_on=None,
        invoice_ids=invoice_ids,
        amounts=None,
        keep_excess_as_credit=True,
        check_number="",
        reference=charged.reference,
        note="",
        idempotency_key=None,
        fingerprint="",
        actor=None,
        now=now,
        charged=charged,
    )


def payment_settle(*, merchant: Merchant, payment_id: int, now: dt.datetime) -> Payment:
    """A pending bank debit has settled: the payment is succeeded. Settling again changes nothing;
    a returned payment stays returned. Runs inside the caller's transaction."""
    customer_id = Payment.objects.values_list("customer_id", flat=True).get(merchant=merchant, pk=payment_id)
    customer_lock(merchant=merchant, customer_id=customer_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status != PaymentStatus.PENDING:
        return payment
    payment.status = PaymentStatus.SUCCEEDED
    payment.save(update_fields=["status"])
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="payment.settled",
        summary=f"Bank payment {payment.number} of {payment.amount.format(merchant.locale)} settled",
        obj=payment,
        now=now,
    )
    return payment


def payment_return(*, merchant: Merchant, payment_id: int, code: str, reason: str, now: dt.datetime) -> Payment:
    """The bank sent a debit back (an ACH return): one entry of its own kind takes the payment off
    every invoice it paid and what is left of it out of clearing, so those invoices owe again and
    the payment counts for nothing. The customer's timeline says so and the merchant gets a To-Do
    to follow it up. Returning twice changes nothing. Runs inside the caller's transaction."""
    described = f"{code} {reason.lower()}".strip()
    payment = _payment_reverse(
        merchant=merchant,
        payment_id=payment_id,
        status=PaymentStatus.RETURNED,
        kind=EntryKind.PAYMENT_RETURNED,
        memo=("Return", described),
        verb="payment.returned",
        describe=lambda payment: (
            f"ACH payment returned ({described}): {payment.number} of {payment.amount.format(merchant.locale)}"
        ),
        now=now,
    )
    if payment.status == PaymentStatus.RETURNED:  # not a void that came first
        payment_returned_notify(merchant=merchant, payment=payment, reason=described, now=now)
        # The bank returns the whole debit, whatever was refunded of it before.
        refunded = Refund.objects.filter(merchant=merchant, payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
            total=Sum("amount_minor")
        )["total"]
        if refunded:
            paid_back_twice_notify(
                merchant=merchant,
                payment=payment,
                refunded=Money(refunded, payment.currency),
                key=f"refund_before_return:{payment.pk}",
                now=now,
            )
    return payment


def payment_void_record(*, merchant: Merchant, payment_id: int, actor: Any = None, now: dt.datetime) -> Payment:
    """The gateway cancelled a payment before its funds settled, so no money moved: one entry of its
    own kind takes the payment off every invoice it paid and out of clearing, those invoices owe
    again, and the payment is void. Voiding twice changes nothing. Runs inside the caller's
    transaction; the gateway call is `settle.payments.charges.payment_void`."""
    return _payment_reverse(
        merchant=merchant,
        payment_id=payment_id,
        status=PaymentStatus.VOIDED,
        kind=EntryKind.PAYMENT_VOIDED,
        memo=("Void", ""),
        verb="payment.voided",
        describe=lambda payment: f"Payment {payment.number} of {payment.amount.format(merchant.locale)} voided",
        actor=actor,
        now=now,
    )


def _payment_reverse(
    *,
    merchant: Merchant,
    payment_id: int,
    status: str,
    kind: str,
    memo: tuple[str, str],
    verb: str,
    describe: Callable[[Payment], str],
    actor: Any = None,
    now: dt.datetime,
) -> Payment:
    """Take all that is left of a payment back (a bank return, a void): off every invoice it pays
    and out of clearing, in one entry of `kind` (`memo`: what, and why); the payment ends in
    `status`. A payment already returned or void is left as it is."""
    customer_id = Payment.objects.values_list("customer_id", flat=True).get(merchant=merchant, pk=payment_id)
    customer_lock(merchant=merchant, customer_id=customer_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status in (PaymentStatus.RETURNED, PaymentStatus.VOIDED):
        return payment
    applied = dict(
        Application.objects.filter(merchant=merchant, payment=payment, amount_minor__gt=0).values_list(
            "invoice_id", "amount_minor"
        )
    )
    invoices = invoices_lock(merchant=merchant, invoice_ids=list(applied))
    left = payment.amount_minor - payment.refunded_minor
    payment.status = status
    payment.save(update_fields=["status"])
    if left:
        totals = journal_post(
            merchant=merchant,
            kind=kind,
            customer_id=customer_id,
            currency=payment.currency,
            legs=_money_back_legs(
                payment=payment, minor=left, plan=[(invoice, applied[invoice.pk]) for invoice in invoices]
            ),
            now=now,
            actor=actor,
            memo=f"{memo[0]} of {payment.number}" + (f" ({memo[1]})" if memo[1] else ""),
        )
        payments_totals_apply(payments=[payment], totals=totals)
        invoice_totals_apply(invoices=invoices, totals=totals)
        applications_totals_apply(merchant=merchant, totals=totals, now=now)
    owing_again = [i.number for i in invoices if i.status != InvoiceStatus.UNCOLLECTIBLE]
    reopened = ", ".join(owing_again)
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb=verb,
        summary=describe(payment)
        + (f", {reopened} owes again" if len(owing_again) == 1 else f", {reopened} owe again" if owing_again else ""),
        actor=actor,
        obj=payment,
        now=now,
    )
    return payment


@transaction.atomic
def credit_apply(
    *,
    merchant: Merchant,
    customer_id: int,
    invoice_ids: Sequence[int],
    payment_id: int | None = None,
    credit_memo_id: int | None = None,
    amounts: Mapping[int, Money] | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> list[Application]:
    """Apply customer credit — an unapplied payment or a credit memo — to open invoices
    (explicit amounts, or oldest due first up to the credit available)."""
    now = now or clock.now()
    if (payment_id is None) == (credit_memo_id is None):
        raise InvalidInput("Choose one credit to apply.", field="credit")
    customer_lock(merchant=merchant, customer_id=customer_id)
    payment: Payment | None = None
    memo: CreditMemo | None = None
    try:
        if payment_id is not None:
            payment = Payment.objects.select_for_update().get(merchant=merchant, customer_id=customer_id, pk=payment_id)
            available = payment.unapplied
        elif credit_memo_id is not None:
            memo = CreditMemo.objects.select_for_update().get(
                merchant=merchant, customer_id=customer_id, pk=credit_memo_id
            )
            available = memo.remaining
    except (Payment.DoesNotExist, CreditMemo.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such credit.") from None
    if not available:
        raise NotAllowed("That credit has nothing left to apply.")
    if amounts is not None:
        invoice_ids = list(dict.fromkeys([*invoice_ids, *amounts]))
    invoices = invoices_lock(merchant=merchant, invoice_ids=invoice_ids, customer_id=customer_id)
    plan = _allocate(available=available, invoices=invoices, amounts=amounts, locale=merchant.locale)
    if not plan:
        raise NotAllowed("Nothing to apply: choose at least one invoice with a balance.")
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.CREDIT_APPLIED,
        customer_id=customer_id,
        currency=available.currency,
        legs=_application_legs(plan, payment_id=payment_id, credit_memo_id=credit_memo_id),
        now=now,
        actor=actor,
    )
    if payment is not None:
        payments_totals_apply(payments=[payment], totals=totals)
        source = f"unapplied payment {payment.number}"
    elif memo is not None:
        credit_memos_totals_apply(credit_memos=[memo], totals=totals)
        source = f"credit memo {memo.number}"
    invoice_totals_apply(invoices=[invoice for invoice, _ in plan], totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now)
    applied = Money(sum(minor for _, minor in plan), available.currency)
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="credit.applied",
        summary=f"{applied.format(merchant.locale)} of {source} applied to {', '.join(i.number for i, _ in plan)}",
        actor=actor,
        obj=payment or memo,
        now=now,
    )
    by_source = {"payment_id": payment_id} if payment_id is not None else {"credit_memo_id": credit_memo_id}
    return list(Application.objects.filter(merchant=merchant, invoice__in=[i for i, _ in plan], **by_source))


@transaction.atomic
def application_move_to_credit(
    *, merchant: Merchant, application_id: int, actor: Any = None, now: dt.datetime | None = None
) -> Application:
    """Take a payment or credit memo off an invoice and keep it as customer credit: the invoice
    owes it again (and can then be voided), the credit can be applied elsewhere."""
    now = now or clock.now()
    try:
        found = Application.objects.select_related("invoice").get(merchant=merchant, pk=application_id)
    except (Application.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such payment application.") from None
    customer_id = found.invoice.customer_id
    customer_lock(merchant=merchant, customer_id=customer_id)
    invoice = invoices_lock(merchant=merchant, invoice_ids=[found.invoice_id])[0]
    application = Application.objects.select_for_update().get(pk=application_id)
    if application.amount_minor == 0:
        raise NotAllowed("Nothing of this payment is applied to the invoice any more.")
    if invoice.status not in (*COLLECTIBLE_STATUSES, InvoiceStatus.PAID):
        raise NotAllowed(f"Invoice {invoice.number} is {invoice.get_status_display().lower()}.")
    minor = application.amount_minor
    source_account = Account.UNAPPLIED if application.payment_id else Account.CUSTOMER_CREDIT
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.APPLICATION_REVERSED,
        customer_id=customer_id,
        currency=invoice.currency,
        legs=[
            Leg(
                Account.RECEIVABLE,
                minor,
                invoice_id=invoice.pk,
                payment_id=application.payment_id,
                credit_memo_id=application.credit_memo_id,
            ),
            Leg(source_account, -minor, payment_id=application.payment_id, credit_memo_id=application.credit_memo_id),
        ],
        now=now,
        actor=actor,
        memo=f"Unapply from {invoice.number}",
    )
    if (source_payment_id := application.payment_id) is not None:
        payments_totals_apply(payments=[Payment.objects.select_for_update().get(pk=source_payment_id)], totals=totals)
    elif (source_memo_id := application.credit_memo_id) is not None:
        credit_memos_totals_apply(
            credit_memos=[CreditMemo.objects.select_for_update().get(pk=source_memo_id)], totals=totals
        )
    invoice_totals_apply(invoices=[invoice], totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now)
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="credit.unapplied",
        summary=(
            f"{Money(minor, invoice.currency).format(merchant.locale)} moved from {invoice.number} to customer credit"
        ),
        actor=actor,
        obj=invoice,
        now=now,
    )
    application.refresh_from_db()
    return application


def _refund_plan(
    *, merchant: Merchant, payment: Payment, amount: Money, invoice_id: int | None, pending: Sequence[Refund] = ()
) -> dict[int, int]:
    """Which invoices a refund of `amount` comes off, and how much each (invoice id → minor units;
    the rest comes out of unapplied credit): the payment's unapplied credit first, then the
    invoices it paid, newest first (only `invoice_id` when given). What the `pending` refunds plan
    to take is not there to take. Raises for a wrong currency or more than is left."""
    require_positive(amount)
    if amount.currency != payment.currency:
        raise InvalidInput(f"Refunds of this payment are in {payment.currency}.", field="currency")
    planned: dict[int, int] = defaultdict(int)
    for other in pending:
        for planned_id, part in other.plan.items():
            planned[int(planned_id)] += part
    reserved = sum(other.amount_minor for other in pending)
    left_to_refund = payment.amount_minor - payment.refunded_minor - reserved
    if amount.minor > left_to_refund:
        refundable = Money(left_to_refund, payment.currency).format(merchant.locale)
        waiting = " (the rest is in refunds waiting for the payment processor)" if pending else ""
        raise NotAllowed(f"Only {refundable} of payment {payment.number} can still be refunded{waiting}.")
    applications = list(
        Application.objects.filter(merchant=merchant, payment=payment, amount_minor__gt=0).order_by("-id")
    )
    if invoice_id is not None:
        applications = [a for a in applications if a.invoice_id == invoice_id]
        if not applications:
            raise NotAllowed("This payment did not pay that invoice.")
        left = amount.minor
    else:
        credit = payment.unapplied_minor - (reserved - sum(planned.values()))
        left = amount.minor - min(max(credit, 0), amount.minor)
    plan: dict[int, int] = {}
    for application in applications:
        take = min(left, application.amount_minor - planned[application.invoice_id])
        if take > 0:
            plan[application.invoice_id] = take
            left -= take
    if left:
        raise NotAllowed("That is more than this payment paid on the invoice.")
    return plan


def _money_back_legs(*, payment: Payment, minor: int, plan: Sequence[tuple[Invoice, int]]) -> list[Leg]:
    """Legs taking `minor` of a payment back out of clearing (a refund, a bank return, a void), off
    the invoices in `plan`, which owe it again — except a written-off invoice, which cannot owe
    again: its part is written off as well."""
    legs = []
    for invoice, part in plan:
        legs.append(Leg(Account.RECEIVABLE, part, invoice_id=invoice.pk, payment_id=payment.pk))
        legs.append(Leg(Account.UNAPPLIED, -part, payment_id=payment.pk))
        if invoice.status == InvoiceStatus.UNCOLLECTIBLE:
            legs.append(Leg(Account.RECEIVABLE, -part, invoice_id=invoice.pk))
            legs.append(Leg(Account.BAD_DEBT, part))
    legs.append(Leg(Account.UNAPPLIED, minor, payment_id=payment.pk))
    legs.append(Leg(Account.CLEARING, -minor, payment_id=payment.pk, method=payment.method))
    return legs


def refund_create(
    *,
    merchant: Merchant,
    payment_id: int,
    amount: Money,
    invoice_id: int | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> Refund:
    """Give back part or all of a payment; repeatable until nothing is left.

    The refund comes out of the payment's unapplied credit first, then off the invoices it paid,
    newest first (or only off `invoice_id` when given); those invoices owe it again, except a
    written-off one, which cannot owe again: that part is written off too. Raises NotAllowed for
    more than is refundable. A manual payment's refund is recorded in one transaction.

    A payment a gateway took is refunded there, once and never lost. The refund is first committed
    as pending, with what it plans to take off each invoice; from then on it counts against what
    can be refunded, so refunds in parallel never add up to more than was taken. The gateway is
    then asked outside any transaction (a rollback here would not undo it), under the refund's
    idempotency key (one is made when none is given; pass one so a retry is safe), and its answer
    is recorded in a second transaction (`_refund_move`). A refusal (the pay-later window, more
    than the gateway has left) marks the refund failed, moves nothing and raises NotAllowed with
    the gateway's message; the same key again gets the same refusal. No answer returns the refund
    still pending: `refund_reconcile` asks the gateway later and finishes it."""
    now = now or clock.now()
    fingerprint = request_fingerprint(
        payment_id=payment_id, amount=[amount.minor, amount.currency], invoice_id=invoice_id, reason=reason
    )
    refund = idempotent_replay(Refund, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if refund is None:
        try:
            through_gateway = Payment.objects.filter(merchant=merchant, pk=payment_id).exclude(gateway="").exists()
        except (ValueError, TypeError):
            raise NotFound("No such payment.") from None
        if through_gateway:
            idempotency_key = idempotency_key or f"refund-{secrets.token_hex(16)}"
        made: list[Refund] = []
        refund = idempotent_create(
            Refund,
            merchant=merchant,
            key=idempotency_key,
            fingerprint=fingerprint,
            create=lambda: _refund_create(
                merchant=merchant,
                payment_id=payment_id,
                amount=amount,
                invoice_id=invoice_id,
                reason=reason,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                actor=actor,
                now=now,
                made=made,
            ),
        )
        if made and made[0].pk == refund.pk and refund.status == RefundStatus.PENDING:
            # Committed as pending: only now may the gateway give money back.
            refund = _refund_move(
                merchant=merchant,
                refund_id=refund.pk,
                result=_gateway_refund(refund, merchant=merchant),
                actor=actor,
                now=now,
            )
    if refund.status == RefundStatus.FAILED:
        raise NotAllowed(refund.message or "The payment processor refused the refund.", code=refund.decline_code)
    return refund


def _refund_create(
    *,
    merchant: Merchant,
    payment_id: int,
    amount: Money,
    invoice_id: int | None,
    reason: str,
    idempotency_key: str | None,
    fingerprint: str,
    actor: Any,
    now: dt.datetime,
    made: list[Refund],
) -> Refund:
    """The refund row, under the customer's lock: recorded in full for a manual payment, pending
    for a gateway one. `made` receives the row when this call created it."""
    require_positive(amount)
    try:
        customer_id = Payment.objects.values_list("customer_id", flat=True).get(merchant=merchant, pk=payment_id)
    except (Payment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such payment.") from None
    customer_lock(merchant=merchant, customer_id=customer_id)
    replay = idempotent_replay(Refund, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.gateway and payment.status == PaymentStatus.PENDING:
        raise NotAllowed(f"Payment {payment.number} is a bank debit that has not settled yet: void it instead.")
    pending = list(Refund.objects.filter(merchant=merchant, payment=payment, status=RefundStatus.PENDING))
    plan = _refund_plan(merchant=merchant, payment=payment, amount=amount, invoice_id=invoice_id, pending=pending)
    refund = Refund.objects.create(
        merchant=merchant,
        payment=payment,
        amount_minor=amount.minor,
        reason=_text(reason, field="reason", limit=300),
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        **(
            {"status": RefundStatus.PENDING, "plan": plan, "next_check_at": gateway_next_check(0, now)}
            if payment.gateway
            else {}
        ),
    )
    made.append(refund)
    if not payment.gateway:
        _refund_post(merchant=merchant, refund=refund, payment=payment, plan=plan, actor=actor, now=now)
    return refund


def _refund_post(
    *, merchant: Merchant, refund: Refund, payment: Payment, plan: Mapping[int, int], actor: Any, now: dt.datetime
) -> None:
    """Post a refund that is happening: its journal entry, the caches, the timeline. The customer
    and the payment are locked by the caller."""
    invoices = invoices_lock(merchant=merchant, invoice_ids=list(plan))
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.REFUND_ISSUED,
        customer_id=payment.customer_id,
        currency=payment.currency,
        legs=_money_back_legs(payment=payment, minor=refund.amount_minor, plan=[(i, plan[i.pk]) for i in invoices]),
        now=now,
        actor=actor,
        memo=f"Refund of {payment.number}",
    )
    payments_totals_apply(payments=[payment], totals=totals)
    invoice_totals_apply(invoices=invoices, totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now)
    reopened = ", ".join(i.number for i in invoices if i.status != InvoiceStatus.UNCOLLECTIBLE)
    amount = Money(refund.amount_minor, payment.currency)
    activity_record(
        merchant=merchant,
        customer_id=payment.customer_id,
        verb="payment.refunded",
        summary=f"Refunded {amount.format(merchant.locale)} of payment {payment.number}"
        + (f" ({reopened} reopened)" if reopened else ""),
        actor=actor,
        obj=payment,
        now=now,
    )


def _gateway_refund(refund: Refund, *, merchant: Merchant, ask_first: bool = False) -> RefundResult:
    """Have the gateway give a pending refund's money back, under the refund's key, so asking again
    never refunds twice. A call with no answer is asked about, never guessed; a key the gateway
    never received is UNKNOWN until the refund is sent again. `ask_first`: a reconciliation, which
    asks what became of the refund before sending it (again)."""
    payment = refund.payment
    gateway = gateway_get(payment.gateway)
    key = gateway_idempotency_key(merchant=merchant, key=refund.idempotency_key or "")

    def asked() -> RefundResult:
        found = gateway.fetch_refund(idempotency_key=key)
        never_received = found.outcome == Outcome.FAILURE and found.decline_code == "not_found"
        return RefundResult(Outcome.UNKNOWN, message=found.message) if never_received else found

    if ask_first and (found := asked()).outcome != Outcome.UNKNOWN:
        return found
    result = gateway.refund(
        RefundRequest(
            charge_reference=payment.gateway_reference,
            amount=Money(refund.amount_minor, payment.currency),
            idempotency_key=key,
        )
    )
    return asked() if result.outcome == Outcome.UNKNOWN else result


def _refund_move(
    *,
    merchant: Merchant,
    refund_id: int,
    result: RefundResult,
    now: dt.datetime,
    actor: Any = None,
    checked: bool = False,
) -> Refund:
    """The one transition of a gateway refund: lock the customer, then the refund; a pending refund
    the gateway confirmed is posted and succeeded, one it refused is failed (nothing moves); any
    other answer leaves it pending and reschedules the next check. A refund no longer pending is
    left as it is, so whichever of the reply and a reconciliation comes second changes nothing.
    `checked`: this answer came from a reconciliation check."""
    with transaction.atomic():
        customer_id = Refund.objects.values_list("payment__customer_id", flat=True).get(merchant=merchant, pk=refund_id)
        customer_lock(merchant=merchant, customer_id=customer_id)
        refund = Refund.objects.select_for_update().get(merchant=merchant, pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund
        if checked:
            refund.attempts += 1
        if result.outcome == Outcome.SUCCESS:
            payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
            if payment.status in (PaymentStatus.RETURNED, PaymentStatus.VOIDED):
                # Nothing is left to take it off: it stays pending, unchecked, for a person.
                refund.gateway_reference = result.reference[:100]
                refund.next_check_at = None
                refund.save()
                paid_back_twice_notify(
                    merchant=merchant,
                    payment=payment,
                    refunded=Money(refund.amount_minor, payment.currency),
                    key=f"refund_after_reversal:{refund.pk}",
                    now=now,
                )
                return refund
            plan = _refund_plan_now(merchant=merchant, payment=payment, refund=refund)
            _refund_post(merchant=merchant, refund=refund, payment=payment, plan=plan, actor=actor, now=now)
            refund.status = RefundStatus.SUCCEEDED
            refund.gateway_reference = result.reference[:100]
        elif result.outcome == Outcome.FAILURE:
            refund.status = RefundStatus.FAILED
            refund.decline_code = result.decline_code[:60]
            refund.message = result.message[:300]
        refund.next_check_at = (
            gateway_next_check(refund.attempts, now) if refund.status == RefundStatus.PENDING else None
        )
        refund.save()
        return refund


def _refund_plan_now(*, merchant: Merchant, payment: Payment, refund: Refund) -> dict[int, int]:
    """What a confirmed refund takes off each invoice: its plan, unless the payment's applications
    changed while it waited (moved to credit, credit applied elsewhere). The money is back with the
    customer by then, so it then comes off whatever the payment still pays."""
    plan = {int(invoice_id): part for invoice_id, part in refund.plan.items()}
    applied = dict(
        Application.objects.filter(merchant=merchant, payment=payment).values_list("invoice_id", "amount_minor")
    )
    from_credit = refund.amount_minor - sum(plan.values())
    if payment.unapplied_minor >= from_credit and all(applied.get(pk, 0) >= part for pk, part in plan.items()):
        return plan
    others = Refund.objects.filter(merchant=merchant, payment=payment, status=RefundStatus.PENDING).exclude(
        pk=refund.pk
    )
    amount = Money(refund.amount_minor, payment.currency)
    return _refund_plan(merchant=merchant, payment=payment, amount=amount, invoice_id=None, pending=list(others))


def refund_reconcile(*, merchant: Merchant, refund_id: int, now: dt.datetime) -> Refund:
    """Ask the gateway what became of a pending refund (a lost reply, a crash before or after the
    call) and record it like a reply; a refund the gateway never received is sent again under the
    same key. A refund no longer pending is returned as it is. Raises NotFound."""
    try:
        refund = Refund.objects.select_related("payment").get(merchant=merchant, pk=refund_id)
    except (Refund.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such refund.") from None
    if refund.status != RefundStatus.PENDING:
        return refund
    result = _gateway_refund(refund, merchant=merchant, ask_first=True)
    return _refund_move(merchant=merchant, refund_id=refund.pk, result=result, now=now, checked=True)


def refund_news(*, gateway_key: str) -> Refund | None:
    """A gateway's webhook says something became of the refund it knows by `gateway_key`: if that
    refund is still pending here, it is checked at once, after commit and outside any transaction
    (`refund_reconcile` asks the gateway, so the event is a nudge, never taken on trust). None when
    the key is not one of a pending refund's."""
    ours = _merchant_key(gateway_key)
    if ours is None:
        return None
    with all_merchants():
        refund = (
            Refund.objects.select_related("merchant")
            .filter(merchant_id=ours[0], idempotency_key=ours[1], status=RefundStatus.PENDING)
            .first()
        )
    if refund is None:
        return None
    from . import tasks  # the tasks module imports this one

    enqueue_on_commit(tasks.refund_reconcile_task, merchant_id=refund.merchant_id, refund_id=refund.pk)
    return refund


def refunds_due(*, now: dt.datetime) -> list[tuple[int, int]]:
    """(refund id, merchant id) of every merchant's pending refund whose next check has come, each
    leased for the first backoff step so the next sweep does not hand it out again while its
    check runs."""
    with all_merchants():
        pending = Refund.objects.filter(status=RefundStatus.PENDING)
        lease = {"next_check_at": gateway_next_check(0, now)}
        due = rows_due_leased(pending, due_field="next_check_at", now=now, columns=("merchant_id",), lease=lease)
    return [(refund_id, merchant_id) for refund_id, merchant_id in due]
