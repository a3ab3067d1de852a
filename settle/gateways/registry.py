"""Gateways by name: `settings.SETTLE_GATEWAYS` maps each name to the dotted path of a `Gateway`
class, the way Django picks e-mail or cache backends. A merchant's choice is stored as the name."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from settle.core.errors import InvalidInput

from .base import Gateway

DEFAULT_GATEWAYS = {"sandbox": "settle.gateways.sandbox.SandboxGateway"}


class UnknownGateway(InvalidInput):
    """No gateway of that name is configured."""


def gateway_paths() -> dict[str, str]:
    return dict(getattr(settings, "SETTLE_GATEWAYS", DEFAULT_GATEWAYS))


def gateway_names() -> list[str]:
    """The configured gateway names, for a merchant to choose from."""
    return sorted(gateway_paths())


def gateway_get(name: str) -> Gateway:
    """A ready gateway. Raises UnknownGateway for a name that is not configured, and
    ImproperlyConfigured when its dotted path does not name a Gateway class."""
    paths = gateway_paths()
    if name not in paths:
        known = ", ".join(sorted(paths)) or "none"
        raise UnknownGateway(f"No payment gateway named “{name}” (configured: {known}).", field="gateway")
    try:
        gateway_class = import_string(paths[name])
    except ImportError as exc:
        raise ImproperlyConfigured(f"SETTLE_GATEWAYS[{name!r}]: {exc}") from exc
    if not (isinstance(gateway_class, type) and issubclass(gateway_class, Gateway)):
        raise ImproperlyConfigured(f"SETTLE_GATEWAYS[{name!r}] = {paths[name]!r} is not a Gateway class.")
    gateway: Gateway = gateway_class()
    return gateway
