"""What an invoice or a receipt shows, as plain frozen data. Every amount and date is text already
formatted for the reader (`Money.format(locale)`, Babel dates); an empty string means "leave the
row out"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

PageFormat = Literal["A4", "Letter"]


class Status(StrEnum):
    """Where the document's subject stands; PAID, VOID, REFUNDED and RETURNED are stamped across the
    page."""

    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    REFUNDED = "refunded"
    RETURNED = "returned"  # a bank debit the bank sent back: it paid nothing


STAMPED = frozenset({Status.PAID, Status.VOID, Status.REFUNDED, Status.RETURNED})


@dataclass(frozen=True, slots=True)
class Party:
    """The merchant at the top of the page or the customer billed; `logo` (PNG, JPEG, GIF or
    WebP bytes) is only drawn for the merchant."""

    name: str
    address_lines: tuple[str, ...] = ()
    email: str = ""
    phone: str = ""
    logo: bytes | None = None


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: str
    unit_price: str
    tax: str  # the rate, e.g. "8.25%"
    amount: str


@dataclass(frozen=True, slots=True)
class Row:
    """One dated amount: a payment on an invoice, an invoice a payment paid, a refund."""

    date: str
    description: str
    amount: str
    reference: str = ""  # what a page may link the row to: a payment's number for its receipt


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    subtotal: str
    tax: str
    total: str
    amount_due: str
    discount: str = ""
    paid: str = ""  # net of refunds, so that total - paid = amount due


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    language: str  # "en", "fr", "es"; anything else falls back to English
    merchant: Party
    customer: Party
    number: str
    status: Status
    issue_date: str
    due_date: str
    lines: tuple[Line, ...]
    totals: InvoiceTotals
    payments: tuple[Row, ...] = ()
    po_number: str = ""
    contract_reference: str = ""
    reference: str = ""
    memo: str = ""
    page_format: PageFormat = "A4"


@dataclass(frozen=True, slots=True)
class MethodShown:
    """How a payment was made, as a receipt may show it: a name ("Visa", "Cash") and, for a card
    or bank account, its last four digits and nothing more."""

    name: str
    last4: str = ""

    def __post_init__(self) -> None:
        if self.last4 and not (len(self.last4) == 4 and self.last4.isascii() and self.last4.isdigit()):
            raise ValueError("last4 holds exactly the last four digits")

    @property
    def text(self) -> str:
        return f"{self.name} •••• {self.last4}" if self.last4 else self.name


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    language: str
    merchant: Party
    customer: Party
    number: str
    status: Status  # PAID, REFUNDED once all of it was given back, or RETURNED by the bank
    payment_date: str
    method: MethodShown
    amount: str
    invoices: tuple[Row, ...] = ()
    unapplied: str = ""  # what was kept as customer credit
    refunds: tuple[Row, ...] = ()
    refunded: str = ""
    net: str = ""  # the amount less refunds
    check_number: str = ""
    reference: str = ""
    page_format: PageFormat = "A4"
