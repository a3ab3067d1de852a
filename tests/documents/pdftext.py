"""Reading generated PDFs back in tests."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader


def pdf_reader(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data))


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, pages joined, every run of spaces (no-break ones included) as one."""
    text = "\n".join(page.extract_text() for page in pdf_reader(data).pages)
    return re.sub(r"[ \u00a0\u202f]+", " ", text)
