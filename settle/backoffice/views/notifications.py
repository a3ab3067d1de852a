"""Notifications and To-Dos: every member reads them and marks them read; marking a To-Do done is
a money action, refused to read-only staff."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.core.errors import NotFound, SettleError
from settle.notifications.selectors import notification_list as notifications_of
from settle.notifications.services import notification_mark_done, notification_mark_read, notifications_mark_all_read

from .common import current, merchant_required, money_role_required
from .money_common import page_of


@merchant_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """Newest first, unread in bold; `?show=todo` keeps the To-Dos not done yet."""
    merchant, _ = current(request)
    todo_only = request.GET.get("show") == "todo"
    context = {
        "page": page_of(request, notifications_of(merchant=merchant, todo_only=todo_only)),
        "todo_only": todo_only,
    }
    return render(request, "backoffice/notifications/list.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    """To the list as it was shown (To-Dos or all)."""
    url = reverse("backoffice:notification_list")
    return redirect(f"{url}?show=todo" if request.POST.get("show") == "todo" else url)


@require_POST
@merchant_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    try:
        notification_mark_read(merchant=merchant, notification_id=pk, now=clock.now())
    except NotFound:
        raise Http404 from None
    return _back(request)


@require_POST
@merchant_required
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    count = notifications_mark_all_read(merchant=merchant, now=clock.now())
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return _back(request)


@require_POST
@money_role_required
def notification_done(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, membership = current(request)
    try:
        notification_mark_done(merchant=merchant, notification_id=pk, acting=membership, now=clock.now())
    except NotFound:
        raise Http404 from None
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "To-Do marked done.")
    return _back(request)
