"""`settle createmerchant`: a new merchant and the owner who signs in to it."""

from __future__ import annotations

import getpass
import inspect
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from settle.core.errors import SettleError
from settle.core.tenancy import all_merchants
from settle.tenants.models import Membership, Role
from settle.tenants.services import merchant_create

DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(merchant_create).parameters.items()}


class Command(BaseCommand):
    help = "Create a merchant and its owner, who signs in with the given e-mail and password."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="the business name customers see")
        parser.add_argument("--owner-email", required=True, help="the owner's e-mail, used to sign in")
        parser.add_argument("--password", help="the owner's password (asked for when omitted)")
        parser.add_argument("--currency", default=DEFAULTS["currency"], help="ISO 4217 code (default: %(default)s)")
        parser.add_argument("--locale", default=DEFAULTS["locale"], help="for dates and amounts (default: %(default)s)")
        parser.add_argument("--time-zone", default=DEFAULTS["time_zone"], help="IANA time zone (default: %(default)s)")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="never prompt; fail instead when the password is missing",
        )

    def handle(
        self,
        *,
        name: str,
        owner_email: str,
        password: str | None,
        currency: str,
        locale: str,
        time_zone: str,
        interactive: bool,
        **options: Any,
    ) -> None:
        if password is None:
            password = self._ask_password(interactive=interactive)
        try:
            password_validation.validate_password(password)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        try:
            with all_merchants():
                merchant = merchant_create(
                    name=name,
                    owner_email=owner_email,
                    owner_password=password,
                    currency=currency,
                    locale=locale,
                    time_zone=time_zone,
                )
        except SettleError as error:
            raise CommandError(error.message) from None
        owner = Membership.objects.get(merchant=merchant, role=Role.OWNER).user
        self.stdout.write(
            self.style.SUCCESS(f"Created “{merchant.name}” (merchant {merchant.pk}, {merchant.currency}).")
        )
        if not owner.check_password(password):
            self.stdout.write(f"{owner.email} already had a sign-in; it joins as owner and keeps its password.")
        self.stdout.write(f"{owner.email} signs in at {settings.SETTLE_BASE_URL}{reverse('login')}")

    def _ask_password(self, *, interactive: bool) -> str:
        if not (interactive and sys.stdin.isatty()):
            raise CommandError("Give the owner's password with --password, or run this in a terminal to be asked.")
        password = getpass.getpass("Owner's password: ")
        if password != getpass.getpass("Owner's password (again): "):
            raise CommandError("The two passwords differ.")
        return password
