"""Staff account e-mails, sent from the task queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tasks import task


@task()
def password_reset_email_send(*, user_id: int) -> None:
    """E-mail a password reset link (also how staff added by e-mail set their first password). The
    token is made here, when the mail goes out; it dies once the password changes or the user signs in."""
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    context = {
        "user": user,
        "reset_url": settings.SETTLE_BASE_URL + reverse("password_reset_confirm", args=[uid, token]),
    }
    subject = "".join(render_to_string("registration/settle_password_reset_subject.txt", context).splitlines())
    body = render_to_string("registration/settle_password_reset_email.txt", context)
    send_mail(subject, body, None, [user.email])
