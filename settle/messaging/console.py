"""Django's console e-mail backend, readable: headers and text bodies are printed, each attachment
becomes one line (filename, content type, size) instead of pages of base64.

`EMAIL_URL=console://` (the default, for development) selects it."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend


class ConsoleEmailBackend(EmailBackend):
    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(render(message.message()))
        self.stream.write("\n" + "-" * 79 + "\n")


def render(mime: Message) -> str:
    """The message as a person reads it: decoded headers, a blank line, then each part in order."""
    lines = [f"{name}: {make_header(decode_header(str(value)))}" for name, value in mime.items()]
    lines.append("")
    for part in mime.walk():
        if part.is_multipart():
            continue
        content = part.get_payload(decode=True)
        size = len(content) if isinstance(content, bytes) else 0
        filename = part.get_filename()
        if filename is None and part.get_content_maintype() == "text" and isinstance(content, bytes):
            lines.append(content.decode(part.get_content_charset() or "utf-8", errors="replace").rstrip("\n"))
        else:
            lines.append(f"[attachment: {filename or '(no name)'}, {part.get_content_type()}, {size} bytes]")
    return "\n".join(lines)
