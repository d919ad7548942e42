"""Automation rules built through the real service, and what they left behind."""

from __future__ import annotations

from typing import Any

from automations.models import AutomationRule, RuleRun
from automations.rules_services import RuleSpec, rule_create
from conversations.models import Conversation, Message
from tenants.models import Membership


def make_rule(
    actor: Membership,
    *,
    name: str = "Rule",
    event: str = "message_received",
    items: list[dict[str, Any]] | None = None,
    op: str = "and",
    actions: list[dict[str, Any]],
    **fields: Any,
) -> AutomationRule:
    conditions = {"op": op, "items": items or []}
    return rule_create(
        actor=actor, spec=RuleSpec(name=name, event=event, conditions=conditions, actions=actions, **fields)
    )


def runs(rule: AutomationRule) -> list[tuple[str, int | None]]:
    """The rule's runs, oldest first: (outcome, conversation id)."""
    return list(
        RuleRun.objects.filter(rule=rule).order_by("created_at", "id").values_list("outcome", "conversation_id")
    )


def label_names(conversation: Conversation) -> list[str]:
    return sorted(conversation.labels.values_list("name", flat=True))


def history(conversation: Conversation) -> list[str]:
    """The system lines of the conversation, in order."""
    rows = Message.objects.filter(conversation=conversation, type=Message.Type.SYSTEM).order_by("id")
    return list(rows.values_list("text", flat=True))


def outbound(conversation: Conversation) -> list[tuple[str, str, str, bool, str]]:
    """What the business wrote (not the system lines): (type, sender type, label, private, text)."""
    rows = (
        Message.objects.filter(conversation=conversation, direction="out")
        .exclude(type=Message.Type.SYSTEM)
        .order_by("id")
    )
    return [(m.type, m.sender_type, m.sender_label, m.private, m.text) for m in rows]
