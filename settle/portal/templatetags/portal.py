"""Template helpers of the customer's pages."""

import functools

from django import template
from django.conf import settings
from django.utils.translation import get_language_info

register = template.Library()


@register.simple_tag
@functools.cache
def customer_languages() -> list[tuple[str, str]]:
    """(code, name in that language) of each language the pages speak, e.g. ("fr", "Français"):
    the switcher names each language in itself, whatever the page's language."""
    return [(code, get_language_info(code)["name_local"].capitalize()) for code, _ in settings.LANGUAGES]
