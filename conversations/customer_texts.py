"""Customer texts: what the product itself sends to customers, picked in the contact's language.

A workspace keeps one ``CustomerText`` per key ("greeting", "away", "csat_question"…) with its wording
per language (``CustomerTextVariant``). A feature that sends one asks ``customer_text_pick`` for the
key and the contact; ``None`` means the workspace has no such text, and the feature sends nothing.
Language tags are normalised like Django's (``pt_BR`` and ``pt-BR`` are ``pt-br``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.utils.translation import gettext as _

from conversations.models import Contact, CustomerTextVariant, Message
from helpdesk.exceptions import NotFound
from tenants.models import Tenant

KEY_RE = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)*")
KEY_MAX = 60
_TAG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


@dataclass(frozen=True, kw_only=True)
class CustomerTextChoice:
    """The wording picked for one contact: its language (one of the text's variants) and its body."""

    key: str
    language: str
    body: str


def language_normalise(tag: Any) -> str | None:
    """The tag in Django's form ("pt_BR" → "pt-br"), or None unless it names a language Django knows."""
    if not isinstance(tag, str):
        return None
    tag = tag.strip().replace("_", "-").lower()
    if not _TAG_RE.fullmatch(tag) or language_base(tag) not in LANG_INFO:
        return None
    return tag


def language_base(tag: str) -> str:
    """The language without its region or script: "pt-br" → "pt"."""
    return tag.split("-", 1)[0]


def customer_text_languages() -> frozenset[str]:
    """The languages a text may be written in: the product's languages and their base languages."""
    codes = {code.lower() for code, _label in settings.LANGUAGES}
    return frozenset(codes | {language_base(code) for code in codes})


def _workspace_language(tenant: Tenant) -> str:
    return language_normalise(tenant.locale) or settings.LANGUAGE_CODE


def _last_template_language(*, contact: Contact, tenant: Tenant) -> str | None:
    content = (
        Message.objects.filter(
            tenant_id=tenant.pk,
            conversation__tenant_id=tenant.pk,
            conversation__contact_id=contact.pk,
            direction=Message.Direction.OUTBOUND,
            type=Message.Type.TEMPLATE,
        )
        .exclude(status=Message.Status.FAILED)
        .order_by("-occurred_at", "-id")
        .values_list("content", flat=True)
        .first()
    )
    if not isinstance(content, dict):
        return None
    language = content.get("language")
    # A row stored before the neutral content keeps the channel's shape: {"code": "pt_BR", …}.
    if isinstance(language, dict):
        language = language.get("code")
    return language_normalise(language)


def contact_language(*, contact: Contact, tenant: Tenant) -> str:
    """The language to write to the contact in: their ``language`` attribute if it is a known tag, else
    the language of the last template sent to them, else the workspace's default locale."""
    if contact.tenant_id != tenant.pk:
        raise NotFound(_("No such contact."))
    attributes = contact.custom_attributes if isinstance(contact.custom_attributes, dict) else {}
    return (
        language_normalise(attributes.get("language"))
        or _last_template_language(contact=contact, tenant=tenant)
        or _workspace_language(tenant)
    )


def _closest(languages: list[str], wanted: str) -> str | None:
    """``wanted`` itself, else its base language, else the first variant of the same base language."""
    if wanted in languages:
        return wanted
    base = language_base(wanted)
    if base in languages:
        return base
    return next((language for language in languages if language_base(language) == base), None)


def customer_text_pick(*, tenant: Tenant, key: str, contact: Contact) -> CustomerTextChoice | None:
    """The workspace's text ``key`` in the contact's language, else the closest one: the same base
    language, the workspace's default locale, or else the first variant by language code. None when the
    workspace has no such text (or none with words in it), so callers send nothing."""
    if contact.tenant_id != tenant.pk:
        raise NotFound(_("No such contact."))
    rows = CustomerTextVariant.objects.filter(tenant_id=tenant.pk, text__tenant_id=tenant.pk, text__key=key)
    bodies = {language: body for language, body in rows.values_list("language", "body") if body.strip()}
    if not bodies:
        return None
    languages = sorted(bodies)
    language = (
        _closest(languages, contact_language(contact=contact, tenant=tenant))
        or _closest(languages, _workspace_language(tenant))
        or languages[0]
    )
    return CustomerTextChoice(key=key, language=language, body=bodies[language])
