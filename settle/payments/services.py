"""Payments, applications of payments and credit to invoices, and refunds.

Every public function here runs in one transaction and locks in one order — the customer row
first, then the rows it changes — so concurrent requests for one customer queue instead of
racing, and two requests never deadlock. Each posts one balanced journal entry and updates the
cached balances only through the `*_totals_apply` functions."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound, SettleError
from settle.core.idempotency import idempotent_create, idempotent_replay, request_fingerprint
from settle.core.money import Money, currency_exponent, require_positive
from settle.customers.services import activity_record, customer_lock
from settle.gateways.base import Outcome, RefundRequest, RefundResult
from settle.gateways.registry import gateway_get
from settle.invoicing.journal import LedgerTotals, Leg, journal_post
from settle.invoicing.models import COLLECTIBLE_STATUSES, Account, CreditMemo, EntryKind, Invoice, InvoiceStatus
from settle.invoicing.services import credit_memos_totals_apply, invoice_totals_apply, invoices_lock
from settle.tenants.models import Merchant

from .models import GATEWAY_METHODS, Application, Payment, PaymentMethod, PaymentStatus, Refund


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    """Where a gateway payment came from, kept on the payment for refunds and receipts. `pending`:
    a bank debit not settled yet."""

    gateway: str
    reference: str
    card_brand: str = ""
    last4: str = ""
    pending: bool = False


class RefundNotConfirmed(SettleError):
    """The gateway did not confirm the refund (unreachable, or no answer). Nothing was recorded;
    the same request again, with the same idempotency key, never refunds twice."""

    status_code = 503


def gateway_idempotency_key(*, merchant: Merchant, key: str) -> str:
    """The key a gateway receives for a merchant's key: gateways know no merchants, so it is made
    unique across them."""
    return f"settle-{merchant.pk}-{key}"


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
            state = "already paid" if invoice.status == InvoiceStatus.PAID else invoice.get_status_display().lower()
            raise NotAllowed(f"Invoice {invoice.number} is {state} and cannot be paid.")
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
        raise NotAllowed(f"That is more than the {owed.format(merchant.locale)} owed.")
    if amount.minor < owed.minor and not allow_partial:
        raise NotAllowed(f"Pay the full {owed.format(merchant.locale)}.")


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
    """The bank sent a debit back (an ACH return): one reversing journal entry takes the payment
    off every invoice it paid and what is left of it out of clearing, so those invoices owe again
    and the payment counts for nothing. The customer's timeline says so, which is also where the
    merchant sees it. Returning twice changes nothing. Runs inside the caller's transaction."""
    customer_id = Payment.objects.values_list("customer_id", flat=True).get(merchant=merchant, pk=payment_id)
    customer_lock(merchant=merchant, customer_id=customer_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status == PaymentStatus.RETURNED:
        return payment
    applied = dict(
        Application.objects.filter(merchant=merchant, payment=payment, amount_minor__gt=0).values_list(
            "invoice_id", "amount_minor"
        )
    )
    invoices = invoices_lock(merchant=merchant, invoice_ids=list(applied))
    legs = _money_back_legs(
        payment=payment,
        minor=payment.amount_minor - payment.refunded_minor,
        plan=[(invoice, applied[invoice.pk]) for invoice in invoices],
    )
    described = f"{code} {reason.lower()}".strip()
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.APPLICATION_REVERSED,
        customer_id=customer_id,
        currency=payment.currency,
        legs=legs,
        now=now,
        memo=f"Return of {payment.number} ({described})",
    )
    payment.status = PaymentStatus.RETURNED
    payment.save(update_fields=["status"])
    payments_totals_apply(payments=[payment], totals=totals)
    invoice_totals_apply(invoices=invoices, totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now)
    owing_again = [i.number for i in invoices if i.status != InvoiceStatus.UNCOLLECTIBLE]
    reopened = ", ".join(owing_again)
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="payment.returned",
        summary=f"ACH payment returned ({described}): {payment.number} of {payment.amount.format(merchant.locale)}"
        + (f", {reopened} owes again" if len(owing_again) == 1 else f", {reopened} owe again" if owing_again else ""),
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
    *, merchant: Merchant, payment: Payment, amount: Money, invoice_id: int | None
) -> list[tuple[int, int]]:
    """Which invoices a refund of `amount` comes off, and how much each: the payment's unapplied
    credit first, then the invoices it paid, newest first (only `invoice_id` when given). Raises
    for a wrong currency or more than is left; reads, so it can run before a gateway is asked and
    again under the locks."""
    require_positive(amount)
    if amount.currency != payment.currency:
        raise InvalidInput(f"Refunds of this payment are in {payment.currency}.", field="currency")
    if amount.minor > payment.amount_minor - payment.refunded_minor:
        raise NotAllowed(
            f"Only {payment.refundable.format(merchant.locale)} of payment {payment.number} can still be refunded."
        )
    applications = list(
        Application.objects.filter(merchant=merchant, payment=payment, amount_minor__gt=0).order_by("-id")
    )
    if invoice_id is not None:
        applications = [a for a in applications if a.invoice_id == invoice_id]
        if not applications:
            raise NotAllowed("This payment did not pay that invoice.")
        left = amount.minor
    else:
        left = amount.minor - min(payment.unapplied_minor, amount.minor)
    plan: list[tuple[int, int]] = []
    for application in applications:
        take = min(left, application.amount_minor)
        if take > 0:
            plan.append((application.invoice_id, take))
            left -= take
    if left:
        raise NotAllowed("That is more than this payment paid on the invoice.")
    return plan


def _money_back_legs(*, payment: Payment, minor: int, plan: Sequence[tuple[Invoice, int]]) -> list[Leg]:
    """Legs taking `minor` of a payment back out of clearing (a refund, a bank return), off the
    invoices in `plan`, which owe it again — except a written-off invoice, which cannot owe again:
    its part is written off as well."""
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
    more than is refundable.

    A payment a gateway took is refunded there first, outside any transaction (the gateway is
    another system: a rollback here would not undo it), under the refund's idempotency key (one is
    made when none is given; pass one so a retry is safe). The refund is recorded only once the
    gateway confirms it; its refusal (the pay-later window, more than is left) is NotAllowed with
    its message, no confirmation is RefundNotConfirmed."""
    fingerprint = request_fingerprint(
        payment_id=payment_id, amount=[amount.minor, amount.currency], invoice_id=invoice_id, reason=reason
    )
    replay = idempotent_replay(Refund, merchant=merchant, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        charged = Payment.objects.filter(merchant=merchant, pk=payment_id).exclude(gateway="").first()
    except (ValueError, TypeError):
        raise NotFound("No such payment.") from None
    if charged is not None:
        # Everything that would refuse the refund is checked before the gateway gives money back.
        _refund_plan(merchant=merchant, payment=charged, amount=amount, invoice_id=invoice_id)
        idempotency_key = idempotency_key or f"refund-{secrets.token_hex(16)}"
        _gateway_refund(merchant=merchant, payment=charged, amount=amount, key=idempotency_key)
    return idempotent_create(
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
        ),
    )


def _gateway_refund(*, merchant: Merchant, payment: Payment, amount: Money, key: str) -> None:
    """Have the gateway give `amount` back, or raise. Obvious refusals are made here without asking
    it; the locked checks in `_refund_create` still decide what is recorded."""
    if payment.status == PaymentStatus.PENDING:
        raise NotAllowed(f"Payment {payment.number} is a bank debit that has not settled yet.")
    gateway = gateway_get(payment.gateway)
    request = RefundRequest(
        charge_reference=payment.gateway_reference,
        amount=amount,
        idempotency_key=gateway_idempotency_key(merchant=merchant, key=key),
    )
    result: RefundResult = gateway.refund(request)
    if result.outcome == Outcome.UNKNOWN:
        # UNKNOWN is never guessed: ask what became of this key.
        result = gateway.fetch_refund(idempotency_key=request.idempotency_key)
    if result.outcome == Outcome.SUCCESS:
        return
    if result.outcome == Outcome.FAILURE and result.decline_code != "not_found":
        raise NotAllowed(result.message or "The payment processor refused the refund.", code=result.decline_code)
    raise RefundNotConfirmed(
        "The payment processor did not confirm the refund, so nothing was recorded. Try again in a moment."
    )


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
    now: dt.datetime | None,
) -> Refund:
    now = now or clock.now()
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
    plan = _refund_plan(merchant=merchant, payment=payment, amount=amount, invoice_id=invoice_id)
    invoices = invoices_lock(merchant=merchant, invoice_ids=[i for i, _ in plan])
    parts = dict(plan)
    refund = Refund.objects.create(
        merchant=merchant,
        payment=payment,
        amount_minor=amount.minor,
        reason=_text(reason, field="reason", limit=300),
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
    )
    totals = journal_post(
        merchant=merchant,
        kind=EntryKind.REFUND_ISSUED,
        customer_id=customer_id,
        currency=payment.currency,
        legs=_money_back_legs(payment=payment, minor=amount.minor, plan=[(i, parts[i.pk]) for i in invoices]),
        now=now,
        actor=actor,
        memo=f"Refund of {payment.number}",
    )
    payments_totals_apply(payments=[payment], totals=totals)
    invoice_totals_apply(invoices=invoices, totals=totals)
    applications_totals_apply(merchant=merchant, totals=totals, now=now)
    reopened = ", ".join(i.number for i in invoices if i.status != InvoiceStatus.UNCOLLECTIBLE)
    activity_record(
        merchant=merchant,
        customer_id=customer_id,
        verb="payment.refunded",
        summary=f"Refunded {amount.format(merchant.locale)} of payment {payment.number}"
        + (f" ({reopened} reopened)" if reopened else ""),
        actor=actor,
        obj=payment,
        now=now,
    )
    return refund
