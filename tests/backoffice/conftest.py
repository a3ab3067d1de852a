"""Back-office fixtures: the merchant's owner and a read-only member, each signed in."""

from __future__ import annotations

from typing import cast

import pytest
from django.contrib.auth.models import User
from django.test import Client

from settle.gateways.registry import gateway_get
from settle.gateways.sandbox import SandboxGateway
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set


def owner_of(merchant: Merchant) -> User:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER).user


@pytest.fixture
def owner(client: Client, merchant: Merchant) -> Client:
    client.force_login(owner_of(merchant))
    return client


@pytest.fixture
def viewer(merchant: Merchant) -> Client:
    acting = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    user = membership_set(merchant=merchant, acting=acting, email="viewer@example.com", role=Role.READ_ONLY).user
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def gateway() -> SandboxGateway:
    """The sandbox processor, reached through the gateway registry (to vault cards with
    `tests.sandbox.factories.card`)."""
    return cast(SandboxGateway, gateway_get("sandbox"))
