"""The merchant's public contact form at /join/<token>/: people add themselves as customers."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _

from settle.core.errors import SettleError
from settle.core.rate_limits import over_limit
from settle.core.tenancy import merchant_scope
from settle.customers.services import contact_form_submit
from settle.tenants.models import Merchant

from .forms import ContactSignupForm
from .security import customer_page

RATE_LIMIT = 10
RATE_WINDOW_SECONDS = 3600

# The service speaks English; the visitor reads their own language.
FRIENDLY_ERRORS = {
    "name": _("Enter your name."),
    "email": _("Enter a valid e-mail address."),
    "phone": _("Enter a valid phone number, with the country code if it is not local."),
    "company": _("Keep the company name shorter."),
}


def _over_rate_limit(request: HttpRequest) -> bool:
    """Count this submission against the client's address; True once it has used up the hour.
    REMOTE_ADDR only: a forwarded header is the client's to forge."""
    key = f"portal:contact-form:{request.META.get('REMOTE_ADDR', '')}"
    return over_limit(key, limit=RATE_LIMIT, window_seconds=RATE_WINDOW_SECONDS)


@customer_page
def contact_form(request: HttpRequest, token: str) -> HttpResponse:
    merchant = get_object_or_404(Merchant, contact_form_token=token)
    form = ContactSignupForm(request.POST or None)
    if request.method == "POST":
        if _over_rate_limit(request):
            return render(request, "portal/rate_limited.html", {"merchant": merchant}, status=429)
        if form.is_bot:
            return redirect("portal:contact_form_thanks", token=token)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with merchant_scope(merchant):
                    contact_form_submit(
                        merchant=merchant,
                        name=data["name"],
                        email=data["email"],
                        phone=data["phone"],
                        company=data["company"],
                    )
            except SettleError as error:
                field = error.field if error.field in FRIENDLY_ERRORS else None
                form.add_error(field, FRIENDLY_ERRORS.get(field or "", error.message))
            else:
                return redirect("portal:contact_form_thanks", token=token)
    return render(request, "portal/contact_form.html", {"merchant": merchant, "form": form})


@customer_page
def contact_form_thanks(request: HttpRequest, token: str) -> HttpResponse:
    merchant = get_object_or_404(Merchant, contact_form_token=token)
    return render(request, "portal/contact_form_thanks.html", {"merchant": merchant})


def merchant_logo(request: HttpRequest, name: str) -> FileResponse:
    """A merchant's current logo, at its `logo.url`. Only files that are some merchant's logo are
    served: the path never reaches the file system unchecked."""
    merchant = get_object_or_404(Merchant.objects.exclude(logo=""), logo=f"logos/{name}")
    response = FileResponse(merchant.logo.open("rb"))
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
