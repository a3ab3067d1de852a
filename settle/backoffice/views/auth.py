"""Sign-in pages are Django's own; the password reset e-mail goes out from the task queue."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm

from settle.core.tasks import enqueue_on_commit
from settle.tenants.tasks import password_reset_email_send


def _same_email(a: str, b: str) -> bool:
    return unicodedata.normalize("NFKC", a).casefold() == unicodedata.normalize("NFKC", b).casefold()


class QueuedPasswordResetForm(PasswordResetForm):
    """Queues the e-mail (after commit) instead of sending it inside the request. The task builds
    the link from SETTLE_BASE_URL, so a forged Host header cannot redirect a reset link."""

    def get_users(self, email: str) -> Iterable[Any]:
        """Active users with that e-mail, including staff added by e-mail who have no password
        yet: this is how they set their first one."""
        users = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        return (user for user in users if _same_email(email, user.email))

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        enqueue_on_commit(password_reset_email_send, user_id=context["user"].pk)


password_reset = auth_views.PasswordResetView.as_view(form_class=QueuedPasswordResetForm)
