"""What every back-office view shares: the signed-in merchant, role checks, money form fields and
turning domain errors into form errors (never a 500)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar

from babel.numbers import format_decimal
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.validators import MaxLengthValidator
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from settle.core.errors import SettleError
from settle.core.money import Money
from settle.tenants.models import Membership, Merchant

M = TypeVar("M", bound=Model)


def merchant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and a member of a merchant; the merchant's scope is already active (middleware)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "merchant", None) is None:
            return render(request, "backoffice/no_merchant.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def current(request: HttpRequest) -> tuple[Merchant, Membership]:
    return request.merchant, request.membership  # type: ignore[attr-defined]


def money_role_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Read-only staff get a 403 page on any view that changes money."""

    @merchant_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.can_change_money:  # type: ignore[attr-defined]
            return render(
                request, "backoffice/forbidden.html", {"reason": "Read-only staff cannot change money."}, status=403
            )
        return view(request, *args, **kwargs)

    return wrapper


def get_scoped_or_404(model: type[M], request: HttpRequest, pk: Any, **filters: Any) -> M:
    """Fetch the current merchant's row; another merchant's id is exactly a missing one."""
    try:
        return model._default_manager.get(merchant=request.merchant, pk=pk, **filters)  # type: ignore[attr-defined]
    except (model.DoesNotExist, ValueError, TypeError):  # type: ignore[attr-defined]
        raise Http404 from None


class MoneyField(forms.CharField):
    """A typed amount in a given currency → Money, exactly (no floats, no silent rounding)."""

    def __init__(self, *, currency: str = "USD", locale: str = "en_US", **kwargs: Any):
        self.currency = currency
        self.locale = locale
        kwargs.setdefault("max_length", 24)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        super().__init__(**kwargs)
        # CharField would check max_length on the cleaned value, a Money; the text is checked below.
        self.validators = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

    def to_python(self, value: Any) -> Money | None:  # type: ignore[override]
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        if self.max_length is not None and len(text) > self.max_length:
            raise forms.ValidationError(f"Enter at most {self.max_length} characters.")
        try:
            return Money.parse(text, self.currency, self.locale)
        except SettleError as error:
            raise forms.ValidationError(error.message) from None

    def prepare_value(self, value: Any) -> Any:
        """Show an initial amount the way the reader types it (1200,50 in French), ungrouped."""
        if isinstance(value, Money):
            value = value.decimal
        if isinstance(value, Decimal):
            digits = max(0, -int(value.as_tuple().exponent))
            pattern = "0." + "0" * digits if digits else "0"
            return format_decimal(value, format=pattern, locale=self.locale.replace("-", "_"))
        return value


def set_form_currency(form: forms.Form, currency: str, locale: str = "en_US") -> None:
    """Amounts in this form are in `currency`, typed the way `locale` writes numbers."""
    for field in form.fields.values():
        if isinstance(field, MoneyField):
            field.currency = currency
            field.locale = locale


def add_domain_error(form: forms.Form, error: SettleError) -> None:
    """Show a service's refusal inline, on the field it names when the form has it."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class IdempotentForm(forms.Form):
    """Carries a per-render key so a double-submitted form records once."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=80)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
