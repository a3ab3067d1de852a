"""A PDF download: named after the document, with nothing a file name should not hold, never
cached on the way."""

from __future__ import annotations

import pytest

from settle.core.http import pdf_response


@pytest.mark.parametrize(
    ("name", "filename"),
    [("INV-00012", "INV-00012.pdf"), ("INV 12/A", "INV-12-A.pdf"), ('"; x="', "x.pdf"), ("", "document.pdf")],
)
def test_a_pdf_downloads_under_a_safe_name(name: str, filename: str) -> None:
    response = pdf_response(b"%PDF-1.7", name)

    assert (response.content, response["Content-Type"]) == (b"%PDF-1.7", "application/pdf")
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["Cache-Control"] == "private, no-store"
