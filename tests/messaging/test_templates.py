"""Templates: placeholders checked when saved (unknown ones named, required ones kept, spacing and
case forgiven), rendering that never leaves a raw `{…}` nor trips on braces in a value, defaults,
and the starter templates in English and French."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settle.core.errors import InvalidInput, NotFound
from settle.core.money import Money
from settle.core.tenancy import merchant_scope
from settle.messaging.models import MessageTemplate, Purpose
from settle.messaging.placeholders import placeholders_check, placeholders_in, render
from settle.messaging.selectors import template_text_for
from settle.messaging.services import template_save, template_starters_load
from settle.messaging.starters import STARTERS
from settle.tenants.models import Merchant

LINK = "http://127.0.0.1:8000/pay/abc"


def save(merchant: Merchant, body: str, *, purpose: str = Purpose.PAYMENT_REQUEST, **kwargs: object) -> MessageTemplate:
    fields: dict[str, object] = {"language": "en", "name": "Mine", "subject": "Invoice {invoice.number}"}
    fields.update(kwargs)
    return template_save(merchant=merchant, purpose=purpose, body=body, **fields)  # type: ignore[arg-type]


# --- checked when saved ---------------------------------------------------------------------------


def test_an_unknown_placeholder_is_refused_on_save_naming_it(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Hi {customer.nmae}, pay here: {payment.link}")
    assert refused.value.field == "body"
    assert "“{customer.nmae}” is not a placeholder" in refused.value.message
    assert not MessageTemplate.objects.exists()


def test_every_unknown_placeholder_is_named_once(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "{foo} {bar} {foo} {payment.link}")
    assert "“{foo}”, “{bar}” are not placeholders" in refused.value.message


def test_an_unknown_placeholder_in_the_subject_is_refused_on_the_subject(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Pay: {payment.link}", subject="Invoice {invoice.numbr}")
    assert refused.value.field == "subject"
    assert "{invoice.numbr}" in refused.value.message


def test_a_placeholder_the_purpose_cannot_use_is_refused(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Thanks! Add a card: {Secure Link}", purpose=Purpose.PAYMENT_CONFIRMATION, subject="")
    assert refused.value.message == "{Secure Link} cannot be used in a payment confirmation."


def test_a_profile_request_must_keep_its_secure_link(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Hello {contact.name}, please add a card.", purpose=Purpose.PROFILE_REQUEST, subject="")
    assert refused.value.field == "body"
    assert "Keep the {Secure Link} placeholder" in refused.value.message
    assert not MessageTemplate.objects.exists()


def test_a_payment_request_must_keep_its_payment_link(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Hi {customer.name}, you owe {invoice.amount_due}.")
    assert "Keep the {payment.link} placeholder" in refused.value.message
    with pytest.raises(InvalidInput) as in_subject_only:
        save(merchant, "No link in the body", subject="Pay here {payment.link}")
    assert "Keep the {payment.link} placeholder" in in_subject_only.value.message


def test_a_statement_must_keep_a_link_to_pay_it(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Hi {customer.name}, you owe {statement.balance}.", purpose=Purpose.STATEMENT, subject="")
    assert "Keep the {statement.link} placeholder" in refused.value.message
    assert not MessageTemplate.objects.exists()
    save(merchant, "Pay {statement.balance} here: {payment.link}", purpose=Purpose.STATEMENT, subject="")  # or this


@pytest.mark.parametrize(
    "body",
    [
        "Hello { customer.name }, add a card: { Secure Link }",
        "Hello {Customer.Name}, add a card: {secure   link}",
        "Hello {contact.name},\nadd a card:\n{Secure Link}\nIt expires {link.expires}.",
    ],
)
def test_spaced_and_differently_cased_placeholders_are_accepted(merchant: Merchant, body: str) -> None:
    template = save(merchant, body, purpose=Purpose.PROFILE_REQUEST, subject="")
    assert template.body == body


def test_custom_meta_placeholders_are_accepted(merchant: Merchant) -> None:
    body = "Pay {appointment.meta_animal_name}'s care, rent due {customer.meta_rent_due}: {payment.link}"
    assert save(merchant, body).body == body
    with pytest.raises(InvalidInput):
        save(merchant, "{customer.meta_} {payment.link}", name="Other")


def test_stray_braces_are_refused(merchant: Merchant) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Pay {payment.link} :-}")
    assert "stray" in refused.value.message


def test_a_saved_reply_may_use_any_placeholder(merchant: Merchant) -> None:
    body = "{customer.name}: {payment.link} {receipt.link} {Secure Link} {statement.balance}"
    assert save(merchant, body, purpose=Purpose.SAVED_REPLY).purpose == Purpose.SAVED_REPLY


def test_names_are_unique_per_purpose_and_language(merchant: Merchant) -> None:
    save(merchant, "Pay {payment.link}")
    with pytest.raises(InvalidInput) as refused:
        save(merchant, "Pay now {payment.link}")
    assert refused.value.field == "name"
    assert save(merchant, "Payez {payment.link}", language="fr").language == "fr"


def test_one_default_per_purpose_and_language(merchant: Merchant) -> None:
    first = save(merchant, "One {payment.link}", name="One", is_default=True)
    second = save(merchant, "Two {payment.link}", name="Two", is_default=True)
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert template_text_for(merchant=merchant, purpose=Purpose.PAYMENT_REQUEST, language="en").name == "Two"


def test_another_merchants_template_cannot_be_edited(merchant: Merchant, other_merchant: Merchant) -> None:
    with merchant_scope(other_merchant):
        theirs = save(other_merchant, "Pay {payment.link}")
    with pytest.raises(NotFound):
        save(merchant, "Mine now {payment.link}", template_id=theirs.pk)


# --- rendering ------------------------------------------------------------------------------------


def test_render_fills_spaced_placeholders_and_keeps_braces_in_values() -> None:
    text = "Hi { customer.name }, pay {invoice.amount_due} at {Payment.Link}. {company.name}"
    values = {"customer.name": "{Bob} }{", "invoice.amount_due": "$12.50", "payment.link": LINK, "company.name": "Shop"}
    assert render(text, values) == f"Hi {{Bob}} }}{{, pay $12.50 at {LINK}. Shop"


def test_render_never_leaves_a_raw_placeholder() -> None:
    assert render("A {unknown} B {invoice.due_date} C { } D {x {y} z} E", {}) == "A  B  C  D x  z E"


@given(
    text=st.text(alphabet="ab {}.\n", max_size=60),
    value=st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=10),
)
def test_rendering_any_text_leaves_no_brace_of_its_own(text: str, value: str) -> None:
    assert not set(render(text, {"customer.name": value})) & {"{", "}"}


def test_placeholders_in_lists_registry_names() -> None:
    assert placeholders_in("{ secure link } {CUSTOMER.NAME} {nope} {customer.name}") == ["Secure Link", "customer.name"]


# --- starters -------------------------------------------------------------------------------------


def test_starters_load_in_english_and_french_once(merchant: Merchant) -> None:
    added = template_starters_load(merchant=merchant)
    assert len(added) == 2 * len(STARTERS) == MessageTemplate.objects.count()
    assert {t.language for t in added} == {"en", "fr"}
    for template in added:
        placeholders_check(purpose=template.purpose, subject=template.subject, body=template.body)
    defaults = sorted((t.purpose, t.language) for t in added if t.is_default)
    assert len(defaults) == len(set(defaults)) == 2 * len({s.purpose for s in STARTERS})
    assert template_starters_load(merchant=merchant) == []


def test_the_seed_wording_is_there_in_french(merchant: Merchant) -> None:
    template_starters_load(merchant=merchant)
    french = {t.name: t for t in MessageTemplate.objects.filter(language="fr")}
    assert french["Secteur automobile"].body.startswith(
        "Bonjour {customer.name}, Nous vous confirmons que votre véhicule est prêt."
    )
    assert "{payment.link}" in french["Secteur automobile"].body
    assert "loyer impayé du {customer.meta_rent_due}" in french["Gestion immobilière"].body
    assert "les soins de {appointment.meta_animal_name}" in french["Vétérinaires"].body
    assert "Passez à notre comptoir d'accueil pour récupérer vos clés." in french["Industrie automobile"].body
    assert french["Demande de profil de paiement"].purpose == Purpose.PROFILE_REQUEST
    assert "{Secure Link}" in french["Demande de profil de paiement"].body
    english = {t.name for t in MessageTemplate.objects.filter(language="en")}
    assert {"Auto shop", "Bike shop", "Property management", "Veterinary"} <= english


def test_loading_keeps_the_merchants_own_templates_and_defaults(merchant: Merchant) -> None:
    mine = save(merchant, "My words {payment.link}", name="Invoice", is_default=True)
    added = template_starters_load(merchant=merchant, languages=["en"])
    assert "Invoice" not in {t.name for t in added if t.purpose == Purpose.PAYMENT_REQUEST}
    mine.refresh_from_db()
    assert mine.is_default and mine.body == "My words {payment.link}"
    assert not any(t.is_default for t in added if t.purpose == Purpose.PAYMENT_REQUEST)


def test_without_templates_the_built_in_starter_is_the_default(merchant: Merchant) -> None:
    english = template_text_for(merchant=merchant, purpose=Purpose.PAYMENT_CONFIRMATION, language="en")
    french = template_text_for(merchant=merchant, purpose=Purpose.PAYMENT_CONFIRMATION, language="fr")
    spanish = template_text_for(merchant=merchant, purpose=Purpose.PAYMENT_CONFIRMATION, language="es")
    assert english.template_id is None and "{receipt.link}" in english.body
    assert french.body.startswith("Bonjour {customer.name}, Merci d'avoir effectué votre paiement sécurisé en ligne.")
    assert (spanish.language, spanish.body) == ("en", english.body)


def test_a_rendered_starter_reads_naturally_in_french() -> None:
    starter = next(s for s in STARTERS if s.key == "rent_request").wordings["fr"]
    values = {
        "customer.name": "Marie",
        "customer.meta_rent_due": "1er mars",
        "payment.link": LINK,
        "company.name": "Gestion Tremblay",
        "invoice.amount_due": Money(125_000, "CAD").format("fr_CA"),
    }
    assert render(starter.body, values) == (
        f"Bonjour Marie, Voici le lien sécurisé pour payer votre loyer impayé du 1er mars :\n{LINK}\n"
        "Merci! Gestion Tremblay"
    )
