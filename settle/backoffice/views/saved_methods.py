"""A customer's saved payment methods on the profile: make one the default or remove it. A method is
never edited here: the customer enters it again through a payment method request link."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.core.errors import SettleError
from settle.customers.models import Customer
from settle.payments import vault
from settle.payments.models import SavedMethod

from .common import current, get_scoped_or_404, money_role_required


def _back(customer: Customer) -> HttpResponseRedirect:
    return redirect(reverse("backoffice:customer_detail", args=[customer.pk]) + "#payment-methods")


def _method(request: HttpRequest, pk: int, method_pk: int) -> tuple[Customer, SavedMethod]:
    """The customer and one of their methods (removed or not); another merchant's or another
    customer's is a 404."""
    customer = get_scoped_or_404(Customer, request, pk)
    return customer, get_scoped_or_404(SavedMethod, request, method_pk, customer=customer)


@require_POST
@money_role_required
def saved_method_default(request: HttpRequest, pk: int, method_pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer, method = _method(request, pk, method_pk)
    try:
        vault.saved_method_set_default(merchant=merchant, saved_method_id=method.pk, now=clock.now())
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method.label} is now the default payment method.")
    return _back(customer)


@require_POST
@money_role_required
def saved_method_remove(request: HttpRequest, pk: int, method_pk: int) -> HttpResponse:
    """Remove a method. Posting again (a double click, a reload) says it is gone and changes
    nothing."""
    merchant, _ = current(request)
    customer, method = _method(request, pk, method_pk)
    if method.removed_at is not None:
        messages.info(request, f"{method.label} was already removed.")
        return _back(customer)
    try:
        vault.saved_method_remove(merchant=merchant, saved_method_id=method.pk, now=clock.now())
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method.label} removed. It can no longer be charged.")
    return _back(customer)
