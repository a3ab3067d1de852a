"""Invoices: the list, a new invoice, the invoice page and its actions, the print view, and quick
payment requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.backoffice.forms_money import (
    InvoiceFilterForm,
    InvoiceForm,
    QuickRequestForm,
    filled_lines,
    line_formset,
    percent_text,
)
from settle.core.errors import SettleError
from settle.invoicing import selectors as invoicing_selectors
from settle.invoicing import services as invoicing_services
from settle.invoicing.models import Invoice, InvoiceLine
from settle.messaging.models import MessageChannel
from settle.payments.models import Application
from settle.payments.requests import Sending, quick_payment_request_send
from settle.payments.selectors import applications_for_invoice, refunds_for_invoice
from settle.payments.services import application_move_to_credit as application_move_to_credit_service

from .common import add_domain_error, current, get_scoped_or_404, merchant_required, money_role_required
from .money_common import merchant_today, page_of, query_id, selected_or_404


@merchant_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    filters = InvoiceFilterForm(request.GET)
    status, search = ("", "")
    if filters.is_valid():
        status, search = filters.cleaned_data["status"], filters.cleaned_data["q"].strip()
    today = merchant_today(merchant)
    page = page_of(
        request,
        invoicing_selectors.invoice_list(
            merchant=merchant,
            customer_id=query_id(request, "customer"),
            status=status or None,
            search=search,
            today=today,
        ),
    )
    rows = [(invoice, invoice.is_past_due(today)) for invoice in page]
    return render(request, "backoffice/invoice_list.html", {"filters": filters, "page": page, "rows": rows})


@money_role_required
def invoice_new(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    data = request.POST if request.method == "POST" else None
    form = InvoiceForm(data, merchant=merchant, initial={"customer": query_id(request, "customer")})
    lines = line_formset(merchant, data)
    if data is not None and form.is_valid() and lines.is_valid():
        values = form.cleaned_data
        try:
            invoice = invoicing_services.invoice_create(
                merchant=merchant,
                customer_id=values["customer"].pk,
                lines=filled_lines(lines),
                discount=values["discount"],
                issue_date=values["issue_date"],
                terms=values["terms"],
                due_date=values["due_date"],
                po_number=values["po_number"],
                contract_reference=values["contract_reference"],
                memo=values["memo"],
                draft=values["draft"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            return redirect("backoffice:invoice_detail", pk=invoice.pk)
    return render(request, "backoffice/invoice_new.html", {"form": form, "lines": lines})


def _lines_with_rates(invoice: Invoice) -> list[tuple[InvoiceLine, str]]:
    return [(line, percent_text(line.tax_rate_bp)) for line in invoice.lines.all()]


def _invoice_page(request: HttpRequest, invoice_id: int, *, error: SettleError | None = None) -> HttpResponse:
    """The invoice page; an action the service refused is shown on it, with the refusal's status."""
    merchant, _ = current(request)
    invoice = selected_or_404(invoicing_selectors.invoice_detail, merchant=merchant, invoice_id=invoice_id)
    context = {
        "invoice": invoice,
        "lines": _lines_with_rates(invoice),
        "past_due": invoice.is_past_due(merchant_today(merchant)),
        "applications": applications_for_invoice(merchant=merchant, invoice_id=invoice.pk),
        "refunds": refunds_for_invoice(merchant=merchant, invoice_id=invoice.pk),
        "error": error,
    }
    return render(request, "backoffice/invoice_detail.html", context, status=error.status_code if error else 200)


@merchant_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _invoice_page(request, pk)


@merchant_required
def invoice_print(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    invoice = selected_or_404(invoicing_selectors.invoice_detail, merchant=merchant, invoice_id=pk)
    return render(request, "backoffice/invoice_print.html", {"invoice": invoice, "lines": _lines_with_rates(invoice)})


def _invoice_action(service: Callable[..., Any], done: str) -> Callable[..., HttpResponse]:
    """A button on the invoice page that calls one invoice service (void, issue, write off)."""

    @money_role_required
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        merchant, _ = current(request)
        try:
            invoice = service(merchant=merchant, invoice_id=pk, actor=request.user)
        except SettleError as error:
            return _invoice_page(request, pk, error=error)
        messages.success(request, f"Invoice {invoice.number} {done}.")
        return redirect("backoffice:invoice_detail", pk=pk)

    return view


invoice_void = _invoice_action(invoicing_services.invoice_void, "voided")
invoice_issue = _invoice_action(invoicing_services.invoice_issue, "issued")
invoice_uncollectible = _invoice_action(invoicing_services.invoice_mark_uncollectible, "marked uncollectible")


@money_role_required
@require_POST
def application_move_to_credit(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    application = get_scoped_or_404(Application, request, pk)
    try:
        application_move_to_credit_service(merchant=merchant, application_id=application.pk, actor=request.user)
    except SettleError as error:
        return _invoice_page(request, application.invoice_id, error=error)
    messages.success(request, "Moved to customer credit; the invoice owes that amount again.")
    return redirect("backoffice:invoice_detail", pk=application.invoice_id)


@money_role_required
def quick_request_new(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    data = request.POST if request.method == "POST" else None
    form = QuickRequestForm(data, merchant=merchant, initial={"customer": query_id(request, "customer")})
    if data is not None and form.is_valid():
        try:
            message = quick_payment_request_send(
                merchant=merchant,
                sending=Sending(
                    channel=MessageChannel.LINK,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    actor=request.user,
                ),
                customer_id=form.cleaned_data["customer"].pk,
                amount=form.cleaned_data["amount"],
                reference=form.cleaned_data["reference"],
                public=True,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            return redirect("backoffice:quick_request_link", pk=message.pk)
    return render(request, "backoffice/invoice_quick_request.html", {"form": form})
