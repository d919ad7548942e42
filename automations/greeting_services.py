"""Writing an inbox's greeting and away messages: when each is sent and what it says, per language.

The settings are a row of ``GreetingSettings`` per inbox; the wording is the workspace's customer texts
``greeting-inbox-<id>`` and ``away-inbox-<id>`` (``conversations.customer_texts``), one variant per language
of the product. Everything is checked before anything is written, in one transaction, so a refused change
leaves the inbox as it was. Needs "Manage automations"; audited (``greeting_settings.changed``, and the
customer texts' own entries for their wording).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from automations.greeting_texts import VARIABLES, variables_list, variables_unknown
from automations.models import AutomatedMessage, GreetingSettings, InboxSettings
from conversations.actors import actor_audit_record
from conversations.customer_texts import language_normalise
from conversations.models import CustomerTextVariant, Inbox
from conversations.services.customer_texts import BODY_MAX, customer_text_delete, customer_text_set
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm

Actor = Membership | ApiToken
Kind = AutomatedMessage.Kind
When = GreetingSettings.When

AFTER_DAYS_MAX = 365
EVERY_HOURS_MAX = 168
QUIET_MINUTES_MAX = 1440
# WhatsApp's limit for the caption of an image, a video or a document: a wording sent with a file.
CAPTION_MAX = 1024


def text_key(kind: str, inbox_id: int) -> str:
    """The customer text holding an inbox's greeting (``greeting-inbox-7``) or away message."""
    return f"{kind}-inbox-{inbox_id}"


def text_languages() -> tuple[str, ...]:
    """The languages a greeting or away message is written in: the product's."""
    return tuple(code for code, _name in settings.LANGUAGES)


@dataclass(frozen=True, kw_only=True)
class GreetingSpec:
    """Everything an inbox's greeting and away messages hold, as the page and the API hand it over."""

    greeting_enabled: bool = False
    greeting_when: str = When.FIRST_EVER
    greeting_after_days: int = 30
    # Language -> body; a language left out (or blank) has no wording.
    greeting_texts: dict[str, str] = field(default_factory=dict)
    away_enabled: bool = False
    away_every_hours: int = 4
    away_agent_quiet_minutes: int = 15
    away_texts: dict[str, str] = field(default_factory=dict)


def _texts_of_inboxes(tenant_id: int, inbox_ids: list[int]) -> dict[tuple[str, int], dict[str, str]]:
    """(kind, inbox id) → {language: body} of these inboxes' greeting and away texts, in one query."""
    keys = {text_key(kind, pk): (kind, pk) for pk in inbox_ids for kind in (Kind.GREETING, Kind.AWAY)}
    variants = CustomerTextVariant.objects.filter(
        tenant_id=tenant_id, text__tenant_id=tenant_id, text__key__in=list(keys)
    ).values_list("text__key", "language", "body")
    texts: dict[tuple[str, int], dict[str, str]] = {}
    for key, language, body in sorted(variants):
        texts.setdefault(keys[key], {})[language] = body
    return texts


def _spec_of(row: GreetingSettings | None, greeting_texts: dict[str, str], away_texts: dict[str, str]) -> GreetingSpec:
    if row is None:  # never saved: the defaults
        return GreetingSpec(greeting_texts=greeting_texts, away_texts=away_texts)
    return GreetingSpec(
        greeting_enabled=row.greeting_enabled,
        greeting_when=row.greeting_when,
        greeting_after_days=row.greeting_after_days,
        greeting_texts=greeting_texts,
        away_enabled=row.away_enabled,
        away_every_hours=row.away_every_hours,
        away_agent_quiet_minutes=row.away_agent_quiet_minutes,
        away_texts=away_texts,
    )


def greeting_spec(*, inbox: Inbox, row: GreetingSettings | None = None) -> GreetingSpec:
    """What the inbox holds now (the defaults if it was never saved); ``row``: its settings, if read already."""
    row = row if row is not None else GreetingSettings.objects.filter(tenant_id=inbox.tenant_id, inbox=inbox).first()
    texts = _texts_of_inboxes(inbox.tenant_id, [inbox.pk])
    return _spec_of(row, texts.get((Kind.GREETING, inbox.pk), {}), texts.get((Kind.AWAY, inbox.pk), {}))


def greeting_specs(*, tenant_id: int, inboxes: list[Inbox]) -> dict[int, GreetingSpec]:
    """What each of these inboxes holds (the defaults where never saved), in two queries for any number."""
    rows = {row.inbox_id: row for row in GreetingSettings.objects.filter(tenant_id=tenant_id, inbox__in=inboxes)}
    texts = _texts_of_inboxes(tenant_id, [inbox.pk for inbox in inboxes])
    return {
        inbox.pk: _spec_of(
            rows.get(inbox.pk), texts.get((Kind.GREETING, inbox.pk), {}), texts.get((Kind.AWAY, inbox.pk), {})
        )
        for inbox in inboxes
    }


# --- checks ----------------------------------------------------------------------------------------


def _invalid(message: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, **details})


def _whole(value: Any, field: str, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(message % {"min": low, "max": high}, field, min=low, max=high)
    return value


def _clean_texts(texts: Any, field: str, kind_label: str) -> dict[str, str]:
    if not isinstance(texts, dict):
        raise _invalid(_("Give the texts as a language and its wording."), field)
    allowed = text_languages()
    cleaned: dict[str, str] = {}
    for given, body in texts.items():
        language = language_normalise(given)
        if language not in allowed:
            raise _invalid(
                _("%(what)s can be written in %(languages)s; “%(language)s” is not one of them.")
                % {"what": kind_label, "languages": ", ".join(allowed), "language": given},
                field,
                language=str(given),
            )
        if language in cleaned:
            raise _invalid(
                _("%(what)s is given twice in %(language)s.") % {"what": kind_label, "language": language},
                field,
                language=language,
            )
        if not isinstance(body, str):
            raise _invalid(_("A text is written as a string."), field, language=language)
        if "\x00" in body:
            raise _invalid(_("The text contains a null character."), field, language=language)
        body = body.strip()
        if not body:
            continue  # no wording in this language
        if len(body) > BODY_MAX:
            raise _invalid(
                _("%(what)s in %(language)s has more than %(max)s characters.")
                % {"what": kind_label, "language": language, "max": BODY_MAX},
                field,
                language=language,
                length=len(body),
            )
        unknown = variables_unknown(body)
        if unknown:
            raise _invalid(
                _("%(what)s in %(language)s uses the unknown variable %(variable)s. The variables are: %(known)s.")
                % {
                    "what": kind_label,
                    "language": language,
                    "variable": f"{{{{{unknown[0]}}}}}",
                    "known": variables_list(),
                },
                field,
                language=language,
                variable=unknown[0],
                variables=list(VARIABLES),
            )
        cleaned[language] = body
    return dict(sorted(cleaned.items()))


def caption_check(texts: dict[str, str], *, field: str) -> None:
    """A wording sent as a file's caption fits WhatsApp's caption limit."""
    for language, body in sorted(texts.items()):
        if len(body) > CAPTION_MAX:
            raise ValidationFailed(
                _("With a file, the wording is its caption: at most %(max)s characters.") % {"max": CAPTION_MAX},
                details={"field": field, "language": language, "length": len(body)},
            )


def greeting_clean(spec: GreetingSpec, *, has_calendar: bool, with_file: frozenset[str] = frozenset()) -> GreetingSpec:
    """The spec, tidied (texts stripped, blank languages dropped), or ``ValidationFailed`` naming the field.
    ``with_file``: the message kinds that carry a file, whose wording is its caption."""
    if spec.greeting_when not in When.values:
        raise _invalid(
            _("Unknown choice “%(value)s”.") % {"value": spec.greeting_when}, "greeting_when", value=spec.greeting_when
        )
    after_days = _whole(
        spec.greeting_after_days,
        "greeting_after_days",
        1,
        AFTER_DAYS_MAX,
        _("The days without contact are a whole number from %(min)s to %(max)s."),
    )
    every_hours = _whole(
        spec.away_every_hours,
        "away_every_hours",
        1,
        EVERY_HOURS_MAX,
        _("The hours between two away messages are a whole number from %(min)s to %(max)s."),
    )
    quiet = _whole(
        spec.away_agent_quiet_minutes,
        "away_agent_quiet_minutes",
        0,
        QUIET_MINUTES_MAX,
        _("The minutes after an agent's reply are a whole number from %(min)s to %(max)s."),
    )
    greeting_texts = _clean_texts(spec.greeting_texts, "greeting_texts", _("The greeting"))
    away_texts = _clean_texts(spec.away_texts, "away_texts", _("The away message"))
    if Kind.GREETING in with_file:
        caption_check(greeting_texts, field="greeting_texts")
    if Kind.AWAY in with_file:
        caption_check(away_texts, field="away_texts")
    if spec.greeting_enabled and not greeting_texts:
        raise _invalid(_("Write the greeting in at least one language to turn it on."), "greeting_texts")
    if spec.away_enabled and not away_texts:
        raise _invalid(_("Write the away message in at least one language to turn it on."), "away_texts")
    if spec.away_enabled and not has_calendar:
        raise _invalid(
            _("The away message needs business hours: choose this inbox in a business hours calendar first."),
            "away_enabled",
        )
    return replace(
        spec,
        greeting_enabled=bool(spec.greeting_enabled),
        greeting_after_days=after_days,
        greeting_texts=greeting_texts,
        away_enabled=bool(spec.away_enabled),
        away_every_hours=every_hours,
        away_agent_quiet_minutes=quiet,
        away_texts=away_texts,
    )


# --- what the audit log keeps ------------------------------------------------------------------------


def _switch(on: bool) -> str:
    return "on" if on else "off"


def _audit_values(spec: GreetingSpec) -> dict[str, Any]:
    return {
        "greeting": _switch(spec.greeting_enabled),
        "greeting_when": spec.greeting_when,
        "greeting_after_days": spec.greeting_after_days,
        "greeting_languages": sorted(spec.greeting_texts),
        "away": _switch(spec.away_enabled),
        "away_every_hours": spec.away_every_hours,
        "away_agent_quiet_minutes": spec.away_agent_quiet_minutes,
        "away_languages": sorted(spec.away_texts),
    }


def _wording_changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Languages whose wording was added, removed or changed (the bodies stay out of the log)."""
    return sorted(language for language in {*before, *after} if before.get(language) != after.get(language))


# --- writes ------------------------------------------------------------------------------------------


def _write_texts(actor: Actor, kind: str, inbox: Inbox, texts: dict[str, str], request: Any) -> None:
    """Called when the wording changed: no texts now means the inbox had some, which go."""
    key = text_key(kind, inbox.pk)
    if texts:
        customer_text_set(actor=actor, key=key, variants=texts, request=request)
    else:
        customer_text_delete(actor=actor, key=key, request=request)


@transaction.atomic
def greeting_settings_update(
    *, actor: Actor, inbox: Inbox, spec: GreetingSpec, request: Any = None
) -> GreetingSettings:
    """Make the inbox's greeting and away messages read exactly ``spec``. An unchanged spec writes nothing."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if inbox.tenant_id != actor.tenant_id:
        raise NotFound(_("No such inbox."))
    # The inbox's row first: two admins saving at once are applied one after the other.
    row, _created = GreetingSettings.objects.select_for_update().get_or_create(tenant_id=actor.tenant_id, inbox=inbox)
    has_calendar = InboxSettings.objects.filter(tenant_id=actor.tenant_id, inbox=inbox, calendar__isnull=False).exists()
    before = greeting_spec(inbox=inbox, row=row)
    with_file = frozenset(kind for kind in (Kind.GREETING, Kind.AWAY) if getattr(row, f"{kind}_media"))
    spec = greeting_clean(spec, has_calendar=has_calendar, with_file=with_file)
    old, new = _audit_values(before), _audit_values(spec)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    wording = {
        "greeting_wording": _wording_changed(before.greeting_texts, spec.greeting_texts),
        "away_wording": _wording_changed(before.away_texts, spec.away_texts),
    }
    if not changes and not any(wording.values()):
        return row
    fields = {
        "greeting_enabled": spec.greeting_enabled,
        "greeting_when": spec.greeting_when,
        "greeting_after_days": spec.greeting_after_days,
        "away_enabled": spec.away_enabled,
        "away_every_hours": spec.away_every_hours,
        "away_agent_quiet_minutes": spec.away_agent_quiet_minutes,
    }
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=[*fields, "updated_at"])
    if wording["greeting_wording"]:
        _write_texts(actor, Kind.GREETING, inbox, spec.greeting_texts, request)
    if wording["away_wording"]:
        _write_texts(actor, Kind.AWAY, inbox, spec.away_texts, request)
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.GREETING_SETTINGS_CHANGED,
        tenant=inbox.tenant,
        target=row,
        target_label=inbox.name,
        request=request,
        extra={"inbox_id": inbox.pk, "changes": changes, **{k: v for k, v in wording.items() if v}},
    )
    return row
