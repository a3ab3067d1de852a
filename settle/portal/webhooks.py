"""Gateways' webhook endpoint: verify, store, answer 200 at once; processing comes later."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from settle.core import clock
from settle.gateways.base import InvalidWebhook
from settle.gateways.registry import UnknownGateway
from settle.payments.webhooks import inbound_event_receive


@csrf_exempt  # the gateway signs its events; it has no session or CSRF token
@require_POST
def gateway_webhook(request: HttpRequest, gateway: str) -> HttpResponse:
    """200 for an event stored now or before (a repeated id), 400 for an invalid one, stored not."""
    try:
        inbound_event_receive(gateway=gateway, headers=request.headers, body=request.body, now=clock.now())
    except UnknownGateway:
        return HttpResponseNotFound("No such gateway.")
    except InvalidWebhook as exc:
        return HttpResponseBadRequest(str(exc))
    return HttpResponse("ok")
