"""Customer credit: credit memos and unapplied payments, and applying either to open invoices."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from settle.backoffice.forms_money import CreditMemoForm, InvoiceAllocationForm
from settle.core.errors import SettleError
from settle.customers.models import Customer
from settle.invoicing.models import CreditMemo
from settle.invoicing.selectors import open_invoices
from settle.invoicing.services import credit_memo_create
from settle.payments.models import Payment
from settle.payments.selectors import credits_list
from settle.payments.services import credit_apply as credit_apply_service

from .common import add_domain_error, current, get_scoped_or_404, merchant_required, money_role_required
from .money_common import merchant_today, query_id

CREDIT_TABS = [("all", "All"), ("credit_memos", "Credit memos"), ("unapplied", "Unapplied payments")]


def _credit_list_url(customer_id: int) -> str:
    return f"{reverse('backoffice:credit_list')}?customer={customer_id}"


@merchant_required
def credit_list(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    tab = request.GET.get("tab", "all")
    if tab not in dict(CREDIT_TABS):
        tab = "all"
    customer_id = query_id(request, "customer")
    customer = get_scoped_or_404(Customer, request, customer_id) if customer_id else None
    rows, total, count = credits_list(merchant=merchant, which=tab, customer_id=customer_id)  # type: ignore[arg-type]
    context = {"tabs": CREDIT_TABS, "tab": tab, "customer": customer, "rows": rows, "total": total, "count": count}
    return render(request, "backoffice/credit_list.html", context)


@money_role_required
def credit_memo_new(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    data = request.POST if request.method == "POST" else None
    form = CreditMemoForm(data, merchant=merchant, initial={"customer": query_id(request, "customer")})
    if data is not None and form.is_valid():
        try:
            memo = credit_memo_create(
                merchant=merchant,
                customer_id=form.cleaned_data["customer"].pk,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                idempotency_key=form.cleaned_data["idempotency_key"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Credit memo {memo.number} issued.")
            return redirect(_credit_list_url(memo.customer_id))
    return render(request, "backoffice/credit_memo_new.html", {"form": form})


@money_role_required
def credit_apply(request: HttpRequest) -> HttpResponse:
    """Apply one credit — `?payment=<id>` (its unapplied part) or `?memo=<id>` — to the customer's
    open invoices, oldest due first unless amounts are given."""
    merchant, _ = current(request)
    payment_id, memo_id = query_id(request, "payment"), query_id(request, "memo")
    if (payment_id is None) == (memo_id is None):
        return redirect("backoffice:credit_list")
    credit: Payment | CreditMemo
    if payment_id is not None:
        credit = get_scoped_or_404(Payment, request, payment_id)
        available = credit.unapplied
    else:
        credit = get_scoped_or_404(CreditMemo, request, memo_id)
        available = credit.remaining
    invoices = list(open_invoices(merchant=merchant, customer_id=credit.customer_id))
    data = request.POST if request.method == "POST" else None
    form = InvoiceAllocationForm(
        data, merchant=merchant, currency=credit.currency, invoices=invoices, selected=[i.pk for i in invoices]
    )
    if data is not None and form.is_valid():
        invoice_ids, amounts = form.allocation()
        try:
            credit_apply_service(
                merchant=merchant,
                customer_id=credit.customer_id,
                invoice_ids=invoice_ids,
                payment_id=payment_id,
                credit_memo_id=memo_id,
                amounts=amounts,
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Credit {credit.number} applied.")
            return redirect(_credit_list_url(credit.customer_id))
    context = {
        "form": form,
        "credit": credit,
        "is_memo": memo_id is not None,
        "available": available,
        "today": merchant_today(merchant),
    }
    return render(request, "backoffice/credit_apply.html", context)
