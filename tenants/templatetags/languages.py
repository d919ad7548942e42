"""The product's languages for templates, each by the product's own name for it (``settings.LANGUAGES``)."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def product_languages() -> list[tuple[str, str]]:
    """(code, name) of each language, its name written in that language and never translated ("English",
    "Português (Brasil)"): a person finds their own language whatever the page's (Django's
    ``get_available_languages`` would translate "English" into the page's language)."""
    return [(code, str(name)) for code, name in settings.LANGUAGES]
