"""The processor's test catalogue: which card numbers and bank accounts do what.

A number is looked up here the moment it is typed and then forgotten: the processor keeps the
behaviour it maps to, the brand, the last four digits and the expiry, never the number or CVC."""

from __future__ import annotations

from typing import NamedTuple

from django.db import models


class Behaviour(models.TextChoices):
    SUCCEED = "succeed", "Succeeds"
    DECLINE = "decline", "Generic decline"
    INSUFFICIENT_FUNDS = "insufficient_funds", "Insufficient funds"
    EXPIRED_CARD = "expired_card", "Expired card"
    INCORRECT_CVC = "incorrect_cvc", "Incorrect CVC"
    PROCESSING_ERROR = "processing_error", "Processing error"
    CHARGES_FAIL = "charges_fail", "Saves fine, charges fail"
    REQUIRES_ACTION = "requires_action", "Asks for a 3-D Secure confirmation"
    RETURN_R01 = "return_r01", "Returned R01"
    RETURN_R02 = "return_r02", "Returned R02"
    RETURN_R03 = "return_r03", "Returned R03"
    RETURN_R10 = "return_r10", "Returned R10"


class CardEntry(NamedTuple):
    brand: str
    behaviour: Behaviour


TEST_CARDS: dict[str, CardEntry] = {
    "4242424242424242": CardEntry("Visa", Behaviour.SUCCEED),
    "4000000000000002": CardEntry("Visa", Behaviour.DECLINE),
    "4000000000009995": CardEntry("Visa", Behaviour.INSUFFICIENT_FUNDS),
    "4000000000000069": CardEntry("Visa", Behaviour.EXPIRED_CARD),
    "4000000000000127": CardEntry("Visa", Behaviour.INCORRECT_CVC),
    "4000000000000119": CardEntry("Visa", Behaviour.PROCESSING_ERROR),
    "4000000000000341": CardEntry("Visa", Behaviour.CHARGES_FAIL),
    "4000002760003184": CardEntry("Visa", Behaviour.REQUIRES_ACTION),
}

# What a charge on each failing card answers: (decline code, message for the customer).
CARD_DECLINES: dict[Behaviour, tuple[str, str]] = {
    Behaviour.DECLINE: ("generic_decline", "Your card was declined."),
    Behaviour.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
    Behaviour.EXPIRED_CARD: ("expired_card", "Your card has expired."),
    Behaviour.INCORRECT_CVC: ("incorrect_cvc", "Your card's security code is incorrect."),
    Behaviour.PROCESSING_ERROR: (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    Behaviour.CHARGES_FAIL: ("generic_decline", "Your card was declined."),
}

# The cards a simulated wallet holds, by last four digits.
WALLET_CARDS: dict[str, CardEntry] = {
    "4242": CardEntry("Visa", Behaviour.SUCCEED),
    "0002": CardEntry("Visa", Behaviour.DECLINE),
}

TEST_ROUTING_NUMBER = "110000000"
TEST_BANK_NAME = "Sandbox Test Bank"
TEST_BANK_ACCOUNTS: dict[str, Behaviour] = {
    "000123456789": Behaviour.SUCCEED,
    "000222222227": Behaviour.RETURN_R01,
    "000111111113": Behaviour.RETURN_R02,
    "000111111116": Behaviour.RETURN_R03,
    "000333333335": Behaviour.RETURN_R10,
}

# The NACHA return an account's debits come back with: (return code, reason).
ACH_RETURNS: dict[Behaviour, tuple[str, str]] = {
    Behaviour.RETURN_R01: ("R01", "Insufficient funds"),
    Behaviour.RETURN_R02: ("R02", "Account closed"),
    Behaviour.RETURN_R03: ("R03", "No account or unable to locate account"),
    Behaviour.RETURN_R10: ("R10", "Customer advises not authorized"),
}

BNPL_BRAND = "Affirm"
WALLET_BRANDS = {"apple_pay": "Apple Pay", "google_pay": "Google Pay"}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number carries (so a typo is caught before any lookup)."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
