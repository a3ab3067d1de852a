"""Reads of the processor's state."""

from __future__ import annotations

import datetime as dt

from settle.core import clock

from .models import Charge, Clock


def sandbox_now() -> dt.datetime:
    """The processor's time: the real time, or the time `sandbox_advance` last moved it to if that
    is later. Tests move it instead of sleeping."""
    real = clock.now()
    advanced = Clock.objects.filter(pk=1).values_list("advanced_to", flat=True).first()
    return max(real, advanced) if advanced else real


def charge_for_action(action_token: str) -> Charge | None:
    return Charge.objects.select_related("source").filter(action_token=action_token).first()
