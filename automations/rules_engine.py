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
from django.db.models import Min
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations import business_hours
from automations.models import AutomationRule, RuleRun, SlaBreach
from automations.rules_schema import REGEX_INPUT_MAX, keyword_pattern, regex_check
from automations.selectors import Calendars, calendar_load, inbox_calendar
from conversations import events
from conversations.actors import AutomationActor, actor_display_name
from conversations.customer_texts import contact_language, language_base
from conversations.events import by_conversation
from conversations.media import stored_copy, upload_kind
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
    conversation_mute_set,
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
from helpdesk.text import fold
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


def on_messages_received(received: Sequence[events.MessageReceived]) -> None:
    rules_run_many(
        [
            Trigger(
                tenant_id=event.tenant_id,
                event=Event.MESSAGE_RECEIVED,
                event_key=str(event.event_id),
                conversation_id=event.conversation_id,
                occurred_at=event.occurred_at,
                message_id=event.message_id,
            )
            for event in received
        ]
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
    (events.MessageReceived, on_messages_received, "automations.rules.message_received"),
    (events.ConversationCreated, on_conversation_created, "automations.rules.conversation_created"),
    (events.ConversationStatusChanged, on_status_changed, "automations.rules.conversation_status_changed"),
    (events.ConversationAssigned, on_assigned, "automations.rules.conversation_assigned"),
    (events.ReplyWindowClosing, on_reply_window_closing, "automations.rules.reply_window_closing"),
)


# Subscribed with ``events.subscribe_many``: a delivery job's events at once (``rules_run_many``).
BATCHED = frozenset({"automations.rules.message_received"})


def subscribe_all() -> None:
    for event_type, handler, name in SUBSCRIBERS:
        if name in BATCHED:
            events.subscribe_many(event_type, handler, name=name)
        else:
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
    # The reads shared with the other events of a delivery job (``rules_run_many``); alone, its own.
    batch: Batch = field(default_factory=lambda: Batch([]))

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
        return self._get("conversation_labels", lambda: self.batch.conversation_labels(self.conversation))  # type: ignore[no-any-return]

    def contact_labels(self) -> set[int]:
        return self._get("contact_labels", lambda: self.batch.contact_labels(self.conversation))  # type: ignore[no-any-return]

    def language(self) -> str:
        return self._get("language", lambda: self.batch.language(self.conversation))  # type: ignore[no-any-return]

    def first_message(self) -> bool:
        def read() -> bool:
            m = self.message
            if m is None:
                return False
            if self.batch.later_than_first(m):
                return False
            earlier = Message.objects.filter(
                tenant_id=m.tenant_id, conversation_id=m.conversation_id, direction=Message.Direction.INBOUND
            ).exclude(pk=m.pk)
            return (
                not earlier.filter(occurred_at__lt=m.occurred_at).exists()
                and not earlier.filter(occurred_at=m.occurred_at, pk__lt=m.pk).exists()
            )

        return self._get("first_message", read)  # type: ignore[no-any-return]

    def open(self) -> bool:
        """The inbox's business hours at the event's time; an inbox without a calendar is always open."""

        def read() -> bool:
            c = self.conversation
            loaded = self.batch.calendars.of_inbox(tenant_id=c.tenant_id, inbox_id=c.inbox_id)
            return True if loaded is None else business_hours.is_open(loaded[1], self.at)

        return self._get("open", read)  # type: ignore[no-any-return]


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


class Batch:
    """What the events of one delivery job share, read once for all of them on first use: the rules, the
    conversations and messages, the labels of their conversations and contacts, their contacts' languages,
    which messages came after their conversation's first, the calendars, the labels the actions name. A
    conversation an action changed is read again, with its labels, for the events after it (``touch``);
    contacts' labels and languages, first messages and calendars are not changed by any action."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self.triggers = list(triggers)
        self.calendars = Calendars()
        self._rules: dict[tuple[int, str], list[AutomationRule]] = {}
        self._conversations: dict[int, Conversation] | None = None
        self._messages: dict[int, Message] | None = None
        self._conversation_labels: dict[int, set[int]] | None = None
        self._labels_read: set[int] = set()
        self._contact_labels: dict[int, set[int]] = {}
        self._contacts_read: set[int] = set()
        self._first_inbound: dict[int, datetime] | None = None
        self._languages: dict[int, str] = {}
        self._labels: dict[int, Label] | None = None
        self._stale_conversations: set[int] = set()
        self._stale_labels: set[int] = set()
        # Runs that did nothing (not matched, loop guard, or matched with every action already so), logged at
        # the end in one insert that ignores rows already there.
        self.logged: list[RuleRun] = []

    def rules(self, trigger: Trigger) -> list[AutomationRule]:
        key = (trigger.tenant_id, trigger.event)
        if key not in self._rules:
            self._rules[key] = active_rules(tenant_id=trigger.tenant_id, event=trigger.event)
        return self._rules[key]

    def _with_rules(self) -> list[Trigger]:
        return [t for t in self.triggers if self.rules(t)]

    def touch(self, conversation_id: int) -> None:
        """An action changed the conversation: the events after this one read it (and its labels) again."""
        self._stale_conversations.add(conversation_id)
        self._stale_labels.add(conversation_id)

    def conversation(self, trigger: Trigger) -> Conversation | None:
        if self._conversations is not None and trigger.conversation_id in self._stale_conversations:
            self._stale_conversations.discard(trigger.conversation_id)
            fresh = _conversation(trigger.tenant_id, trigger.conversation_id)
            if fresh is None:
                self._conversations.pop(trigger.conversation_id, None)
            else:
                self._conversations[fresh.pk] = fresh
        if self._conversations is None:
            ids = {t.conversation_id for t in self._with_rules()}
            self._conversations = {
                c.pk: c for c in Conversation.objects.select_related("contact", "inbox", "tenant").filter(pk__in=ids)
            }
        conversation = self._conversations.get(trigger.conversation_id)
        return conversation if conversation is not None and conversation.tenant_id == trigger.tenant_id else None

    def message(self, trigger: Trigger) -> Message | None:
        if trigger.message_id is None:
            return None
        if self._messages is None:
            ids = {t.message_id for t in self._with_rules() if t.message_id is not None}
            self._messages = {
                m.pk: m
                for m in Message.objects.filter(pk__in=ids).only(
                    "pk", "tenant_id", "conversation_id", "text", "occurred_at", "direction"
                )
            }
        message = self._messages.get(trigger.message_id)
        return message if message is not None and message.tenant_id == trigger.tenant_id else None

    def _conversation_ids(self) -> set[int]:
        return {t.conversation_id for t in self._with_rules()}

    def conversation_labels(self, conversation: Conversation) -> set[int]:
        if self._conversation_labels is None:
            self._conversation_labels = {}
            ids = self._conversation_ids() | {conversation.pk}
            rows = ConversationLabel.objects.filter(conversation_id__in=ids)
            for conversation_id, label_id in rows.values_list("conversation_id", "label_id"):
                self._conversation_labels.setdefault(conversation_id, set()).add(label_id)
            self._labels_read = ids
        elif conversation.pk in self._stale_labels or conversation.pk not in self._labels_read:
            self._stale_labels.discard(conversation.pk)
            self._labels_read.add(conversation.pk)
            self._conversation_labels[conversation.pk] = set(
                ConversationLabel.objects.filter(
                    tenant_id=conversation.tenant_id, conversation_id=conversation.pk
                ).values_list("label_id", flat=True)
            )
        return set(self._conversation_labels.get(conversation.pk, ()))

    def contact_labels(self, conversation: Conversation) -> set[int]:
        if conversation.contact_id not in self._contacts_read:
            # The batch's contacts at once, the first time; one more alone, should another be asked for.
            first = not self._contacts_read
            contacts = {conversation.contact_id}
            if first:
                contacts |= {c.contact_id for c in (self._conversations or {}).values()}
            rows = ContactLabel.objects.filter(contact_id__in=contacts)
            for contact_id, label_id in rows.values_list("contact_id", "label_id"):
                self._contact_labels.setdefault(contact_id, set()).add(label_id)
            self._contacts_read |= contacts
        return set(self._contact_labels.get(conversation.contact_id, ()))

    def language(self, conversation: Conversation) -> str:
        if conversation.contact_id not in self._languages:
            self._languages[conversation.contact_id] = contact_language(
                contact=conversation.contact, tenant=conversation.tenant
            )
        return self._languages[conversation.contact_id]

    def later_than_first(self, message: Message) -> bool:
        """Whether an earlier customer message of its conversation surely exists (False: look it up)."""
        if self._first_inbound is None:
            self._first_inbound = dict(
                Message.objects.filter(
                    conversation_id__in=self._conversation_ids() | {message.conversation_id},
                    direction=Message.Direction.INBOUND,
                )
                .values("conversation_id")
                .annotate(first=Min("occurred_at"))
                .values_list("conversation_id", "first")
            )
        first = self._first_inbound.get(message.conversation_id)
        return first is not None and first < message.occurred_at

    def labels(self, tenant_id: int, ids: Sequence[int]) -> list[Label]:
        if self._labels is None:
            wanted = {
                label_id
                for t in self._with_rules()
                for rule in self.rules(t)
                for action in rule.actions or []
                for label_id in action.get("label_ids", [])
            }
            self._labels = {label.pk: label for label in Label.objects.filter(pk__in=wanted)}
        found = {i: self._labels[i] for i in ids if i in self._labels and self._labels[i].tenant_id == tenant_id}
        if len(found) < len(set(ids)):
            return list(Label.objects.filter(tenant_id=tenant_id, pk__in=ids))
        return sorted(found.values(), key=lambda label: (label.name, label.pk))  # as the labels' own order


def _already_done(
    rule: AutomationRule, conversation: Conversation, facts: Facts, batch: Batch
) -> list[dict[str, Any]] | None:
    """What each action would record, when every one of the rule's actions is already so (labels there or
    not there, the priority set): the run changes nothing and needs no claim nor savepoint. None otherwise."""
    done = []
    labels = None
    for action in rule.actions or []:
        kind = action.get("type")
        if kind in ("add_label", "remove_label"):
            found = batch.labels(rule.tenant_id, action.get("label_ids", []))
            if not found:
                return None  # "its labels were deleted": the slow path says so
            labels = facts.conversation_labels() if labels is None else labels
            present = {label.pk for label in found} <= labels
            absent = not ({label.pk for label in found} & labels)
            if (kind == "add_label" and not present) or (kind == "remove_label" and not absent):
                return None
            detail = ", ".join(label.name for label in found)
        elif kind == "set_priority" and action.get("priority") == conversation.priority:
            detail = action["priority"]
        else:
            return None
        done.append({"type": kind, "result": "done", "detail": str(detail)[:500]})
    return done


def rules_run_many(triggers: Sequence[Trigger]) -> list[RuleRun]:
    """Run the workspace's active rules for each event of a delivery job, in order, as ``rules_run`` would one
    by one, with the reads they share made once (``Batch``); returns the runs recorded."""
    batch = Batch(triggers)
    recorded: list[RuleRun] = []
    for trigger in by_conversation(triggers):
        recorded += rules_run(trigger, batch=batch)
    if batch.logged:
        RuleRun.objects.bulk_create(batch.logged, ignore_conflicts=True)
    return recorded + batch.logged


def rules_run(trigger: Trigger, *, batch: Batch | None = None) -> list[RuleRun]:
    """Run the workspace's active rules for one event; returns the runs this call recorded (within a batch,
    the runs that did nothing are left in ``batch.logged`` for the batch to write)."""
    own = batch is None
    batch = batch or Batch([trigger])
    rules = batch.rules(trigger)
    if not rules:
        return []
    conversation = batch.conversation(trigger)
    if conversation is None:
        return []
    if trigger.event == Event.MESSAGE_RECEIVED and conversation.muted_at is not None:
        return []  # a muted conversation's messages are seen by no automation
    facts = Facts(conversation=conversation, at=trigger.occurred_at, message=batch.message(trigger), batch=batch)
    depth = _depth(trigger)
    tenant = conversation.tenant
    # The history lines and the rule's words in them are the team's: in the workspace's language.
    with translation.override(tenant.locale):
        verdicts = rules_evaluate(rules, trigger, facts, depth)
        logged = []
        recorded = []
        acted = False
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
            # In a delivery job's batch, until an action of this event changed the conversation, the snapshot
            # tells what is already so: such a run is logged with the others, unclaimed (it changes nothing).
            if not own and not acted and (done := _already_done(verdict.rule, conversation, facts, batch)):
                row.actions_done = done
                logged.append(row)
                continue
            try:
                with transaction.atomic():
                    row.save()
            except IntegrityError:
                continue  # this rule already ran for this event
            _actions_run(row, verdict.rule, conversation, tenant, facts)
            acted = True
            batch.touch(conversation.pk)
            recorded.append(row)
        if own:
            if logged:
                RuleRun.objects.bulk_create(logged, ignore_conflicts=True)
            return recorded + logged
        batch.logged += logged
    return recorded


def rule_actor(rule: AutomationRule) -> AutomationActor:
    return AutomationActor(tenant_id=rule.tenant_id, automation_id=rule.pk, name=rule.name, kind=KIND)


def _actions_run(run: RuleRun, rule: AutomationRule, conversation: Conversation, tenant: Tenant, facts: Facts) -> None:
    actor = rule_actor(rule)
    done: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, action in enumerate(rule.actions or []):
        try:
            with transaction.atomic():
                result, detail = _act(action, index, run, actor, conversation, tenant, facts.batch)
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
    *,
    upload: Any = None,
) -> tuple[str, str]:
    """Free text (and a file) inside the reply window; outside it the rule's template if it has one, else
    nothing (and a line in the history says why). Never free text outside the window."""
    if (text or upload is not None) and _window_open(conversation):
        body = text_fill(text, text_variables(conversation=conversation, workspace=tenant)) if text else ""
        specs = [OutboundSpec(type=Message.Type.TEXT, text=body)]
        if upload is not None:
            kind = upload_kind(upload.content_type)
            with_caption = kind != Message.Type.AUDIO
            specs = [OutboundSpec(type=kind, text=body if with_caption else "", upload=upload)]
            if body and not with_caption:
                specs.append(OutboundSpec(type=Message.Type.TEXT, text=body))
        try:
            sent = [
                message_send(
                    actor=actor, conversation=conversation, spec=spec, idempotency_key=key if n == 0 else f"{key}-{n}"
                )[0]
                for n, spec in enumerate(specs)
            ]
        except ReplyWindowClosed:
            pass  # it closed between the look and the send
        else:
            return "done", ", ".join(_("message %(id)s sent") % {"id": message.pk} for message in sent)
    if template is not None:
        return _send_template(actor, conversation, tenant, template, key + "-t")
    return _not_sent(actor, conversation, _("the customer's reply window is closed and the rule has no template."))


LOCKING_ACTIONS = frozenset({"add_label", "remove_label", "set_priority"})


def _act(
    action: dict[str, Any],
    index: int,
    run: RuleRun,
    actor: AutomationActor,
    conversation: Conversation,
    tenant: Tenant,
    batch: Batch | None = None,
) -> tuple[str, str]:
    """Do one action; returns (result, detail): "done", "not_sent" or "skipped" with why."""
    kind = action["type"]
    # Labels and priority are changed by services that lock and read the conversation again: they need no
    # fresh copy of their own (nor, in a batch, a read of the labels the batch's rules name).
    if kind not in LOCKING_ACTIONS:
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
        labels = (
            batch.labels(tenant.pk, action["label_ids"])
            if batch is not None
            else list(Label.objects.filter(tenant_id=tenant.pk, pk__in=action["label_ids"]))
        )
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
        # Its file too, with its text as the caption (an audio file takes none: the text follows it).
        upload = stored_copy(reply.attachment)
        if not reply.text.strip() and upload is None:
            return "skipped", _("the quick reply has no text")
        return _send_text(actor, conversation, tenant, reply.text, key, None, upload=upload)
    if kind == "add_note":
        text = text_fill(action["text"], text_variables(conversation=conversation, workspace=tenant))
        note = note_create(actor=actor, conversation=conversation, text=text)
        return "done", _("note %(id)s") % {"id": note.pk}
    if kind == "resolve":
        conversation_status_set(actor=actor, conversation=conversation, status=Conversation.Status.RESOLVED)
        return "done", ""
    if kind == "mute":
        conversation_mute_set(actor=actor, conversation=conversation, muted=True)
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
    if rule.event == Event.SLA_BREACHED:
        # The SLA code's records of its breaches, each as the live run gets it (``sla_breached``).
        breaches = SlaBreach.objects.filter(tenant_id=tenant_id, breached_at__gte=since).order_by(
            "-breached_at", "-id"
        )[:DRY_RUN_LIMIT]
        return [
            (Trigger(tenant_id, rule.event, f"dry-sla:{b.pk}", b.conversation_id, b.breached_at), None)
            for b in breaches.only("pk", "conversation_id", "breached_at")
        ]
    outbox_type = OUTBOX_TYPES.get(AutomationRule.Event(rule.event))
    if outbox_type is None:
        return []
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
