"""The console e-mail backend (`EMAIL_URL=console://`, the development default) prints headers and
the text body, and one line per attachment instead of its base64."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings

from config.settings.base import email_from_url
from settle.messaging.channels.base import Attachment, Outgoing
from settle.messaging.channels.email import EmailChannel

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\r\n\x00\xff%%EOF"


def test_console_url_prints_headers_and_body_and_summarises_the_pdf(capsys: pytest.CaptureFixture[str]) -> None:
    outgoing = Outgoing(
        message_id=7,
        merchant_id=1,
        sender_name="Café Lumière",
        reply_to="billing@lumiere.example",
        to="ann@example.com",
        subject="Facture INV-00012 de Café Lumière",
        body="Bonjour Ann,\nPayez ici : http://127.0.0.1:8000/pay/k3y\n",
        attachments=(Attachment("INV-00012.pdf", PDF, "application/pdf"),),
    )

    with override_settings(EMAIL_BACKEND=email_from_url("console://")["EMAIL_BACKEND"]):
        delivery = EmailChannel().send(outgoing)

    assert delivery.status == "sent"
    printed = capsys.readouterr().out
    assert "Subject: Facture INV-00012 de Café Lumière" in printed
    assert "From: Café Lumière <no-reply@settle.local>" in printed
    assert "To: ann@example.com" in printed
    assert "Reply-To: billing@lumiere.example" in printed
    assert "Payez ici : http://127.0.0.1:8000/pay/k3y" in printed
    assert f"[attachment: INV-00012.pdf, application/pdf, {len(PDF)} bytes]" in printed
    assert base64.b64encode(PDF)[:76].decode() not in printed
    assert len(printed) < len(PDF)
