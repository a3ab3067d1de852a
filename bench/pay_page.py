"""The customer's pay page under load: GET of the page against a bare Django view serving the same bytes.

Makes a merchant with a logo and social payment apps, and an invoice with lines; opens its pay link
once per client (/l/<token>/ → a session, as a customer's browser does); serves the app with
gunicorn as `settle serve` does, on a scratch SQLite file, with one extra URL whose view returns
the pay page's bytes and does nothing else. Then C concurrent clients GET the pay page for S
seconds, and the bare view for S seconds, from the same server, and it prints both rates and
latencies and their ratio.

    python bench/pay_page.py [--seconds 10] [--clients 16] [--workers 2] [--profile ROWS]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE_PATH = "/bench/bare/"
# The pay page's bytes, written by the benchmark once the server answers, served by the bare view.
PAGE_FILE_ENV = "SETTLE_BENCH_PAGE_FILE"
LANGUAGE = "en-US,en;q=0.9"
# Set: the server forgets every rendered page (settle.portal.page_cache), so each view renders.
RENDER_EACH_VIEW_ENV = "SETTLE_BENCH_RENDER_EACH_VIEW"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per path (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default: %(default)s)")
    parser.add_argument("--profile", type=int, metavar="ROWS", default=0, help="profile the pay page view, print ROWS")
    parser.add_argument(
        "--render-each-view",
        action="store_true",
        help="the server keeps no rendered page: every view renders, as the first view of a page does",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="settle-bench-") as scratch:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="config.settings.dev",
            SETTLE_VAR_DIR=scratch,
            DATABASE_URL=f"sqlite:///{Path(scratch) / 'bench.sqlite3'}",
            **{PAGE_FILE_ENV: str(Path(scratch) / "page.html")},
            **({RENDER_EACH_VIEW_ENV: "1"} if args.render_each_view else {}),
        )
        (Path(scratch) / "static").mkdir()  # WhiteNoise expects the folder; the page's CSS is not fetched
        import django
        from django.conf import settings
        from django.core.management import call_command

        django.setup()
        # The dev settings turn DEBUG on, which makes Django keep every query in memory: not what
        # a deployment pays, so off here and in the server.
        settings.DEBUG = False
        call_command("migrate", verbosity=0)
        sessions = setup(args.clients)
        kept = "rendered each view" if args.render_each_view else "kept per process"
        print(f"backend=sqlite clients={args.clients} workers={args.workers} seconds={args.seconds:g} pages={kept}")
        view_report(sessions[0], args.profile)
        with served(args.workers) as address:
            page = fetch(address, "/l/invoice/", sessions[0]).body
            Path(os.environ[PAGE_FILE_ENV]).write_bytes(page)
            assert fetch(address, BARE_PATH, sessions[0]).body == page
            print(f"page bytes={len(page)}")
            pay = load(address, "/l/invoice/", sessions, args.seconds)
            bare = load(address, BARE_PATH, sessions, args.seconds)
    print(f"pay page  {pay}")
    print(f"bare view {bare}")
    print(f"ratio={pay.rate / bare.rate:.3f}")


def setup(clients: int) -> list[str]:
    """A merchant with a logo and the four social apps, a customer, an invoice of several lines and
    its pay link opened by each client: returns the clients' session cookies (not timed)."""
    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.test import Client
    from PIL import Image

    from settle.core import clock
    from settle.core.money import Money
    from settle.core.tenancy import all_merchants, merchant_scope
    from settle.customers.services import customer_create
    from settle.invoicing.services import LineInput, invoice_create
    from settle.payments.links import secure_link_create
    from settle.payments.models import LinkPurpose
    from settle.payments.payment_settings import payment_settings_get, payment_settings_update
    from settle.tenants.models import Membership, Role
    from settle.tenants.services import merchant_create

    with all_merchants():
        merchant = merchant_create(
            name="Bench Bikes", owner_email="bench@settle.local", phone="+12125550123", email="shop@bench.example"
        )
        logo = io.BytesIO()
        Image.new("RGB", (240, 80), (30, 90, 160)).save(logo, "PNG")
        merchant.logo.save("bench.png", ContentFile(logo.getvalue()))
    owner = Membership.objects.get(merchant=merchant, role=Role.OWNER)
    with merchant_scope(merchant):
        current = payment_settings_get(merchant=merchant)
        payment_settings_update(
            merchant=merchant,
            acting=owner,
            now=clock.now(),
            gateway=current.gateway,
            card_enabled=True,
            ach_enabled=True,
            wallets_enabled=False,
            bnpl_enabled=False,
            bnpl_minimum=current.bnpl_minimum,
            partial_payments_allowed=True,
            confirmation_message_enabled=False,
            venmo_username="bench-bikes",
            paypal_handle="benchbikes",
            cashapp_cashtag="$benchbikes",
            zelle_recipient="pay@bench.example",
        )
        customer = customer_create(merchant=merchant, display_name="Mary Major", emails=["mary@example.com"])
        invoice = invoice_create(
            merchant=merchant,
            customer_id=customer.pk,
            lines=[
                LineInput("Tune-up, full service", 1, Money(129_00, "USD"), 875),
                LineInput("Inner tube 700x25c", 2, Money(8_50, "USD"), 875),
                LineInput("Brake pads, disc (pair)", 2, Money(24_95, "USD"), 875),
                LineInput("Chain, 11-speed", 1, Money(39_99, "USD"), 875),
                LineInput("Labour, wheel truing", 1, Money(35_00, "USD"), 875),
            ],
            memo="Thank you for riding with us.",
        )
        sessions = []
        for _ in range(clients):
            _, token = secure_link_create(
                merchant=merchant, purpose=LinkPurpose.PAY_INVOICE, customer_id=customer.pk, invoice_ids=[invoice.pk]
            )
            browser = Client(HTTP_ACCEPT_LANGUAGE=LANGUAGE)
            assert browser.get(f"/l/{token}/").status_code == 303
            sessions.append(browser.cookies[settings.SESSION_COOKIE_NAME].value)
    return sessions


def view_report(session: str, profile_rows: int) -> None:
    """The pay page view's queries, in this process; with `profile_rows`, a profile of 200 views."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    browser = Client(HTTP_ACCEPT_LANGUAGE=LANGUAGE)
    browser.cookies[settings.SESSION_COOKIE_NAME] = session
    assert browser.get("/l/invoice/").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        browser.get("/l/invoice/")
    print(f"pay page queries per view={len(captured.captured_queries)}")
    for sql in captured.captured_queries:
        print(f"  {sql['sql'][:150]}")
    from settle.portal import page_cache

    views = 200
    for kept in (True, False):
        began = time.perf_counter()
        for _ in range(views):
            if not kept:
                page_cache._PAGES.clear()  # every view renders its page, as the first view of a page does
            browser.get("/l/invoice/")
        each = (time.perf_counter() - began) / views * 1000
        print(f"in process: {each:.2f} ms a view, page {'kept' if kept else 'rendered each time'}")
    if profile_rows:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            browser.get("/l/invoice/")
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(profile_rows)


class served:
    """gunicorn serving the app, as `settle serve` runs it, plus the bare view; yields its address."""

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self) -> tuple[str, int]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.address = ("127.0.0.1", int(probe.getsockname()[1]))
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                f"--bind={self.address[0]}:{self.address[1]}",
                f"--workers={self.workers}",
                f"--pythonpath={Path(__file__).resolve().parent}",
                "pay_page:wsgi_app()",
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(self.address, timeout=1):
                    return self.address
            except OSError:
                if self.server.poll() is not None:
                    raise SystemExit("gunicorn exited before answering") from None
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit("gunicorn did not answer within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)


def wsgi_app() -> Any:
    """The server's application: Settle's own URLs, plus BARE_PATH serving the page's bytes."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path

    django.setup()
    settings.DEBUG = False
    if os.environ.get(RENDER_EACH_VIEW_ENV):
        from django.core.cache.backends.dummy import DummyCache

        from settle.portal import page_cache

        page_cache._PAGES = DummyCache("bench-pages", {})  # type: ignore[assignment]
    body: list[bytes] = []

    def bare_page(request: HttpRequest) -> HttpResponse:
        if not body:
            body.append(Path(os.environ[PAGE_FILE_ENV]).read_bytes())
        return HttpResponse(body[0], content_type="text/html; charset=utf-8")

    urls = types.ModuleType("bench_pay_page_urls")
    urls.urlpatterns = [path(BARE_PATH.strip("/") + "/", bare_page), path("", include("config.urls"))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    settings.ROOT_URLCONF = urls.__name__
    return get_wsgi_application()


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


def fetch(address: tuple[str, int], url: str, session: str) -> Reply:
    from django.conf import settings

    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request(
            "GET", url, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Accept-Language": LANGUAGE}
        )
        response = connection.getresponse()
        reply = Reply(response.status, response.read())
    finally:
        connection.close()
    if reply.status != 200:
        raise SystemExit(f"GET {url} answered {reply.status}")
    return reply


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int

    def __str__(self) -> str:
        return f"requests/s={self.rate:.0f} p50={self.p50_ms:.1f}ms p99={self.p99_ms:.1f}ms ({self.requests} requests)"


def load(address: tuple[str, int], url: str, sessions: list[str], seconds: float) -> Figures:
    """Each client, with its own session, GETs `url` again and again: a short warm-up, then
    `seconds` timed; the rate counts the requests finished in the timed window."""
    for session in sessions:
        fetch(address, url, session)
    start = threading.Barrier(len(sessions) + 1)
    latencies: list[list[float]] = [[] for _ in sessions]
    window: list[float] = []

    def client(index: int) -> None:
        start.wait()
        while time.perf_counter() < window[1]:
            began = time.perf_counter()
            fetch(address, url, sessions[index])
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    window.extend((began, began + seconds))
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(latency for per_client in latencies for latency in per_client)
    cuts = statistics.quantiles(every, n=100, method="inclusive") if len(every) > 1 else every * 99
    return Figures(rate=len(every) / elapsed, p50_ms=cuts[49] * 1000, p99_ms=cuts[98] * 1000, requests=len(every))


if __name__ == "__main__":
    main()
