"""Customers' own words about marketing: "PARAR" (or a "Parar promoções" button) opts them out, "VOLTAR" back in,
and WhatsApp's marketing preferences (a customer's stop or resume in the app) — each a row of the consent ledger.

Subscribers of the core's events (each (event, subscriber) its own idempotent job, docs/events.md):

- ``message_received`` (``MessageReceived``): a message that is *only* a keyword of the workspace (accents, case,
  spaces and punctuation around it do not matter; a keyword inside a sentence is not one), a reply to a button
  whose id is ``STOP_PROMOTIONS``, or a template's quick reply titled with a keyword ("Unsubscribe"; a bot's menu
  button "Parar" stops the bot, not marketing). The ledger row's key is the message's, so a replayed message records
  once, and the confirmation (when the workspace wants one) is sent once, in the contact's language. A word that resumes
  marketing counts only from a contact who had stopped it ("voltar" is also "go back" in a bot's menu: it must not
  opt anyone in by accident). A bot flow the customer is in still gets the message as its answer: stopping
  marketing does not end a conversation with the bot.
- ``preference_reported`` (``MarketingPreferenceReported``): the channel's report of a stop or a resume.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.consent import (
    KEYWORD_MAX,
    Kind,
    Source,
    consent_record,
    consent_settings_get,
    keyword_normalise,
    marketing_purpose,
)
from campaigns.models import ConsentSettings
from conversations import events
from conversations.actors import AutomationActor, SystemActor
from conversations.content import ReplyContent, content_read
from conversations.customer_texts import contact_language, customer_text_pick, language_base
from conversations.models import Contact, Conversation, CustomerTextVariant, Message
from conversations.services.customer_texts import customer_text_delete, customer_text_set
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import ApplicationError, ValidationFailed
from tenants.languages import language_or_none
from tenants.models import ApiToken, Membership
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

SUBSCRIBER_KEYWORDS = "campaigns.consent_keywords"
SUBSCRIBER_PREFERENCES = "campaigns.consent_preferences"
KIND = "consent"

# The id of the button that stops promotions (a template's quick reply payload, or an interactive button).
STOP_BUTTON_ID = "STOP_PROMOTIONS"
STOP_BUTTON_TITLES = frozenset({"parar promocoes", "stop promotions"})
# A template's quick reply titled with a keyword ("Unsubscribe") is one; a bot's or an agent's menu button is not.
TEMPLATE_BUTTON = "template_button"
KEYWORD_TYPES = frozenset({Message.Type.TEXT, Message.Type.BUTTON, Message.Type.INTERACTIVE})

# Customer texts (conversations.customer_texts): the workspace may write its own; else these, in the
# contact's language.
TEXT_OPTED_OUT = "consent_opted_out"
TEXT_OPTED_IN = "consent_opted_in"
_DEFAULTS = {
    TEXT_OPTED_OUT: (
        gettext_lazy("Done: you will not receive our marketing messages any more."),
        gettext_lazy("To receive them again, reply %(keyword)s."),
    ),
    TEXT_OPTED_IN: (
        gettext_lazy("Done: you will receive our marketing messages again."),
        gettext_lazy("To stop them, reply %(keyword)s at any time."),
    ),
}
# Which of the workspace's keywords to suggest in a language (the first one otherwise).
_SUGGESTED = {
    "en": ("stop", "start", "unsubscribe"),
    "pt": ("parar", "voltar", "sair", "cancelar", "descadastrar"),
    "es": ("parar", "baja", "alta"),
}


def automation_actor(settings: ConsentSettings) -> AutomationActor:
    return AutomationActor(
        tenant_id=settings.tenant_id, automation_id=settings.pk or 0, name=_("Consent keywords"), kind=KIND
    )


def _words(keywords: Any) -> set[str]:
    return {keyword_normalise(str(w)) for w in (keywords or []) if keyword_normalise(str(w))}


def keyword_kind(settings: ConsentSettings, text: str) -> str | None:
    """``opt_out`` or ``opt_in`` when the whole text is one of the workspace's keywords; None otherwise."""
    said = keyword_normalise(text)
    if not said:
        return None
    if said in _words(settings.opt_out_keywords):
        return Kind.OPT_OUT
    if said in _words(settings.opt_in_keywords):
        return Kind.OPT_IN
    return None


def _said(message: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(text, button id, reply type: "" for a text) of a customer message that may be a keyword; None if it cannot
    be one."""
    if message["type"] == Message.Type.TEXT:
        text = message["text"] or ""
        # Longer than any keyword with its punctuation: a sentence, never a keyword (no further read).
        if len(text) > KEYWORD_MAX * 3:
            return None
        return text, "", ""
    if message["type"] in (Message.Type.BUTTON, Message.Type.INTERACTIVE):
        content = content_read(message["content"])
        if isinstance(content, ReplyContent):
            return content.title or message["text"] or "", content.id, content.reply_type or "button"
    return None


def message_received(event: events.MessageReceived) -> None:
    if event.message_type not in KEYWORD_TYPES:
        return  # a picture, a location, an order…: never a keyword (nothing read)
    message = (
        Message.objects.filter(tenant_id=event.tenant_id, pk=event.message_id, direction=Message.Direction.INBOUND)
        .values("pk", "type", "text", "content", "occurred_at", "external_id", "conversation_id")
        .first()
    )
    if message is None:
        return
    said = _said(message)
    if said is None:
        return
    text, button_id, reply_type = said
    is_button = reply_type != ""
    kind: str | None = None
    if is_button and (button_id.upper() == STOP_BUTTON_ID or keyword_normalise(text) in STOP_BUTTON_TITLES):
        kind = Kind.OPT_OUT
    elif is_button and reply_type != TEMPLATE_BUTTON:
        return  # a bot's or an agent's menu: its "Parar" stops that conversation, not marketing
    settings = consent_settings_get(tenant_id=event.tenant_id)
    if kind is None:
        kind = keyword_kind(settings, text)
    if kind is None:
        return
    conversation = (
        Conversation.objects.select_related("tenant", "inbox", "contact", "contact_inbox")
        .filter(tenant_id=event.tenant_id, pk=message["conversation_id"])
        .first()
    )
    if conversation is None:
        return
    contact = conversation.contact
    if kind == Kind.OPT_IN and contact.marketing_consent != Contact.MarketingConsent.OPTED_OUT:
        return  # a word that resumes marketing, from someone who had not stopped it: nothing to resume
    with translation.override(conversation.tenant.locale or django_settings.LANGUAGE_CODE):
        actor = automation_actor(settings)  # named in the workspace's language, like its other automations
    evidence = {"message_id": message["pk"], "external_id": message["external_id"], "text": text[:500]}
    if button_id:
        evidence["button_id"] = button_id[:200]
    with transaction.atomic():
        _event, created = consent_record(
            actor=actor,
            contact=contact,
            purpose=marketing_purpose(tenant_id=event.tenant_id),
            kind=kind,
            source=Source.BUTTON if is_button else Source.KEYWORD,
            occurred_at=message["occurred_at"],
            evidence=evidence,
            dedupe_key=f"message:{message['pk']}",
        )
    if created and settings.confirm:
        confirmation_send(
            actor=actor, settings=settings, conversation=conversation, kind=kind, message_id=message["pk"]
        )


def _suggested_keyword(words: Any, language: str) -> str:
    words = [str(w) for w in (words or []) if str(w).strip()]
    hints = _SUGGESTED.get(language_base(language), ())
    for word in words:
        if keyword_normalise(word) in hints:
            return word
    return words[0] if words else ""


def confirmation_text(*, settings: ConsentSettings, conversation: Conversation, kind: str) -> str:
    """What the customer reads after a keyword: the workspace's wording in their language, else the built-in one."""
    key = TEXT_OPTED_OUT if kind == Kind.OPT_OUT else TEXT_OPTED_IN
    contact, tenant = conversation.contact, conversation.tenant
    language = language_or_none(contact_language(contact=contact, tenant=tenant)) or django_settings.LANGUAGE_CODE
    choice = customer_text_pick(tenant=tenant, key=key, contact=contact)
    if choice is not None and (language_or_none(choice.language) or "") == language:
        return choice.body
    return confirmation_builtin(settings=settings, kind=kind, language=language)


def confirmation_builtin(*, settings: ConsentSettings, kind: str, language: str) -> str:
    """The product's own confirmation in ``language``, naming the workspace's word that undoes the answer."""
    done, hint = _DEFAULTS[TEXT_OPTED_OUT if kind == Kind.OPT_OUT else TEXT_OPTED_IN]
    other = settings.opt_in_keywords if kind == Kind.OPT_OUT else settings.opt_out_keywords
    keyword = _suggested_keyword(other, language)
    with translation.override(language):
        text = str(done)
        if keyword:
            text += " " + str(hint) % {"keyword": keyword}
    return text


# The workspace's own confirmations: a text per kind, a wording per language (a language without one gets the
# built-in confirmation). Written on Settings > Consent by those who manage broadcasts.
CONFIRMATION_KEYS = {Kind.OPT_OUT: TEXT_OPTED_OUT, Kind.OPT_IN: TEXT_OPTED_IN}


def confirmation_texts_get(*, tenant_id: int) -> dict[str, dict[str, str]]:
    """Kind (``opt_out``, ``opt_in``) → {language: the workspace's wording}, in one query."""
    kinds = {key: kind for kind, key in CONFIRMATION_KEYS.items()}
    texts: dict[str, dict[str, str]] = {kind: {} for kind in CONFIRMATION_KEYS}
    variants = CustomerTextVariant.objects.filter(tenant_id=tenant_id, text__key__in=kinds).values_list(
        "text__key", "language", "body"
    )
    for key, language, body in variants:
        texts[kinds[key]][language] = body
    return texts


@transaction.atomic
def confirmation_texts_set(
    *, actor: Membership | ApiToken, texts: Mapping[str, Mapping[str, str]], request: Any = None
) -> None:
    """Make the workspace's confirmations read ``texts`` (kind → {language: wording}); a blank wording, or a
    language left out, goes back to the built-in confirmation. Needs "Manage broadcasts"."""
    require_perm(actor, Perm.MANAGE_BROADCASTS)
    current = confirmation_texts_get(tenant_id=actor.tenant_id)
    for kind, key in CONFIRMATION_KEYS.items():
        given = texts.get(kind) or {}
        if not isinstance(given, Mapping):
            raise ValidationFailed(_("Give the texts as a language and its wording."), details={"field": kind})
        wanted = {language: body for language, body in given.items() if isinstance(body, str) and body.strip()}
        if wanted:
            try:
                customer_text_set(actor=actor, key=key, variants=wanted, request=request, perm=Perm.MANAGE_BROADCASTS)
            except ValidationFailed as exc:
                raise ValidationFailed(exc.message, details={**exc.details, "field": kind}) from exc
        elif current[kind]:
            customer_text_delete(actor=actor, key=key, request=request, perm=Perm.MANAGE_BROADCASTS)


def confirmation_send(
    *, actor: AutomationActor, settings: ConsentSettings, conversation: Conversation, kind: str, message_id: int
) -> None:
    """Confirm to the customer, who just wrote (the window is open); a refusal is logged, never fatal."""
    text = confirmation_text(settings=settings, conversation=conversation, kind=kind)
    try:
        with transaction.atomic():
            message_send(
                actor=actor,
                conversation=conversation,
                spec=OutboundSpec(type=Message.Type.TEXT, text=text),
                idempotency_key=f"consent-{message_id}",
            )
    except ApplicationError as exc:
        logger.warning(
            "The consent confirmation in conversation %s was refused: %s (%s)", conversation.pk, exc.message, exc.code
        )


PREFERENCE_KINDS = {"stop": Kind.OPT_OUT, "resume": Kind.RESUME}


def preference_reported(event: events.MarketingPreferenceReported) -> None:
    kind = PREFERENCE_KINDS.get(event.value)
    if kind is None:
        return
    contact = Contact.objects.filter(tenant_id=event.tenant_id, pk=event.contact_id).first()
    if contact is None:
        return  # erased since
    with transaction.atomic():
        consent_record(
            actor=SystemActor(tenant_id=event.tenant_id),
            contact=contact,
            purpose=marketing_purpose(tenant_id=event.tenant_id),
            kind=kind,
            source=Source.WHATSAPP,
            occurred_at=event.reported_at,
            evidence={"channel": event.channel_type, "value": event.value, "detail": event.detail[:255]},
            dedupe_key=event.dedupe_key,
        )
