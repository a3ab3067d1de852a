"""Starter templates, in English and French, modelled on what small businesses send: an auto shop,
a bike shop, property management (rent), a vet, and general wording for every purpose. Words in
[square brackets] are for the merchant to change; `{placeholders}` are filled in when sending."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Purpose


@dataclass(frozen=True)
class Wording:
    name: str
    subject: str
    body: str


@dataclass(frozen=True)
class Starter:
    key: str
    purpose: str
    is_default: bool
    wordings: dict[str, Wording]


STARTERS: tuple[Starter, ...] = (
    Starter(
        "general_request",
        Purpose.PAYMENT_REQUEST,
        True,
        {
            "en": Wording(
                "Invoice",
                "Invoice {invoice.number} from {company.name}",
                "Hello {customer.name},\n\n"
                "Here is invoice {invoice.number} for {invoice.amount_due}. You can review it and pay securely "
                "online:\n{payment.link}\n\nThank you!\n{company.name}",
            ),
            "fr": Wording(
                "Facture",
                "Facture {invoice.number} de {company.name}",
                "Bonjour {customer.name},\n\n"
                "Voici la facture {invoice.number} au montant de {invoice.amount_due}. Vous pouvez la consulter "
                "et la payer en ligne en toute sécurité :\n{payment.link}\n\nMerci!\n{company.name}",
            ),
        },
    ),
    Starter(
        "auto_shop_request",
        Purpose.PAYMENT_REQUEST,
        False,
        {
            "en": Wording(
                "Auto shop",
                "Your vehicle is ready",
                "Hi {customer.name}, We confirm that your vehicle is ready. If you would like to speed up the "
                "pickup, please use the secure link below to make your payment online.\n{payment.link}\n"
                "Thank you! {company.name}",
            ),
            "fr": Wording(
                "Secteur automobile",
                "Votre véhicule est prêt",
                "Bonjour {customer.name}, Nous vous confirmons que votre véhicule est prêt. Si vous souhaitez "
                "accélérer le processus de collecte du véhicule, veuillez accéder au lien sécurisé ci-dessous "
                "pour effectuer votre paiement en ligne.\n{payment.link}\nMerci! {company.name}",
            ),
        },
    ),
    Starter(
        "bike_shop_request",
        Purpose.PAYMENT_REQUEST,
        False,
        {
            "en": Wording(
                "Bike shop",
                "Deposit for your bike",
                "Hi {customer.name}, We need a [%] deposit before [ordering your parts/starting work on your "
                "bike]. Here is the secure link to process the payment:\n{payment.link}\nThank you! {company.name}",
            ),
            "fr": Wording(
                "Magasins de vélos",
                "Acompte pour votre vélo",
                "Bonjour {customer.name}, Nous avons besoin d'un acompte de [%] avant de [commander vos "
                "pièces/commencer à travailler sur votre vélo]. Voici le lien sécurisé pour traiter le "
                "paiement :\n{payment.link}\nMerci! {company.name}",
            ),
        },
    ),
    Starter(
        "rent_request",
        Purpose.PAYMENT_REQUEST,
        False,
        {
            "en": Wording(
                "Property management",
                "Your rent",
                "Hi {customer.name}, Here is the secure link to pay your outstanding rent due "
                "{customer.meta_rent_due}:\n{payment.link}\nThank you! {company.name}",
            ),
            "fr": Wording(
                "Gestion immobilière",
                "Votre loyer",
                "Bonjour {customer.name}, Voici le lien sécurisé pour payer votre loyer impayé du "
                "{customer.meta_rent_due} :\n{payment.link}\nMerci! {company.name}",
            ),
        },
    ),
    Starter(
        "vet_request",
        Purpose.PAYMENT_REQUEST,
        False,
        {
            "en": Wording(
                "Veterinary",
                "Care for {appointment.meta_animal_name}",
                "Hi {customer.name}, Here is the secure link to pay for {appointment.meta_animal_name}'s "
                "care:\n{payment.link}\nHave a nice day! {company.name}",
            ),
            "fr": Wording(
                "Vétérinaires",
                "Soins de {appointment.meta_animal_name}",
                "Bonjour {customer.name}, Voici le lien sécurisé pour payer les soins de "
                "{appointment.meta_animal_name} :\n{payment.link}\nBonne journée! {company.name}",
            ),
        },
    ),
    Starter(
        "general_reminder",
        Purpose.REMINDER,
        True,
        {
            "en": Wording(
                "Friendly reminder",
                "Reminder: invoice {invoice.number}",
                "Hi {customer.name}, This is a friendly reminder that invoice {invoice.number} "
                "({invoice.amount_due}) was due {invoice.due_date}. You can pay it securely here:\n"
                "{payment.link}\nThank you! {company.name}",
            ),
            "fr": Wording(
                "Rappel amical",
                "Rappel : facture {invoice.number}",
                "Bonjour {customer.name}, Ceci est un rappel amical : la facture {invoice.number} "
                "({invoice.amount_due}) était payable le {invoice.due_date}. Vous pouvez la payer en toute "
                "sécurité ici :\n{payment.link}\nMerci! {company.name}",
            ),
        },
    ),
    Starter(
        "general_confirmation",
        Purpose.PAYMENT_CONFIRMATION,
        True,
        {
            "en": Wording(
                "General",
                "Thank you for your payment",
                "Hi {customer.name}, Thank you for making your secure online payment. Your receipt:\n"
                "{receipt.link}\nHave a great day! {company.name}",
            ),
            "fr": Wording(
                "Général",
                "Merci pour votre paiement",
                "Bonjour {customer.name}, Merci d'avoir effectué votre paiement sécurisé en ligne. Votre reçu :\n"
                "{receipt.link}\nPassez une excellente journée! {company.name}",
            ),
        },
    ),
    Starter(
        "auto_shop_confirmation",
        Purpose.PAYMENT_CONFIRMATION,
        False,
        {
            "en": Wording(
                "Auto shop",
                "Thank you for your payment",
                "Hi {customer.name}, Thank you for making your secure online payment. Come to our front desk to "
                "pick up your keys. A representative will be there to help you if needed. Your receipt:\n"
                "{receipt.link}\nHave a great day! {company.name}",
            ),
            "fr": Wording(
                "Industrie automobile",
                "Merci pour votre paiement",
                "Bonjour {customer.name}, Merci d'avoir effectué votre paiement sécurisé en ligne. Passez à notre "
                "comptoir d'accueil pour récupérer vos clés. Un représentant sera là pour vous aider si "
                "nécessaire. Votre reçu :\n{receipt.link}\nPassez une excellente journée! {company.name}",
            ),
        },
    ),
    Starter(
        "profile_request",
        Purpose.PROFILE_REQUEST,
        True,
        {
            "en": Wording(
                "Payment profile request",
                "Add a payment method for {company.name}",
                "Hello {contact.name},\n\n{company.name} invites you to add a payment method to your account. "
                "Use this secure link to enter your card or bank account details:\n{Secure Link}\n\n"
                "The link works once and expires {link.expires}.\n\nThank you,\n{company.name}",
            ),
            "fr": Wording(
                "Demande de profil de paiement",
                "Ajoutez un mode de paiement pour {company.name}",
                "Bonjour {contact.name},\n\n{company.name} vous invite à ajouter un mode de paiement à votre "
                "compte. Utilisez ce lien sécurisé pour saisir les renseignements de votre carte ou de votre "
                "compte bancaire :\n{Secure Link}\n\nLe lien ne fonctionne qu'une fois et expire le "
                "{link.expires}.\n\nMerci,\n{company.name}",
            ),
        },
    ),
    Starter(
        "receipt",
        Purpose.RECEIPT,
        True,
        {
            "en": Wording(
                "Receipt",
                "Receipt for your payment to {company.name}",
                "Hello {customer.name},\n\nWe received your payment of {payment.amount} on {payment.date}. "
                "Your receipt:\n{receipt.link}\n\nThank you!\n{company.name}",
            ),
            "fr": Wording(
                "Reçu",
                "Reçu de votre paiement à {company.name}",
                "Bonjour {customer.name},\n\nNous avons reçu votre paiement de {payment.amount} le "
                "{payment.date}. Votre reçu :\n{receipt.link}\n\nMerci!\n{company.name}",
            ),
        },
    ),
    Starter(
        "statement",
        Purpose.STATEMENT,
        True,
        {
            "en": Wording(
                "Account statement",
                "Your account statement from {company.name}",
                "Hello {customer.name},\n\nYour balance with {company.name} is {statement.balance}. See your "
                "statement and pay your open invoices here:\n{statement.link}\n\nThank you!\n{company.name}",
            ),
            "fr": Wording(
                "Relevé de compte",
                "Votre relevé de compte de {company.name}",
                "Bonjour {customer.name},\n\nVotre solde chez {company.name} est de {statement.balance}. "
                "Consultez votre relevé et payez vos factures ouvertes ici :\n{statement.link}\n\n"
                "Merci!\n{company.name}",
            ),
        },
    ),
)


def starter_default(purpose: str, language: str) -> tuple[Starter, Wording] | None:
    """The built-in default wording of a purpose (English when there is none in `language`)."""
    for starter in STARTERS:
        if starter.purpose == purpose and starter.is_default:
            wording = starter.wordings.get(language) or starter.wordings.get("en")
            return (starter, wording) if wording else None
    return None
