"""The dashboard: what is owed, what is late, what came in this month, and what just happened."""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.customers.selectors import recent_activity
from settle.invoicing.selectors import receivables_summary
from settle.payments.selectors import collected_between
from settle.tenants.middleware import SESSION_KEY

from .common import current, merchant_required


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of `day`'s month and of the next one."""
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


@merchant_required
def dashboard(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    today = clock.local_date(clock.now(), merchant.time_zone)
    month_start, next_month = month_bounds(today)
    context = {
        "today": today,
        "month_start": month_start,
        "summary": receivables_summary(merchant=merchant, today=today),
        "collected": collected_between(merchant=merchant, start=month_start, end=next_month),
        "activity": list(recent_activity(merchant=merchant, limit=12)),
    }
    return render(request, "backoffice/dashboard.html", context)


@require_POST
@merchant_required
def switch_merchant(request: HttpRequest, merchant_id: int) -> HttpResponse:
    """Only to a merchant the user belongs to; any other id is a 404, like a missing one."""
    if not any(m.merchant_id == merchant_id for m in request.memberships):  # type: ignore[attr-defined]
        raise Http404
    request.session[SESSION_KEY] = merchant_id
    return redirect("backoffice:dashboard")
