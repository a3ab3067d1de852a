"""What the money pages share: the merchant's today, ids from the query string, paging, and
selectors' "does not exist" as a 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from settle.core import clock
from settle.core.tenancy import is_row_id
from settle.tenants.models import Merchant

T = TypeVar("T")
PAGE_SIZE = 25


def merchant_today(merchant: Merchant) -> dt.date:
    """Past due is judged on the merchant's calendar, not the server's."""
    return clock.local_date(clock.now(), merchant.time_zone)


def selected_or_404(selector: Callable[..., T], **kwargs: Any) -> T:
    """Call a one-object selector; another merchant's id is exactly a missing one."""
    try:
        return selector(**kwargs)
    except ObjectDoesNotExist:
        raise Http404 from None


def query_ids(request: HttpRequest, name: str) -> list[int]:
    """Every `name=<id>` in the query string; anything that is not an id is a 404."""
    try:
        ids = [int(value) for value in request.GET.getlist(name) if value != ""]
    except ValueError:
        raise Http404 from None
    if not all(is_row_id(id_) for id_ in ids):
        raise Http404
    return ids


def query_id(request: HttpRequest, name: str) -> int | None:
    ids = query_ids(request, name)
    return ids[0] if ids else None


def page_of(request: HttpRequest, query: QuerySet[Any]) -> Page:
    return Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
