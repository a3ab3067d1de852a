"""Orders: what a customer bought, and checking an order out into an invoice."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.backoffice.forms_money import CheckoutForm, OrderForm, filled_lines, line_formset, percent_text
from settle.core.errors import SettleError
from settle.invoicing import selectors as invoicing_selectors
from settle.invoicing import services as invoicing_services
from settle.invoicing.services import OrderItemInput

from .common import add_domain_error, current, merchant_required, money_role_required
from .money_common import page_of, query_id, selected_or_404

ORDER_TABS = [("all", "All orders"), ("invoiced", "Orders with invoices")]


@merchant_required
def order_list(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    tab = "invoiced" if request.GET.get("tab") == "invoiced" else "all"
    page = page_of(request, invoicing_selectors.order_list(merchant=merchant, with_invoice=tab == "invoiced"))
    rows = [(order, invoicing_selectors.order_items_total(order)) for order in page]
    return render(request, "backoffice/order_list.html", {"tabs": ORDER_TABS, "tab": tab, "page": page, "rows": rows})


@money_role_required
def order_new(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    data = request.POST if request.method == "POST" else None
    form = OrderForm(data, merchant=merchant, initial={"customer": query_id(request, "customer")})
    items = line_formset(merchant, data)
    if data is not None and form.is_valid() and items.is_valid():
        try:
            order = invoicing_services.order_create(
                merchant=merchant,
                customer_id=form.cleaned_data["customer"].pk,
                items=[
                    OrderItemInput(i.description, i.quantity, i.unit_price, i.tax_rate_bp) for i in filled_lines(items)
                ],
                discount=form.cleaned_data["discount"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            return redirect("backoffice:order_detail", pk=order.pk)
    return render(request, "backoffice/order_new.html", {"form": form, "items": items})


def _order_page(
    request: HttpRequest, order_id: int, *, checkout: CheckoutForm | None = None, error: SettleError | None = None
) -> HttpResponse:
    """The order page; a checkout the service refused is shown on it, with the refusal's status."""
    merchant, _ = current(request)
    order = selected_or_404(invoicing_selectors.order_detail, merchant=merchant, order_id=order_id)
    items = invoicing_selectors.order_item_amounts(order)
    context = {
        "order": order,
        "items": [(item, amount, percent_text(item.tax_rate_bp)) for item, amount in items],
        "items_total": invoicing_selectors.order_items_total(order),
        "checkout": checkout or CheckoutForm(),
        "error": error,
    }
    return render(request, "backoffice/order_detail.html", context, status=error.status_code if error else 200)


@merchant_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _order_page(request, pk)


@money_role_required
@require_POST
def order_checkout(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _order_page(request, pk, checkout=form)
    try:
        invoice = invoicing_services.order_checkout(
            merchant=merchant, order_id=pk, terms=form.cleaned_data["terms"], actor=request.user
        )
    except SettleError as error:
        return _order_page(request, pk, checkout=form, error=error)
    return redirect("backoffice:invoice_detail", pk=invoice.pk)
