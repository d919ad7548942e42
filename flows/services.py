"""Writing flows: create and change one, edit its draft, publish it (checked, then frozen), install a ready-made
one, keep the workspace's keys, start a flow for a contact (the API) or arm a draft for a test in the simulator."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations.rules_schema import regex_check
from conversations.actors import Actor, actor_audit_record, actor_user
from conversations.models import Contact, Conversation, Inbox, Team
from conversations.services.contacts import phone_normalise
from conversations.services.outbound import reply_window_closes_at
from flows import arming, library
from flows.definitions import STEPS_MAX, definition_check
from flows.models import DEFAULT_HANDOVER_KEYWORDS, Flow, FlowSession, FlowSettings, FlowVersion
from helpdesk.exceptions import Conflict, NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm

Action = AuditLogEntry.Action
KEYWORDS_MAX = 20


@dataclass
class FlowSpec:
    name: str
    description: str = ""
    inbox_id: int | None = None
    enabled: bool = False
    position: int = 0
    trigger_keywords: list[str] = field(default_factory=list)
    trigger_regex: str = ""
    trigger_first_message: bool = False
    trigger_outside_hours: bool = False
    trigger_payloads: list[str] = field(default_factory=list)
    handover_keywords: list[str] = field(default_factory=lambda: list(DEFAULT_HANDOVER_KEYWORDS))
    handover_team_id: int | None = None
    timeout_minutes: int = 30
    timeout_message: str = ""


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name})


def _words(values: Any, field_name: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(field_name, _("A list of words."))
    words = [" ".join(v.split()) for v in values if v.strip()]
    if len(words) > KEYWORDS_MAX:
        raise _invalid(field_name, _("At most %(max)s.") % {"max": KEYWORDS_MAX})
    if any(len(w) > 60 for w in words):
        raise _invalid(field_name, _("Each at most %(max)s characters.") % {"max": 60})
    return words


def _clean(tenant_id: int, spec: FlowSpec) -> FlowSpec:
    spec.name = " ".join(spec.name.split())
    if not spec.name or len(spec.name) > 80:
        raise _invalid("name", _("A name of 1 to 80 characters."))
    spec.description = spec.description.strip()[:255]
    if spec.inbox_id is not None and not Inbox.objects.filter(tenant_id=tenant_id, pk=spec.inbox_id).exists():
        raise _invalid("inbox_id", _("No such inbox."))
    if (
        spec.handover_team_id is not None
        and not Team.objects.filter(tenant_id=tenant_id, pk=spec.handover_team_id).exists()
    ):
        raise _invalid("handover_team_id", _("No such team."))
    spec.trigger_keywords = _words(spec.trigger_keywords, "trigger_keywords")
    spec.trigger_payloads = _words(spec.trigger_payloads, "trigger_payloads")
    spec.handover_keywords = _words(spec.handover_keywords, "handover_keywords")
    spec.trigger_regex = spec.trigger_regex.strip()
    if len(spec.trigger_regex) > 200:
        raise _invalid("trigger_regex", _("At most %(max)s characters.") % {"max": 200})
    if spec.trigger_regex:
        try:
            regex_check(spec.trigger_regex)
        except ValueError as exc:
            raise _invalid("trigger_regex", str(exc)) from None
    if (
        isinstance(spec.timeout_minutes, bool)
        or not isinstance(spec.timeout_minutes, int)
        or not 1 <= spec.timeout_minutes <= 7 * 24 * 60
    ):
        raise _invalid("timeout_minutes", _("From 1 minute to 7 days."))
    if len(spec.timeout_message) > 4096:
        raise _invalid("timeout_message", _("At most %(max)s characters.") % {"max": 4096})
    if isinstance(spec.position, bool) or not isinstance(spec.position, int) or not 0 <= spec.position <= 10_000:
        raise _invalid("position", _("From 0 to 10000."))
    return spec


def _audit(
    membership: Membership | ApiToken, action: str, flow: Flow, request: HttpRequest | None, extra: dict[str, Any]
) -> None:
    actor_audit_record(
        membership,
        action=action,
        tenant=membership.tenant,
        target=flow,
        target_label=flow.name,
        request=request,
        extra=extra,
    )


def _apply(flow: Flow, spec: FlowSpec) -> None:
    for name in (
        "name",
        "description",
        "inbox_id",
        "enabled",
        "position",
        "trigger_keywords",
        "trigger_regex",
        "trigger_first_message",
        "trigger_outside_hours",
        "trigger_payloads",
        "handover_keywords",
        "handover_team_id",
        "timeout_minutes",
        "timeout_message",
    ):
        setattr(flow, name, getattr(spec, name))


def flow_create(
    *,
    membership: Membership | ApiToken,
    spec: FlowSpec,
    definition: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> Flow:
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=membership.tenant_id)
    spec = _clean(membership.tenant_id, spec)
    if spec.enabled:
        raise _invalid("enabled", _("Publish the flow before turning it on."))
    if definition is not None:
        _definition_clean(definition)
    with transaction.atomic():
        flow = Flow(tenant_id=membership.tenant_id)
        _apply(flow, spec)
        flow.save()
        FlowVersion.objects.create(
            tenant_id=flow.tenant_id, flow=flow, number=1, definition=definition or {"start": "", "steps": []}
        )
        _audit(membership, Action.FLOW_CREATED, flow, request, {"name": flow.name})
    return flow


def flow_update(
    *, membership: Membership | ApiToken, flow: Flow, spec: FlowSpec, request: HttpRequest | None = None
) -> Flow:
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=flow.tenant_id)
    spec = _clean(flow.tenant_id, spec)
    with transaction.atomic():
        flow = Flow.objects.select_for_update().get(pk=flow.pk, tenant_id=membership.tenant_id)
        if spec.enabled and flow.published_id is None:
            raise _invalid("enabled", _("Publish the flow before turning it on."))
        before = {k: getattr(flow, k) for k in ("name", "enabled", "inbox_id", "trigger_keywords", "timeout_minutes")}
        _apply(flow, spec)
        flow.save()
        after = {k: getattr(flow, k) for k in before}
        changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        _audit(membership, Action.FLOW_CHANGED, flow, request, {"changes": changed} if changed else {})
    return flow


def flow_delete(*, membership: Membership | ApiToken, flow: Flow, request: HttpRequest | None = None) -> None:
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=flow.tenant_id)
    if FlowSession.objects.filter(flow=flow, status__in=FlowSession.RUNNING).exists():
        raise Conflict(_("Customers are in this flow now: turn it off and try again when their sessions end."))
    with transaction.atomic():
        _audit(membership, Action.FLOW_DELETED, flow, request, {"name": flow.name})
        # Finished sessions keep their version (for the reports): the flow goes, with them.
        FlowSession.objects.filter(flow=flow).delete()
        flow.delete()


def _definition_clean(definition: Any) -> None:
    """What any draft must be, finished or not: an object with a list of at most STEPS_MAX steps, not too large."""
    if not isinstance(definition, dict) or not isinstance(definition.get("steps", []), list):
        raise _invalid("definition", _("A flow is a list of steps."))
    if len(definition.get("steps", [])) > STEPS_MAX:
        raise _invalid("definition", _("At most %(max)s steps.") % {"max": STEPS_MAX})
    if len(json.dumps(definition, default=str)) > 200_000:
        raise _invalid("definition", _("The flow is too large."))


def draft_of(flow: Flow) -> FlowVersion:
    """The flow's draft, made from the published version when there is none."""
    draft = FlowVersion.objects.filter(flow=flow, status=FlowVersion.Status.DRAFT).first()
    if draft is not None:
        return draft
    source = flow.published
    number = (FlowVersion.objects.filter(flow=flow).aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        with transaction.atomic():
            return FlowVersion.objects.create(
                tenant_id=flow.tenant_id,
                flow=flow,
                number=number,
                definition=copy.deepcopy(source.definition) if source else {"start": "", "steps": []},
            )
    except IntegrityError:
        return FlowVersion.objects.get(flow=flow, status=FlowVersion.Status.DRAFT)


def draft_save(*, membership: Membership | ApiToken, flow: Flow, definition: Any) -> FlowVersion:
    """Keep the edited steps in the draft (checked only on publish: a draft may be unfinished)."""
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=flow.tenant_id)
    _definition_clean(definition)
    draft = draft_of(flow)
    draft.definition = definition
    draft.save(update_fields=["definition", "updated_at"])
    return draft


def flow_publish(*, membership: Membership | ApiToken, flow: Flow, request: HttpRequest | None = None) -> FlowVersion:
    """Check the draft and make it the version new sessions start on; running sessions finish on theirs."""
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=flow.tenant_id)
    with transaction.atomic():
        flow = Flow.objects.select_for_update().get(pk=flow.pk, tenant_id=membership.tenant_id)
        draft = FlowVersion.objects.filter(flow=flow, status=FlowVersion.Status.DRAFT).first()
        if draft is None:
            raise _invalid("definition", _("There is no draft to publish: edit the flow first."))
        definition_check(draft.definition)
        FlowVersion.objects.filter(flow=flow, status=FlowVersion.Status.PUBLISHED).update(
            status=FlowVersion.Status.RETIRED
        )
        draft.status = FlowVersion.Status.PUBLISHED
        draft.published_at = timezone.now()
        draft.published_by = actor_user(membership)
        draft.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        flow.published = draft
        flow.save(update_fields=["published", "updated_at"])
        _audit(membership, Action.FLOW_PUBLISHED, flow, request, {"version": draft.number})
    return draft


def template_install(
    *, membership: Membership | ApiToken, key: str, inbox_id: int | None = None, request: HttpRequest | None = None
) -> Flow:
    """A ready-made flow, in the workspace's language, published; off until an admin turns it on."""
    if key not in library.templates():
        raise NotFound(_("No such ready-made flow."))
    with translation.override(membership.tenant.locale):
        name, description = library.templates()[key]
        definition = library.template_definition(key)
    spec = FlowSpec(
        name=str(name),
        description=str(description),
        inbox_id=inbox_id,
        trigger_keywords=library.template_keywords(key),
    )
    flow = flow_create(membership=membership, spec=spec, definition=definition, request=request)
    flow.template_key = key
    flow.save(update_fields=["template_key", "updated_at"])
    flow_publish(membership=membership, flow=flow, request=request)
    flow.refresh_from_db()
    return flow


def flow_settings_save(
    *,
    membership: Membership | ApiToken,
    integration_secret: str | None = None,
    transit_api_key: str | None = None,
    request: HttpRequest | None = None,
) -> FlowSettings:
    """The workspace's keys (encrypted; never shown again in full). None keeps a key, "" removes it."""
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=membership.tenant_id)
    with transaction.atomic():
        found, _created = FlowSettings.objects.select_for_update().get_or_create(tenant_id=membership.tenant_id)
        secrets = found.secrets
        changed = []
        for name, value in (("integration_secret", integration_secret), ("transit_api_key", transit_api_key)):
            if value is None:
                continue
            value = value.strip()
            if len(value) > 500:
                raise _invalid(name, _("At most %(max)s characters.") % {"max": 500})
            if value:
                secrets[name] = value
            else:
                secrets.pop(name, None)
            changed.append(name)
        found.secrets = secrets
        found.save()
        actor_audit_record(
            membership,
            action=Action.FLOW_SETTINGS_CHANGED,
            tenant=membership.tenant,
            target=found,
            target_label=_("Bot flow keys"),
            request=request,
            extra={"changed": changed},
        )
    return found


def flow_start(*, actor: Actor, flow: Flow, contact: Contact, variables: dict[str, Any] | None = None) -> FlowSession:
    """Start the flow for a contact now (the API): in their current conversation of the flow's inbox, while
    their reply window is open (the bot writes free text)."""
    from flows.runtime import session_start

    require_perm(actor, Perm.REPLY, tenant_id=flow.tenant_id)
    if contact.tenant_id != flow.tenant_id:
        raise NotFound(_("No such contact."))
    if flow.published_id is None or not flow.enabled:
        raise _invalid("flow", _("Publish the flow and turn it on first."))
    variables = variables or {}
    if not isinstance(variables, dict) or len(variables) > 50 or any(not isinstance(k, str) for k in variables):
        raise _invalid("variables", _("At most 50 named values."))
    conversations = (
        Conversation.objects.select_related("tenant", "contact", "inbox")
        .filter(tenant_id=flow.tenant_id, contact=contact)
        .exclude(status=Conversation.Status.RESOLVED)
    )
    if flow.inbox_id is not None:
        conversations = conversations.filter(inbox_id=flow.inbox_id)
    conversation = conversations.order_by("-last_activity_at").first()
    if conversation is None:
        raise _invalid("contact", _("The contact has no open conversation for this flow to write in."))
    closes_at = reply_window_closes_at(conversation)
    if closes_at is not None and closes_at <= timezone.now():
        raise _invalid("contact", _("The contact's reply window is closed: the bot can write only after they do."))
    session = session_start(
        flow=flow,
        conversation=conversation,
        trigger=FlowSession.Trigger.API,
        variables={k: v for k, v in variables.items() if not k.startswith("_") and k != "contact"},
    )
    if session is None:
        raise Conflict(_("Another bot flow is running in this conversation."))
    return session


def flow_test_arm(*, membership: Membership | ApiToken, flow: Flow, phone: str) -> str:
    """Test the draft from a phone number of the simulator: that number's next message starts the draft (for
    30 minutes), whatever the flow's triggers and whether it is on."""
    require_perm(membership, Perm.MANAGE_AUTOMATIONS, tenant_id=flow.tenant_id)
    number = phone_normalise(phone)
    if not number:
        raise _invalid("phone", _("Enter a phone number such as +55 11 91234-5678."))
    draft = draft_of(flow)
    definition_check(draft.definition)
    arming.arm(draft, number)
    return number
