"""Payments: recording money received (Pay Selected arrives here), the transaction history, the
payment page, voids of gateway payments, and refunds."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.backoffice.forms_money import PaymentForm, RefundForm
from settle.core.errors import SettleError
from settle.core.money import Money
from settle.customers.models import Customer
from settle.customers.selectors import customer_list
from settle.invoicing.selectors import invoice_list, open_invoices
from settle.payments import charges
from settle.payments import selectors as payment_selectors
from settle.payments.models import RefundStatus
from settle.payments.services import payment_record, refund_create

from .common import add_domain_error, current, get_scoped_or_404, merchant_required, money_role_required
from .money_common import merchant_today, page_of, query_id, query_ids, selected_or_404


@merchant_required
def payment_list(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    customer_id = query_id(request, "customer")
    customer = get_scoped_or_404(Customer, request, customer_id) if customer_id else None
    page = page_of(request, payment_selectors.payment_list(merchant=merchant, customer_id=customer_id))
    return render(request, "backoffice/payment_list.html", {"page": page, "customer": customer})


@money_role_required
def payment_new(request: HttpRequest) -> HttpResponse:
    """Record a payment for one customer: `?customer=<id>`, and `&invoice=<id>` for each invoice
    ticked on the customer's page. Without a customer, ask which one first."""
    merchant, _ = current(request)
    customer_id = query_id(request, "customer")
    if customer_id is None:
        return render(request, "backoffice/payment_customer.html", {"customers": customer_list(merchant=merchant)})
    customer = get_scoped_or_404(Customer, request, customer_id)
    invoices = list(open_invoices(merchant=merchant, customer_id=customer.pk))
    if request.method == "POST":
        # A resubmitted form names invoices the first submission may have paid since: keep them,
        # so it is the same request and its idempotency key answers with the first payment.
        paid_since = PaymentForm.posted_invoice_ids(request.POST) - {invoice.pk for invoice in invoices}
        invoices += invoice_list(merchant=merchant, customer_id=customer.pk).filter(pk__in=paid_since)
    selected = set(query_ids(request, "invoice"))
    selected_balance = sum(i.balance_minor for i in invoices if i.pk in selected and i.currency == merchant.currency)
    initial: dict[str, Any] = {"received_on": merchant_today(merchant)}
    if selected_balance:
        initial["amount"] = Money(selected_balance, merchant.currency).decimal
    data = request.POST if request.method == "POST" else None
    form = PaymentForm(data, merchant=merchant, invoices=invoices, selected=selected, initial=initial)
    if data is not None and form.is_valid():
        invoice_ids, amounts = form.allocation()
        values = form.cleaned_data
        try:
            payment = payment_record(
                merchant=merchant,
                customer_id=customer.pk,
                amount=values["amount"],
                method=values["method"],
                received_on=values["received_on"],
                invoice_ids=invoice_ids,
                amounts=amounts,
                keep_excess_as_credit=values["keep_excess_as_credit"],
                check_number=values["check_number"],
                reference=values["reference"],
                note=values["note"],
                idempotency_key=values["idempotency_key"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Payment {payment.number} recorded.")
            return redirect("backoffice:payment_detail", pk=payment.pk)
    context = {"form": form, "customer": customer, "today": merchant_today(merchant)}
    return render(request, "backoffice/payment_new.html", context)


def _payment_page(request: HttpRequest, payment_id: int, *, error: SettleError | None = None) -> HttpResponse:
    """The payment page; an action the service refused is shown on it, with the refusal's status."""
    merchant, _ = current(request)
    payment = selected_or_404(payment_selectors.payment_detail, merchant=merchant, payment_id=payment_id)
    context = {
        "payment": payment,
        "refund_pending": bool(payment.refund_pending),
        "money_moves": payment_selectors.payment_money_moves(merchant=merchant, payment_id=payment.pk),
        "error": error,
    }
    return render(request, "backoffice/payment_detail.html", context, status=error.status_code if error else 200)


@merchant_required
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _payment_page(request, pk)


@money_role_required
@require_POST
def payment_void(request: HttpRequest, pk: int) -> HttpResponse:
    """Void a gateway payment that has not settled; after settlement the page says to refund it."""
    merchant, _ = current(request)
    try:
        payment = charges.payment_void(merchant=merchant, payment_id=pk, actor=request.user)
    except SettleError as error:
        return _payment_page(request, pk, error=error)
    messages.success(request, f"Payment {payment.number} voided.")
    return redirect("backoffice:payment_detail", pk=pk)


@money_role_required
def refund_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Refund all of a payment (the default amount) or part of it; with `?invoice=<id>`, only
    what it paid on that invoice, which then owes it again."""
    merchant, _ = current(request)
    payment = selected_or_404(payment_selectors.payment_detail, merchant=merchant, payment_id=pk)
    invoice_id = query_id(request, "invoice")
    refundable = payment.refundable
    application = None
    if invoice_id is not None:
        # Nothing left on the invoice (already refunded, or never paid) leaves nothing to refund there.
        application = next((a for a in payment.applications.all() if a.invoice_id == invoice_id), None)
        on_invoice = application.amount_minor if application is not None else 0
        refundable = min(refundable, Money(on_invoice, payment.currency))
    data = request.POST if request.method == "POST" else None
    form = RefundForm(data, merchant=merchant, currency=payment.currency, initial={"amount": refundable.decimal})
    if data is not None and form.is_valid():
        try:
            refund = refund_create(
                merchant=merchant,
                payment_id=payment.pk,
                amount=form.cleaned_data["amount"],
                invoice_id=invoice_id,
                reason=form.cleaned_data["reason"],
                idempotency_key=form.cleaned_data["idempotency_key"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            amount = form.cleaned_data["amount"].format(merchant.locale)
            if refund.status == RefundStatus.PENDING:
                messages.warning(
                    request,
                    f"Refund of {amount} pending: the payment processor has not confirmed it yet. "
                    "It is completed as soon as it does.",
                )
            else:
                messages.success(request, f"Refunded {amount}.")
            if invoice_id is not None:
                return redirect("backoffice:invoice_detail", pk=invoice_id)
            return redirect("backoffice:payment_detail", pk=payment.pk)
    context = {
        "form": form,
        "payment": payment,
        "refund_pending": payment.refund_pending or None,
        "invoice_id": invoice_id,
        "application": application,
        "refundable": refundable,
    }
    return render(request, "backoffice/refund_new.html", context)
