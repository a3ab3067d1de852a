"""Merchants' logos are served by the app, and nothing else from the upload folder is."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from settle.core.tenancy import all_merchants
from settle.tenants.models import Merchant

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def media(settings: object, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    return tmp_path


def test_a_merchants_logo_is_served_at_its_url(client: Client, merchant: Merchant, media: Path) -> None:
    with all_merchants():
        merchant.logo.save("shop.png", ContentFile(PNG))
    response = client.get(merchant.logo.url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert response["Cache-Control"] == "public, max-age=86400"


def test_files_that_are_no_logo_are_not_served(client: Client, merchant: Merchant, media: Path) -> None:
    (media / "logos").mkdir()
    (media / "logos" / "stray.png").write_bytes(PNG)
    assert client.get("/media/logos/stray.png").status_code == 404
    assert client.get("/media/logos/..%2Fsecret_key").status_code == 404
