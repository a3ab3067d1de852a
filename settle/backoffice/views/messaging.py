"""Messages: the log of everything sent (with a Retry button for failures), the local text outbox,
and the templates with their placeholders and starters. Every member may look; read-only staff
change nothing and send nothing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from settle.core.errors import NotFound, SettleError
from settle.customers.models import Customer
from settle.messaging import selectors, services
from settle.messaging.channels.base import channel_class
from settle.messaging.channels.sms import LocalSmsChannel
from settle.messaging.models import (
    TEMPLATE_PURPOSES,
    Message,
    MessageChannel,
    MessageStatus,
    MessageTemplate,
    Purpose,
)
from settle.messaging.placeholders import placeholders_for

from .common import add_domain_error, current, get_scoped_or_404, merchant_required
from .money_common import page_of, query_id, selected_or_404

# Statuses drawn with the badge colours the back office already has.
STATUS_BADGES: dict[str, str] = {
    MessageStatus.QUEUED: "open",
    MessageStatus.SENDING: "open",
    MessageStatus.SENT: "paid",
    MessageStatus.FAILED: "uncollectible",
    MessageStatus.SHARED: "refunded",
    MessageStatus.COPIED: "refunded",
}


def change_role_for_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every member sees messages and templates; read-only staff get a 403 on any POST."""

    @merchant_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not request.membership.can_change_money:  # type: ignore[attr-defined]
            reason = "Read-only staff cannot send messages or change templates."
            return render(request, "backoffice/forbidden.html", {"reason": reason}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


class MessageFilterForm(forms.Form):
    channel = forms.ChoiceField(choices=[("", "All channels"), *MessageChannel.choices], required=False)
    status = forms.ChoiceField(choices=[("", "All statuses"), *MessageStatus.choices], required=False)


class TemplateFilterForm(forms.Form):
    purpose = forms.ChoiceField(choices=[("", "All purposes"), *Purpose.choices], required=False)
    language = forms.ChoiceField(choices=[("", "All languages"), *settings.LANGUAGES], required=False)


class TemplateForm(forms.Form):
    purpose = forms.ChoiceField(label="Used for", choices=[(p.value, p.label) for p in TEMPLATE_PURPOSES])
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    name = forms.CharField(max_length=80)
    subject = forms.CharField(max_length=200, required=False, help_text="E-mails only.")
    body = forms.CharField(
        label="Message",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 9}),
        help_text="Words between {braces} are replaced when sending; change the words in [brackets].",
    )
    is_default = forms.BooleanField(label="Use by default for this purpose and language", required=False)

    FIELDS = ("purpose", "language", "name", "subject", "body", "is_default")

    @classmethod
    def initial_for(cls, template: MessageTemplate) -> dict[str, Any]:
        return {name: getattr(template, name) for name in cls.FIELDS}


class TestSendForm(forms.Form):
    channel = forms.ChoiceField(
        label="Send by",
        choices=[(MessageChannel.EMAIL, "E-mail"), (MessageChannel.SMS, "Text message")],
        initial=MessageChannel.EMAIL,
    )
    to = forms.CharField(label="Send to", max_length=254, help_text="An e-mail address or a mobile number.")


def sample_send(
    request: HttpRequest, form: TestSendForm, *, template_id: int | None = None, purpose: str = ""
) -> Message | None:
    """The test the bound `form` asks for, sent with sample values: of template `template_id`, else
    of the wording a message for `purpose` gets by default. None when it cannot be sent, the reason
    on the form."""
    if not form.is_valid():
        return None
    merchant, _ = current(request)
    try:
        return services.message_send_test(
            merchant=merchant,
            template_id=template_id,
            purpose=purpose,
            channel=form.cleaned_data["channel"],
            to=form.cleaned_data["to"],
            actor=request.user,
        )
    except SettleError as error:
        add_domain_error(form, error)
        return None


@merchant_required
def message_list(request: HttpRequest) -> HttpResponse:
    """The log, filtered by channel, status and customer; `?contact=`, `?invoice=` and `?payment=`
    give the audit trail of one contact, invoice or payment."""
    merchant, _ = current(request)
    filters = MessageFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    customer_id = query_id(request, "customer")
    customer = get_scoped_or_404(Customer, request, customer_id) if customer_id else None
    query = selectors.message_list(
        merchant=merchant,
        channel=chosen.get("channel", ""),
        status=chosen.get("status", ""),
        customer_id=customer_id,
        contact_id=query_id(request, "contact"),
        invoice_id=query_id(request, "invoice"),
        payment_id=query_id(request, "payment"),
    )
    page = page_of(request, query)
    context = {
        "filters": filters,
        "customer": customer,
        "customers": selectors.message_customers(merchant=merchant),
        "page": page,
        "rows": [(message, STATUS_BADGES[message.status]) for message in page.object_list],
        "filtered": any(
            request.GET.get(name) for name in ("channel", "status", "customer", "contact", "invoice", "payment")
        ),
        "tab": "log",
    }
    return render(request, "backoffice/messaging/message_list.html", context)


@merchant_required
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    message = selected_or_404(selectors.message_detail, merchant=merchant, message_id=pk)
    context = {
        "message": message,
        "badge": STATUS_BADGES[message.status],
        "max_attempts": services.MAX_ATTEMPTS,
        "tab": "log",
    }
    return render(request, "backoffice/messaging/message_detail.html", context)


@require_POST
@change_role_for_post
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    try:
        services.message_retry(merchant=merchant, message_id=pk)
    except NotFound:
        raise Http404 from None
    except SettleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The message is queued to be sent again.")
    return redirect("backoffice:message_detail", pk=pk)


@merchant_required
def message_sms_outbox(request: HttpRequest) -> HttpResponse:
    """Texts the local SMS channel kept, exactly as a provider would have been given them."""
    merchant, _ = current(request)
    context = {
        "page": page_of(request, selectors.local_sms_list(merchant=merchant)),
        "local": issubclass(channel_class(MessageChannel.SMS), LocalSmsChannel),
        "tab": "texts",
    }
    return render(request, "backoffice/messaging/sms_outbox.html", context)


@merchant_required
def message_templates(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    filters = TemplateFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    templates = selectors.template_list(
        merchant=merchant, purpose=chosen.get("purpose", ""), language=chosen.get("language", "")
    )
    languages = dict(settings.LANGUAGES)
    context = {
        "filters": filters,
        "rows": [(template, languages.get(template.language, template.language)) for template in templates],
        "filtered": bool(chosen.get("purpose") or chosen.get("language")),
        "tab": "templates",
    }
    return render(request, "backoffice/messaging/template_list.html", context)


@change_role_for_post
def message_template_new(request: HttpRequest) -> HttpResponse:
    return _template_page(request, None)


@change_role_for_post
def message_template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _template_page(request, get_scoped_or_404(MessageTemplate, request, pk))


def _template_page(
    request: HttpRequest, template: MessageTemplate | None, test_form: TestSendForm | None = None
) -> HttpResponse:
    merchant, _ = current(request)
    if template is not None:
        initial = TemplateForm.initial_for(template)
    else:
        purpose = request.GET.get("purpose", "")
        initial = {
            "language": selectors.merchant_language(merchant),
            "purpose": purpose if purpose in Purpose.values else Purpose.PAYMENT_REQUEST,
        }
    data = request.POST if request.method == "POST" and test_form is None else None
    form = TemplateForm(data, initial=initial)
    if not request.membership.can_change_money:  # type: ignore[attr-defined]
        for field in form.fields.values():
            field.disabled = True
    if data is not None and form.is_valid():
        try:
            saved = services.template_save(
                merchant=merchant,
                template_id=template.pk if template else None,
                **{name: form.cleaned_data[name] for name in TemplateForm.FIELDS},
            )
        except SettleError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Template “{saved.name}” saved.")
            return redirect("backoffice:message_template_edit", pk=saved.pk)
    purpose = form["purpose"].value()
    context = {
        "form": form,
        "template": template,
        "test_form": test_form or TestSendForm(initial={"to": request.user.email}),  # type: ignore[union-attr]
        "placeholders": placeholders_for(purpose if purpose in Purpose.values else Purpose.SAVED_REPLY),
        "purpose_label": Purpose(purpose).label if purpose in Purpose.values else "",
        "tab": "templates",
    }
    return render(request, "backoffice/messaging/template_form.html", context)


@require_POST
@change_role_for_post
def message_template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    merchant, _ = current(request)
    template = get_scoped_or_404(MessageTemplate, request, pk)
    services.template_delete(merchant=merchant, template_id=template.pk)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("backoffice:message_templates")


@require_POST
@change_role_for_post
def message_template_starters(request: HttpRequest) -> HttpResponse:
    merchant, _ = current(request)
    added = services.template_starters_load(merchant=merchant)
    if added:
        messages.success(request, f"{len(added)} starter template{'s' if len(added) != 1 else ''} added.")
    else:
        messages.info(request, "You already have every starter template.")
    return redirect("backoffice:message_templates")


@require_POST
@change_role_for_post
def message_template_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the template with sample values to the address or number given."""
    template = get_scoped_or_404(MessageTemplate, request, pk)
    form = TestSendForm(request.POST)
    sent = sample_send(request, form, template_id=template.pk)
    if sent is None:
        return _template_page(request, template, test_form=form)
    messages.success(request, f"Test message to {sent.recipient}: {sent.get_status_display().lower()}.")
    return redirect("backoffice:message_detail", pk=sent.pk)
