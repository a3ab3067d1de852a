"""The customer's "I've paid with Venmo" (or PayPal, Cash App, Zelle) on the invoice page: the
merchant gets a To-Do to confirm the payment and record it once the money shows up in the app.
Nothing is marked paid here. A plain form (no script), one To-Do per browser, invoice and app,
and a limit per client so it cannot flood the merchant."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.core.errors import NotFound, SettleError
from settle.core.rate_limits import over_limit
from settle.core.tenancy import merchant_scope
from settle.payments.confirmations import paid_elsewhere_tell

from .pay_views import LANDING_PAGES, session_paying
from .security import customer_page

# Who is saying it: one random id per browser session, so a double press makes one To-Do.
CLAIM_KEY = "settle.pay.paid_elsewhere_claim"
CLAIM_LIMIT = 10  # presses a client may make…
CLAIM_WINDOW_SECONDS = 3600  # …per hour


@customer_page
@require_POST
def paid_elsewhere(request: HttpRequest) -> HttpResponse:
    """Tell the merchant the session's invoice (or statement) was paid with the app named in `app`,
    then back to its page with a thank-you (or why not)."""
    now = clock.now()
    found = session_paying(request, now)
    if isinstance(found, HttpResponse):
        return found
    back = HttpResponseRedirect(reverse(LANDING_PAGES[found.link.purpose]), status=303)
    client = request.META.get("REMOTE_ADDR", "")
    if over_limit(f"paid-elsewhere:{client}", limit=CLAIM_LIMIT, window_seconds=CLAIM_WINDOW_SECONDS):
        messages.error(request, gettext("Too many attempts. Please wait a while and try again."))
        return back
    claim = request.session.setdefault(CLAIM_KEY, secrets.token_hex(8))
    # A statement's form names the invoices the customer ticked; only the link's own count.
    asked = set(request.POST.getlist("invoice"))
    claimed = [invoice.pk for invoice in found.invoices if not asked or str(invoice.pk) in asked]
    with merchant_scope(found.merchant):
        try:
            if not claimed:
                raise NotFound("None of these invoices is on this link.")
            paid_elsewhere_tell(
                merchant=found.merchant,
                invoice_ids=claimed,
                app=request.POST.get("app", ""),
                claim=claim,
                now=now,
            )
        except SettleError:
            messages.error(request, gettext("This way of paying is not available."))
            return back
    messages.success(
        request,
        gettext("Thanks — %(name)s will confirm your payment once it arrives.") % {"name": found.merchant.name},
    )
    return back
