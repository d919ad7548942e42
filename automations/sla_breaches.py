"""The SLA breach job (a beat task, every minute): each running clock whose deadline passed unmet is recorded
as an ``SlaBreach`` once, and

- the conversation's assignee and its team's supervisors are notified (the core's notification
  ``sla_breached``, pushed live);
- a line in the history names the policy and the metric;
- an audit entry ``sla.breached`` is written (actor: the automation "SLA '<policy>'");
- after the commit, each of ``automations.sla.breach_listeners`` is called.

Found on the partial index ``sla_clock_due`` across workspaces; each clock is locked (``SKIP LOCKED``) and
re-checked, and the breach row is unique per conversation, metric and cycle: two jobs at once record, notify
and write once.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations import sla
from automations.models import SlaBreach, SlaClock, SlaMetric, SlaPolicy
from conversations.actors import AutomationActor, actor_audit_record, actor_display_name
from conversations.models import Conversation, Notification, TeamMember
from conversations.services.actions import conversation_activity_record
from conversations.services.sla import conversation_sla_set, notifications_send
from tenants.models import AuditLogEntry
from tenants.templatetags.dates import local_datetime
from tenants.timezones import UTC, zone_or_none

logger = logging.getLogger(__name__)

KIND = "sla"
BATCH = 200
RUN_SECONDS = 150.0


def automation_actor(tenant_id: int, policy: SlaPolicy | None) -> AutomationActor:
    """The automation as it acts and is named (in the active language, the workspace's during a run)."""
    name = _("SLA “%(policy)s”") % {"policy": policy.name} if policy is not None else _("SLA")
    return AutomationActor(tenant_id=tenant_id, automation_id=policy.pk if policy else 0, name=name, kind=KIND)


def supervisor_ids(conversation: Conversation) -> list[int]:
    """The user ids of the supervisors of the conversation's team (none without a team)."""
    if conversation.team_id is None:
        return []
    return list(
        TeamMember.objects.filter(tenant_id=conversation.tenant_id, team_id=conversation.team_id, is_supervisor=True)
        .order_by("id")
        .values_list("user_id", flat=True)
    )


def _due_clocks(now: datetime) -> list[int]:
    return list(
        SlaClock.objects.filter(
            due_at__lte=now,
            due_at__isnull=False,
            paused_at__isnull=True,
            met_at__isnull=True,
            stopped_at__isnull=True,
            breached_at__isnull=True,
        )
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:BATCH]
    )


def sla_breaches_record(*, now: datetime | None = None) -> dict[str, int]:
    """Record every deadline passed by ``now``; returns how many breaches this run recorded."""
    now = now or timezone.now()
    deadline = time.monotonic() + RUN_SECONDS
    recorded = 0
    seen: set[int] = set()
    while time.monotonic() < deadline:
        ids = [pk for pk in _due_clocks(now) if pk not in seen]
        if not ids:
            break
        for pk in ids:
            seen.add(pk)
            if _breach_one(pk, now=now) is not None:
                recorded += 1
    return {"breaches": recorded}


def _breach_one(pk: int, *, now: datetime) -> SlaBreach | None:
    with transaction.atomic():
        clock = (
            SlaClock.objects.select_for_update(skip_locked=True)
            .filter(
                pk=pk,
                due_at__lte=now,
                paused_at__isnull=True,
                met_at__isnull=True,
                stopped_at__isnull=True,
                breached_at__isnull=True,
            )
            .first()
        )
        if clock is None or clock.due_at is None:
            return None  # met, paused, or taken by another job meanwhile
        try:
            with transaction.atomic():
                breach = SlaBreach.objects.create(
                    tenant_id=clock.tenant_id,
                    conversation_id=clock.conversation_id,
                    policy_id=clock.policy_id,
                    metric=clock.metric,
                    cycle=clock.cycle,
                    due_at=clock.due_at,
                    breached_at=now,
                )
        except IntegrityError:
            return None  # recorded by another job
        clock.breached_at = now
        clock.save(update_fields=["breached_at", "updated_at"])
        conversation = Conversation.objects.select_related("tenant", "assignee").get(pk=clock.conversation_id)
        tenant = conversation.tenant
        policy = SlaPolicy.objects.filter(pk=clock.policy_id).first() if clock.policy_id else None
        with translation.override(tenant.locale):
            actor = automation_actor(tenant.pk, policy)
            metric = str(SlaMetric(clock.metric).label)
            line = _("%(metric)s target missed: it was due %(due)s (%(actor)s)") % {
                "metric": metric,
                "actor": actor_display_name(actor),
                "due": _local(clock.due_at, tenant.timezone),
            }
        state = sla.ConversationSla.objects.filter(conversation_id=conversation.pk).first()
        if state is not None:
            due_at, breached_at = sla.conversation_deadlines(state)
            conversation_sla_set(conversation=conversation, due_at=due_at, breached_at=breached_at)
        people = [conversation.assignee_id] if conversation.assignee_id else []
        people += supervisor_ids(conversation)
        # The notification names the automation in the workspace's language, as the history line does.
        with translation.override(tenant.locale):
            notifications_send(
                actor=actor, conversation=conversation, kind=Notification.Kind.SLA_BREACHED, user_ids=people
            )
        conversation_activity_record(actor=actor, conversation=conversation, text=line)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.SLA_BREACHED,
            tenant=tenant,
            target=conversation,
            target_label=f"#{conversation.display_id}",
            extra={"metric": clock.metric, "policy": policy.name if policy else "", "due_at": clock.due_at.isoformat()},
        )
        transaction.on_commit(
            partial(_listeners_call, tenant_id=tenant.pk, conversation_id=conversation.pk, breach_id=breach.pk)
        )
    return breach


def _local(moment: datetime, zone_name: str) -> str:
    with timezone.override(zone_or_none(zone_name) or UTC):
        return local_datetime(moment)


def _listeners_call(*, tenant_id: int, conversation_id: int, breach_id: int) -> None:
    for listener in list(sla.breach_listeners):
        try:
            listener(tenant_id=tenant_id, conversation_id=conversation_id, breach_id=breach_id)
        except Exception:
            logger.exception("An SLA breach listener failed for breach %s", breach_id)
