"""Gateways by name from settings: the sandbox by default, a clear error for an unknown name or a
dotted path that is not a gateway."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from settle.gateways.base import MethodKind
from settle.gateways.registry import UnknownGateway, gateway_get, gateway_names
from settle.gateways.sandbox import SandboxGateway


def test_the_sandbox_is_there_by_default() -> None:
    gateway = gateway_get("sandbox")

    assert isinstance(gateway, SandboxGateway)
    assert gateway.name == "sandbox"
    assert gateway.kinds == {MethodKind.CARD, MethodKind.ACH, MethodKind.WALLET, MethodKind.BNPL}
    assert gateway_names() == ["sandbox"]


def test_an_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownGateway) as error:
        gateway_get("stripe")

    assert error.value.message == "No payment gateway named “stripe” (configured: sandbox)."
    assert error.value.field == "gateway"


@override_settings(
    SETTLE_GATEWAYS={
        "test": "settle.gateways.sandbox.SandboxGateway",
        "other": "settle.gateways.sandbox.SandboxGateway",
    }
)
def test_gateways_come_from_settings() -> None:
    assert gateway_names() == ["other", "test"]
    assert isinstance(gateway_get("test"), SandboxGateway)
    with pytest.raises(UnknownGateway):
        gateway_get("sandbox")


@pytest.mark.parametrize("path", ["settle.gateways.nowhere.Gateway", "settle.core.money.Money"])
def test_a_wrong_dotted_path_is_a_configuration_error(path: str) -> None:
    with override_settings(SETTLE_GATEWAYS={"broken": path}), pytest.raises(ImproperlyConfigured) as error:
        gateway_get("broken")

    assert "SETTLE_GATEWAYS['broken']" in str(error.value)
