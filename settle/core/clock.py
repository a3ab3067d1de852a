"""The one source of "now"; domain code takes `now=` so tests freeze time instead of sleeping."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def local_date(moment: dt.datetime, time_zone: str) -> dt.date:
    """The calendar date at `moment` in a merchant's time zone (past-due is judged there)."""
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()
