"""The satisfaction survey (CSAT) of each inbox: its settings, what the customer reads and the one write.

The settings are a row of ``CsatSettings`` per inbox (defaults where never saved). What the customer reads
(the question, the list's button, the five ratings, the three buttons, the thanks, the comment prompt and
its thanks) is the workspace's customer texts ``text_key(inbox, part)``, one variant per language; a part
without wording in the customer's language is sent in the built-in wording of that language (pt-BR, en).
Everything is checked before anything is written; "Manage automations"; audited (``csat_settings.changed``).
The sending and the answers are ``csat_sender``; the page's and the API's figures ``csat_reports``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from automations.auto_resolve import inbox_get
from automations.models import CSAT_COMMENT_MINUTES_MAX, CsatSettings
from conversations import channels
from conversations.actors import Actor, actor_audit_record
from conversations.customer_texts import contact_language, customer_text_pick, language_normalise
from conversations.models import Contact, CustomerText, CustomerTextVariant, Inbox
from conversations.selectors import inbox_list
from conversations.services.customer_texts import BODY_MAX, customer_text_delete, customer_text_set
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.languages import language_or_none
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

Style = CsatSettings.Style

# WhatsApp's limits on what an interactive message carries.
BODY_LIMIT = 1024
LIST_BUTTON_LIMIT = 20
ROW_TITLE_LIMIT = 24
BUTTON_TITLE_LIMIT = 20

RATINGS = (5, 4, 3, 2, 1)
# The three reply buttons and the rating each gives.
BUTTON_RATINGS = (("button_good", 5), ("button_regular", 3), ("button_bad", 1))
# A template's quick-reply buttons, in order, and the ratings they give (by how many it has).
TEMPLATE_RATINGS: dict[int, tuple[int, ...]] = {2: (5, 1), 3: (5, 3, 1), 5: (5, 4, 3, 2, 1)}


@dataclass(frozen=True)
class Part:
    """One text of the survey: its name, its label on the settings page, its limit and built-in wording."""

    name: str
    label: Promise
    limit: int
    default: Promise


# A row's built-in title: the rating, an en dash, its word.
ROW_DEFAULTS = {
    5: pgettext_lazy("csat rating", "5 – Excellent"),  # noqa: RUF001
    4: pgettext_lazy("csat rating", "4 – Good"),  # noqa: RUF001
    3: pgettext_lazy("csat rating", "3 – Fair"),  # noqa: RUF001
    2: pgettext_lazy("csat rating", "2 – Poor"),  # noqa: RUF001
    1: pgettext_lazy("csat rating", "1 – Terrible"),  # noqa: RUF001
}

PARTS: tuple[Part, ...] = (
    Part("question", gettext_lazy("Question"), BODY_LIMIT, gettext_lazy("How would you rate our service?")),
    Part("list_button", gettext_lazy("Button that opens the list"), LIST_BUTTON_LIMIT, gettext_lazy("Rate")),
    Part("rating_5", gettext_lazy("Rating 5"), ROW_TITLE_LIMIT, ROW_DEFAULTS[5]),
    Part("rating_4", gettext_lazy("Rating 4"), ROW_TITLE_LIMIT, ROW_DEFAULTS[4]),
    Part("rating_3", gettext_lazy("Rating 3"), ROW_TITLE_LIMIT, ROW_DEFAULTS[3]),
    Part("rating_2", gettext_lazy("Rating 2"), ROW_TITLE_LIMIT, ROW_DEFAULTS[2]),
    Part("rating_1", gettext_lazy("Rating 1"), ROW_TITLE_LIMIT, ROW_DEFAULTS[1]),
    Part("button_good", gettext_lazy("Button “good” (5)"), BUTTON_TITLE_LIMIT, pgettext_lazy("csat", "Great")),
    Part("button_regular", gettext_lazy("Button “regular” (3)"), BUTTON_TITLE_LIMIT, pgettext_lazy("csat", "Okay")),
    Part("button_bad", gettext_lazy("Button “bad” (1)"), BUTTON_TITLE_LIMIT, pgettext_lazy("csat", "Bad")),
    Part("thanks", gettext_lazy("Thanks for the rating"), BODY_MAX, gettext_lazy("Thank you for your rating!")),
    Part(
        "comment_prompt",
        gettext_lazy("Comment prompt"),
        BODY_MAX,
        gettext_lazy("If you like, write us a comment about the service in your next message."),
    ),
    Part(
        "comment_thanks", gettext_lazy("Thanks for the comment"), BODY_MAX, gettext_lazy("Thank you for your comment!")
    ),
)
PART_NAMES = tuple(part.name for part in PARTS)
_PARTS = {part.name: part for part in PARTS}


def text_key(inbox_id: int, part: str) -> str:
    """The customer text holding one part of an inbox's survey (``csat-inbox-7-question``)."""
    return f"csat-inbox-{inbox_id}-{part.replace('_', '-')}"


def text_languages() -> tuple[str, ...]:
    """The languages the survey is written in: the product's."""
    return tuple(code.lower() for code, _name in django_settings.LANGUAGES)


def part_default(part: str, language: str) -> str:
    """The built-in wording of ``part`` in ``language`` (one of the product's)."""
    with translation.override(language):
        return str(_PARTS[part].default)


# --- what the customer reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyTexts:
    """The survey's texts for one customer, all in one language."""

    language: str
    texts: dict[str, str]

    def __getitem__(self, part: str) -> str:
        return self.texts[part]


def survey_texts(*, tenant: Tenant, inbox_id: int, contact: Contact) -> SurveyTexts:
    """Every part in the contact's language (the product's closest to it): the workspace's wording where it
    has one in that language, else the built-in one, so a survey never mixes two languages."""
    language = language_or_none(contact_language(contact=contact, tenant=tenant)) or django_settings.LANGUAGE_CODE
    texts = {}
    for name in PART_NAMES:
        choice = customer_text_pick(tenant=tenant, key=text_key(inbox_id, name), contact=contact)
        written = choice is not None and (language_or_none(choice.language) or "") == language
        texts[name] = choice.body if written and choice is not None else part_default(name, language)
    return SurveyTexts(language=language, texts=texts)


# --- the settings, as the pages and the API hand them over ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CsatSpec:
    enabled: bool = False
    style: str = Style.LIST
    send_on_resolve: bool = True
    send_before_window_closes: bool = False
    ask_comment: bool = False
    comment_minutes: int = 10
    template_name: str = ""
    template_language: str = ""
    # Part -> language -> wording; a part or language left out has the built-in wording.
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CsatRow:
    """One inbox on the settings page and in the API."""

    inbox: Inbox
    settings: CsatSettings  # unsaved defaults for an inbox never set up
    texts: dict[str, dict[str, str]]

    @property
    def spec(self) -> CsatSpec:
        return csat_spec(self.settings, self.texts)


def csat_spec(settings: CsatSettings, texts: Mapping[str, Mapping[str, str]]) -> CsatSpec:
    return CsatSpec(
        enabled=settings.enabled,
        style=settings.style,
        send_on_resolve=settings.send_on_resolve,
        send_before_window_closes=settings.send_before_window_closes,
        ask_comment=settings.ask_comment,
        comment_minutes=settings.comment_minutes,
        template_name=settings.template_name,
        template_language=settings.template_language,
        texts={part: dict(by_language) for part, by_language in texts.items()},
    )


def _texts_of_inboxes(tenant_id: int, inbox_ids: list[int]) -> dict[int, dict[str, dict[str, str]]]:
    """Inbox -> part -> language -> wording of these inboxes' surveys, in one query."""
    keys = {text_key(pk, part): (pk, part) for pk in inbox_ids for part in PART_NAMES}
    rows = CustomerTextVariant.objects.filter(tenant_id=tenant_id, text__tenant_id=tenant_id, text__key__in=list(keys))
    found: dict[int, dict[str, dict[str, str]]] = {}
    for key, language, body in sorted(rows.values_list("text__key", "language", "body")):
        pk, part = keys[key]
        found.setdefault(pk, {}).setdefault(part, {})[language] = body
    return found


def _defaults(inbox: Inbox) -> CsatSettings:
    return CsatSettings(tenant_id=inbox.tenant_id, inbox=inbox)


def csat_rows(*, tenant: Tenant) -> list[CsatRow]:
    """Every inbox of the workspace with its survey, by name (three queries)."""
    inboxes = list(inbox_list(tenant=tenant).order_by("name", "id"))
    ids = [inbox.pk for inbox in inboxes]
    saved = {row.inbox_id: row for row in CsatSettings.objects.filter(tenant_id=tenant.pk, inbox_id__in=ids)}
    texts = _texts_of_inboxes(tenant.pk, ids)
    return [
        CsatRow(inbox=inbox, settings=saved.get(inbox.pk) or _defaults(inbox), texts=texts.get(inbox.pk, {}))
        for inbox in inboxes
    ]


def csat_row(*, tenant: Tenant, inbox_id: int) -> CsatRow:
    """One inbox's survey (404 for an inbox not of this workspace)."""
    inbox = inbox_get(tenant=tenant, inbox_id=inbox_id)
    settings = CsatSettings.objects.filter(tenant_id=tenant.pk, inbox=inbox).first()
    texts = _texts_of_inboxes(tenant.pk, [inbox.pk]).get(inbox.pk, {})
    return CsatRow(inbox=inbox, settings=settings or _defaults(inbox), texts=texts)


def template_choices(inbox: Inbox) -> list[dict[str, Any]]:
    """The inbox's approved UTILITY templates the survey can use: nothing to fill in, and 2, 3 or 5
    quick-reply buttons (the ratings, best first) and no other button."""
    try:
        templates = channels.backend_for(inbox).templates_for(inbox)
    except LookupError:
        return []
    usable = []
    for template in templates:
        if str(template.get("category", "")).upper() != "UTILITY":
            continue
        if template.get("header_params") or template.get("body_params"):
            continue
        buttons = template.get("buttons") or []
        if any(button.get("needs") not in ("quick_reply",) for button in buttons):
            continue
        if len(buttons) not in TEMPLATE_RATINGS:
            continue
        usable.append(template)
    return usable


# --- checks --------------------------------------------------------------------------------------------


def _invalid(message: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, **details})


def _clean_texts(texts: Any) -> dict[str, dict[str, str]]:
    if not isinstance(texts, Mapping):
        raise _invalid(_("Give the texts as a part, then a language and its wording."), "texts")
    allowed = text_languages()
    cleaned: dict[str, dict[str, str]] = {}
    for part, by_language in texts.items():
        if part not in _PARTS:
            raise _invalid(
                _("“%(part)s” is not a text of the survey; they are: %(parts)s.")
                % {"part": part, "parts": ", ".join(PART_NAMES)},
                "texts",
                part=str(part),
            )
        if not isinstance(by_language, Mapping):
            raise _invalid(_("Give the texts as a part, then a language and its wording."), "texts", part=part)
        limit = _PARTS[part].limit
        for given, body in by_language.items():
            language = language_normalise(given)
            if language not in allowed:
                raise _invalid(
                    _("The survey can be written in %(languages)s; “%(language)s” is not one of them.")
                    % {"languages": ", ".join(allowed), "language": given},
                    "texts",
                    part=part,
                    language=str(given),
                )
            if not isinstance(body, str) or "\x00" in body:
                raise _invalid(_("A text is written as a string."), "texts", part=part, language=language)
            body = body.strip()
            if not body:
                continue
            if len(body) > limit:
                raise _invalid(
                    _("%(part)s in %(language)s has more than %(max)s characters (WhatsApp's limit).")
                    % {"part": _PARTS[part].label, "language": language, "max": limit},
                    "texts",
                    part=part,
                    language=language,
                    length=len(body),
                )
            cleaned.setdefault(part, {})[language] = body
    return {part: dict(sorted(by_language.items())) for part, by_language in sorted(cleaned.items())}


def _clean_template(inbox: Inbox, name: Any, language: Any) -> tuple[str, str]:
    name = name.strip() if isinstance(name, str) else ""
    language = language.strip() if isinstance(language, str) else ""
    if not name:
        return "", ""
    usable = {(t["name"], t["language"]) for t in template_choices(inbox)}
    if (name, language) not in usable:
        raise _invalid(
            _(
                "The template “%(name)s” (%(language)s) cannot carry the survey: choose an approved UTILITY template "
                "of this inbox with nothing to fill in and 2, 3 or 5 quick-reply buttons."
            )
            % {"name": name, "language": language or "—"},
            "template_name",
        )
    return name, language


def csat_clean(inbox: Inbox, spec: CsatSpec) -> CsatSpec:
    if spec.style not in Style.values:
        raise _invalid(_("Unknown choice “%(value)s”.") % {"value": spec.style}, "style", value=str(spec.style))
    minutes = spec.comment_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= CSAT_COMMENT_MINUTES_MAX:
        raise _invalid(
            _("The minutes to write the comment are a whole number from %(min)s to %(max)s.")
            % {"min": 1, "max": CSAT_COMMENT_MINUTES_MAX},
            "comment_minutes",
            min=1,
            max=CSAT_COMMENT_MINUTES_MAX,
        )
    name, language = _clean_template(inbox, spec.template_name, spec.template_language)
    return CsatSpec(
        enabled=bool(spec.enabled),
        style=spec.style,
        send_on_resolve=bool(spec.send_on_resolve),
        send_before_window_closes=bool(spec.send_before_window_closes),
        ask_comment=bool(spec.ask_comment),
        comment_minutes=minutes,
        template_name=name,
        template_language=language,
        texts=_clean_texts(spec.texts),
    )


# --- the write ----------------------------------------------------------------------------------------


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _audit_values(spec: CsatSpec) -> dict[str, Any]:
    return {
        "enabled": _switch(spec.enabled),
        "style": spec.style,
        "send_on_resolve": _switch(spec.send_on_resolve),
        "send_before_window_closes": _switch(spec.send_before_window_closes),
        "ask_comment": _switch(spec.ask_comment),
        "comment_minutes": spec.comment_minutes,
        "template": f"{spec.template_name} ({spec.template_language})" if spec.template_name else "",
    }


def _texts_write(
    *, actor: Actor, inbox: Inbox, before: Mapping[str, Any], after: Mapping[str, Any], request: Any
) -> list[str]:
    """Write the parts whose wording changed; returns their names."""
    changed = []
    for part in PART_NAMES:
        old, new = dict(before.get(part, {})), dict(after.get(part, {}))
        if old == new:
            continue
        changed.append(part)
        key = text_key(inbox.pk, part)
        if new:
            customer_text_set(actor=actor, key=key, variants=new, request=request)
        elif CustomerText.objects.filter(tenant_id=inbox.tenant_id, key=key).exists():
            customer_text_delete(actor=actor, key=key, request=request)
    return changed


@transaction.atomic
def csat_update(*, actor: Actor, inbox: Inbox, spec: CsatSpec, request: Any = None) -> CsatRow:
    """Make the inbox's survey read ``spec``; a refusal leaves it as it was, an unchanged one records nothing."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if inbox.tenant_id != actor.tenant_id:
        raise NotFound(_("No such inbox."))
    spec = csat_clean(inbox, spec)
    settings = CsatSettings.objects.select_for_update(no_key=True).filter(
        tenant_id=inbox.tenant_id, inbox=inbox
    ).first() or _defaults(inbox)
    before_texts = _texts_of_inboxes(inbox.tenant_id, [inbox.pk]).get(inbox.pk, {})
    old, new = _audit_values(csat_spec(settings, before_texts)), _audit_values(spec)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    reworded = _texts_write(actor=actor, inbox=inbox, before=before_texts, after=spec.texts, request=request)
    if not changes and not reworded:
        return CsatRow(inbox=inbox, settings=settings, texts=before_texts)
    fields = {
        "enabled": spec.enabled,
        "style": spec.style,
        "send_on_resolve": spec.send_on_resolve,
        "send_before_window_closes": spec.send_before_window_closes,
        "ask_comment": spec.ask_comment,
        "comment_minutes": spec.comment_minutes,
        "template_name": spec.template_name,
        "template_language": spec.template_language,
    }
    for name, value in fields.items():
        setattr(settings, name, value)
    if settings.pk is None:
        settings.save()
    else:
        settings.save(update_fields=[*fields, "updated_at"])
    extra: dict[str, Any] = {"inbox_id": inbox.pk, "changes": changes}
    if reworded:
        extra["reworded"] = reworded
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CSAT_SETTINGS_CHANGED,
        tenant=inbox.tenant,
        target=inbox,
        target_label=inbox.name,
        request=request,
        extra=extra,
    )
    return CsatRow(inbox=inbox, settings=settings, texts={p: dict(v) for p, v in spec.texts.items()})
