"""Demo data: two merchants with six months of realistic history, loaded through the services only,
so the journal, the cached balances and every timeline are exactly what real use would produce.

Deterministic (fixed seed) and relative to today, so the data always looks current. Each
merchant's history is planned as short stories — an invoice paid a week later, a check paying
three invoices, a refund and a void — whose steps are then run in time order with `now=` set to
the moment each step happened.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
import unicodedata
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from settle.core import clock
from settle.core.money import Money, currency_exponent, percent_of, times_quantity
from settle.core.tenancy import merchant_scope
from settle.customers.models import Channel, ContactProfile, CustomerKind, ExternalSystem
from settle.customers.services import (
    contact_form_submit,
    contact_profile_save,
    contact_revoke_access,
    contact_save,
    customer_create,
    external_reference_set,
)
from settle.gateways.base import MethodKind, VaultedMethod
from settle.gateways.sandbox import SandboxGateway
from settle.invoicing.models import TERMS_DAYS, Terms
from settle.invoicing.selectors import invoice_detail, invoice_list, receivables_summary
from settle.invoicing.services import (
    LineInput,
    OrderItemInput,
    credit_memo_create,
    invoice_create,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_void,
    order_checkout,
    order_create,
    quick_payment_request_create,
)
from settle.messaging.models import MessageChannel
from settle.messaging.services import template_starters_load
from settle.payments.charges import charge_attempt_reconcile, charge_attempt_start, payment_void
from settle.payments.confirmations import paid_elsewhere_tell
from settle.payments.models import ChargeState, PaymentMethod
from settle.payments.payment_settings import payment_settings_update
from settle.payments.profile_requests import payment_profile_request_send
from settle.payments.requests import Sending, quick_payment_request_send, statement_request_send
from settle.payments.selectors import applications_for_invoice
from settle.payments.services import application_move_to_credit, credit_apply, payment_record, refund_create
from settle.payments.social import HANDLE_FIELDS
from settle.payments.vault import saved_method_add
from settle.payments.verify import ledger_verify
from settle.tenants.models import Merchant, Role
from settle.tenants.selectors import memberships_for_user
from settle.tenants.services import membership_set, merchant_create, user_get_or_create

DEMO_PASSWORD = "settle-demo"  # noqa: S105 - published on purpose: it signs in to demo data
OWNER_EMAIL = "demo@settle.local"
VIEWER_EMAIL = "viewer@settle.local"
DEFAULT_SEED = 1729
HISTORY_DAYS = 180
INVOICES_PER_MERCHANT = 250
CUSTOMERS_PER_MERCHANT = 50


class DemoFailed(Exception):
    """The loaded data does not verify against the journal: a bug in a service, never bad luck."""


# --- What makes each demo merchant look like itself -------------------------------------------------


@dataclass(frozen=True)
class CatalogItem:
    """Something the merchant sells; `per` says how quantities vary (one, hours, days, heads)."""

    name: str
    price_minor: int
    tax_rate_bp: int
    per: str = "one"


@dataclass(frozen=True)
class Flavour:
    name: str
    currency: str
    locale: str
    time_zone: str
    invoice_prefix: str
    email: str
    phone: str
    address: str
    country: str
    area_codes: tuple[str, ...]
    places: tuple[tuple[str, str, str], ...]  # (city, region, postal code prefix)
    streets: tuple[str, ...]
    street_first: bool  # "214 Maple St" or "214, rue Dollard"
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    companies: tuple[str, ...]
    company_suffix_line2: tuple[str, ...]
    catalog: tuple[CatalogItem, ...]
    subjects: tuple[str, ...]  # people's vehicles or pets, named in notes and invoice memos
    company_subjects: tuple[str, ...]  # what a business customer brings in
    subject_memo: str
    person_notes: tuple[str, ...]
    company_notes: tuple[str, ...]
    person_tags: tuple[str, ...]
    company_tags: tuple[str, ...]
    external_labels: dict[str, tuple[str, ...]]
    methods: dict[str, int]  # payment method → weight
    card_brands: tuple[str, ...]
    quick_reference: str
    discount_memo: str
    contract_prefix: str
    profile_names: tuple[str, str, str]  # billing admin, payer, viewer
    credit_reasons: tuple[str, ...]
    return_reasons: tuple[str, ...]
    refund_reasons: tuple[str, ...]
    order_notes: tuple[str, ...]
    deposit_note: str
    other_reference: str
    social_handles: dict[str, str]  # payment settings field → handle
    bank_debits: bool  # the sandbox debits US bank accounts in USD only
    bnpl_minimum: int  # in whole units of the currency
    paid_elsewhere_app: str
    consent_text: str  # what a customer agrees to when a method is saved


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.strip().splitlines())


MAPLE_STREET = Flavour(
    name="Maple Street Auto Repair",
    currency="USD",
    locale="en_US",
    time_zone="America/New_York",
    invoice_prefix="MSA-",
    email="office@maplestreetauto.example.com",
    phone="+13155550100",
    address="418 Maple Street\nSyracuse, NY 13210",
    country="US",
    area_codes=("315", "680"),
    places=(
        ("Syracuse", "NY", "132"),
        ("DeWitt", "NY", "13214"),
        ("Liverpool", "NY", "13088"),
        ("Camillus", "NY", "13031"),
        ("Manlius", "NY", "13104"),
        ("Baldwinsville", "NY", "13027"),
        ("Cicero", "NY", "13039"),
        ("Solvay", "NY", "13209"),
    ),
    streets=_lines("""
        Westcott St
        Euclid Ave
        Lancaster Ave
        Salt Springs Rd
        James St
        Genesee St
        Burnet Ave
        Teall Ave
        Midland Ave
        Onondaga Ave
        Court St
        Butternut St
        Milton Ave
        Erie Blvd E
        Thompson Rd
        Buckley Rd
        Oswego St
        Brewerton Rd
    """),
    street_first=True,
    first_names=_words("""
        James Mary Robert Patricia Michael Jennifer David Linda William Elizabeth Joseph Susan Thomas Karen
        Daniel Nancy Matthew Lisa Anthony Sandra Mark Ashley Steven Kimberly Andrew Donna Joshua Michelle Kevin
        Carol Brian Amanda Ryan Melissa Jacob Deborah Tyler Rachel Aaron Megan
    """),
    last_names=_words("""
        Whitaker Kowalski O'Brien Russo Nguyen Patel DeLuca Sullivan Brennan Morales Schmidt Washington Carter
        Lombardi Fitzgerald Nowak Hernandez Murphy Greco Jackson Kim Thompson Walsh Romano Baker Mitchell Coleman
        Reyes Kelly Price Sokolowski Harper Delaney Marino Brooks Donovan Castillo Fischer Bianchi Ward
    """),
    companies=_lines("""
        Salt City Couriers LLC
        Onondaga Landscaping Co.
        Armory Square Catering
        Westcott Plumbing & Heating
        Erie Boulevard Florist
        Tipperary Hill Electric
        Eastwood Family Dental
        Clinton Square Realty
        Strathmore Home Care
        Skaneateles Shuttle Service
        Liverpool Lawn & Snow
        Syracuse Tile & Stone
        Carousel Party Rentals
        DeWitt Pet Grooming
        Camillus Moving & Storage
        Solvay Bakery Supply
        Hanover Square Insurance
        Franklin Square Print Shop
        Meadowbrook Pool Service
        University Hill Pizza
    """),
    company_suffix_line2=("Suite 200", "Unit B", "Building 3", "Floor 2"),
    catalog=(
        CatalogItem("Synthetic oil change, 5W-30 (up to 5 qt)", 7_499, 800),
        CatalogItem("Front brake pads and rotors", 38_900, 800),
        CatalogItem("Rear brake pads", 18_950, 800),
        CatalogItem("Tire rotation and balance", 5_900, 800),
        CatalogItem("NYS safety inspection", 2_100, 0),
        CatalogItem("Diagnostic scan: check engine light", 12_000, 800),
        CatalogItem("Battery replacement (Group 48 AGM)", 22_995, 800),
        CatalogItem("Labor", 13_500, 800, per="hours"),
        CatalogItem("Serpentine belt", 8_650, 800),
        CatalogItem("Coolant flush", 14_900, 800),
        CatalogItem("Wiper blades (pair)", 3_800, 800),
        CatalogItem("Four-wheel alignment", 11_900, 800),
        CatalogItem("Cabin air filter", 4_200, 800),
        CatalogItem("Timing belt kit and water pump", 61_500, 800),
        CatalogItem("Transmission fluid service", 19_900, 800),
        CatalogItem("All-season tire 225/65R17", 16_499, 800, per="tires"),
        CatalogItem("Towing (up to 10 miles)", 9_500, 800),
        CatalogItem("Shop supplies", 1_500, 800),
    ),
    subjects=_lines("""
        2017 Honda CR-V
        2019 Ford F-150
        2014 Toyota Camry
        2020 Subaru Outback
        2016 Chevrolet Equinox
        2012 Jeep Wrangler
        2018 Nissan Rogue
        2021 Toyota RAV4
        2015 Hyundai Elantra
        2013 Honda Accord
        2019 Ram 1500
        2022 Kia Telluride
        2011 Volkswagen Jetta
    """),
    company_subjects=_lines("""
        Fleet van #4, 2019 Ford Transit 250
        Box truck #2, 2017 Isuzu NPR
        Unit 12, 2021 Chevrolet Express
        Service van #7, 2018 Ram ProMaster
        Pickup #3, 2020 Ford F-250
        Shuttle bus, 2016 Ford E-450
    """),
    subject_memo="Vehicle: {subject}",
    person_notes=_lines("""
        Prefers a text when the car is ready.
        Drops off before 8 am; leave keys in the box.
        Pays by check; mail paper invoices too.
        Second vehicle kept at the lake house in summer.
        Referred by a neighbour. Ask before any work over $300.
        Extended warranty through the dealer.
    """),
    company_notes=_lines("""
        Fleet account: PO number required on every invoice.
        Accounts payable runs on the 15th and the 30th.
        Vans are picked up by the driver; call the dispatcher, not the office.
        Tax-exempt certificate requested, not yet received.
        Net 30 agreed by phone with the owner.
    """),
    person_tags=("walk-in", "warranty", "VIP", "text-first", "tow-in", "referral"),
    company_tags=("fleet", "net-30", "PO required", "VIP", "monthly statement"),
    external_labels={
        ExternalSystem.CRM: ("HubSpot",),
        ExternalSystem.ACCOUNTING: ("QuickBooks Online",),
        ExternalSystem.GATEWAY: ("Stripe",),
    },
    methods={
        PaymentMethod.CARD_TERMINAL: 30,
        PaymentMethod.CASH: 10,
        PaymentMethod.CHECK: 18,
        PaymentMethod.BANK_TRANSFER: 8,
        PaymentMethod.ZELLE: 10,
        PaymentMethod.VENMO: 8,
        PaymentMethod.PAYPAL: 5,
        PaymentMethod.CASH_APP: 6,
        PaymentMethod.OTHER: 2,
    },
    card_brands=("Visa", "Mastercard", "Amex", "Discover"),
    quick_reference="RO-{n}",
    discount_memo="Fleet discount applied.",
    contract_prefix="FLEET",
    profile_names=("Billing admin", "Payer", "Viewer"),
    credit_reasons=_lines("""
        Courtesy credit: repair took two days longer than quoted
        Loyalty credit: tenth oil change free
        Core charge returned (old battery)
    """),
    return_reasons=("Unused part returned", "Returned unopened wiper blades"),
    refund_reasons=_lines("""
        Job cancelled before work started
        Charged twice at the terminal
        Part not needed after all
    """),
    order_notes=_lines("""
        Parts on order, customer to pay at pickup
        Quote accepted by phone
        Waiting on customer approval
    """),
    deposit_note="Deposit for parts",
    other_reference="Gift certificate",
    social_handles={
        "venmo_username": "MapleStreetAuto",
        "paypal_handle": "MapleStreetAuto",
        "cashapp_cashtag": "$MapleStreetAuto",
        "zelle_recipient": "office@maplestreetauto.example.com",
    },
    bank_debits=True,
    bnpl_minimum=250,
    paid_elsewhere_app="venmo",
    consent_text=(
        "I authorize Maple Street Auto Repair to charge this payment method for invoices I approve, until I remove it."
    ),
)

CLINIQUE_DU_PLATEAU = Flavour(
    name="Clinique vétérinaire du Plateau",
    currency="CAD",
    locale="fr_CA",
    time_zone="America/Toronto",
    invoice_prefix="CVP-",
    email="accueil@cliniqueduplateau.example.com",
    phone="+16135550100",
    address="2150, boulevard du Plateau\nOttawa (Ontario) K1C 2N6",
    country="CA",
    area_codes=("613", "343", "819"),
    places=(
        ("Ottawa", "ON", "K1C"),
        ("Orléans", "ON", "K1E"),
        ("Ottawa", "ON", "K1K"),
        ("Orléans", "ON", "K4A"),
        ("Rockland", "ON", "K4K"),
        ("Gatineau", "QC", "J8T"),
        ("Gatineau", "QC", "J8P"),
        ("Embrun", "ON", "K0A"),
    ),
    streets=_lines("""
        boulevard Saint-Joseph
        rue Dollard
        boulevard Jeanne-d'Arc
        avenue Charlemagne
        rue Vanier
        chemin de Montréal
        avenue McArthur
        rue Notre-Dame
        boulevard Maloney
        rue Champlain
        rue Principale
        avenue des Pins
        rue Laurier
        chemin Innes
    """),
    street_first=False,
    first_names=_words("""
        Marie Jean Sophie François Isabelle Mathieu Geneviève Louis Catherine Olivier Julie Alexandre Émilie
        Philippe Chantal Sébastien Nathalie Étienne Mélanie Guillaume Valérie Simon Annie Marc-André Karine Benoît
        Josée Pierre-Luc Amélie Gabriel Chloé Félix Léa Samuel Caroline Jonathan Sarah Michael Emily Patrick
    """),
    last_names=_words("""
        Tremblay Gagnon Roy Côté Bouchard Gauthier Morin Lavoie Fortin Gagné Ouellet Pelletier Bélanger Lévesque
        Bergeron Leblanc Paquette Girard Simard Boucher Caron Beaulieu Cloutier Dubé Poirier Fournier Lapointe
        Leclerc Lefebvre Poulin Thibault St-Pierre Nadeau Landry Martel Bédard Lessard Bernier MacDonald O'Connor
    """),
    companies=_lines("""
        Ferme laitière Lavoie et Fils
        Refuge pour animaux de l'Est ontarien
        Chenil du Boisé
        Écurie des Pins
        Animalerie Orléans
        Toilettage Patte de Velours
        Pension canine Le Grand Air
        Ferme Bergeron inc.
        Services K9 Outaouais
        Garderie pour chiens Wouf
        Bergerie de la Petite-Nation
        Élevage Chats du Nord
        Centre équestre Cumberland
        Ferme avicole Rockland
    """),
    company_suffix_line2=("Bureau 3", "Local 110", "Entrée B"),
    catalog=(
        CatalogItem("Examen de santé complet", 8_900, 1300),
        CatalogItem("Vaccin DHPP", 4_500, 1300),
        CatalogItem("Vaccin antirabique", 3_800, 1300),
        CatalogItem("Vaccin FVRCP (chat)", 4_200, 1300),
        CatalogItem("Analyses sanguines, bilan complet", 16_500, 1300),
        CatalogItem("Détartrage et polissage dentaire", 42_000, 1300),
        CatalogItem("Stérilisation, chatte", 38_500, 1300),
        CatalogItem("Castration, chien de moins de 20 kg", 46_000, 1300),
        CatalogItem("Radiographie (2 vues)", 22_500, 1300),
        CatalogItem("Anesthésie générale (par 30 min)", 14_500, 1300, per="half-hours"),
        CatalogItem("Nourriture thérapeutique Hill's k/d, 8 kg", 11_899, 1300),
        CatalogItem("Traitement antiparasitaire (3 mois)", 7_650, 1300),
        CatalogItem("Micropuce d'identification", 6_500, 1300),
        CatalogItem("Consultation d'urgence", 15_000, 1300),
        CatalogItem("Hospitalisation (par jour)", 9_500, 1300, per="days"),
        CatalogItem("Échographie abdominale", 35_000, 1300),
        CatalogItem("Visite à la ferme, déplacement", 12_000, 1300),
        CatalogItem("Examen de troupeau (par tête)", 1_800, 1300, per="heads"),
    ),
    subjects=_lines("""
        Moka (labrador, 6 ans)
        Pixel (chat européen, 3 ans)
        Biscuit (beagle, 9 ans)
        Luna (chatte, 2 ans)
        Filou (caniche, 11 ans)
        Simba (maine coon, 5 ans)
        Rosie (golden retriever, 4 ans)
        Caramel (lapin, 2 ans)
        Chipie (chatte, 14 ans)
        Oscar (bouvier bernois, 7 ans)
        Nala (husky, 3 ans)
        Gribouille (chat, 8 ans)
    """),
    company_subjects=_lines("""
        Troupeau laitier (42 vaches)
        Chiens en adoption
        Chevaux en pension
        Chatterie d'élevage
        Chiens de travail (4)
        Poules pondeuses
    """),
    subject_memo="Patient : {subject}",
    person_notes=_lines("""
        Préfère être jointe par texto.
        Chien anxieux : prévoir une muselière.
        Allergique à la pénicilline (le chat).
        Rappel de vaccins envoyé par courriel seulement.
        Paie habituellement par virement Interac.
        Nouveau client, dossier transféré d'une autre clinique.
    """),
    company_notes=_lines("""
        Facturation mensuelle, numéro de bon de commande exigé.
        Le refuge a une entente de tarif réduit.
        Visites à la ferme le mardi matin.
        Payable à 30 jours, chèque posté par la comptable.
    """),
    person_tags=("chien", "chat", "NAC", "assurance animaux", "senior", "nouveau"),
    company_tags=("ferme", "refuge", "mensuel", "tarif réduit", "bon de commande"),
    external_labels={
        ExternalSystem.CRM: ("AVImark",),
        ExternalSystem.ACCOUNTING: ("Sage 50",),
        ExternalSystem.GATEWAY: ("Moneris",),
    },
    methods={
        PaymentMethod.CARD_TERMINAL: 40,
        PaymentMethod.CASH: 8,
        PaymentMethod.CHECK: 12,
        PaymentMethod.BANK_TRANSFER: 10,
        PaymentMethod.PAYPAL: 4,
        PaymentMethod.OTHER: 14,
    },
    card_brands=("Visa", "Mastercard", "Interac", "Amex"),
    quick_reference="Dossier {n}",
    discount_memo="Rabais refuge (entente annuelle).",
    contract_prefix="CONTRAT",
    profile_names=("Administrateur de facturation", "Payeur", "Lecture seule"),
    credit_reasons=_lines("""
        Crédit de courtoisie : attente prolongée à l'urgence
        Retour de nourriture thérapeutique non ouverte
        Programme fidélité : dixième visite
    """),
    return_reasons=("Nourriture thérapeutique retournée, sac non ouvert", "Médicament non utilisé retourné"),
    refund_reasons=_lines("""
        Rendez-vous annulé, dépôt remboursé
        Paiement en double au terminal
        Chirurgie reportée
    """),
    order_notes=("Commande de nourriture, à payer au ramassage", "Soumission acceptée par téléphone"),
    deposit_note="Dépôt pour chirurgie",
    other_reference="Virement Interac",
    social_handles={"paypal_handle": "CliniqueDuPlateau"},
    bank_debits=False,
    bnpl_minimum=300,
    paid_elsewhere_app="paypal",
    consent_text=(
        "J'autorise la Clinique vétérinaire du Plateau à débiter ce mode de paiement pour les factures "
        "que j'approuve, jusqu'à ce que je le retire."
    ),
)

FLAVOURS = (MAPLE_STREET, CLINIQUE_DU_PLATEAU)


# --- What was made -----------------------------------------------------------------------------------


@dataclass
class MerchantReport:
    name: str
    currency: str
    counts: Counter[str] = field(default_factory=Counter)
    invoice_statuses: dict[str, int] = field(default_factory=dict)
    past_due: int = 0


@dataclass
class DemoReport:
    merchants: list[MerchantReport]
    journal_entries: int
    owner_email: str = OWNER_EMAIL
    viewer_email: str = VIEWER_EMAIL
    password: str = DEMO_PASSWORD


def demo_load(*, scale: float = 1.0, seed: int = DEFAULT_SEED, now: dt.datetime | None = None) -> DemoReport:
    """Create both demo merchants, their sign-in users and their history, in one transaction.

    Raises DemoFailed (and writes nothing) if the result does not verify against the journal."""
    now = now or clock.now()
    with transaction.atomic():
        owner = user_get_or_create(email=OWNER_EMAIL, password=DEMO_PASSWORD)
        user_get_or_create(email=VIEWER_EMAIL, password=DEMO_PASSWORD)
        reports, merchant_ids = [], []
        for n, flavour in enumerate(FLAVOURS):
            merchant = merchant_create(
                name=flavour.name,
                owner_email=OWNER_EMAIL,
                currency=flavour.currency,
                locale=flavour.locale,
                time_zone=flavour.time_zone,
                email=flavour.email,
                phone=flavour.phone,
                address=flavour.address,
                invoice_prefix=flavour.invoice_prefix,
            )
            merchant_ids.append(merchant.pk)
            if n == 0:
                acting = memberships_for_user(owner).get(merchant=merchant)
                membership_set(merchant=merchant, acting=acting, email=VIEWER_EMAIL, role=Role.READ_ONLY)
            with merchant_scope(merchant):
                history = _History(merchant=merchant, flavour=flavour, owner=owner, scale=scale, seed=seed, now=now)
                reports.append(history.load())
        verified = ledger_verify(merchant_ids=merchant_ids)
        if not verified.ok:
            raise DemoFailed("; ".join(verified.mismatches[:10]))
    return DemoReport(merchants=reports, journal_entries=verified.entries)


# --- One merchant's history ------------------------------------------------------------------------------


@dataclass
class _Customer:
    id: int
    kind: str
    name: str
    email: str
    phone: str
    domain: str  # where its contacts' e-mail addresses live
    terms: str
    subject: str  # the vehicle or pet its invoices are about
    weight: float  # how often it buys, relative to the others
    contacts: int = 1


Step = Callable[[dt.datetime], object]
Box = dict[str, int]  # ids of rows made by earlier steps of the same story


class _History:
    def __init__(self, *, merchant: Merchant, flavour: Flavour, owner: Any, scale: float, seed: int, now: dt.datetime):
        self.merchant = merchant
        self.flavour = flavour
        self.owner = owner
        self.scale = scale
        # Demo data, not secrets: a seeded generator is the point.
        self.rng = random.Random(f"{seed}:{flavour.invoice_prefix}")  # noqa: S311
        self.tz = zoneinfo.ZoneInfo(flavour.time_zone)
        self.latest = now
        self.today = clock.local_date(now, flavour.time_zone)
        self.unit = 10 ** currency_exponent(flavour.currency)
        self.report = MerchantReport(name=flavour.name, currency=flavour.currency)
        self.counts = self.report.counts
        self.steps: list[tuple[dt.datetime, int, Step]] = []
        self.order = itertools.count()
        self.phones = self._phone_pool()
        self.emails: set[str] = set()
        self.reference_numbers = itertools.count(self.rng.randint(41_000, 48_000), 7)
        self.methods_not_yet_used = self.rng.sample(sorted(flavour.methods), len(flavour.methods))
        self.customers: list[_Customer] = []
        self.returns_settled = 0
        self.gateway = SandboxGateway()
        self.charge_keys = itertools.count(1)
        self.bank_debits_in_flight: list[int] = []  # charge attempts waiting for the bank
        self.methods_saved: dict[int, VaultedMethod] = {}

    # Running the stories in time order.

    def at(self, when: dt.datetime, step: Step) -> None:
        """Run `step` at `when`. Steps planned for later today run now, but still in the order
        they were planned for, so the data does not depend on the time of day it is loaded."""
        heapq.heappush(self.steps, (when, next(self.order), step))

    def load(self) -> MerchantReport:
        self.profiles = self._contact_profiles()
        self._payment_settings()
        self._message_templates()
        self._customers()
        self._plan()
        while self.steps:
            when, _, step = heapq.heappop(self.steps)
            step(min(when, self.latest))
        summary = receivables_summary(merchant=self.merchant, today=self.today)
        self.report.past_due = cast(int, summary["past_due_invoices"])
        statuses = invoice_list(merchant=self.merchant).order_by().values("status").annotate(n=Count("id"))
        self.report.invoice_statuses = {row["status"]: row["n"] for row in statuses}
        return self.report

    # Time.

    def moment(self, days_ago: int) -> dt.datetime:
        """A time during business hours `days_ago` days before today."""
        day = self.today - dt.timedelta(days=days_ago)
        return self.business_hours(day)

    def business_hours(self, day: dt.date) -> dt.datetime:
        opening = dt.datetime.combine(day, dt.time(8, 0), tzinfo=self.tz)
        return opening + dt.timedelta(minutes=self.rng.randint(0, 9 * 60))

    def after(self, when: dt.datetime, low: int, high: int) -> dt.datetime:
        """`low`..`high` days after `when` (0 days: a little later the same day)."""
        days = self.rng.randint(low, high)
        if days == 0:
            return when + dt.timedelta(minutes=self.rng.randint(30, 180))
        return self.business_hours(self.local_day(when) + dt.timedelta(days=days))

    def local_day(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self.tz).date()

    # People.

    def _phone_pool(self) -> list[str]:
        """Fictional numbers only (555-0100 to 555-0199), in the national format people type."""
        pool = [f"({area}) 555-01{n:02d}" for area in self.flavour.area_codes for n in range(1, 100)]
        self.rng.shuffle(pool)
        return pool

    def phone(self) -> str:
        number = self.phones.pop()
        self.phones.insert(0, number)  # reused only beyond a few hundred people
        return number

    def email(self, local: str, domain: str) -> str:
        local = _ascii(local).lower().replace(" ", "").replace("'", "")
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def person_name(self, last: str | None = None) -> tuple[str, str]:
        return self.rng.choice(self.flavour.first_names), last or self.rng.choice(self.flavour.last_names)

    def address(self, company: bool) -> dict[str, str]:
        city, region, postal = self.rng.choice(self.flavour.places)
        number = self.rng.randint(12, 4800)
        street = self.rng.choice(self.flavour.streets)
        line1 = f"{number} {street}" if self.flavour.street_first else f"{number}, {street}"
        if self.flavour.country == "US":
            postal = postal + "".join(str(self.rng.randint(0, 9)) for _ in range(5 - len(postal)))
        else:
            postal = (
                f"{postal} {self.rng.randint(1, 9)}{self.rng.choice('ABCEGHJKLMNPRSTVWXYZ')}{self.rng.randint(0, 9)}"
            )
        line2 = self.rng.choice(self.flavour.company_suffix_line2) if company and self.rng.random() < 0.4 else ""
        return {
            "address_line1": line1,
            "address_line2": line2,
            "city": city,
            "region": region,
            "postal_code": postal,
            "country": self.flavour.country,
        }

    def _contact_profiles(self) -> dict[str, int]:
        admin, payer, viewer = self.flavour.profile_names
        everything = dict.fromkeys(ContactProfile.PERMISSION_FIELDS, True)
        only = dict.fromkeys(everything, False)
        made = {
            "admin": contact_profile_save(merchant=self.merchant, name=admin, **everything),
            "payer": contact_profile_save(
                merchant=self.merchant,
                name=payer,
                **{**only, "can_view_invoices": True, "can_pay": True, "receives_receipts": True},
            ),
            "viewer": contact_profile_save(merchant=self.merchant, name=viewer, **{**only, "can_view_invoices": True}),
        }
        return {key: profile.pk for key, profile in made.items()}

    def _customers(self) -> None:
        n = max(6, round(CUSTOMERS_PER_MERCHANT * self.scale))
        companies = self.rng.sample(self.flavour.companies, min(len(self.flavour.companies), max(2, round(n * 0.35))))
        kinds = [CustomerKind.COMPANY] * len(companies) + [CustomerKind.PERSON] * (n - len(companies))
        self.rng.shuffle(kinds)
        kinds[0] = CustomerKind.COMPANY  # the first customer shows off several contacts, one revoked
        if kinds.count(CustomerKind.COMPANY) > len(companies):
            kinds[kinds.index(CustomerKind.COMPANY, 1)] = CustomerKind.PERSON
        for position, kind in enumerate(kinds):
            created = self.moment(self.rng.randint(HISTORY_DAYS + 5, HISTORY_DAYS + 400))
            if kind == CustomerKind.COMPANY:
                customer = self._company(
                    companies.pop(), created, contacts=3 if position == 0 else self.rng.randint(1, 3)
                )
            else:
                customer = self._person(created)
            self._contacts_and_chips(customer, created, revoke_one=position == 0)
            self.customers.append(customer)
        for _ in range(max(1, round(2 * self.scale))):
            self._contact_form_newcomer()

    def _person(self, created: dt.datetime) -> _Customer:
        first, last = self.person_name()
        name = f"{first} {last}"
        domain = self.rng.choice(("example.com", "example.net", "example.org"))
        emails = [self.email(f"{first}.{last}", domain)]
        if self.rng.random() < 0.15:
            emails.append(self.email(f"{first[0]}{last}", "example.com"))
        phone = self.phone()
        subject = self.rng.choice(self.flavour.subjects)
        notes = self.flavour.subject_memo.format(subject=subject)
        if self.rng.random() < 0.5:
            notes += "\n" + self.rng.choice(self.flavour.person_notes)
        tags = self.rng.sample(self.flavour.person_tags, self.rng.randint(0, 2))
        made = customer_create(
            merchant=self.merchant,
            display_name=name,
            kind=CustomerKind.PERSON,
            emails=emails,
            phones=[phone],
            address=self.address(company=False),
            tags=tags,
            notes=notes,
            actor=self.owner,
            now=created,
        )
        self.counts["customers"] += 1
        terms = Terms.NET_15 if self.rng.random() < 0.15 else Terms.DUE_ON_RECEIPT
        return _Customer(
            made.pk, CustomerKind.PERSON, name, emails[0], phone, domain, terms, subject, self.rng.uniform(0.3, 1.6)
        )

    def _company(self, name: str, created: dt.datetime, *, contacts: int) -> _Customer:
        slug = "".join(ch for ch in _ascii(name).lower() if ch.isalnum())[:24]
        tags = self.rng.sample(self.flavour.company_tags, self.rng.randint(1, 3))
        domain, phone = f"{slug}.example.com", self.phone()
        email = self.email("billing", domain)
        made = customer_create(
            merchant=self.merchant,
            display_name=name,
            kind=CustomerKind.COMPANY,
            emails=[email],
            phones=[phone],
            address=self.address(company=True),
            tags=tags,
            notes=self.rng.choice(self.flavour.company_notes),
            actor=self.owner,
            now=created,
        )
        self.counts["customers"] += 1
        terms = self.rng.choices(
            [Terms.NET_30, Terms.NET_15, Terms.NET_60, Terms.CUSTOM, Terms.DUE_ON_RECEIPT], weights=[50, 20, 10, 10, 10]
        )[0]
        return _Customer(
            made.pk,
            CustomerKind.COMPANY,
            name,
            email,
            phone,
            domain,
            terms,
            self.rng.choice(self.flavour.company_subjects),
            self.rng.uniform(1.2, 3.0),
            contacts,
        )

    def _contacts_and_chips(self, customer: _Customer, created: dt.datetime, *, revoke_one: bool) -> None:
        """Add the customer's contacts (the first is the default billing contact), maybe revoke
        one's portal access, and link some customers to their records in other systems."""
        when = created + dt.timedelta(minutes=5)
        if customer.kind == CustomerKind.PERSON:
            people: list[tuple[str, str, str, str | None]] = [
                (customer.name, customer.email, customer.phone, "admin" if self.rng.random() < 0.4 else "payer")
            ]
            if self.rng.random() < 0.25:
                first, last = self.person_name(last=customer.name.split(" ", 1)[1])
                people.append(
                    (
                        f"{first} {last}",
                        self.email(f"{first}.{last}", customer.domain),
                        self.maybe_phone(),
                        self.rng.choice(("viewer", "payer")),
                    )
                )
        else:
            people = []  # the first is the billing admin; most others get a narrower profile
            for n in range(customer.contacts):
                first, last = self.person_name()
                profile = ("admin", "payer", "viewer")[min(n, 2)] if n == 0 or self.rng.random() < 0.8 else None
                people.append(
                    (f"{first} {last}", self.email(f"{first}.{last}", customer.domain), self.maybe_phone(), profile)
                )
        made = []
        for n, (name, email, phone, profile) in enumerate(people):
            contact = contact_save(
                merchant=self.merchant,
                customer_id=customer.id,
                name=name,
                email=email,
                phone=phone,
                preferred_channel=Channel.SMS if phone and self.rng.random() < 0.35 else Channel.EMAIL,
                is_default_billing=n == 0,
                profile_id=self.profiles[profile] if profile else None,
                actor=self.owner,
                now=when,
            )
            made.append(contact)
            self.counts["contacts"] += 1
        others = made[1:]
        if others and (revoke_one or self.rng.random() < 0.12):
            contact_revoke_access(
                merchant=self.merchant,
                customer_id=customer.id,
                contact_id=self.rng.choice(others).pk,
                actor=self.owner,
                now=min(self.after(when, 20, 150), self.latest),
            )
            self.counts["contacts revoked"] += 1
        for system, labels in self.flavour.external_labels.items():
            if self.rng.random() < (0.55 if customer.kind == CustomerKind.COMPANY else 0.3):
                external_reference_set(
                    merchant=self.merchant,
                    customer_id=customer.id,
                    system=system,
                    label=self.rng.choice(labels),
                    external_id=self._external_id(system),
                )
                self.counts["external references"] += 1

    def maybe_phone(self) -> str:
        return self.phone() if self.rng.random() < 0.7 else ""

    def _external_id(self, system: str) -> str:
        if system == ExternalSystem.GATEWAY:
            alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
            return "cus_" + "".join(self.rng.choice(alphabet) for _ in range(14))
        return str(self.rng.randint(10_000, 99_999))

    def _contact_form_newcomer(self) -> None:
        """Someone who added themselves through the public contact form last week: no invoices yet."""
        first, last = self.person_name()
        contact_form_submit(
            merchant=self.merchant,
            name=f"{first} {last}",
            email=self.email(f"{first}.{last}", "example.org"),
            phone=self.phone(),
            now=self.moment(self.rng.randint(1, 10)),
        )
        self.counts["customers"] += 1
        self.counts["contacts"] += 1

    # Invoices, orders and money.

    def new_story(self, *, company: bool = False) -> tuple[_Customer, Box]:
        """Who the story is about, and where its steps leave the ids of what they made."""
        return self.pick_customer(company=company), {}

    def pick_customer(self, *, company: bool = False) -> _Customer:
        pool = [c for c in self.customers if c.kind == CustomerKind.COMPANY] if company else self.customers
        return self.rng.choices(pool, weights=[c.weight for c in pool])[0]

    def lines(self, customer: _Customer) -> tuple[list[LineInput], Money | None]:
        items = self.rng.sample(self.flavour.catalog, self.rng.choice((1, 1, 2, 2, 3, 4)))
        lines = [
            LineInput(item.name, self.quantity(item), Money(item.price_minor, self.flavour.currency), item.tax_rate_bp)
            for item in items
        ]
        discount = None
        wants = 0.35 if customer.kind == CustomerKind.COMPANY else 0.08
        if self.rng.random() < wants:
            subtotal = sum(times_quantity(line.unit_price.minor, Decimal(str(line.quantity))) for line in lines)
            discount = Money(percent_of(subtotal, self.rng.choice((500, 1000, 1500))), self.flavour.currency) or None
        return lines, discount

    def quantity(self, item: CatalogItem) -> Decimal:
        choices = {
            "hours": ("0.5", "1", "1.5", "2", "2.25", "3.5"),
            "half-hours": ("1", "2", "3"),
            "days": ("1", "2", "3"),
            "heads": ("8", "12", "24", "36"),
            "tires": ("2", "4"),
            "one": ("1", "1", "1", "2"),
        }
        return Decimal(self.rng.choice(choices[item.per]))

    def terms(self, customer: _Customer) -> tuple[str, int | None]:
        """The customer's usual terms and, for custom terms, how many days until due."""
        if customer.terms == Terms.CUSTOM:
            return Terms.CUSTOM, self.rng.choice((21, 45, 75))
        return customer.terms, None

    @staticmethod
    def days_to_due(terms: str, due_in: int | None) -> int:
        return due_in if terms == Terms.CUSTOM and due_in is not None else TERMS_DAYS[Terms(terms)]

    def invoice(
        self,
        customer: _Customer,
        when: dt.datetime,
        box: Box,
        key: str,
        *,
        terms: tuple[str, int | None] | None = None,
        draft: bool = False,
        kind: str | None = None,
    ) -> None:
        """Bill the customer at `when`: an itemised invoice, an order checked out, or a quick
        payment request (amount and reference), as the terms allow."""
        term, due_in = terms or self.terms(customer)
        kinds = ["itemised"]
        if not draft and term != Terms.CUSTOM:
            kinds += ["order"]
        if not draft and term == Terms.DUE_ON_RECEIPT:
            kinds += ["quick"]
        kind = kind or self.rng.choices(kinds, weights=[55, 25, 20][: len(kinds)])[0]
        lines, discount = self.lines(customer)
        po_number = contract_reference = ""
        if customer.kind == CustomerKind.COMPANY:
            if self.rng.random() < 0.6:
                po_number = f"PO-{self.rng.randint(10_000, 99_999)}"
            if self.rng.random() < 0.3:
                contract_reference = f"{self.flavour.contract_prefix}-{self.today.year}-{self.rng.randint(1, 40):03d}"
        memo = self.flavour.subject_memo.format(subject=customer.subject)
        if discount is not None and customer.kind == CustomerKind.COMPANY:
            memo += "\n" + self.flavour.discount_memo
        quick_amount = Money(
            self.rng.randint(60, 1_500) * self.unit + self.rng.choice((0, 0, 50, 99)) * self.unit // 100,
            self.flavour.currency,
        )
        quick_reference = self.flavour.quick_reference.format(n=next(self.reference_numbers))
        order_note = self.rng.choice(self.flavour.order_notes)
        checkout_at = when + dt.timedelta(minutes=self.rng.randint(5, 20))

        def step(now: dt.datetime) -> None:
            if kind == "quick":
                made = quick_payment_request_create(
                    merchant=self.merchant,
                    customer_id=customer.id,
                    amount=quick_amount,
                    reference=quick_reference,
                    actor=self.owner,
                    now=now,
                )
                self.counts["quick payment requests"] += 1
            elif kind == "order":
                order = self.order_record(customer, now, note=order_note)
                made = order_checkout(
                    merchant=self.merchant,
                    order_id=order,
                    terms=term,
                    actor=self.owner,
                    now=min(checkout_at, self.latest),
                )
            else:
                due_date = self.local_day(now) + dt.timedelta(days=due_in) if due_in is not None else None
                made = invoice_create(
                    merchant=self.merchant,
                    customer_id=customer.id,
                    lines=lines,
                    discount=discount,
                    terms=term,
                    due_date=due_date,
                    memo=memo,
                    draft=draft,
                    actor=self.owner,
                    now=now,
                    po_number=po_number,
                    contract_reference=contract_reference,
                )
            box[key] = made.pk
            self.counts["invoices"] += 1

        self.at(when, step)

    def order_record(self, customer: _Customer, when: dt.datetime, *, note: str) -> int:
        lines, discount = self.lines(customer)
        order = order_create(
            merchant=self.merchant,
            customer_id=customer.id,
            note=note,
            discount=discount,
            actor=self.owner,
            now=when,
            items=[
                OrderItemInput(line.description, line.quantity, line.unit_price, line.tax_rate_bp) for line in lines
            ],
        )
        self.counts["orders"] += 1
        return order.pk

    def balance(self, invoice_id: int) -> int:
        return invoice_detail(merchant=self.merchant, invoice_id=invoice_id).balance_minor

    def part_of(self, minor: int, low: float = 0.25, high: float = 0.75) -> int:
        """A round share of an amount, as people pay: strictly between zero and all of it."""
        raw = int(minor * self.rng.uniform(low, high))
        step = 5 * self.unit if raw >= 50 * self.unit else self.unit
        part = raw - raw % step
        return part if 0 < part < minor else max(1, minor // 2)

    def method(self) -> str:
        """Every method the merchant takes appears early on; then by how often it is used."""
        if self.methods_not_yet_used:
            return self.methods_not_yet_used.pop()
        methods = self.flavour.methods
        return self.rng.choices(list(methods), weights=list(methods.values()))[0]

    def method_details(self, method: str, customer: _Customer) -> dict[str, str]:
        code = "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        code_digits = self.rng.randint(1000, 9999)
        first = customer.name.split(" ")[0].lower()
        references: dict[str, str] = {
            PaymentMethod.BANK_TRANSFER: f"ACH {self.rng.randint(1_000_000, 9_999_999)}"
            if self.flavour.country == "US"
            else f"Virement {self.rng.randint(100_000, 999_999)}",
            PaymentMethod.ZELLE: f"Zelle confirmation {code}",
            PaymentMethod.VENMO: f"@{_ascii(first)}-{self.rng.randint(10, 99)}",
            PaymentMethod.CASH_APP: f"${_ascii(first).capitalize()}{self.rng.randint(10, 99)}",
            PaymentMethod.PAYPAL: f"PayPal {code}{self.rng.randint(100_000_000, 999_999_999)}",
            PaymentMethod.CARD_TERMINAL: f"{self.rng.choice(self.flavour.card_brands)} •••• {code_digits}",
            PaymentMethod.OTHER: f"{self.flavour.other_reference} {code[:6]}",
        }
        details = {"reference": references.get(method, "")}
        if method == PaymentMethod.CHECK:
            details["check_number"] = str(self.rng.randint(1001, 9899))
        return details

    def pay(
        self,
        customer: _Customer,
        now: dt.datetime,
        invoice_ids: Sequence[int],
        *,
        minor: int | None = None,
        excess: int = 0,
        note: str = "",
        amounts: dict[int, int] | None = None,
    ) -> int:
        """Record a payment of `minor` (default: everything owed) plus `excess` kept as credit."""
        if minor is None:
            minor = sum(self.balance(i) for i in invoice_ids) if amounts is None else sum(amounts.values())
        method = self.method()
        payment = payment_record(
            merchant=self.merchant,
            customer_id=customer.id,
            amount=Money(minor + excess, self.flavour.currency),
            method=method,
            received_on=self.local_day(now),
            invoice_ids=invoice_ids,
            amounts={i: Money(m, self.flavour.currency) for i, m in amounts.items()} if amounts is not None else None,
            keep_excess_as_credit=excess > 0 or not invoice_ids,
            note=note,
            actor=self.owner,
            now=now,
            **self.method_details(method, customer),
        )
        self.counts["payments"] += 1
        self.counts[f"payments by {method}"] += 1
        if excess or not invoice_ids:
            self.counts["payments kept as credit"] += 1
        return payment.pk

    def refund(
        self, payment_id: int, minor: int, now: dt.datetime, *, reason: str, invoice_id: int | None = None
    ) -> None:
        refund_create(
            merchant=self.merchant,
            payment_id=payment_id,
            amount=Money(minor, self.flavour.currency),
            invoice_id=invoice_id,
            reason=reason,
            actor=self.owner,
            now=now,
        )
        self.counts["refunds"] += 1

    def credit_memo(self, customer: _Customer, minor: int, now: dt.datetime, *, reason: str) -> int:
        memo = credit_memo_create(
            merchant=self.merchant,
            customer_id=customer.id,
            amount=Money(minor, self.flavour.currency),
            reason=reason,
            actor=self.owner,
            now=now,
        )
        self.counts["credit memos"] += 1
        return memo.pk

    def apply_credit(
        self,
        customer: _Customer,
        now: dt.datetime,
        invoice_ids: Sequence[int],
        *,
        payment_id: int | None = None,
        credit_memo_id: int | None = None,
    ) -> None:
        credit_apply(
            merchant=self.merchant,
            customer_id=customer.id,
            invoice_ids=invoice_ids,
            actor=self.owner,
            now=now,
            payment_id=payment_id,
            credit_memo_id=credit_memo_id,
        )
        self.counts["credits applied"] += 1

    # The stories. Each plans its steps and returns how many invoices it bills.

    def _plan(self) -> None:
        stories: list[tuple[Callable[[], int], int]] = [
            (self.story_paid, 24),
            (self.story_quick_request_paid, 3),
            (self.story_order_paid_at_pickup, 3),
            (self.story_paid_in_two, 5),
            (self.story_one_payment_many_invoices, 7),
            (self.story_explicit_split, 2),
            (self.story_partial, 9),
            (self.story_open_not_due, 14),
            (self.story_past_due, 8),
            (self.story_draft, 4),
            (self.story_draft_issued, 2),
            (self.story_void, 3),
            (self.story_draft_voided, 1),
            (self.story_uncollectible, 4),
            (self.story_overpaid_kept_as_credit, 2),
            (self.story_overpaid_credit_applied_later, 2),
            (self.story_deposit, 1),
            (self.story_refund_and_void, 1),
            (self.story_partial_refund_and_return, 2),
            (self.story_excess_refunded, 1),
            (self.story_moved_to_credit_and_voided, 1),
            (self.story_credit_memo_applied, 2),
        ]
        target = round(INVOICES_PER_MERCHANT * self.scale)
        billed = sum(story() for story, _ in stories)  # every story at least once
        while billed < target:
            billed += self.rng.choices([s for s, _ in stories], weights=[w for _, w in stories])[0]()
        for _ in range(max(1, round(4 * self.scale))):
            self.story_goodwill_credit()
        for _ in range(max(1, round(5 * self.scale))):
            self.story_order_not_checked_out()
        self._plan_paid_by_link()

    def story_paid(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(1, HISTORY_DAYS))
        self.invoice(c, start, box, "a")
        self.at(self.after(start, 0, 30), lambda now: self.pay(c, now, [box["a"]]))
        return 1

    def story_quick_request_paid(self) -> int:
        """A payment request (amount and reference) paid from the link the same day."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(0, HISTORY_DAYS))
        self.invoice(c, start, box, "a", terms=(Terms.DUE_ON_RECEIPT, None), kind="quick")
        self.at(self.after(start, 0, 0), lambda now: self.pay(c, now, [box["a"]]))
        return 1

    def story_order_paid_at_pickup(self) -> int:
        """An order recorded, checked out and paid when the customer picks up."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(0, HISTORY_DAYS))
        self.invoice(c, start, box, "a", terms=(Terms.DUE_ON_RECEIPT, None), kind="order")
        self.at(self.after(start, 0, 0), lambda now: self.pay(c, now, [box["a"]]))
        return 1

    def story_paid_in_two(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(20, HISTORY_DAYS))
        first = self.after(start, 0, 10)
        self.invoice(c, start, box, "a")
        self.at(first, lambda now: self.pay(c, now, [box["a"]], minor=self.part_of(self.balance(box["a"]))))
        self.at(self.after(first, 7, 30), lambda now: self.pay(c, now, [box["a"]]))
        return 1

    def story_one_payment_many_invoices(self) -> int:
        """A company pays two or three invoices with one payment, oldest first."""
        c, box = self.new_story(company=True)
        n = self.rng.choice((2, 2, 3))
        when = self.moment(self.rng.randint(30, HISTORY_DAYS))
        keys = [f"i{k}" for k in range(n)]
        for key in keys:
            self.invoice(c, when, box, key)
            when = self.after(when, 2, 12)
        self.at(self.after(when, 0, 20), lambda now: self.pay(c, now, [box[k] for k in keys]))
        return n

    def story_explicit_split(self) -> int:
        """One payment, split by hand: the first invoice in full, part of the second."""
        c, box = self.new_story(company=True)
        start = self.moment(self.rng.randint(25, HISTORY_DAYS))
        second = self.after(start, 1, 10)
        self.invoice(c, start, box, "a")
        self.invoice(c, second, box, "b")

        def split(now: dt.datetime) -> None:
            amounts = {box["a"]: self.balance(box["a"]), box["b"]: self.part_of(self.balance(box["b"]))}
            self.pay(c, now, list(amounts), amounts=amounts)

        self.at(self.after(second, 0, 15), split)
        return 2

    def story_partial(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(3, 90))
        self.invoice(c, start, box, "a")
        self.at(
            self.after(start, 0, 20),
            lambda now: self.pay(c, now, [box["a"]], minor=self.part_of(self.balance(box["a"]))),
        )
        return 1

    def story_open_not_due(self) -> int:
        c, box = self.new_story()
        terms, max_age = self.rng.choice(
            [
                ((Terms.NET_30, None), 25),
                ((Terms.NET_60, None), 50),
                ((Terms.NET_15, None), 12),
                ((Terms.CUSTOM, 45), 35),
                ((Terms.DUE_ON_RECEIPT, None), 0),
            ]
        )
        self.invoice(c, self.moment(self.rng.randint(0, max_age)), box, "a", terms=terms)
        return 1

    def story_past_due(self) -> int:
        c, box = self.new_story()
        terms = self.terms(c)
        self.invoice(
            c, self.moment(self.rng.randint(self.days_to_due(*terms) + 2, HISTORY_DAYS)), box, "a", terms=terms
        )
        return 1

    def story_draft(self) -> int:
        c, box = self.new_story()
        self.invoice(c, self.moment(self.rng.randint(0, 10)), box, "a", draft=True)
        return 1

    def story_draft_issued(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(5, HISTORY_DAYS))
        issued = self.after(start, 0, 3)
        self.invoice(c, start, box, "a", draft=True)
        self.at(issued, lambda now: self.issue(box["a"], now))
        if self.rng.random() < 0.6:
            self.at(self.after(issued, 1, 20), lambda now: self.pay(c, now, [box["a"]]))
        return 1

    def issue(self, invoice_id: int, now: dt.datetime) -> None:
        invoice_issue(merchant=self.merchant, invoice_id=invoice_id, actor=self.owner, now=now)

    def void(self, invoice_id: int, now: dt.datetime) -> None:
        invoice_void(merchant=self.merchant, invoice_id=invoice_id, actor=self.owner, now=now)
        self.counts["invoices voided"] += 1

    def story_void(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(2, HISTORY_DAYS))
        self.invoice(c, start, box, "a")
        self.at(self.after(start, 0, 10), lambda now: self.void(box["a"], now))
        return 1

    def story_draft_voided(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(2, HISTORY_DAYS))
        self.invoice(c, start, box, "a", draft=True)
        self.at(self.after(start, 1, 5), lambda now: self.void(box["a"], now))
        return 1

    def story_uncollectible(self) -> int:
        """Long past due, sometimes paid in part, finally written off."""
        c, box = self.new_story()
        terms = self.terms(c)
        start = self.moment(
            self.rng.randint(self.days_to_due(*terms) + 75, max(HISTORY_DAYS, self.days_to_due(*terms) + 80))
        )
        self.invoice(c, start, box, "a", terms=terms)
        if self.rng.random() < 0.5:
            self.at(
                self.after(start, 5, 25),
                lambda now: self.pay(c, now, [box["a"]], minor=self.part_of(self.balance(box["a"]), 0.1, 0.4)),
            )

        def write_off(now: dt.datetime) -> None:
            invoice_mark_uncollectible(merchant=self.merchant, invoice_id=box["a"], actor=self.owner, now=now)
            self.counts["invoices written off"] += 1

        self.at(self.after(start, self.days_to_due(*terms) + 60, self.days_to_due(*terms) + 75), write_off)
        return 1

    def round_up_excess(self, minor: int) -> int:
        """What is left over when someone rounds a payment up to the next ten (or adds twenty)."""
        ten = 10 * self.unit
        return ten - minor % ten if minor % ten else 2 * ten

    def story_overpaid_kept_as_credit(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(3, HISTORY_DAYS))
        self.invoice(c, start, box, "a")

        def overpay(now: dt.datetime) -> None:
            owed = self.balance(box["a"])
            self.pay(c, now, [box["a"]], minor=owed, excess=self.round_up_excess(owed))

        self.at(self.after(start, 0, 15), overpay)
        return 1

    def story_overpaid_credit_applied_later(self) -> int:
        c, box = self.new_story()
        start = self.moment(self.rng.randint(40, HISTORY_DAYS))
        paid = self.after(start, 0, 10)
        second = self.after(paid, 10, 30)
        self.invoice(c, start, box, "a")

        def overpay(now: dt.datetime) -> None:
            owed = self.balance(box["a"])
            box["payment"] = self.pay(
                c, now, [box["a"]], minor=owed, excess=self.round_up_excess(owed) + 40 * self.unit
            )

        self.at(paid, overpay)
        self.invoice(c, second, box, "b")
        self.at(self.after(second, 0, 1), lambda now: self.apply_credit(c, now, [box["b"]], payment_id=box["payment"]))
        return 2

    def story_deposit(self) -> int:
        """A deposit taken before the work, applied to the invoice when it is billed."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(15, HISTORY_DAYS))
        billed = self.after(start, 2, 10)

        def deposit(now: dt.datetime) -> None:
            box["payment"] = self.pay(
                c, now, [], minor=self.rng.choice((100, 150, 200, 250)) * self.unit, note=self.flavour.deposit_note
            )

        self.at(start, deposit)
        self.invoice(c, billed, box, "a")
        applied = self.after(billed, 0, 0)
        self.at(applied, lambda now: self.apply_credit(c, now, [box["a"]], payment_id=box["payment"]))
        self.at(self.after(applied, 0, 7), lambda now: self.pay_rest(c, now, box["a"]))
        return 1

    def pay_rest(self, customer: _Customer, now: dt.datetime, invoice_id: int) -> None:
        if self.balance(invoice_id):
            self.pay(customer, now, [invoice_id])

    def story_refund_and_void(self) -> int:
        """Paid, then the job was cancelled: the payment is refunded in full and the invoice voided."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(10, HISTORY_DAYS))
        paid = self.after(start, 0, 5)
        refunded = self.after(paid, 1, 10)
        reason = self.rng.choice(self.flavour.refund_reasons)
        self.invoice(c, start, box, "a")

        def pay(now: dt.datetime) -> None:
            box["total"] = self.balance(box["a"])
            box["payment"] = self.pay(c, now, [box["a"]])

        self.at(paid, pay)
        self.at(refunded, lambda now: self.refund(box["payment"], box["total"], now, reason=reason))
        self.at(self.after(refunded, 0, 0), lambda now: self.void(box["a"], now))
        return 1

    def story_partial_refund_and_return(self) -> int:
        """Part of a paid invoice is refunded (a part returned); usually a credit memo for the
        returned part then settles what the invoice owes again."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(15, HISTORY_DAYS))
        paid = self.after(start, 0, 5)
        refunded = self.after(paid, 2, 12)
        settle = self.rng.random() < 0.7 or not self.returns_settled
        self.returns_settled += settle
        reason = self.rng.choice(self.flavour.return_reasons)
        self.invoice(c, start, box, "a")

        def pay(now: dt.datetime) -> None:
            box["back"] = self.part_of(self.balance(box["a"]), 0.1, 0.3)
            box["payment"] = self.pay(c, now, [box["a"]])

        self.at(paid, pay)
        self.at(refunded, lambda now: self.refund(box["payment"], box["back"], now, reason=reason, invoice_id=box["a"]))
        if settle:

            def credit(now: dt.datetime) -> None:
                memo = self.credit_memo(c, box["back"], now, reason=reason)
                self.apply_credit(c, now, [box["a"]], credit_memo_id=memo)

            self.at(self.after(refunded, 0, 0), credit)
        return 1

    def story_excess_refunded(self) -> int:
        """An overpayment kept as credit, later refunded: the invoice stays paid."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(10, HISTORY_DAYS))
        paid = self.after(start, 0, 5)
        self.invoice(c, start, box, "a")

        def overpay(now: dt.datetime) -> None:
            owed = self.balance(box["a"])
            box["excess"] = self.round_up_excess(owed) + 50 * self.unit
            box["payment"] = self.pay(c, now, [box["a"]], minor=owed, excess=box["excess"])

        self.at(paid, overpay)
        self.at(
            self.after(paid, 1, 14),
            lambda now: self.refund(
                box["payment"], box["excess"], now, reason=self.rng.choice(self.flavour.refund_reasons)
            ),
        )
        return 1

    def story_moved_to_credit_and_voided(self) -> int:
        """A paid invoice turns out to be billed in error: its payment moves to customer credit,
        the invoice is voided, and the credit pays the customer's next invoice."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(30, HISTORY_DAYS))
        paid = self.after(start, 0, 7)
        corrected = self.after(paid, 3, 15)
        self.invoice(c, start, box, "a")
        self.at(paid, lambda now: box.__setitem__("payment", self.pay(c, now, [box["a"]])))

        def move_and_void(now: dt.datetime) -> None:
            application = applications_for_invoice(merchant=self.merchant, invoice_id=box["a"]).get(
                payment_id=box["payment"]
            )
            application_move_to_credit(merchant=self.merchant, application_id=application.pk, actor=self.owner, now=now)
            self.counts["applications moved to credit"] += 1
            self.void(box["a"], now)

        self.at(corrected, move_and_void)
        self.invoice(c, self.after(corrected, 0, 0), box, "b")
        self.at(
            self.after(corrected, 1, 10), lambda now: self.apply_credit(c, now, [box["b"]], payment_id=box["payment"])
        )
        return 2

    def story_credit_memo_applied(self) -> int:
        """A credit memo pays part of an invoice; the customer pays the rest (or has not yet)."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(5, HISTORY_DAYS))
        credited = self.after(start, 0, 3)
        reason = self.rng.choice(self.flavour.credit_reasons)
        self.invoice(c, start, box, "a")

        def credit(now: dt.datetime) -> None:
            memo = self.credit_memo(c, self.part_of(self.balance(box["a"]), 0.1, 0.3), now, reason=reason)
            self.apply_credit(c, now, [box["a"]], credit_memo_id=memo)

        self.at(credited, credit)
        if self.rng.random() < 0.7:
            self.at(self.after(credited, 0, 20), lambda now: self.pay_rest(c, now, box["a"]))
        return 1

    def story_goodwill_credit(self) -> None:
        """Credit granted and not used yet: it waits on the customer's account."""
        c = self.pick_customer()
        reason = self.rng.choice(self.flavour.credit_reasons)
        minor = self.rng.choice((15, 20, 25, 40, 50)) * self.unit
        self.at(
            self.moment(self.rng.randint(0, HISTORY_DAYS)), lambda now: self.credit_memo(c, minor, now, reason=reason)
        )

    def story_order_not_checked_out(self) -> None:
        c = self.pick_customer()
        note = self.rng.choice(self.flavour.order_notes)

        def record(now: dt.datetime) -> None:
            self.order_record(c, now, note=note)
            self.counts["orders not checked out"] += 1

        self.at(self.moment(self.rng.randint(0, 6)), record)

    # Paid by link: customers paying online through the sandbox processor, what both sides are
    # told, and the links the merchant sends. All of it in the last weeks, so it is what the
    # merchant sees first.

    def _payment_settings(self) -> None:
        """Every way to pay on, the social apps the merchant's currency allows, pay-later from a
        minimum, and a thank-you message with a receipt link after each online payment."""
        payment_settings_update(
            merchant=self.merchant,
            acting=memberships_for_user(self.owner).get(merchant=self.merchant),
            now=self.moment(HISTORY_DAYS),
            gateway=self.gateway.name,
            card_enabled=True,
            ach_enabled=self.flavour.bank_debits,
            wallets_enabled=True,
            bnpl_enabled=True,
            bnpl_minimum=Money(self.flavour.bnpl_minimum * self.unit, self.flavour.currency),
            partial_payments_allowed=True,
            confirmation_message_enabled=True,
            **{name: self.flavour.social_handles.get(name, "") for name in HANDLE_FIELDS.values()},
        )

    def _message_templates(self) -> None:
        """The starter templates in English and French, loaded as the "Load starter templates"
        button loads them, before the history sends its first message."""
        added = template_starters_load(merchant=self.merchant, languages=("en", "fr"), now=self.moment(HISTORY_DAYS))
        self.counts["message templates"] = len(added)

    def _plan_paid_by_link(self) -> None:
        for _ in range(max(2, round(6 * self.scale))):
            self.story_paid_online()
        self.story_saved_method_pays(MethodKind.CARD)
        self.story_gateway_refund()
        self.story_gateway_void()
        self.story_paid_elsewhere()
        self.story_quick_payment_link()
        self.story_statement_sent()
        self.story_payment_method_requested()
        if self.flavour.bank_debits:
            self.story_saved_method_pays(MethodKind.ACH)
            self.story_bank_debit_returned()
            self.at(self.moment(3), self.bank_days_pass)
            self.story_bank_debit_pending()

    def test_method(self, customer: _Customer, kind: MethodKind, behaviour: str = "succeed") -> VaultedMethod:
        return self.gateway.test_method_vault(kind=kind, behaviour=behaviour, holder_name=customer.name)

    def pay_online(
        self, customer: _Customer, now: dt.datetime, invoice_ids: Sequence[int], method: VaultedMethod
    ) -> int:
        """The customer pays what the invoices owe on the pay page: a charge through the processor,
        which records the payment (pending for a bank debit) and tells the merchant and the customer."""
        attempt = charge_attempt_start(
            merchant=self.merchant,
            customer_id=customer.id,
            invoice_ids=invoice_ids,
            amount=Money(sum(self.balance(i) for i in invoice_ids), self.flavour.currency),
            kind=method.kind,
            token=method.token,
            idempotency_key=f"demo-{next(self.charge_keys)}",
            return_url=f"{settings.SETTLE_BASE_URL}/",
            card_brand=method.brand,
            last4=method.last4,
            now=now,
        )
        if attempt.state not in (ChargeState.SUCCEEDED, ChargeState.PENDING) or attempt.payment_id is None:
            raise DemoFailed(f"The sandbox did not take a demo payment: {attempt.state} {attempt.message}")
        if attempt.state == ChargeState.PENDING:
            self.bank_debits_in_flight.append(attempt.pk)
        method_name = PaymentMethod.CARD if method.kind == MethodKind.CARD else PaymentMethod.BANK_ACCOUNT
        self.counts["payments"] += 1
        self.counts[f"payments by {method_name}"] += 1
        self.counts["paid online"] += 1
        return attempt.payment_id

    def story_paid_online(self) -> None:
        """An invoice paid by card from its link, the day it was sent or the next."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(2, 45))
        self.invoice(c, start, box, "a")
        self.at(
            self.after(start, 0, 1),
            lambda now: self.pay_online(c, now, [box["a"]], self.test_method(c, MethodKind.CARD)),
        )

    def story_saved_method_pays(self, kind: MethodKind) -> None:
        """A customer saves a card (or bank account) with its authorization, and a later invoice is
        paid with it; a bank debit stays pending until the bank days pass."""
        c, box = self.new_story()
        saved = self.moment(self.rng.randint(25, 40))
        start = self.moment(self.rng.randint(5, 12))

        def save(now: dt.datetime) -> None:
            vaulted = self.test_method(c, kind)
            box["method"] = saved_method_add(
                merchant=self.merchant,
                customer_id=c.id,
                vaulted=vaulted,
                friendly_name="",
                billing_address="",
                consent_text=self.flavour.consent_text,
                consent_ip="203.0.113.24",
                now=now,
            ).pk
            self.methods_saved[box["method"]] = vaulted
            self.counts["payment methods saved"] += 1

        self.at(saved, save)
        self.invoice(c, start, box, "a")
        self.at(
            self.after(start, 0, 1), lambda now: self.pay_online(c, now, [box["a"]], self.methods_saved[box["method"]])
        )

    def story_gateway_refund(self) -> None:
        """Paid by card, then part of it given back through the processor."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(15, 40))
        paid = self.after(start, 0, 1)
        reason = self.rng.choice(self.flavour.return_reasons)
        self.invoice(c, start, box, "a")

        def pay(now: dt.datetime) -> None:
            box["back"] = self.part_of(self.balance(box["a"]), 0.1, 0.3)
            box["payment"] = self.pay_online(c, now, [box["a"]], self.test_method(c, MethodKind.CARD))

        self.at(paid, pay)
        self.at(
            self.after(paid, 1, 5),
            lambda now: self.refund(box["payment"], box["back"], now, reason=reason, invoice_id=box["a"]),
        )

    def story_gateway_void(self) -> None:
        """Paid by card by mistake and voided before the funds settled: the invoice owes again."""
        c, box = self.new_story()
        start = self.moment(1)
        paid = self.after(start, 0, 0)
        self.invoice(c, start, box, "a", terms=(Terms.DUE_ON_RECEIPT, None))
        self.at(
            paid,
            lambda now: box.__setitem__(
                "payment", self.pay_online(c, now, [box["a"]], self.test_method(c, MethodKind.CARD))
            ),
        )

        def void(now: dt.datetime) -> None:
            payment_void(merchant=self.merchant, payment_id=box["payment"], actor=self.owner, now=now)
            self.counts["payments voided"] += 1

        self.at(self.after(paid, 0, 0), void)

    def story_bank_debit_returned(self) -> None:
        """A bank debit that the customer's bank sends back (R01): the invoice owes again and the
        merchant gets a To-Do."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(8, 12))
        self.invoice(c, start, box, "a")
        self.at(
            self.after(start, 0, 1),
            lambda now: self.pay_online(c, now, [box["a"]], self.test_method(c, MethodKind.ACH, "return_r01")),
        )

    def bank_days_pass(self, now: dt.datetime) -> None:
        """A week passes at the processor: the bank debits made so far settle or come back, and
        each is checked with the processor as the reconciliation job would."""
        self.gateway.test_clock_advance(days=8)
        for attempt_id in self.bank_debits_in_flight:
            attempt = charge_attempt_reconcile(merchant=self.merchant, attempt_id=attempt_id, now=now)
            self.counts[f"bank debits {attempt.state}"] += 1
        self.bank_debits_in_flight.clear()

    def story_bank_debit_pending(self) -> None:
        c, box = self.new_story()
        start = self.moment(2)
        self.invoice(c, start, box, "a")
        self.at(
            self.after(start, 0, 1),
            lambda now: self.pay_online(c, now, [box["a"]], self.test_method(c, MethodKind.ACH)),
        )

    def story_paid_elsewhere(self) -> None:
        """The customer taps "I've paid" with a social app: a To-Do, and nothing marked paid."""
        c, box = self.new_story()
        start = self.moment(self.rng.randint(1, 4))
        self.invoice(c, start, box, "a", terms=(Terms.DUE_ON_RECEIPT, None))

        def tell(now: dt.datetime) -> None:
            paid_elsewhere_tell(
                merchant=self.merchant,
                invoice_ids=[box["a"]],
                app=self.flavour.paid_elsewhere_app,
                claim=f"demo-{box['a']}",
                now=now,
            )
            self.counts["paid elsewhere, to confirm"] += 1

        self.at(self.after(start, 0, 1), tell)

    def story_quick_payment_link(self) -> None:
        """A quick payment request texted with its public link, which can be shared anywhere."""
        c = self.pick_customer()
        amount = Money(self.rng.randint(40, 400) * self.unit, self.flavour.currency)
        reference = self.flavour.quick_reference.format(n=next(self.reference_numbers))

        def send(now: dt.datetime) -> None:
            quick_payment_request_send(
                merchant=self.merchant,
                sending=Sending(
                    channel=MessageChannel.SMS if c.phone else MessageChannel.EMAIL, actor=self.owner, now=now
                ),
                customer_id=c.id,
                amount=amount,
                reference=reference,
                public=True,
            )
            self.counts["invoices"] += 1
            self.counts["quick payment requests"] += 1
            self.counts["requests sent"] += 1

        self.at(self.moment(self.rng.randint(0, 3)), send)

    def story_statement_sent(self) -> None:
        """A company is e-mailed one link to pay its two open invoices together."""
        c, box = self.new_story(company=True)
        terms = (Terms.NET_30, None)
        self.invoice(c, self.moment(self.rng.randint(25, 35)), box, "a", terms=terms)
        self.invoice(c, self.moment(self.rng.randint(8, 15)), box, "b", terms=terms)

        def send(now: dt.datetime) -> None:
            statement_request_send(
                merchant=self.merchant,
                sending=Sending(channel=MessageChannel.EMAIL, actor=self.owner, now=now),
                customer_id=c.id,
                invoice_ids=[box["a"], box["b"]],
            )
            self.counts["requests sent"] += 1

        self.at(self.moment(self.rng.randint(0, 2)), send)

    def story_payment_method_requested(self) -> None:
        """The merchant e-mails a customer a link to add a payment method for next time."""
        c = self.pick_customer()

        def send(now: dt.datetime) -> None:
            payment_profile_request_send(
                merchant=self.merchant,
                sending=Sending(channel=MessageChannel.EMAIL, actor=self.owner, now=now),
                customer_id=c.id,
            )
            self.counts["requests sent"] += 1

        self.at(self.moment(self.rng.randint(0, 4)), send)


def _ascii(text: str) -> str:
    """Accents dropped, for e-mail addresses: Émilie Côté → Emilie Cote."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
