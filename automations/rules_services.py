"""Automation rules as the workspace manages them: read (selectors) and write (services), each change
audited. Every write needs "Manage automations"; another workspace's rule is a 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from automations.models import AutomationRule, RuleRun
from automations.rules_schema import rule_definition_clean
from conversations.actors import Actor, actor_audit_record
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

NAME_MAX = 120
RUNS_PAGE = 50


@dataclass(frozen=True)
class RuleSpec:
    name: str
    event: str
    conditions: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    active: bool = True
    stop_processing: bool = False


def rule_list(*, tenant: Tenant | int) -> QuerySet[AutomationRule]:
    return AutomationRule.objects.filter(tenant=tenant).order_by("position", "id")


def rule_get(*, tenant: Tenant | int, rule_id: int) -> AutomationRule:
    """One of the workspace's rules; another workspace's is as missing as one that never was."""
    rule = rule_list(tenant=tenant).filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def rule_runs(*, rule: AutomationRule, limit: int = RUNS_PAGE) -> list[RuleRun]:
    """The rule's latest runs, newest first, with their conversations."""
    return list(
        RuleRun.objects.filter(tenant_id=rule.tenant_id, rule=rule)
        .select_related("conversation")
        .order_by("-created_at", "-id")[:limit]
    )


def rule_spec_of(rule: AutomationRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name,
        event=rule.event,
        conditions=rule.conditions or {},
        actions=rule.actions or [],
        active=rule.active,
        stop_processing=rule.stop_processing,
    )


def _clean(tenant_id: int, spec: RuleSpec) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    name = spec.name.strip() if isinstance(spec.name, str) else ""
    if not name:
        raise ValidationFailed(_("Give the rule a name."), details={"field": "name"})
    if len(name) > NAME_MAX or "\x00" in name:
        raise ValidationFailed(
            _("A rule's name can be %(max)s characters long at most.") % {"max": NAME_MAX}, details={"field": "name"}
        )
    conditions, actions = rule_definition_clean(
        tenant_id=tenant_id, event=spec.event, conditions=spec.conditions, actions=spec.actions
    )
    return name, conditions, actions


def _require(actor: Actor, tenant_id: int) -> None:
    require_perm(
        actor,
        Perm.MANAGE_AUTOMATIONS,
        tenant_id=tenant_id,
        message=_("You do not have permission to manage automation rules."),
    )


def _snapshot(rule: AutomationRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "event": rule.event,
        "active": rule.active,
        "stop_processing": rule.stop_processing,
        "conditions": rule.conditions,
        "actions": rule.actions,
    }


def _audit(actor: Actor, action: str, rule: AutomationRule, request: HttpRequest | None, extra: dict[str, Any]) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=Tenant.objects.get(pk=rule.tenant_id),
        target=rule,
        target_label=rule.name,
        request=request,
        extra=extra,
    )


@transaction.atomic
def rule_create(*, actor: Actor, spec: RuleSpec, request: HttpRequest | None = None) -> AutomationRule:
    """A new rule, last in the workspace's order."""
    tenant_id = actor.tenant_id
    _require(actor, tenant_id)
    name, conditions, actions = _clean(tenant_id, spec)
    # Numbered under the workspace's lock: two rules created at once get distinct positions.
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()
    last = AutomationRule.objects.filter(tenant_id=tenant_id).aggregate(last=Max("position"))["last"]
    rule = AutomationRule.objects.create(
        tenant_id=tenant_id,
        name=name,
        event=spec.event,
        conditions=conditions,
        actions=actions,
        active=spec.active,
        stop_processing=spec.stop_processing,
        position=0 if last is None else last + 1,
    )
    _audit(actor, AuditLogEntry.Action.AUTOMATION_RULE_CREATED, rule, request, _snapshot(rule))
    return rule


@transaction.atomic
def rule_update(
    *, actor: Actor, rule: AutomationRule, spec: RuleSpec, request: HttpRequest | None = None
) -> AutomationRule:
    _require(actor, rule.tenant_id)
    name, conditions, actions = _clean(rule.tenant_id, spec)
    rule = AutomationRule.objects.select_for_update().get(tenant_id=rule.tenant_id, pk=rule.pk)
    before = _snapshot(rule)
    rule.name, rule.event, rule.conditions, rule.actions = name, spec.event, conditions, actions
    rule.active, rule.stop_processing = spec.active, spec.stop_processing
    after = _snapshot(rule)
    changes = {key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]}
    if not changes:
        return rule
    rule.save()
    _audit(actor, AuditLogEntry.Action.AUTOMATION_RULE_CHANGED, rule, request, {"changes": changes})
    return rule


@transaction.atomic
def rule_delete(*, actor: Actor, rule: AutomationRule, request: HttpRequest | None = None) -> None:
    _require(actor, rule.tenant_id)
    _audit(actor, AuditLogEntry.Action.AUTOMATION_RULE_DELETED, rule, request, _snapshot(rule))
    AutomationRule.objects.filter(tenant_id=rule.tenant_id, pk=rule.pk).delete()


@transaction.atomic
def rule_move(*, actor: Actor, rule: AutomationRule, direction: str, request: HttpRequest | None = None) -> bool:
    """Swap the rule with the one before ("up") or after ("down") it; False when it is first or last
    already. The whole order is renumbered 0, 1, 2… under the workspace's lock."""
    _require(actor, rule.tenant_id)
    if direction not in ("up", "down"):
        raise ValidationFailed(_("Move a rule up or down."), details={"field": "direction"})
    Tenant.objects.select_for_update().filter(pk=rule.tenant_id).first()
    rules = list(AutomationRule.objects.filter(tenant_id=rule.tenant_id).order_by("position", "id"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rules):
        return False
    rules[index], rules[other] = rules[other], rules[index]
    for position, row in enumerate(rules):
        row.position = position
    AutomationRule.objects.bulk_update(rules, ["position"])
    _audit(
        actor,
        AuditLogEntry.Action.AUTOMATION_RULE_CHANGED,
        rule,
        request,
        {"changes": {"position": {"from": index + 1, "to": other + 1}}},
    )
    return True
