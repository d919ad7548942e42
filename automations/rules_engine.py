"""Automation rules at work: one subscriber per core event kind runs the workspace's active rules for that
event, in order (docs/automation-rules.md).

- **Once per rule and event.** A matched rule first claims its ``RuleRun`` (unique on rule and event) in a
  savepoint: a repeated delivery of the event finds it and does nothing more. Rules that did not match,
  or that the loop guard skipped, are logged in one insert that ignores rows already there.
- **One snapshot.** The rules of an event are loaded in one query and evaluated in memory, all of them
  against the conversation as it was when the event was handled (its labels, language, hours are read
  once, only if a rule asks); then the matched ones act, in order, until one that says "stop". The
  dry-run evaluates the same way, so what it lists is what the live rule does.
- **Loop guard.** An event caused by a rule (``actor_kind`` "rule") never runs that same rule; and an
  event at the end of a chain of ``CHAIN_MAX`` rules causing one another runs no rule at all.
- **Failures stay in the log.** Each action runs in its own savepoint: one that fails is recorded on the
  run (``error`` outcome, its text) and the next actions still run; the event's delivery is not failed
  (retrying would repeat the actions that worked). Ingest committed before any of this.
- **As the rule.** Every action goes through the core's services as
  ``AutomationActor(kind="rule", automation_id=rule.pk, name=rule.name)``: history lines and the audit
  log name the rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations import business_hours
from automations.models import AutomationRule, RuleRun
from automations.rules_schema import REGEX_INPUT_MAX, fold, keyword_pattern, regex_check
from automations.selectors import calendar_load, inbox_calendar
from conversations import events
from conversations.actors import AutomationActor, actor_display_name
from conversations.customer_texts import contact_language, language_base
from conversations.models import (
    ContactLabel,
    Conversation,
    ConversationLabel,
    Label,
    Message,
    OutboxEvent,
    QuickReply,
    Team,
)
from conversations.services.actions import (
    conversation_activity_record,
    conversation_assign,
    conversation_labels_change,
    conversation_priority_set,
    conversation_status_set,
    conversation_team_set,
)
from conversations.services.outbound import (
    OutboundSpec,
    ReplyWindowClosed,
    message_send,
    note_create,
    reply_window_closes_at,
)
from conversations.services.variables import text_fill, text_variables
from helpdesk.exceptions import ApplicationError
from tenants.models import Membership, Tenant

logger = logging.getLogger(__name__)

KIND = "rule"
# An event caused by the n-th rule of a chain (a rule's action causing an event another rule acts on…)
# runs no rule once n reaches this.
CHAIN_MAX = 3
ERROR_MAX = 2000
DRY_RUN_DAYS = 7
DRY_RUN_LIMIT = 500

Event = AutomationRule.Event
Outcome = RuleRun.Outcome


@dataclass(frozen=True)
class Trigger:
    """One event as the rules see it."""

    tenant_id: int
    event: str  # an ``AutomationRule.Event``
    event_key: str
    conversation_id: int
    occurred_at: datetime
    message_id: int | None = None
    # The rule whose action caused the event, if a rule did.
    caused_by_rule: int | None = None


def _caused_by(event: Any) -> int | None:
    if getattr(event, "actor_type", None) == "automation" and getattr(event, "actor_kind", None) == KIND:
        return getattr(event, "actor_id", None)
    return None


# --- the subscribers -----------------------------------------------------------------------------------


def on_message_received(event: events.MessageReceived) -> None:
    rules_run(
        Trigger(
            tenant_id=event.tenant_id,
            event=Event.MESSAGE_RECEIVED,
            event_key=str(event.event_id),
            conversation_id=event.conversation_id,
            occurred_at=event.occurred_at,
            message_id=event.message_id,
        )
    )


def on_conversation_created(event: events.ConversationCreated) -> None:
    rules_run(_trigger(event, Event.CONVERSATION_CREATED))


STATUS_CHANGES = {"resolved": Event.CONVERSATION_RESOLVED, "reopened": Event.CONVERSATION_REOPENED}


def on_status_changed(event: events.ConversationStatusChanged) -> None:
    if event.change in STATUS_CHANGES:
        rules_run(_trigger(event, STATUS_CHANGES[event.change]))


def on_assigned(event: events.ConversationAssigned) -> None:
    # Unassigning is not "assigned".
    if event.assignee_id is not None:
        rules_run(_trigger(event, Event.CONVERSATION_ASSIGNED))


def on_reply_window_closing(event: events.ReplyWindowClosing) -> None:
    rules_run(_trigger(event, Event.REPLY_WINDOW_CLOSING))


def _trigger(event: Any, kind: str) -> Trigger:
    return Trigger(
        tenant_id=event.tenant_id,
        event=kind,
        event_key=str(event.event_id),
        conversation_id=event.conversation_id,
        occurred_at=event.occurred_at,
        caused_by_rule=_caused_by(event),
    )


SUBSCRIBERS: tuple[tuple[Any, Any, str], ...] = (
    (events.MessageReceived, on_message_received, "automations.rules.message_received"),
    (events.ConversationCreated, on_conversation_created, "automations.rules.conversation_created"),
    (events.ConversationStatusChanged, on_status_changed, "automations.rules.conversation_status_changed"),
    (events.ConversationAssigned, on_assigned, "automations.rules.conversation_assigned"),
    (events.ReplyWindowClosing, on_reply_window_closing, "automations.rules.reply_window_closing"),
)


def subscribe_all() -> None:
    for event_type, handler, name in SUBSCRIBERS:
        events.subscribe(event_type, handler, name=name)


def sla_breached(*, tenant_id: int, conversation_id: int, breach_id: int | str) -> list[RuleRun]:
    """The SLA code's entry point: run the workspace's "SLA breached" rules for one breach, once per
    breach id (a repeated call does nothing more). Runs in the caller's transaction, in a savepoint:
    the rules' effects commit with the breach, and a failing rule never undoes it."""
    trigger = Trigger(
        tenant_id=tenant_id,
        event=Event.SLA_BREACHED,
        event_key=f"sla:{breach_id}"[:80],
        conversation_id=conversation_id,
        occurred_at=timezone.now(),
    )
    with transaction.atomic():
        return rules_run(trigger)


# --- what a rule sees ----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return regex_check(pattern)


@lru_cache(maxsize=512)
def _keywords(values: tuple[str, ...]) -> re.Pattern[str]:
    return keyword_pattern(list(values))


@dataclass
class Facts:
    """The conversation (and message) a rule is evaluated against, each fact read once, when first asked."""

    conversation: Conversation
    at: datetime
    message: Message | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def _get(self, key: str, read: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    @property
    def text(self) -> str:
        return self.message.text if self.message is not None else ""

    @property
    def folded(self) -> str:
        return self._get("folded", lambda: fold(self.text))

    def conversation_labels(self) -> set[int]:
        return self._get(
            "conversation_labels",
            lambda: set(
                ConversationLabel.objects.filter(
                    tenant_id=self.conversation.tenant_id, conversation_id=self.conversation.pk
                ).values_list("label_id", flat=True)
            ),
        )

    def contact_labels(self) -> set[int]:
        return self._get(
            "contact_labels",
            lambda: set(
                ContactLabel.objects.filter(
                    tenant_id=self.conversation.tenant_id, contact_id=self.conversation.contact_id
                ).values_list("label_id", flat=True)
            ),
        )

    def language(self) -> str:
        c = self.conversation
        return self._get("language", lambda: contact_language(contact=c.contact, tenant=c.tenant))

    def first_message(self) -> bool:
        def read() -> bool:
            m = self.message
            if m is None:
                return False
            earlier = Message.objects.filter(
                tenant_id=m.tenant_id, conversation_id=m.conversation_id, direction=Message.Direction.INBOUND
            ).exclude(pk=m.pk)
            return (
                not earlier.filter(occurred_at__lt=m.occurred_at).exists()
                and not earlier.filter(occurred_at=m.occurred_at, pk__lt=m.pk).exists()
            )

        return self._get("first_message", read)

    def open(self) -> bool:
        """The inbox's business hours at the event's time; an inbox without a calendar is always open."""

        def read() -> bool:
            record = inbox_calendar(inbox=self.conversation.inbox)
            return True if record is None else business_hours.is_open(calendar_load(record), self.at)

        return self._get("open", read)


def _condition_holds(condition: dict[str, Any], facts: Facts) -> bool:
    kind = condition["type"]
    if kind == "text_contains":
        return fold(condition["value"]) in facts.folded
    if kind == "text_regex":
        return _regex(condition["pattern"]).search(facts.text[:REGEX_INPUT_MAX]) is not None
    if kind == "keywords":
        return _keywords(tuple(condition["values"])).search(facts.folded) is not None
    if kind == "contact_attribute":
        attributes = facts.conversation.contact.custom_attributes
        attributes = attributes if isinstance(attributes, dict) else {}
        present = condition["key"] in attributes and attributes[condition["key"]] not in (None, "")
        if condition["operator"] == "exists":
            return present
        if condition["operator"] == "not_exists":
            return not present
        value = fold(str(attributes.get(condition["key"], "")))
        wanted = fold(condition["value"])
        return value == wanted if condition["operator"] == "equals" else (present and wanted in value)
    if kind in ("contact_label", "conversation_label"):
        labels = facts.contact_labels() if kind == "contact_label" else facts.conversation_labels()
        return (condition["label_id"] in labels) == (condition["operator"] == "has")
    if kind == "inbox":
        return (facts.conversation.inbox_id in condition["inbox_ids"]) == (condition["operator"] == "is")
    if kind == "team":
        return (facts.conversation.team_id in condition["team_ids"]) == (condition["operator"] == "is")
    if kind == "priority":
        return (facts.conversation.priority in condition["values"]) == (condition["operator"] == "is")
    if kind == "business_hours":
        return facts.open() == (condition["value"] == "in")
    if kind == "contact_language":
        language = facts.language()
        hit = any(language == v or (language_base(language) == v and "-" not in v) for v in condition["values"])
        return hit == (condition["operator"] == "is")
    if kind == "first_message":
        return facts.first_message() == condition["value"]
    raise ValueError(f"Unknown condition {kind!r}")


def conditions_hold(tree: dict[str, Any], facts: Facts) -> bool:
    """Whether a rule's tree of AND/OR groups holds; an empty group holds (a rule with no conditions)."""
    items = tree.get("items", [])
    results = (conditions_hold(i, facts) if "type" not in i else _condition_holds(i, facts) for i in items)
    return any(results) if tree.get("op") == "or" and items else all(results)


# --- running the rules ---------------------------------------------------------------------------------


def active_rules(*, tenant_id: int, event: str) -> list[AutomationRule]:
    return list(AutomationRule.objects.filter(tenant_id=tenant_id, event=event, active=True).order_by("position", "id"))


def _depth(trigger: Trigger) -> int:
    if trigger.caused_by_rule is None:
        return 0
    previous = (
        RuleRun.objects.filter(
            tenant_id=trigger.tenant_id,
            rule_id=trigger.caused_by_rule,
            conversation_id=trigger.conversation_id,
            outcome__in=[Outcome.MATCHED, Outcome.ERROR],
        )
        .order_by("-created_at", "-id")
        .values_list("depth", flat=True)
        .first()
    )
    return (previous or 0) + 1


def _conversation(tenant_id: int, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related("contact", "inbox", "tenant")
        .filter(tenant_id=tenant_id, pk=conversation_id)
        .first()
    )


def _message(tenant_id: int, message_id: int | None) -> Message | None:
    if message_id is None:
        return None
    return (
        Message.objects.filter(tenant_id=tenant_id, pk=message_id)
        .only("pk", "tenant_id", "conversation_id", "text", "occurred_at", "direction")
        .first()
    )


@dataclass(frozen=True)
class Verdict:
    rule: AutomationRule
    outcome: str
    error: str = ""


def rules_evaluate(rules: Sequence[AutomationRule], trigger: Trigger, facts: Facts, depth: int) -> list[Verdict]:
    """What each rule makes of the event, in order, stopping after a matched rule that says stop (the
    rules after it are not evaluated). Shared by the live run and the dry-run."""
    verdicts = []
    for rule in rules:
        if depth >= CHAIN_MAX or trigger.caused_by_rule == rule.pk:
            verdicts.append(Verdict(rule, Outcome.LOOP_GUARD))
            continue
        try:
            matched = conditions_hold(rule.conditions or {}, facts)
        except Exception as exc:  # a stored tree this code no longer reads: logged on the run, not raised
            logger.exception("Rule %s could not be evaluated", rule.pk)
            verdicts.append(Verdict(rule, Outcome.ERROR, f"{type(exc).__name__}: {exc}"[:ERROR_MAX]))
            continue
        verdicts.append(Verdict(rule, Outcome.MATCHED if matched else Outcome.NOT_MATCHED))
        if matched and rule.stop_processing:
            break
    return verdicts


def rules_run(trigger: Trigger) -> list[RuleRun]:
    """Run the workspace's active rules for one event; returns the runs this call recorded."""
    rules = active_rules(tenant_id=trigger.tenant_id, event=trigger.event)
    if not rules:
        return []
    conversation = _conversation(trigger.tenant_id, trigger.conversation_id)
    if conversation is None:
        return []
    facts = Facts(
        conversation=conversation, at=trigger.occurred_at, message=_message(trigger.tenant_id, trigger.message_id)
    )
    depth = _depth(trigger)
    tenant = conversation.tenant
    # The history lines and the rule's words in them are the team's: in the workspace's language.
    with translation.override(tenant.locale):
        verdicts = rules_evaluate(rules, trigger, facts, depth)
        logged = []
        recorded = []
        for verdict in verdicts:
            row = RuleRun(
                tenant_id=trigger.tenant_id,
                rule=verdict.rule,
                event_key=trigger.event_key,
                event_type=trigger.event,
                conversation=conversation,
                outcome=verdict.outcome,
                depth=depth,
                error=verdict.error,
            )
            if verdict.outcome != Outcome.MATCHED:
                logged.append(row)
                continue
            try:
                with transaction.atomic():
                    row.save()
            except IntegrityError:
                continue  # this rule already ran for this event
            _actions_run(row, verdict.rule, conversation, tenant, facts)
            recorded.append(row)
        if logged:
            RuleRun.objects.bulk_create(logged, ignore_conflicts=True)
    return recorded + logged


def rule_actor(rule: AutomationRule) -> AutomationActor:
    return AutomationActor(tenant_id=rule.tenant_id, automation_id=rule.pk, name=rule.name, kind=KIND)


def _actions_run(run: RuleRun, rule: AutomationRule, conversation: Conversation, tenant: Tenant, facts: Facts) -> None:
    actor = rule_actor(rule)
    done: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, action in enumerate(rule.actions or []):
        try:
            with transaction.atomic():
                result, detail = _act(action, index, run, actor, conversation, tenant)
        except ApplicationError as exc:
            result, detail = "error", exc.message
        except Exception as exc:
            logger.exception("Action %s of rule %s failed on conversation %s", index, rule.pk, conversation.pk)
            result, detail = "error", f"{type(exc).__name__}: {exc}"
        done.append({"type": action.get("type", ""), "result": result, "detail": str(detail)[:500]})
        if result == "error":
            errors.append(f"{index + 1}. {action.get('type', '')}: {detail}")
    run.actions_done = done
    if errors:
        run.outcome = Outcome.ERROR
        run.error = "\n".join(errors)[:ERROR_MAX]
    run.save(update_fields=["actions_done", "outcome", "error", "updated_at"])


def _fresh(conversation: Conversation) -> Conversation:
    """The conversation as it is now (an earlier action changed it), with what the services read."""
    return Conversation.objects.select_related("contact", "inbox", "tenant").get(pk=conversation.pk)


def _window_open(conversation: Conversation) -> bool:
    closes_at = reply_window_closes_at(conversation)
    return closes_at is None or timezone.now() < closes_at


def _not_sent(actor: AutomationActor, conversation: Conversation, why: str) -> tuple[str, str]:
    conversation_activity_record(
        actor=actor,
        conversation=conversation,
        text=_("No message sent by %(actor)s: %(why)s") % {"actor": actor_display_name(actor), "why": why},
    )
    return "not_sent", why


def _send_template(
    actor: AutomationActor, conversation: Conversation, tenant: Tenant, template: dict[str, Any], key: str
) -> tuple[str, str]:
    values = text_variables(conversation=conversation, workspace=tenant)
    params = {
        k: [text_fill(item, values) for item in v] if isinstance(v, list) else text_fill(v, values)
        for k, v in (template.get("params") or {}).items()
    }
    message, _created = message_send(
        actor=actor,
        conversation=conversation,
        spec=OutboundSpec(
            type=Message.Type.TEMPLATE,
            content={"name": template["name"], "language": template["language"], "params": params},
        ),
        idempotency_key=key,
    )
    return "done", _("template %(name)s sent (message %(id)s)") % {"name": template["name"], "id": message.pk}


def _send_text(
    actor: AutomationActor,
    conversation: Conversation,
    tenant: Tenant,
    text: str,
    key: str,
    template: dict[str, Any] | None,
) -> tuple[str, str]:
    """Free text inside the reply window; outside it the rule's template if it has one, else nothing
    (and a line in the history says why). Never free text outside the window."""
    if text and _window_open(conversation):
        body = text_fill(text, text_variables(conversation=conversation, workspace=tenant))
        try:
            message, _created = message_send(
                actor=actor,
                conversation=conversation,
                spec=OutboundSpec(type=Message.Type.TEXT, text=body),
                idempotency_key=key,
            )
        except ReplyWindowClosed:
            pass  # it closed between the look and the send
        else:
            return "done", _("message %(id)s sent") % {"id": message.pk}
    if template is not None:
        return _send_template(actor, conversation, tenant, template, key + "-t")
    return _not_sent(actor, conversation, _("the customer's reply window is closed and the rule has no template."))


def _act(
    action: dict[str, Any],
    index: int,
    run: RuleRun,
    actor: AutomationActor,
    conversation: Conversation,
    tenant: Tenant,
) -> tuple[str, str]:
    """Do one action; returns (result, detail): "done", "not_sent" or "skipped" with why."""
    kind = action["type"]
    conversation = _fresh(conversation)
    key = f"rule-{run.pk}-{index}"
    if kind == "assign_agent":
        member = (
            Membership.objects.filter(tenant_id=tenant.pk, user_id=action["user_id"], active=True)
            .select_related("user")
            .first()
        )
        if member is None:
            return "skipped", _("that person is no longer a member of the workspace")
        conversation_assign(actor=actor, conversation=conversation, assignee=member.user)
        return "done", member.user.display_name
    if kind == "assign_team":
        team = Team.objects.filter(tenant_id=tenant.pk, pk=action["team_id"]).first()
        if team is None:
            return "skipped", _("the team was deleted")
        conversation_team_set(actor=actor, conversation=conversation, team=team)
        return "done", team.name
    if kind == "unassign":
        conversation_assign(actor=actor, conversation=conversation, assignee=None)
        return "done", ""
    if kind in ("add_label", "remove_label"):
        labels = list(Label.objects.filter(tenant_id=tenant.pk, pk__in=action["label_ids"]))
        if not labels:
            return "skipped", _("its labels were deleted")
        change = {"add": labels} if kind == "add_label" else {"remove": labels}
        conversation_labels_change(actor=actor, conversation=conversation, **change)  # type: ignore[arg-type]
        return "done", ", ".join(label.name for label in labels)
    if kind == "set_priority":
        conversation_priority_set(actor=actor, conversation=conversation, priority=action["priority"])
        return "done", action["priority"]
    if kind == "send_message":
        return _send_text(actor, conversation, tenant, action.get("text", ""), key, action.get("template"))
    if kind == "send_quick_reply":
        reply = QuickReply.objects.filter(tenant_id=tenant.pk, pk=action["quick_reply_id"]).first()
        if reply is None or reply.scope == QuickReply.Scope.PERSONAL:
            return "skipped", _("the quick reply was deleted")
        if reply.scope == QuickReply.Scope.INBOX and reply.inbox_id != conversation.inbox_id:
            return "skipped", _("the quick reply belongs to another inbox")
        if not reply.text.strip():
            return "skipped", _("the quick reply has no text")
        return _send_text(actor, conversation, tenant, reply.text, key, None)
    if kind == "add_note":
        text = text_fill(action["text"], text_variables(conversation=conversation, workspace=tenant))
        note = note_create(actor=actor, conversation=conversation, text=text)
        return "done", _("note %(id)s") % {"id": note.pk}
    if kind == "resolve":
        conversation_status_set(actor=actor, conversation=conversation, status=Conversation.Status.RESOLVED)
        return "done", ""
    if kind == "snooze":
        now = timezone.now()
        if action["mode"] == "hours":
            until = now + timedelta(hours=action["hours"])
        else:
            record = inbox_calendar(inbox=conversation.inbox)
            opens = business_hours.next_open(calendar_load(record), now) if record is not None else None
            if opens is None:
                return "skipped", _("the inbox has no business hours that open again")
            if opens <= now:
                return "skipped", _("the business hours are open now")
            until = opens
        conversation_status_set(
            actor=actor, conversation=conversation, status=Conversation.Status.SNOOZED, snoozed_until=until
        )
        return "done", until.isoformat()
    raise ValueError(f"Unknown action {kind!r}")


# --- the dry-run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunMatch:
    conversation: Conversation
    at: datetime
    message: Message | None


OUTBOX_TYPES = {
    Event.CONVERSATION_CREATED: events.ConversationCreated.name,
    Event.CONVERSATION_RESOLVED: events.ConversationStatusChanged.name,
    Event.CONVERSATION_REOPENED: events.ConversationStatusChanged.name,
    Event.CONVERSATION_ASSIGNED: events.ConversationAssigned.name,
    Event.REPLY_WINDOW_CLOSING: events.ReplyWindowClosing.name,
}


def _dry_run_triggers(rule: AutomationRule, since: datetime) -> list[tuple[Trigger, Message | None]]:
    tenant_id = rule.tenant_id
    if rule.event == Event.MESSAGE_RECEIVED:
        # The messages themselves, in the one query (what ``_message`` reads of each).
        messages = (
            Message.objects.filter(
                tenant_id=tenant_id, direction=Message.Direction.INBOUND, occurred_at__gte=since, private=False
            )
            .exclude(type=Message.Type.SYSTEM)
            .order_by("-occurred_at", "-id")
            .only("pk", "tenant_id", "conversation_id", "text", "occurred_at", "direction")[:DRY_RUN_LIMIT]
        )
        return [
            (Trigger(tenant_id, rule.event, f"dry-{m.pk}", m.conversation_id, m.occurred_at, message_id=m.pk), m)
            for m in messages
        ]
    outbox_type = OUTBOX_TYPES.get(AutomationRule.Event(rule.event))
    if outbox_type is None:
        return []  # SLA breaches are the SLA code's records
    triggers: list[tuple[Trigger, Message | None]] = []
    rows = OutboxEvent.objects.filter(tenant_id=tenant_id, event_type=outbox_type, created_at__gte=since).order_by(
        "-created_at"
    )[:DRY_RUN_LIMIT]
    for row in rows:
        payload = row.payload
        status_event = rule.event in (Event.CONVERSATION_RESOLVED, Event.CONVERSATION_REOPENED)
        if status_event and STATUS_CHANGES.get(payload.get("change")) != rule.event:
            continue
        if rule.event == Event.CONVERSATION_ASSIGNED and payload.get("assignee_id") is None:
            continue
        caused = payload.get("actor_id") if payload.get("actor_kind") == KIND else None
        trigger = Trigger(
            tenant_id, rule.event, str(row.pk), payload["conversation_id"], row.occurred_at, caused_by_rule=caused
        )
        triggers.append((trigger, None))
    return triggers


def rule_dry_run(*, rule: AutomationRule, now: datetime | None = None) -> list[DryRunMatch]:
    """The events of the last seven days this rule's conditions would have matched (customer messages for
    "message received", the recorded events for the others), newest first; nothing is done. The facts are
    read as they are now (labels, language), as a live run reads them when the event is handled."""
    now = now or timezone.now()
    matches = []
    conversations: dict[int, Conversation | None] = {}
    for trigger, message in _dry_run_triggers(rule, now - timedelta(days=DRY_RUN_DAYS)):
        if trigger.conversation_id not in conversations:
            conversations[trigger.conversation_id] = _conversation(rule.tenant_id, trigger.conversation_id)
        conversation = conversations[trigger.conversation_id]
        if conversation is None:
            continue
        facts = Facts(conversation=conversation, at=trigger.occurred_at, message=message)
        (verdict,) = rules_evaluate([rule], trigger, facts, 0)
        if verdict.outcome == Outcome.MATCHED:
            matches.append(DryRunMatch(conversation=conversation, at=trigger.occurred_at, message=message))
    return matches


# --- the run log's retention ---------------------------------------------------------------------------

RUN_RETENTION_DAYS = 30


def rule_runs_purge(*, now: datetime | None = None, batch: int = 1000, max_batches: int = 50) -> int:
    """Delete runs older than ``RUN_RETENTION_DAYS``, oldest first, ``batch`` rows per statement (a beat
    job); returns how many. A run's event is long delivered by then: its dedupe is no longer needed."""
    cutoff = (now or timezone.now()) - timedelta(days=RUN_RETENTION_DAYS)
    deleted = 0
    for _batch in range(max_batches):
        ids = list(
            RuleRun.objects.filter(created_at__lt=cutoff).order_by("created_at").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted += RuleRun.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return deleted
