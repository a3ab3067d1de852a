"""What people are told about payments: the merchant's notifications (a payment came in on the pay
page, a bank debit came back, a customer says they paid with an app) and the customer's automatic
confirmation message with its receipt link.

Everything here runs inside the transaction that recorded the payment, so a rolled-back payment
tells no one, and writes rows only: the e-mails and texts leave from the message outbox after
commit. Each is keyed by its payment, so a recording that is retried or reconciled tells once. A
message that cannot be written (a customer without any address, a template the channel cannot
carry) is logged and skipped: it never undoes a payment the gateway has already taken."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.db import transaction
from django.urls import reverse
from django.utils.http import urlencode

from settle.core.errors import InvalidInput, NotAllowed, NotFound, SettleError
from settle.core.idempotency import request_fingerprint
from settle.core.money import Money
from settle.customers.models import Contact, Customer
from settle.invoicing.models import COLLECTIBLE_STATUSES, Invoice
from settle.messaging.models import Message, MessageChannel, Purpose
from settle.messaging.selectors import language_codes, merchant_language
from settle.messaging.services import message_queue
from settle.notifications.models import Notification, NotificationKind
from settle.notifications.services import merchant_notify
from settle.tenants.models import Merchant

from .links import secure_link_create, secure_link_url
from .models import Application, LinkPurpose, Payment, PaymentStatus
from .payment_settings import payment_settings_get
from .social import LABELS, SocialApp, configured_apps

logger = logging.getLogger(__name__)


def _paid_invoices(*, merchant: Merchant, payment: Payment) -> list[Invoice]:
    applications = Application.objects.filter(merchant=merchant, payment=payment, amount_minor__gt=0)
    return [application.invoice for application in applications.select_related("invoice").order_by("pk")]


def _what_it_paid(invoices: Sequence[Invoice]) -> str:
    if not invoices:
        return "as customer credit"
    numbers = ", ".join(invoice.number for invoice in invoices)
    return f"for invoice {numbers}" if len(invoices) == 1 else f"for invoices {numbers}"


def _method_text(payment: Payment) -> str:
    """As receipts show it: brand and last four digits only."""
    if payment.last4:
        return f"{payment.card_brand or payment.get_method_display()} •••• {payment.last4}"
    return payment.get_method_display()


def online_payment_announce(*, merchant: Merchant, payment: Payment, language: str = "", now: dt.datetime) -> None:
    """A customer paid on the pay page (a gateway payment, or a bank debit on its way): tell the
    merchant, and send the customer the confirmation message, in `language` (the page's), when the
    merchant turned it on. Once per payment however often it is called."""
    customer = Customer.objects.get(merchant=merchant, pk=payment.customer_id)
    invoices = _paid_invoices(merchant=merchant, payment=payment)
    amount = payment.amount.format(merchant.locale)
    pending = payment.status == PaymentStatus.PENDING
    body = f"Paid with {_method_text(payment)} on the pay page ({payment.number})."
    if pending:
        body += " A bank debit: it stays pending until the bank settles it, usually in a few business days."
    merchant_notify(
        merchant=merchant,
        kind=NotificationKind.PAYMENT_RECEIVED,
        title=f"Payment received from {customer.display_name}: {amount} {_what_it_paid(invoices)}",
        body=body,
        key=f"payment_received:{payment.pk}",
        customer_id=customer.pk,
        invoice_id=invoices[0].pk if invoices else None,
        payment_id=payment.pk,
        now=now,
    )
    if payment_settings_get(merchant=merchant).confirmation_message_enabled:
        payment_confirmation_queue(
            merchant=merchant,
            payment=payment,
            customer=customer,
            invoices=invoices,
            language=_language(merchant, language),
            now=now,
        )


def paid_back_twice_notify(
    *, merchant: Merchant, payment: Payment, refunded: Money, key: str, now: dt.datetime
) -> None:
    """`refunded` of a payment went back to the customer as a refund, and the payment was also
    returned by the bank or voided (in either order): the customer got that money back twice,
    which no entry can settle by itself. A To-Do for the merchant to sort it out with them; `key`
    names the event, so telling it again changes nothing."""
    customer = Customer.objects.get(merchant=merchant, pk=payment.customer_id)
    amount = refunded.format(merchant.locale)
    merchant_notify(
        merchant=merchant,
        kind=NotificationKind.PAID_BACK_TWICE,
        title=f"{customer.display_name} got {amount} of {payment.number} back twice: refunded, and "
        f"{payment.get_status_display().lower()}",
        body=f"{amount} of {payment.number} was refunded, and the whole payment was also "
        f"{payment.get_status_display().lower()}, so it no longer counts as paid. The customer has had that "
        "money back twice: contact them to collect it.",
        key=key,
        customer_id=customer.pk,
        payment_id=payment.pk,
        needs_action=True,
        now=now,
    )


def late_charge_notify(*, merchant: Merchant, payment: Payment, now: dt.datetime) -> None:
    """The gateway says it took a charge that Settle had recorded as failed (its answer came after
    it was given up on): the payment is now recorded, perhaps as credit if the invoices were paid
    another way meanwhile. A To-Do for the merchant to check whether the customer paid twice."""
    customer = Customer.objects.get(merchant=merchant, pk=payment.customer_id)
    amount = payment.amount.format(merchant.locale)
    merchant_notify(
        merchant=merchant,
        kind=NotificationKind.LATE_CHARGE,
        title=f"Payment {payment.number} of {amount} from {customer.display_name} went through late",
        body=f"The payment processor took {amount} for a charge that had been recorded as failed. It is now "
        f"recorded as {payment.number}. If the customer paid again meanwhile, refund one of the payments.",
        key=f"late_charge:{payment.pk}",
        customer_id=customer.pk,
        payment_id=payment.pk,
        needs_action=True,
        now=now,
    )


def payment_returned_notify(*, merchant: Merchant, payment: Payment, reason: str, now: dt.datetime) -> Notification:
    """The bank sent a debit back: a To-Do for the merchant to collect the money another way."""
    customer = Customer.objects.get(merchant=merchant, pk=payment.customer_id)
    applications = Application.objects.filter(merchant=merchant, payment=payment).select_related("invoice")
    invoices = [application.invoice for application in applications.order_by("pk")]
    owing_again = [invoice.number for invoice in invoices if invoice.status in COLLECTIBLE_STATUSES]
    owes = f"Invoice {owing_again[0]} owes again. " if len(owing_again) == 1 else ""
    owes = f"Invoices {', '.join(owing_again)} owe again. " if len(owing_again) > 1 else owes
    return merchant_notify(
        merchant=merchant,
        kind=NotificationKind.PAYMENT_RETURNED,
        title=f"Bank payment returned: {payment.amount.format(merchant.locale)} from {customer.display_name} "
        f"({reason})",
        body=f"{payment.number} was taken back by the customer's bank. {owes}"
        "Contact the customer to collect it another way.",
        key=f"payment_returned:{payment.pk}",
        customer_id=customer.pk,
        invoice_id=invoices[0].pk if invoices else None,
        payment_id=payment.pk,
        needs_action=True,
        now=now,
    )


def _language(merchant: Merchant, language: str) -> str:
    """The customer's language: the pay page's, else the merchant's."""
    language = language.split("-")[0]
    return language if language in language_codes() else merchant_language(merchant)


def _confirmation_address(*, merchant: Merchant, customer: Customer) -> tuple[str, int | None] | None:
    """(channel, contact id) of the customer's contact to thank: the default billing contact first,
    by e-mail when anyone has an address, else by text; contacts whose access level turns receipts
    off are left out. None when there is nowhere to write."""
    contacts = [
        contact
        for contact in Contact.objects.filter(merchant=merchant, customer=customer)
        .select_related("profile")
        .order_by("-is_default_billing", "pk")
        if contact.profile is None or contact.profile.receives_receipts
    ]
    for channel, field, fallback in (
        (MessageChannel.EMAIL, "email", customer.primary_email),
        (MessageChannel.SMS, "phone", customer.primary_phone),
    ):
        contact = next((c for c in contacts if getattr(c, field)), None)
        if contact is not None:
            return channel, contact.pk
        if fallback:
            return channel, None
    return None


def payment_confirmation_queue(
    *,
    merchant: Merchant,
    payment: Payment,
    customer: Customer,
    invoices: Sequence[Invoice],
    language: str,
    now: dt.datetime,
) -> Message | None:
    """Queue the thank-you message for `payment` from the merchant's payment confirmation template in
    `language`, with a new receipt link, to the customer's contact (`_confirmation_address`). Once
    per payment: a second call returns the first message. None when it cannot be written (logged)."""
    key = f"payment-confirmation-{payment.pk}"
    found = Message.objects.filter(merchant=merchant, idempotency_key=key).first()
    if found is not None:
        return found
    address = _confirmation_address(merchant=merchant, customer=customer)
    if address is None:
        logger.info("Payment %s: no confirmation, the customer has no e-mail address or phone", payment.pk)
        return None
    channel, contact_id = address
    try:
        # A savepoint: a confirmation that cannot be written is dropped, the payment stays.
        with transaction.atomic():
            _, raw_token = secure_link_create(
                merchant=merchant,
                purpose=LinkPurpose.VIEW_RECEIPT,
                customer_id=customer.pk,
                contact_id=contact_id,
                payment_id=payment.pk,
                now=now,
            )
            return message_queue(
                merchant=merchant,
                channel=channel,
                purpose=Purpose.PAYMENT_CONFIRMATION,
                customer_id=customer.pk,
                contact_id=contact_id,
                language=language,
                context=_confirmation_context(payment, invoices, secure_link_url(raw_token)),
                concerns_invoice_id=invoices[0].pk if invoices else None,
                concerns_payment_id=payment.pk,
                idempotency_key=key,
                now=now,
            )
    except SettleError as error:
        logger.warning("Payment %s: confirmation message not sent: %s", payment.pk, error.message)
        return None


def _confirmation_context(payment: Payment, invoices: Sequence[Invoice], receipt_link: str) -> dict[str, object]:
    context: dict[str, object] = {
        "payment.amount": payment.amount,
        "payment.date": payment.received_on,
        "payment.method": _method_text(payment),
        "receipt.link": receipt_link,
    }
    if invoices:
        context["invoice.number"] = ", ".join(invoice.number for invoice in invoices)
        if len(invoices) == 1:
            context["invoice.amount_due"] = invoices[0].balance
            context["invoice.total"] = invoices[0].total
            context["invoice.due_date"] = invoices[0].due_date
    return context


@transaction.atomic
def paid_elsewhere_tell(
    *, merchant: Merchant, invoice_ids: Sequence[int], app: str, claim: str, now: dt.datetime
) -> Notification:
    """A customer says they paid invoices `invoice_ids` (one, or a statement's) with a social payment
    app: a To-Do for the merchant to confirm it and record the payment once the money shows up.
    Nothing is marked paid and no payment is recorded. `claim` names who says it (one browser's
    session): the same claim about the same invoices and app again returns the first To-Do.

    Raises InvalidInput for an app the merchant has not set up (or that cannot send their
    currency), NotFound for another merchant's invoice, NotAllowed when nothing is left to pay."""
    found = list(
        Invoice.objects.filter(merchant=merchant, pk__in=list(invoice_ids))
        .select_related("customer")
        .order_by("due_date", "issue_date", "sequence")
    )
    if not found or len(found) != len(set(invoice_ids)) or len({i.customer_id for i in found}) != 1:
        raise NotFound("No such invoice.")
    offered = {str(a): a for a in configured_apps(payment_settings_get(merchant=merchant))}
    social_app: SocialApp | None = offered.get(app)
    if social_app is None:
        raise InvalidInput("This business does not take that app.", field="app")
    invoices = [invoice for invoice in found if invoice.is_collectible]
    if not invoices:
        raise NotAllowed("Nothing is left to pay.")
    customer = invoices[0].customer
    owed = Money(sum(invoice.balance_minor for invoice in invoices), merchant.currency).format(merchant.locale)
    label = LABELS[social_app]
    query = urlencode([("customer", customer.pk), *(("invoice", invoice.pk) for invoice in invoices)])
    return merchant_notify(
        merchant=merchant,
        kind=NotificationKind.PAID_ELSEWHERE,
        title=f"Confirm a {label} payment of {owed} from {customer.display_name} {_what_it_paid(invoices)}",
        body=f"{customer.display_name} says they paid with {label}. Record the payment when you see it in "
        f"{label}; nothing is marked paid until you do.",
        key=f"paid_elsewhere:{social_app.value}:{claim[:40]}:{request_fingerprint(ids=[i.pk for i in invoices])}",
        customer_id=customer.pk,
        invoice_id=invoices[0].pk,
        needs_action=True,
        action_path=f"{reverse('backoffice:payment_new')}?{query}",
        now=now,
    )
