"""What an invoice or a receipt document shows, read from our models in a fixed number of queries
and written out in the reader's locale: every amount through `Money.format`, every date through
Babel. `settle.documents.pdf` turns the result into a PDF."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from django.core.cache import cache
from django.db.models import Prefetch, prefetch_related_objects

from settle.core import clock
from settle.core.money import Money
from settle.customers.models import Customer
from settle.documents.data import (
    InvoiceDocument,
    InvoiceTotals,
    Line,
    MethodShown,
    PageFormat,
    Party,
    ReceiptDocument,
    Row,
    Status,
)
from settle.documents.labels import has_label, label, language_of
from settle.invoicing.models import Invoice, InvoiceStatus, JournalLine
from settle.tenants.models import Merchant

from .models import Application, Payment, PaymentStatus, RefundStatus, SecureLinkInvoice

logger = logging.getLogger(__name__)

# Where US Letter paper is the norm; everyone else prints on A4.
LETTER_TERRITORIES = frozenset({"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PR"})


class _Writer:
    """Formats dates, quantities, rates and amounts the way one locale writes them."""

    def __init__(self, merchant: Merchant, locale: str | None, *, with_logo: bool) -> None:
        self.merchant = merchant
        self.with_logo = with_logo
        self.locale = (locale or merchant.locale).replace("-", "_")
        self.language = language_of(self.locale)
        try:
            self.territory = Locale.parse(self.locale).territory or ""
        except (ValueError, UnknownLocaleError):
            self.locale, self.territory = "en_US", "US"

    @property
    def page_format(self) -> PageFormat:
        return "Letter" if self.territory in LETTER_TERRITORIES else "A4"

    def money(self, minor: int, currency: str) -> str:
        return Money(minor, currency).format(self.locale)

    def date(self, value: dt.date) -> str:
        return format_date(value, format="medium", locale=self.locale)

    def moment(self, value: dt.datetime) -> str:
        """A timestamp as the date it was on the merchant's calendar."""
        return self.date(clock.local_date(value, self.merchant.time_zone))

    def quantity(self, value: Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def rate(self, basis_points: int) -> str:
        return format_percent(Decimal(basis_points) / 10000, locale=self.locale, decimal_quantization=False)

    def label(self, key: str) -> str:
        return label(self.language, key)

    def method(self, payment: Payment) -> MethodShown:
        """Manual methods by name in the reader's language; brands (Venmo, Zelle…) as they are; a
        gateway payment by its brand and last four digits ("Visa", "4242")."""
        if payment.card_brand:
            return MethodShown(payment.card_brand, payment.last4)
        key = f"method.{payment.method}"
        return MethodShown(self.label(key) if has_label(key) else payment.get_method_display())

    @functools.cached_property
    def merchant_party(self) -> Party:
        """The merchant as every document this writer makes shows it (its logo read once)."""
        merchant = self.merchant
        return Party(
            name=merchant.name,
            address_lines=tuple(line.strip() for line in merchant.address.splitlines() if line.strip()),
            email=merchant.email,
            phone=_phone(merchant.phone),
            logo=_logo_bytes(merchant) if self.with_logo else None,
        )

    def customer_party(self, customer: Customer) -> Party:
        place = " ".join(
            part for part in (", ".join(p for p in (customer.city, customer.region) if p), customer.postal_code) if part
        )
        country = ""
        if customer.country and customer.country != self.territory:
            country = Locale.parse(self.locale).territories.get(customer.country, customer.country)
        lines = (customer.address_line1, customer.address_line2, place, country)
        return Party(
            name=customer.display_name,
            address_lines=tuple(line for line in lines if line),
            email=customer.primary_email,
        )


def _phone(e164: str) -> str:
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _logo_bytes(merchant: Merchant) -> bytes | None:
    """The uploaded logo's bytes; None without one, or when its file is gone from storage (the
    document is still worth having without it)."""
    name = merchant.logo.name
    if not name:
        return None
    try:
        with merchant.logo.storage.open(name, "rb") as file:
            data: bytes = file.read()
    except OSError:
        logger.warning("Logo file of merchant %s is missing from storage.", merchant.pk)
        return None
    return data


def _document_parts() -> tuple[str | Prefetch[Any], ...]:
    """What an invoice's document reads beside its row: its lines, and the payments and credits
    applied to it."""
    applied = (
        Application.objects.filter(amount_minor__gt=0)
        .select_related("payment", "credit_memo")
        .order_by("created_at", "id")
    )
    return ("lines", Prefetch("applications", queryset=applied))


def invoice_document(
    *, merchant: Merchant, invoice_id: int, locale: str | None = None, with_logo: bool = True
) -> InvoiceDocument:
    """The invoice as its document shows it, in `locale` (the merchant's by default): lines,
    totals, and the payments and credits applied to it. Three queries. Raises
    Invoice.DoesNotExist for an id that is not the merchant's. A web page, which shows the logo by
    its URL, passes `with_logo=False` and spares reading the file."""
    invoice = (
        Invoice.objects.select_related("customer")
        .prefetch_related(*_document_parts())
        .get(merchant=merchant, pk=invoice_id)
    )
    return _invoice_document(_Writer(merchant, locale, with_logo=with_logo), invoice)


def invoice_documents(*, merchant: Merchant, invoices: Sequence[Invoice]) -> list[InvoiceDocument]:
    """`invoice_document` of each of the merchant's `invoices`, already loaded (by a send, under its
    locks), in the merchant's locale: their customers, lines and applications read in one query
    each for all of them, and the logo once."""
    prefetch_related_objects(list(invoices), "customer", *_document_parts())
    write = _Writer(merchant, None, with_logo=True)
    return [_invoice_document(write, invoice) for invoice in invoices]


# Bump when InvoiceDocument changes shape, so a shared cache never serves a document of the old one.
PAGE_DOCUMENT_FORMAT = 2
# Long enough to serve a customer's visit and its reloads; the key, not the timeout, keeps it fresh.
PAGE_DOCUMENT_SECONDS = 15 * 60


def link_invoices(*, merchant: Merchant, link_id: int) -> list[Invoice]:
    """The invoices of the merchant's secure link `link_id`, oldest due first, loaded as their pages
    need them: with their customer, and the id of their last journal line for
    `invoice_page_document`. Every change to what an invoice owes or was paid (a payment, a credit,
    a refund, a reversal, a void) posts a journal line naming it, so that id changes with the
    payments and credits its document lists, which its row alone might not (one payment taken off
    and another of the same amount put on). Plain SQL, as every view of a pay page reads it."""
    invoices, chosen = Invoice._meta.db_table, SecureLinkInvoice._meta.db_table
    # Table names come from the models; every value is a parameter.
    sql = (
        f"SELECT invoice.*, (SELECT MAX(line.id) FROM {JournalLine._meta.db_table} line"  # noqa: S608
        " WHERE line.invoice_id = invoice.id AND line.merchant_id = invoice.merchant_id) AS last_journal_line_id"
        f" FROM {invoices} invoice JOIN {chosen} chosen ON chosen.invoice_id = invoice.id"
        " WHERE chosen.link_id = %s AND chosen.merchant_id = %s AND invoice.merchant_id = %s"
        " ORDER BY invoice.due_date, invoice.issue_date, invoice.sequence"
    )
    found = list(Invoice._base_manager.raw(sql, [link_id, merchant.pk, merchant.pk]))
    if not found:
        return []
    ids = sorted({invoice.customer_id for invoice in found})
    customers_sql = (
        f"SELECT * FROM {Customer._meta.db_table}"  # noqa: S608
        f" WHERE merchant_id = %s AND id IN ({', '.join(['%s'] * len(ids))})"
    )
    customers = {customer.pk: customer for customer in Customer._base_manager.raw(customers_sql, [merchant.pk, *ids])}
    for invoice in found:
        invoice.merchant = merchant
        invoice.customer = customers[invoice.customer_id]
    return found


def _page_document_key(merchant: Merchant, invoice: Invoice, locale: str) -> str:
    """The cache key of the page document: everything it shows, as a digest. The invoice's row and
    last journal line, the merchant's and the customer's fields it names, and the locale; any
    change is a new key, so no document is ever invalidated, only no longer asked for."""
    customer = invoice.customer
    shown = (
        PAGE_DOCUMENT_FORMAT,
        merchant.pk,
        locale,
        [getattr(invoice, field.attname) for field in Invoice._meta.concrete_fields],
        invoice.last_journal_line_id,  # type: ignore[attr-defined]
        (merchant.name, merchant.address, merchant.email, merchant.phone, merchant.locale, merchant.time_zone),
        (customer.pk, customer.display_name, customer.emails),
        (customer.address_line1, customer.address_line2, customer.city, customer.region, customer.postal_code),
        customer.country,
    )
    return f"settle:invoice-page:{hashlib.sha256(repr(shown).encode()).hexdigest()}"


def invoice_page_document(*, merchant: Merchant, invoice: Invoice, locale: str) -> InvoiceDocument:
    """`invoice_document` for a web page (no logo bytes) of an invoice loaded through
    `link_invoices` in `merchant`'s scope, from the cache when nothing it shows has changed
    since it was built: then no query at all, else two (the lines and the applications)."""
    key = _page_document_key(merchant, invoice, locale)
    document: InvoiceDocument | None = cache.get(key)
    if document is None:
        prefetch_related_objects([invoice], *_document_parts())
        document = _invoice_document(_Writer(merchant, locale, with_logo=False), invoice)
        cache.set(key, document, PAGE_DOCUMENT_SECONDS)
    return document


def _invoice_document(write: _Writer, invoice: Invoice) -> InvoiceDocument:
    currency = invoice.currency
    lines = tuple(
        Line(
            description=line.description,
            quantity=write.quantity(line.quantity),
            unit_price=write.money(line.unit_price_minor, currency),
            tax=write.rate(line.tax_rate_bp),
            amount=write.money(line.amount_minor, currency),
        )
        for line in invoice.lines.all()
    )
    payments = []
    for application in invoice.applications.all():
        amount = write.money(application.amount_minor, currency)
        if application.payment is not None:
            payment = application.payment
            description = f"{payment.number} · {write.method(payment).text}"
            payments.append(Row(write.date(payment.received_on), description, amount, reference=payment.number))
        elif application.credit_memo is not None:
            description = f"{write.label('method.credit_memo')} {application.credit_memo.number}"
            payments.append(Row(write.moment(application.created_at), description, amount))
    totals = InvoiceTotals(
        subtotal=write.money(invoice.subtotal_minor, currency),
        discount=write.money(invoice.discount_minor, currency) if invoice.discount_minor else "",
        tax=write.money(invoice.tax_minor, currency),
        total=write.money(invoice.total_minor, currency),
        paid=write.money(invoice.paid_minor, currency) if invoice.paid_minor else "",
        amount_due="" if invoice.status == InvoiceStatus.VOID else write.money(invoice.balance_minor, currency),
    )
    return InvoiceDocument(
        language=write.language,
        merchant=write.merchant_party,
        customer=write.customer_party(invoice.customer),
        number=invoice.number,
        status=Status(invoice.status),
        issue_date=write.date(invoice.issue_date),
        due_date=write.date(invoice.due_date),
        lines=lines,
        totals=totals,
        payments=tuple(payments),
        po_number=invoice.po_number,
        contract_reference=invoice.contract_reference,
        reference=invoice.reference,
        memo=invoice.memo,
        page_format=write.page_format,
    )


def receipt_document(
    *, merchant: Merchant, payment_id: int, locale: str | None = None, with_logo: bool = True
) -> ReceiptDocument:
    """The receipt of a payment, in `locale` (the merchant's by default): how it was paid, the
    invoices it paid and how much of each, what was kept as credit, refunds, and whether the bank
    sent it back or it was voided. Three queries.
    Raises Payment.DoesNotExist for an id that is not the merchant's; `with_logo` as for invoices."""
    write = _Writer(merchant, locale, with_logo=with_logo)
    payment = (
        Payment.objects.select_related("customer")
        .prefetch_related(
            Prefetch(
                "applications",
                queryset=Application.objects.filter(amount_minor__gt=0).select_related("invoice").order_by("id"),
            ),
            "refunds",
        )
        .get(merchant=merchant, pk=payment_id)
    )
    currency = payment.currency
    invoices = tuple(
        Row(
            write.date(application.invoice.issue_date),
            application.invoice.number,
            write.money(application.amount_minor, currency),
        )
        for application in payment.applications.all()
    )
    refunds = tuple(
        Row(write.moment(refund.created_at), refund.reason or "—", write.money(refund.amount_minor, currency))
        for refund in sorted(payment.refunds.all(), key=lambda refund: (refund.created_at, refund.pk))
        if refund.status == RefundStatus.SUCCEEDED
    )
    refunded = payment.refunded_minor
    if payment.status == PaymentStatus.VOIDED:
        status, refunded = Status.VOID, 0  # voided before it settled: no money moved either way
    elif payment.status == PaymentStatus.RETURNED:
        status = Status.RETURNED
    else:
        status = Status.REFUNDED if refunded == payment.amount_minor else Status.PAID
    return ReceiptDocument(
        language=write.language,
        merchant=write.merchant_party,
        customer=write.customer_party(payment.customer),
        number=payment.number,
        status=status,
        payment_date=write.date(payment.received_on),
        method=write.method(payment),
        amount=write.money(payment.amount_minor, currency),
        invoices=invoices,
        unapplied=write.money(payment.unapplied_minor, currency) if payment.unapplied_minor else "",
        refunds=refunds,
        refunded=write.money(refunded, currency) if refunded else "",
        net=write.money(payment.amount_minor - refunded, currency) if refunded else "",
        check_number=payment.check_number,
        reference=payment.reference,
        page_format=write.page_format,
    )
