"""Telling the merchant: one notification per event and one e-mail per owner or admin with an
address, written in the caller's transaction (a rollback tells no one) and delivered by the outbox
after commit; the back-office page, its counts in the nav, read, all read and To-Dos done."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from settle.core.errors import NotAllowed, NotFound, PermissionDenied
from settle.core.tenancy import all_merchants, merchant_scope
from settle.customers.models import Customer
from settle.messaging.models import Message, MessageStatus, Purpose
from settle.notifications.models import Notification, NotificationKind
from settle.notifications.services import (
    merchant_notify,
    notification_mark_done,
    notification_mark_read,
    notifications_mark_all_read,
)
from settle.tenants.models import Membership, Merchant, Role
from settle.tenants.services import membership_set
from tests.conftest import make_customer
from tests.messaging.conftest import NOW, Inbox, smtp_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

LIST_URL = "/notifications/"


def owner_of(merchant: Merchant) -> Membership:
    return Membership.objects.select_related("user").get(merchant=merchant, role=Role.OWNER)


def member(merchant: Merchant, role: str, email_address: str | None = None) -> Membership:
    return membership_set(
        merchant=merchant, acting=owner_of(merchant), email=email_address or f"{role}@example.com", role=role
    )


def notify(merchant: Merchant, key: str = "payment_received:1", **kwargs: Any) -> Notification:
    values: dict[str, Any] = {
        "kind": NotificationKind.PAYMENT_RECEIVED,
        "title": "Payment received from Mary: $12.50 for invoice INV-00001",
        "key": key,
        "now": NOW,
    }
    return merchant_notify(merchant=merchant, **{**values, **kwargs})


def notices() -> list[Message]:
    with all_merchants():
        return list(Message.objects.filter(purpose=Purpose.STAFF_NOTICE).order_by("recipient"))


def test_one_notification_and_one_e_mail_per_owner_and_admin(merchant: Merchant) -> None:
    member(merchant, Role.ADMIN)
    member(merchant, Role.STAFF)
    member(merchant, Role.READ_ONLY)

    notification = notify(merchant, body="Paid with Visa •••• 4242 on the pay page (PAY-00001).")

    assert Notification.objects.get() == notification
    assert notification.read_at is None and not notification.needs_action
    sent = notices()
    assert [m.recipient for m in sent] == ["admin@example.com", owner_of(merchant).user.email]
    assert {m.subject for m in sent} == {f"{merchant.name}: {notification.title}"}
    assert all("Paid with Visa •••• 4242" in m.body and "/notifications/" in m.body for m in sent)
    assert all(m.customer_id is None and m.status == MessageStatus.QUEUED for m in sent)


def test_the_same_event_again_tells_once(merchant: Merchant) -> None:
    member(merchant, Role.ADMIN)
    first = notify(merchant)

    again = notify(merchant, title="Something else")

    assert again == first and Notification.objects.count() == 1
    assert len(notices()) == 2


def test_a_rolled_back_transaction_tells_no_one(merchant: Merchant) -> None:
    def notify_then_fail() -> None:
        with transaction.atomic():
            notify(merchant)
            raise RuntimeError("the payment failed after all")

    with pytest.raises(RuntimeError):
        notify_then_fail()

    assert Notification.objects.count() == 0
    assert notices() == []


def test_a_staff_address_the_mail_cannot_take_is_skipped(merchant: Merchant) -> None:
    admin = member(merchant, Role.ADMIN)
    User.objects.filter(pk=admin.user_id).update(email="not an address")

    notify(merchant)

    assert [m.recipient for m in notices()] == [owner_of(merchant).user.email]


def test_the_e_mail_reaches_a_real_smtp_server_once_committed(
    merchant: Merchant,
    smtp_server: Inbox,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    customer = make_customer(merchant, "Bob {Builder}")
    with django_capture_on_commit_callbacks(execute=True):
        notify(merchant, title=f"Payment received from {customer.display_name}", customer_id=customer.pk)
        assert smtp_server.received == []  # nothing leaves before the commit

    assert len(smtp_server.received) == 1
    envelope = smtp_server.received[0]
    assert envelope.rcpt_tos == [owner_of(merchant).user.email]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == f"{merchant.name}: Payment received from Bob {{Builder}}"
    assert notices()[0].status == MessageStatus.SENT


def test_read_all_read_and_done(merchant: Merchant) -> None:
    owner = owner_of(merchant)
    info = notify(merchant, key="a")
    todo = notify(merchant, key="b", kind=NotificationKind.PAID_ELSEWHERE, needs_action=True)

    notification_mark_read(merchant=merchant, notification_id=info.pk, now=NOW)
    done = notification_mark_done(merchant=merchant, notification_id=todo.pk, acting=owner, now=NOW)

    info.refresh_from_db()
    assert info.read_at == NOW
    assert (done.done_at, done.done_by_id, done.read_at) == (NOW, owner.user_id, NOW)
    with pytest.raises(NotAllowed):
        notification_mark_done(merchant=merchant, notification_id=info.pk, acting=owner, now=NOW)
    assert notifications_mark_all_read(merchant=merchant, now=NOW) == 0


def test_read_only_staff_cannot_mark_a_to_do_done(merchant: Merchant) -> None:
    viewer = member(merchant, Role.READ_ONLY)
    todo = notify(merchant, needs_action=True)

    with pytest.raises(PermissionDenied):
        notification_mark_done(merchant=merchant, notification_id=todo.pk, acting=viewer, now=NOW)

    todo.refresh_from_db()
    assert todo.done_at is None


def test_another_merchants_notification_is_not_found(merchant: Merchant, other_merchant: Merchant) -> None:
    with merchant_scope(other_merchant):
        theirs = notify(other_merchant, needs_action=True)

    with pytest.raises(NotFound):
        notification_mark_read(merchant=merchant, notification_id=theirs.pk, now=NOW)
    with pytest.raises(NotFound):
        notification_mark_done(merchant=merchant, notification_id=theirs.pk, acting=owner_of(merchant), now=NOW)
    assert notifications_mark_all_read(merchant=merchant, now=NOW) == 0
    with merchant_scope(other_merchant):
        theirs.refresh_from_db()
    assert theirs.read_at is None


# --- the back-office pages ----------------------------------------------------------------------


@pytest.fixture
def owner_client(client: Client, merchant: Merchant) -> Client:
    client.force_login(owner_of(merchant).user)
    return client


def test_the_page_lists_newest_first_with_unread_in_bold_and_links(
    owner_client: Client, merchant: Merchant, customer: Customer
) -> None:
    older = notify(merchant, key="old", title="Older one", customer_id=customer.pk)
    newer = merchant_notify(
        merchant=merchant,
        kind=NotificationKind.PAYMENT_RECEIVED,
        title="Newer one",
        key="new",
        now=NOW.replace(hour=17),
    )
    notification_mark_read(merchant=merchant, notification_id=older.pk, now=NOW)

    html = owner_client.get(LIST_URL).content.decode()

    assert html.index("Newer one") < html.index("Older one")
    assert 'class="notification-unread"' in html and 'class="notification-read"' in html
    assert html.index("notification-unread") < html.index("Newer one") < html.index("notification-read")
    assert f'href="/customers/{customer.pk}/"' in html
    assert newer.read_at is None


def test_the_nav_counts_unread_and_to_dos_on_every_page_in_one_query(owner_client: Client, merchant: Merchant) -> None:
    notify(merchant, key="a")
    with CaptureQueriesContext(connection) as one:
        html = owner_client.get("/").content.decode()
    assert '<span class="nav-count">1<span class="visually-hidden"> unread</span></span>' in html
    assert "nav-count-todo" not in html

    for n in range(5):
        notify(merchant, key=f"todo-{n}", needs_action=True)
    with CaptureQueriesContext(connection) as six:
        html = owner_client.get("/").content.decode()
    assert '<span class="nav-count">6<span class="visually-hidden"> unread</span></span>' in html
    assert '<span class="nav-count nav-count-todo">5<span class="visually-hidden"> to do</span></span>' in html
    assert len(six.captured_queries) == len(one.captured_queries)
    assert sum("notifications_notification" in q["sql"] for q in six.captured_queries) == 1


def test_the_list_costs_the_same_queries_for_many_notifications(
    owner_client: Client, merchant: Merchant, customer: Customer
) -> None:
    notify(merchant, key="first", customer_id=customer.pk)
    with CaptureQueriesContext(connection) as few:
        owner_client.get(LIST_URL)
    for n in range(10):
        notify(merchant, key=f"more-{n}", customer_id=make_customer(merchant, f"C{n}").pk, needs_action=True)
    with CaptureQueriesContext(connection) as many:
        owner_client.get(LIST_URL)

    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_to_do_filter_shows_only_open_to_dos(owner_client: Client, merchant: Merchant) -> None:
    notify(merchant, key="info", title="Just so you know")
    notify(merchant, key="todo", title="Confirm a Venmo payment", needs_action=True)
    done = notify(merchant, key="done", title="Already handled", needs_action=True)
    notification_mark_done(merchant=merchant, notification_id=done.pk, acting=owner_of(merchant), now=NOW)

    html = owner_client.get(LIST_URL, {"show": "todo"}).content.decode()

    assert "Confirm a Venmo payment" in html
    assert "Just so you know" not in html and "Already handled" not in html


def test_mark_read_all_read_and_done_from_the_page(owner_client: Client, merchant: Merchant) -> None:
    info = notify(merchant, key="info")
    todo = notify(merchant, key="todo", needs_action=True)

    assert owner_client.post(f"/notifications/{info.pk}/read/").status_code == 302
    info.refresh_from_db()
    assert info.read_at is not None
    response = owner_client.post(f"/notifications/{todo.pk}/done/", {"show": "todo"})
    assert response.status_code == 302 and response["Location"] == "/notifications/?show=todo"
    todo.refresh_from_db()
    assert todo.done_at is not None and todo.done_by_id == owner_of(merchant).user_id

    notify(merchant, key="later")
    assert owner_client.post("/notifications/read/").status_code == 302
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert owner_client.get("/notifications/1/read/").status_code == 405


def test_read_only_staff_read_and_mark_read_but_not_done(client: Client, merchant: Merchant) -> None:
    viewer = member(merchant, Role.READ_ONLY)
    todo = notify(merchant, needs_action=True, action_path="/payments/new/?customer=1")
    client.force_login(viewer.user)

    html = client.get(LIST_URL).content.decode()
    assert "Mark done" not in html and "Record payment" not in html
    assert client.post(f"/notifications/{todo.pk}/done/").status_code == 403
    assert client.post(f"/notifications/{todo.pk}/read/").status_code == 302

    todo.refresh_from_db()
    assert todo.done_at is None and todo.read_at is not None


def test_another_merchants_notification_is_a_404_on_the_page(
    owner_client: Client, merchant: Merchant, other_merchant: Merchant
) -> None:
    with merchant_scope(other_merchant):
        theirs = notify(other_merchant, title="Their secret", needs_action=True)

    assert owner_client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert owner_client.post(f"/notifications/{theirs.pk}/done/").status_code == 404
    assert "Their secret" not in owner_client.get(LIST_URL).content.decode()
    with merchant_scope(other_merchant):
        theirs.refresh_from_db()
    assert theirs.read_at is None and theirs.done_at is None
