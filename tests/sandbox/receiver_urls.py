"""The sandbox's pages and a stand-in for Settle's webhook endpoint, for delivery tests: it
verifies each event with the sandbox gateway and keeps what it accepted in `RECEIVED`."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from settle.gateways.base import InvalidWebhook, WebhookEvent
from settle.gateways.sandbox import SandboxGateway

RECEIVED: list[WebhookEvent] = []


@csrf_exempt
def receive(request: HttpRequest) -> HttpResponse:
    try:
        event = SandboxGateway().verify_webhook(headers=request.headers, body=request.body)
    except InvalidWebhook as refusal:
        return HttpResponse(str(refusal), status=400)
    RECEIVED.append(event)
    return HttpResponse(status=200)


urlpatterns = [
    path("sandbox/", include("settle.sandbox.urls")),
    path("webhooks/sandbox/", receive),
]
