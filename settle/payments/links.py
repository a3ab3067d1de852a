"""Secure links: what lets a customer pay, add a payment method or see a receipt without signing in.

A link's token is 256 random bits from `secrets`, shown once (in the URL the merchant sends) and
stored only as its SHA-256. Opening a link looks the hash up, so the time an answer takes says
nothing about how close a guess came; a client that keeps guessing is slowed down by
`secure_link_guess_allowed`. A link stops working when it expires, when it is revoked, once it is
used if it is single-use, and as soon as an invoice it is for is voided.

The pay page exchanges the token for a short session (`portal_session_grant`) and redirects to a
URL without it, so the token leaves the address bar, the history and any Referer header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple, TypedDict

from django.conf import settings
from django.contrib.auth import SESSION_KEY as AUTH_USER_SESSION_KEY
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from settle.core import clock
from settle.core.errors import InvalidInput, NotAllowed, NotFound
from settle.core.rate_limits import over_limit
from settle.core.tenancy import all_merchants, is_row_id
from settle.customers.models import Contact, Customer
from settle.customers.services import activity_record
from settle.invoicing.models import Invoice, InvoiceStatus
from settle.tenants.models import Merchant

from .models import LinkPurpose, Payment, SavedMethod, SecureLink, SecureLinkInvoice
from .selectors import saved_methods_for_customer

TOKEN_BYTES = 32  # 256 bits; secrets.token_urlsafe writes them as 43 URL-safe characters
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")
LINK_PATH = "/l/"  # the pay page's route for opening a link: <SETTLE_BASE_URL>/l/<token>/

# Purpose → (default lifetime, longest lifetime a merchant may choose).
LIFETIMES: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    LinkPurpose.PAY_INVOICE: (dt.timedelta(days=60), dt.timedelta(days=365)),
    LinkPurpose.PAY_STATEMENT: (dt.timedelta(days=30), dt.timedelta(days=90)),
    LinkPurpose.ADD_PAYMENT_METHOD: (dt.timedelta(days=7), dt.timedelta(days=30)),
    LinkPurpose.VIEW_RECEIPT: (dt.timedelta(days=365), dt.timedelta(days=730)),
}
SHORTEST_LIFETIME = dt.timedelta(minutes=15)
SINGLE_USE_BY_DEFAULT = frozenset({LinkPurpose.ADD_PAYMENT_METHOD})
PAYABLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID)  # paid: shows the receipt
MAX_INVOICES = 100

GUESS_LIMIT = 20  # unknown tokens a client may try…
GUESS_WINDOW_SECONDS = 600  # …per ten minutes

PORTAL_SESSION_KEY = "settle.secure_link"
PORTAL_SESSION_LIFETIME = dt.timedelta(minutes=30)


class Refusal(StrEnum):
    UNKNOWN = "unknown"  # never issued, mistyped or tampered with: indistinguishable on purpose
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    INVOICE_VOID = "invoice_void"


_REFUSAL_MESSAGES = {
    Refusal.UNKNOWN: "This link is not valid.",
    Refusal.EXPIRED: "This link has expired.",
    Refusal.USED: "This link has already been used.",
    Refusal.REVOKED: "This link was cancelled.",
    Refusal.INVOICE_VOID: "This invoice was voided and can no longer be paid.",
}


class SecureLinkRefused(NotAllowed):
    """A link that cannot be used; `reason` tells the page which friendly message to show."""

    def __init__(self, reason: Refusal):
        super().__init__(_REFUSAL_MESSAGES[reason], code=f"link_{reason}")
        self.reason = reason
        self.status_code = 404 if reason == Refusal.UNKNOWN else 410


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def secure_link_url(raw_token: str) -> str:
    """The address to send: built from SETTLE_BASE_URL, never from a request's Host header."""
    return f"{settings.SETTLE_BASE_URL}{LINK_PATH}{raw_token}/"


def _lifetime(purpose: str, expires_in: dt.timedelta | None) -> dt.timedelta:
    default, longest = LIFETIMES[purpose]
    if expires_in is None:
        return default
    if not SHORTEST_LIFETIME <= expires_in <= longest:
        raise InvalidInput(
            f"A link can last from {SHORTEST_LIFETIME.seconds // 60} minutes to {longest.days} days.",
            field="expires_in",
        )
    return expires_in


def _link_invoices(
    *, merchant: Merchant, customer: Customer, purpose: str, invoice_ids: Sequence[int]
) -> list[Invoice]:
    """The invoices a link is for: one for an invoice link, one or more for a statement, none
    otherwise; all the customer's, and not draft, void or written off."""
    wanted = list(dict.fromkeys(invoice_ids))
    if purpose == LinkPurpose.PAY_INVOICE and len(wanted) != 1:
        raise InvalidInput("A link to pay an invoice is for exactly one invoice.", field="invoice_ids")
    if purpose == LinkPurpose.PAY_STATEMENT and not 1 <= len(wanted) <= MAX_INVOICES:
        raise InvalidInput(f"Choose between 1 and {MAX_INVOICES} invoices.", field="invoice_ids")
    if purpose not in (LinkPurpose.PAY_INVOICE, LinkPurpose.PAY_STATEMENT) and wanted:
        raise InvalidInput("Only payment links are for invoices.", field="invoice_ids")
    invoices = list(
        Invoice.objects.filter(merchant=merchant, customer=customer, pk__in=wanted).order_by("due_date", "pk")
    )
    if len(invoices) != len(wanted):
        raise NotFound("No such invoice.")
    for invoice in invoices:
        if invoice.status not in PAYABLE_STATUSES:
            raise NotAllowed(f"Invoice {invoice.number} is {invoice.get_status_display().lower()} and cannot be paid.")
    return invoices


def _link_payment(*, merchant: Merchant, customer: Customer, purpose: str, payment_id: int | None) -> Payment | None:
    if purpose != LinkPurpose.VIEW_RECEIPT:
        if payment_id is not None:
            raise InvalidInput("Only receipt links are for a payment.", field="payment_id")
        return None
    if payment_id is None:
        raise InvalidInput("A receipt link needs its payment.", field="payment_id")
    try:
        return Payment.objects.get(merchant=merchant, customer=customer, pk=payment_id)
    except Payment.DoesNotExist:
        raise NotFound("No such payment.") from None


def _link_replaces(
    *, merchant: Merchant, customer: Customer, purpose: str, replaces_method_id: int | None
) -> SavedMethod | None:
    """The saved method a profile request's new one is to take the place of: the customer's, and
    not removed."""
    if replaces_method_id is None:
        return None
    if purpose != LinkPurpose.ADD_PAYMENT_METHOD:
        raise InvalidInput("Only a link to add a payment method can replace one.", field="replaces_method_id")
    try:
        return saved_methods_for_customer(merchant=merchant, customer_id=customer.pk).get(pk=replaces_method_id)
    except (SavedMethod.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("No such payment method.") from None


@transaction.atomic
def secure_link_create(
    *,
    merchant: Merchant,
    purpose: str,
    customer_id: int,
    contact_id: int | None = None,
    invoice_ids: Sequence[int] = (),
    payment_id: int | None = None,
    replaces_method_id: int | None = None,
    expires_in: dt.timedelta | None = None,
    single_use: bool | None = None,
    public: bool = False,
    actor: Any = None,
    now: dt.datetime | None = None,
) -> tuple[SecureLink, str]:
    """Issue a link and return it with its raw token, which exists only in this return value (send
    it with `secure_link_url`; it cannot be recovered later).

    Invoice links name one invoice and statement links one or more, all the customer's and none
    draft, void or written off; receipt links name one of the customer's payments; a profile
    request (add a payment method) may name the customer's saved method, not removed, that the
    one saved through it replaces (`replaces_method_id`). The lifetime
    defaults per purpose (`LIFETIMES`) and may be chosen within it; profile requests (add a
    payment method) are single-use unless told otherwise. A `public` link (a quick payment link
    the merchant may share anywhere) pays one invoice, is never single-use, lasts the longest an
    invoice link may unless told otherwise, and never offers the customer's saved payment methods.
    Raises InvalidInput for a wrong
    combination, NotFound for another customer's or merchant's ids, NotAllowed for an invoice that
    cannot be paid."""
    now = now or clock.now()
    if purpose not in LinkPurpose.values:
        raise InvalidInput("Unknown link purpose.", field="purpose")
    try:
        customer = Customer.objects.get(merchant=merchant, pk=customer_id)
    except Customer.DoesNotExist:
        raise NotFound("No such customer.") from None
    if (
        contact_id is not None
        and not Contact.objects.filter(merchant=merchant, customer=customer, pk=contact_id).exists()
    ):
        raise NotFound("No such contact.")
    if public and (purpose != LinkPurpose.PAY_INVOICE or single_use):
        raise InvalidInput("Only a reusable link to pay an invoice can be public.", field="public")
    if public and expires_in is None:
        expires_in = LIFETIMES[purpose][1]
    invoices = _link_invoices(merchant=merchant, customer=customer, purpose=purpose, invoice_ids=invoice_ids)
    payment = _link_payment(merchant=merchant, customer=customer, purpose=purpose, payment_id=payment_id)
    replaces = _link_replaces(
        merchant=merchant, customer=customer, purpose=purpose, replaces_method_id=replaces_method_id
    )
    raw_token = secrets.token_urlsafe(TOKEN_BYTES)
    link = SecureLink.objects.create(
        merchant=merchant,
        purpose=purpose,
        token_hash=token_hash(raw_token),
        customer=customer,
        contact_id=contact_id,
        payment=payment,
        replaces_method=replaces,
        single_use=purpose in SINGLE_USE_BY_DEFAULT if single_use is None else single_use,
        public=public,
        expires_at=now + _lifetime(purpose, expires_in),
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    SecureLinkInvoice.objects.bulk_create(
        [SecureLinkInvoice(merchant=merchant, link=link, invoice=invoice) for invoice in invoices]
    )
    about = ", ".join(invoice.number for invoice in invoices) or (payment.number if payment else "")
    if replaces is not None:
        about = f"to replace {replaces.brand} •••• {replaces.last4}"
    activity_record(
        merchant=merchant,
        customer_id=customer.pk,
        verb="secure_link_created",
        summary=f"Secure link created: {link.get_purpose_display().lower()}{f' ({about})' if about else ''}.",
        actor=actor,
        obj=link,
        now=now,
    )
    return link, raw_token


class _Loaded(NamedTuple):
    link: SecureLink
    invoice_void: bool  # an invoice the link is for has been voided


def _link_loaded(*, token: str | None = None, link_id: int = 0, merchant_id: int = 0) -> _Loaded | None:
    """The link with this token's hash, or this id of this merchant, with its merchant (and its
    payment, for a receipt link), and whether any invoice it is for is void, read in the same
    statement. Every view of a link runs this, so it is plain SQL: building it through the ORM cost
    ten times what the database spends on it."""
    if token is None and not (is_row_id(link_id) and is_row_id(merchant_id)):
        return None
    links, link_invoices = SecureLink._meta.db_table, SecureLinkInvoice._meta.db_table
    # Table names come from the models; every value is a parameter.
    sql = (
        f"SELECT link.*, EXISTS (SELECT 1 FROM {link_invoices} chosen"  # noqa: S608
        f" JOIN {Invoice._meta.db_table} invoice ON invoice.id = chosen.invoice_id"
        " WHERE chosen.link_id = link.id AND chosen.merchant_id = link.merchant_id AND invoice.status = %s)"
        f" AS invoice_void FROM {links} link WHERE "
    )
    if token is not None:
        found = list(
            SecureLink._base_manager.raw(sql + "link.token_hash = %s", [InvoiceStatus.VOID, token_hash(token)])
        )
    else:
        where = "link.id = %s AND link.merchant_id = %s"
        found = list(SecureLink._base_manager.raw(sql + where, [InvoiceStatus.VOID, link_id, merchant_id]))
    if not found:
        return None
    link = found[0]
    merchants = f"SELECT * FROM {Merchant._meta.db_table} WHERE id = %s"  # noqa: S608
    link.merchant = next(iter(Merchant._base_manager.raw(merchants, [link.merchant_id])))
    if link.payment_id is not None:
        link.payment = Payment._base_manager.get(merchant_id=link.merchant_id, pk=link.payment_id)
    return _Loaded(link, bool(link.invoice_void))  # type: ignore[attr-defined]  # the statement's extra column


def _refusal(loaded: _Loaded, now: dt.datetime) -> Refusal | None:
    """Why the link cannot be used at `now`, or None. The most useful reason wins: a revoked or
    voided link says so even after it has expired."""
    link = loaded.link
    if link.revoked_at is not None:
        return Refusal.REVOKED
    if loaded.invoice_void:
        return Refusal.INVOICE_VOID
    if link.single_use and link.used_at is not None:
        return Refusal.USED
    if link.expires_at <= now:
        return Refusal.EXPIRED
    return None


def _guess_key(client_ip: str) -> str:
    return f"secure-link:bad-guesses:{client_ip}"


def _guess_record(client_ip: str) -> None:
    # Only the count matters here: `secure_link_guess_allowed` checks it before the next lookup.
    over_limit(_guess_key(client_ip), limit=GUESS_LIMIT, window_seconds=GUESS_WINDOW_SECONDS)


def secure_link_guess_allowed(client_ip: str) -> bool:
    """False once `client_ip` has tried GUESS_LIMIT unknown tokens in the current window: answer
    429 without looking the token up. Pass REMOTE_ADDR; a forwarded header is the client's to
    forge unless a trusted proxy set it."""
    count: int = cache.get(_guess_key(client_ip), 0)
    return count < GUESS_LIMIT


def secure_link_resolve(raw_token: str, *, now: dt.datetime | None = None, client_ip: str | None = None) -> SecureLink:
    """The link a token opens, with its merchant (and a receipt link's payment) loaded; the caller
    enters `merchant_scope(link.merchant)` to go further. Raises SecureLinkRefused: UNKNOWN
    (counted against `client_ip` as a guess), REVOKED, INVOICE_VOID, USED or EXPIRED.

    The token is looked up by its SHA-256 through a unique index: no comparison ever runs on the
    token itself, so timing reveals nothing about it."""
    now = now or clock.now()
    loaded = None
    if TOKEN_FORMAT.fullmatch(raw_token):
        # The token names its merchant; no scope is active yet.
        with all_merchants():
            loaded = _link_loaded(token=raw_token)
    if loaded is None:
        if client_ip is not None:
            _guess_record(client_ip)
        raise SecureLinkRefused(Refusal.UNKNOWN)
    reason = _refusal(loaded, now)
    if reason is not None:
        raise SecureLinkRefused(reason)
    return loaded.link


def secure_link_use(*, merchant: Merchant, link_id: int, now: dt.datetime | None = None) -> SecureLink:
    """Spend a link on what it is for. A single-use link is marked used exactly once, however many
    requests race for it; a reusable one is only checked. Call it inside the transaction that does
    the work (saving the payment method), so that work rolls back with a refusal and a rollback
    leaves the link unused. Raises SecureLinkRefused like `secure_link_resolve`."""
    now = now or clock.now()
    with transaction.atomic():
        loaded = _link_loaded(link_id=link_id, merchant_id=merchant.pk)
        if loaded is None:
            raise SecureLinkRefused(Refusal.UNKNOWN)
        reason = _refusal(loaded, now)
        if reason is not None:
            raise SecureLinkRefused(reason)
        link = loaded.link
        if link.single_use:
            # One conditional UPDATE decides the race: a second request waits on the row lock
            # the first one's UPDATE holds until commit, then re-reads used_at, finds it set and
            # changes nothing (PostgreSQL re-checks the WHERE after the wait; SQLite runs one
            # writer at a time).
            claimed = SecureLink.objects.filter(
                merchant=merchant,
                pk=link.pk,
                used_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            ).update(used_at=now)
            if claimed != 1:
                link.refresh_from_db(fields=["used_at", "revoked_at", "expires_at"])
                raise SecureLinkRefused(_refusal(loaded, now) or Refusal.USED)
            link.used_at = now
    return link


@transaction.atomic
def secure_link_revoke(
    *, merchant: Merchant, link_id: int, actor: Any = None, now: dt.datetime | None = None
) -> SecureLink:
    """Stop a link from working, at once and for good; revoking it again changes nothing.
    Raises NotFound for another merchant's link."""
    now = now or clock.now()
    link = SecureLink.objects.select_for_update().filter(merchant=merchant, pk=link_id).first()
    if link is None:
        raise NotFound("No such link.")
    if link.revoked_at is None:
        link.revoked_at = now
        link.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
        link.save(update_fields=["revoked_at", "revoked_by"])
        activity_record(
            merchant=merchant,
            customer_id=link.customer_id,
            verb="secure_link_revoked",
            summary=f"Secure link revoked: {link.get_purpose_display().lower()}.",
            actor=actor,
            obj=link,
            now=now,
        )
    return link


class _SessionClaim(TypedDict):
    link_id: int
    merchant_id: int
    expires_at: int  # POSIX seconds


def portal_session_grant(request: HttpRequest, link: SecureLink, *, now: dt.datetime | None = None) -> None:
    """Trade a resolved link for a short customer session: a new session key (so a session planted
    before cannot ride along), holding the link and an expiry, the earlier of
    PORTAL_SESSION_LIFETIME and the link's own; the session cookie expires with it, unless a staff
    member is signed in with the same browser (their session keeps its own age). Redirect to a URL
    without the token next."""
    now = now or clock.now()
    expires_at = min(now + PORTAL_SESSION_LIFETIME, link.expires_at)
    request.session.cycle_key()
    claim: _SessionClaim = {
        "link_id": link.pk,
        "merchant_id": link.merchant_id,
        "expires_at": int(expires_at.timestamp()),
    }
    request.session[PORTAL_SESSION_KEY] = claim
    if AUTH_USER_SESSION_KEY not in request.session:
        # In seconds from now: Django ages a session by the real clock, which `now` need not be.
        request.session.set_expiry(max(1, int((expires_at - now).total_seconds())))


def portal_session_link(request: HttpRequest, *, now: dt.datetime | None = None) -> SecureLink | None:
    """The link this session was granted, loaded like `secure_link_resolve` does, or None when
    there is none, the session's time is up, or the link has stopped working since (revoked,
    used, expired, invoice voided); a dead claim is dropped."""
    now = now or clock.now()
    claim = request.session.get(PORTAL_SESSION_KEY)
    if claim is None:
        return None
    loaded = None
    if isinstance(claim, dict) and all(isinstance(claim.get(key), int) for key in _SessionClaim.__annotations__):
        if now.timestamp() < claim["expires_at"]:
            with all_merchants():
                loaded = _link_loaded(link_id=claim["link_id"], merchant_id=claim["merchant_id"])
    if loaded is None or _refusal(loaded, now) is not None:
        del request.session[PORTAL_SESSION_KEY]
        return None
    return loaded.link
