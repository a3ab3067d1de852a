"""A customer's secure links that still open, and revoking one: it stops opening at once, for good.
Every member may look; read-only staff revoke nothing."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.core.errors import SettleError
from settle.customers.models import Customer
from settle.payments import links, selectors
from settle.payments.models import SecureLink

from .common import current, get_scoped_or_404, merchant_required, money_role_required
from .money_common import page_of


@merchant_required
def customer_links(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    page = page_of(request, selectors.secure_links_live(merchant=merchant, customer_id=customer.pk, now=clock.now()))
    context = {"customer": customer, "page": page, "links": list(page.object_list)}
    return render(request, "backoffice/customers/links.html", context)


@require_POST
@money_role_required
def secure_link_revoke(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    """Revoke one of the customer's links; revoking it again changes nothing. Another merchant's or
    another customer's link is a 404."""
    merchant, _ = current(request)
    customer = get_scoped_or_404(Customer, request, pk)
    link = get_scoped_or_404(SecureLink, request, link_pk, customer=customer)
    try:
        links.secure_link_revoke(merchant=merchant, link_id=link.pk, actor=request.user)
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Link revoked: {link.get_purpose_display().lower()}. It no longer opens.")
    return redirect("backoffice:customer_links", pk=customer.pk)
