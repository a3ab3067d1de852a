"""Forms of the money pages: invoices, quick payment requests, orders, payments, refunds and credits.

Forms only parse what was typed (amounts exactly, in the right currency); the services decide
what is allowed and their refusals are shown on the same form."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from settle.core.errors import SettleError
from settle.core.money import Money, require_positive
from settle.customers.selectors import customer_list
from settle.invoicing.models import Invoice, InvoiceStatus, Terms
from settle.invoicing.services import MAX_LINES, MAX_TAX_RATE_BP, LineInput
from settle.payments.models import GATEWAY_METHODS, PaymentMethod
from settle.tenants.models import Merchant

from .views.common import IdempotentForm, MoneyField, set_form_currency

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


class PositiveMoneyField(MoneyField):
    """An amount that must be more than zero and no larger than Settle accepts."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None:
            try:
                require_positive(value)
            except SettleError as error:
                raise forms.ValidationError(error.message) from None


class PercentField(forms.CharField):
    """A percentage typed like 8.25 → basis points (825), exactly; at most two decimals."""

    MAX_TEXT = 12

    def __init__(self, **kwargs: Any):
        attrs = {"inputmode": "decimal", "autocomplete": "off", "maxlength": str(self.MAX_TEXT)}
        kwargs.setdefault("widget", forms.TextInput(attrs=attrs))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        try:
            rate = Decimal(text.removesuffix("%").strip()) if len(text) <= self.MAX_TEXT else None
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite():
            raise forms.ValidationError("Enter a percentage like 8.25.")
        basis_points = rate.scaleb(2)
        if basis_points != basis_points.to_integral_value():
            raise forms.ValidationError("A rate has at most two decimals.")
        if not 0 <= basis_points <= MAX_TAX_RATE_BP:
            raise forms.ValidationError("Enter a rate between 0 and 100.")
        return int(basis_points)


def percent_text(basis_points: int) -> str:
    """825 → "8.25", 800 → "8": a stored rate as it is typed."""
    return f"{Decimal(basis_points).scaleb(-2).normalize():f}"


class MerchantForm(forms.Form):
    """A form in the merchant's context: its customers to choose from, amounts in `currency`
    (the merchant's unless the thing being paid or refunded has its own)."""

    def __init__(self, *args: Any, merchant: Merchant, currency: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.merchant = merchant
        self.currency = currency or merchant.currency
        set_form_currency(self, self.currency, merchant.locale)
        if "customer" in self.fields:
            self.fields["customer"].queryset = customer_list(merchant=merchant)  # type: ignore[attr-defined]


def customer_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(queryset=None, empty_label="Choose a customer…")


class LineForm(forms.Form):
    """One invoice line or order item. A blank row is skipped."""

    description = forms.CharField(max_length=200)
    quantity = forms.DecimalField(max_digits=12, decimal_places=3, initial=1)
    unit_price = MoneyField()
    tax_rate = PercentField(required=False, label="Tax %")

    def __init__(self, *args: Any, currency: str, locale: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        set_form_currency(self, currency, locale)

    def has_changed(self) -> bool:
        """A row counts once a description, price or rate is typed; the quantity alone is not a line."""
        return any(name != "quantity" for name in self.changed_data)

    def line(self) -> LineInput:
        data = self.cleaned_data
        return LineInput(data["description"], data["quantity"], data["unit_price"], data["tax_rate"] or 0)


LineFormSet = forms.formset_factory(LineForm, extra=5, max_num=MAX_LINES, absolute_max=MAX_LINES, validate_max=True)


def line_formset(merchant: Merchant, data: Any = None) -> forms.BaseFormSet:
    return LineFormSet(data, prefix="lines", form_kwargs={"currency": merchant.currency, "locale": merchant.locale})


def filled_lines(formset: forms.BaseFormSet) -> list[LineInput]:
    """The lines of a valid formset, in order, without the blank rows."""
    return [form.line() for form in formset if form.has_changed()]


class InvoiceForm(MerchantForm):
    customer = customer_field()
    issue_date = forms.DateField(required=False, widget=DATE_INPUT, help_text="Today if left empty.")
    terms = forms.ChoiceField(choices=Terms.choices, initial=Terms.DUE_ON_RECEIPT)
    due_date = forms.DateField(required=False, widget=DATE_INPUT, help_text="For a custom due date.")
    discount = MoneyField(required=False)
    po_number = forms.CharField(max_length=60, required=False, label="PO number")
    contract_reference = forms.CharField(max_length=60, required=False)
    memo = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    draft = forms.BooleanField(required=False, label="Save as draft")


class QuickRequestForm(IdempotentForm, MerchantForm):
    customer = customer_field()
    amount = PositiveMoneyField()
    reference = forms.CharField(max_length=60, label="Reference number")


class OrderForm(MerchantForm):
    customer = customer_field()
    discount = MoneyField(required=False)
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CheckoutForm(forms.Form):
    terms = forms.ChoiceField(
        choices=[(value, label) for value, label in Terms.choices if value != Terms.CUSTOM],
        initial=Terms.DUE_ON_RECEIPT,
    )


class CreditMemoForm(IdempotentForm, MerchantForm):
    customer = customer_field()
    amount = PositiveMoneyField()
    reason = forms.CharField(max_length=300)


class InvoiceAllocationForm(MerchantForm):
    """A customer's open invoices as rows: a checkbox and an optional amount each. With no
    amounts, the ticked invoices are paid oldest due first; with amounts, exactly those."""

    def __init__(self, *args: Any, invoices: Iterable[Invoice], selected: Iterable[int] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.invoices = list(invoices)
        chosen = set(selected)
        for invoice in self.invoices:
            self.fields[f"pay_{invoice.pk}"] = forms.BooleanField(required=False, initial=invoice.pk in chosen)
            self.fields[f"amount_{invoice.pk}"] = PositiveMoneyField(currency=self.currency, required=False)

    @staticmethod
    def posted_invoice_ids(data: Mapping[str, Any]) -> set[int]:
        """Invoices a submitted form named (its `pay_<id>` and `amount_<id>` rows)."""
        ids = set()
        for name in data:
            prefix, _, pk = name.partition("_")
            if prefix in ("pay", "amount") and pk.isdigit() and len(pk) < 19:
                ids.add(int(pk))
        return ids

    def rows(self) -> Iterator[tuple[Invoice, forms.BoundField, forms.BoundField]]:
        for invoice in self.invoices:
            yield invoice, self[f"pay_{invoice.pk}"], self[f"amount_{invoice.pk}"]

    def allocation(self) -> tuple[list[int], dict[int, Money] | None]:
        """(invoice ids, explicit amounts or None) for `payment_record` and `credit_apply`; an
        amount typed on a row selects it."""
        data = self.cleaned_data
        amounts = {i.pk: data[f"amount_{i.pk}"] for i in self.invoices if data.get(f"amount_{i.pk}")}
        ticked = [i.pk for i in self.invoices if data.get(f"pay_{i.pk}") or i.pk in amounts]
        return ticked, amounts or None

    def clean(self) -> dict[str, Any] | None:
        data = super().clean()
        ticked, amounts = self.allocation()
        if amounts and len(amounts) != len(ticked):
            raise forms.ValidationError(
                "Enter an amount for every ticked invoice, or leave every amount empty to pay the oldest due first."
            )
        return data


class PaymentForm(IdempotentForm, InvoiceAllocationForm):
    amount = PositiveMoneyField()
    received_on = forms.DateField(widget=DATE_INPUT, label="Date received")
    # Money taken through a gateway is recorded by the gateway flow, never typed in by hand.
    method = forms.ChoiceField(
        choices=[(value, label) for value, label in PaymentMethod.choices if value not in GATEWAY_METHODS],
        initial=PaymentMethod.CHECK,
    )
    check_number = forms.CharField(max_length=30, required=False, help_text="Checks only.")
    reference = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    keep_excess_as_credit = forms.BooleanField(required=False, label="Keep any excess as customer credit")


class RefundForm(IdempotentForm, MerchantForm):
    amount = PositiveMoneyField(help_text="The full refundable amount unless you change it.")
    reason = forms.CharField(max_length=300, required=False)


STATUS_FILTERS = [("", "All"), *InvoiceStatus.choices, ("past_due", "Past due")]


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    q = forms.CharField(max_length=100, required=False, label="Search")
