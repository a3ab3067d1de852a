"""HTTP responses built the same way by every kind of page (the back office and the customer's)."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.utils.http import content_disposition_header

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def pdf_response(data: bytes, name: str) -> HttpResponse:
    """The PDF `data` as a download called `name`.pdf (a document's number: INV-00012.pdf), with
    whatever a file name should not hold turned into dashes; never cached on the way, since it
    holds a customer's details."""
    response = HttpResponse(data, content_type="application/pdf")
    filename = f"{_UNSAFE_IN_FILENAME.sub('-', name).strip('-') or 'document'}.pdf"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response
