"""What agents do to a conversation: assign, change status, snooze, mute, prioritise, label, mark read.

Each action is audited, leaves a system line in the conversation's history and reaches every
member who can see the conversation (and those who just lost sight of it) live, after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from conversations import channels
from conversations.actors import (
    Actor,
    actor_audit_record,
    actor_display_name,
    actor_id,
    actor_kind,
    actor_type,
    actor_user,
)
from conversations.content import SystemContent
from conversations.events import (
    ConversationAssigned,
    ConversationLabelsChanged,
    ConversationPriorityChanged,
    ConversationStatusChanged,
    ConversationTeamChanged,
)
from conversations.events.outbox import events_record
from conversations.models import Conversation, ConversationLabel, Label, Message, Notification, Team
from conversations.selectors import assignable
from conversations.services.events import (
    publish_conversation_updated,
    publish_message_event,
    publish_notification,
)
from helpdesk.after_commit import on_commit_guarded
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Membership, User
from tenants.permissions import Perm, require_perm
from tenants.templatetags.dates import local_datetime


def _line(actor: Actor, person: str, other: str, **params: str) -> str:
    """A history line: "Ana resolved the conversation" for a member or an API token (``person``),
    "Resolved by automation 'Auto-resolve'" for an automation or the system (``other``)."""
    text = person if actor_type(actor) in ("member", "api_token") else other
    return text % {"actor": actor_display_name(actor), **params}


def _require_reply(actor: Actor, conversation: Conversation) -> None:
    require_perm(
        actor,
        Perm.REPLY,
        tenant_id=conversation.tenant_id,
        message=_("You do not have permission to change this conversation."),
    )


def _audit(actor: Actor, action: str, conversation: Conversation, extra: dict[str, Any]) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=conversation.tenant,
        target=conversation,
        target_label=f"#{conversation.display_id}",
        extra=extra,
    )


def _activity(conversation: Conversation, text: str) -> Message:
    """A system line in the history ("Ana assigned this to Bruno"); never sent to the customer."""
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.SYSTEM,
        type=Message.Type.SYSTEM,
        text=text,
        content=SystemContent(event="activity", body=text).to_dict(),
        private=True,
        status=Message.Status.SENT,
    )


def _tenant_time(conversation: Conversation, moment: datetime) -> str:
    """The moment in the workspace's zone and the language of the line it goes into (written once)."""
    try:
        zone = ZoneInfo(conversation.tenant.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    with timezone.override(zone):
        return local_datetime(moment)


def _save_and_publish(conversation: Conversation, fields: list[str], *, activity: str = "") -> None:
    conversation.save(update_fields=[*fields, "updated_at"])
    if activity:
        publish_message_event("message.created", _activity(conversation, activity))
    # Members who no longer see it (e.g. assigned to someone else) are told so by the same call.
    publish_conversation_updated(conversation)


@transaction.atomic
def conversation_assign(*, actor: Actor, conversation: Conversation, assignee: User | None) -> Conversation:
    """Assign to a member who may see the conversation's inbox, or unassign (``None``)."""
    _require_reply(actor, conversation)
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    if assignee is not None and not assignable(conversation=conversation, user_id=assignee.pk):
        raise ValidationFailed(
            _("That person cannot be assigned: they are not a member of this conversation's inbox."),
            details={"assignee_id": assignee.pk},
        )
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return conversation
    previous = conversation.assignee_id
    conversation.assignee = assignee
    if assignee is None:
        activity = _line(actor, _("%(actor)s unassigned the conversation"), _("Unassigned by %(actor)s"))
    elif isinstance(actor, Membership) and assignee.pk == actor.user_id:
        activity = _("%(actor)s took the conversation") % {"actor": actor_display_name(actor)}
    else:
        activity = _line(
            actor,
            _("%(actor)s assigned the conversation to %(assignee)s"),
            _("Assigned to %(assignee)s by %(actor)s"),
            assignee=assignee.display_name,
        )
    _save_and_publish(conversation, ["assignee"], activity=activity)
    _audit(
        actor,
        AuditLogEntry.Action.CONVERSATION_ASSIGNED,
        conversation,
        {"from": previous, "to": assignee.pk if assignee else None},
    )
    person = actor_user(actor)
    events_record(
        [
            ConversationAssigned(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                previous_assignee_id=previous,
                assignee_id=assignee.pk if assignee else None,
                actor_user_id=person.pk if person else None,
                actor_type=actor_type(actor),
                actor_id=actor_id(actor),
                actor_kind=actor_kind(actor),
            )
        ]
    )
    if assignee is not None and (person is None or person.pk != assignee.pk):
        notification = Notification.objects.create(
            tenant_id=conversation.tenant_id,
            user=assignee,
            kind=Notification.Kind.ASSIGNED,
            conversation=conversation,
            actor=person,
            actor_label="" if person else capfirst(actor_display_name(actor))[:150],
        )
        publish_notification(notification)
    return conversation


@transaction.atomic
def conversation_team_set(*, actor: Actor, conversation: Conversation, team: Team | None) -> Conversation:
    """Move the conversation to a team's queue (its members see it while it is unassigned), to another
    team, or out of any team (``None``). The assignee, if any, stays."""
    _require_reply(actor, conversation)
    if team is not None and team.tenant_id != conversation.tenant_id:
        raise ValidationFailed(_("Unknown team."), details={"team_id": team.pk})
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    if conversation.team_id == (team.pk if team else None):
        return conversation
    previous = conversation.team_id
    conversation.team = team
    if team is None:
        old_name = (
            Team.objects.filter(tenant_id=conversation.tenant_id, pk=previous or 0)
            .values_list("name", flat=True)
            .first()
        )
        activity = _line(
            actor,
            _("%(actor)s removed the conversation from team %(team)s"),
            _("Removed from team %(team)s by %(actor)s"),
            team=old_name or "",
        )
    else:
        activity = _line(
            actor,
            _("%(actor)s moved the conversation to team %(team)s"),
            _("Moved to team %(team)s by %(actor)s"),
            team=team.name,
        )
    _save_and_publish(conversation, ["team"], activity=activity)
    _audit(
        actor,
        AuditLogEntry.Action.CONVERSATION_TEAM_CHANGED,
        conversation,
        {"from": previous, "to": team.pk if team else None},
    )
    person = actor_user(actor)
    events_record(
        [
            ConversationTeamChanged(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                inbox_id=conversation.inbox_id,
                previous_team_id=previous,
                team_id=team.pk if team else None,
                actor_user_id=person.pk if person else None,
                actor_type=actor_type(actor),
                actor_id=actor_id(actor),
                actor_kind=actor_kind(actor),
            )
        ]
    )
    return conversation


SNOOZE_MAX = timedelta(days=365)


@transaction.atomic
def conversation_status_set(
    *, actor: Actor, conversation: Conversation, status: str, snoozed_until: datetime | None = None
) -> Conversation:
    """Resolve, reopen, set pending, or snooze until a time (it reopens then, or when the customer writes)."""
    _require_reply(actor, conversation)
    if status not in Conversation.Status.values:
        raise ValidationFailed(_("Unknown status."), details={"allowed": Conversation.Status.values})
    now = timezone.now()
    if status == Conversation.Status.SNOOZED:
        if snoozed_until is None:
            raise ValidationFailed(_("Say until when to snooze the conversation."))
        if timezone.is_naive(snoozed_until):
            raise ValidationFailed(_("The snooze time needs a time zone."))
        if snoozed_until <= now:
            raise ValidationFailed(_("The snooze time must be in the future."))
        if snoozed_until > now + SNOOZE_MAX:
            raise ValidationFailed(_("A conversation can be snoozed for a year at most."))
    elif snoozed_until is not None:
        raise ValidationFailed(_("Only a snoozed conversation has a snooze time."))
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    if status == conversation.status and snoozed_until == conversation.snoozed_until:
        return conversation
    if conversation.status == Conversation.Status.RESOLVED and status != Conversation.Status.RESOLVED:
        # Reopening must not collide with a newer conversation the customer opened meanwhile.
        newer = (
            Conversation.objects.filter(
                tenant_id=conversation.tenant_id, contact_inbox_id=conversation.contact_inbox_id
            )
            .exclude(status=Conversation.Status.RESOLVED)
            .exclude(pk=conversation.pk)
            .values_list("display_id", flat=True)
            .first()
        )
        if newer is not None:
            raise ValidationFailed(
                _("This customer has a newer open conversation (#%(id)s); continue there.") % {"id": newer},
                code="newer_conversation_open",
                details={"display_id": newer},
            )
    previous = conversation.status
    was_muted = conversation.muted_at is not None
    conversation.status = status
    conversation.snoozed_until = snoozed_until
    conversation.resolved_at = now if status == Conversation.Status.RESOLVED else None
    # Only a resolved conversation is muted: reopening it unmutes it.
    conversation.muted_at = conversation.muted_at if status == Conversation.Status.RESOLVED else None
    person_line, other_line = {
        Conversation.Status.RESOLVED: (_("%(actor)s resolved the conversation"), _("Resolved by %(actor)s")),
        Conversation.Status.OPEN: (_("%(actor)s reopened the conversation"), _("Reopened by %(actor)s")),
        Conversation.Status.PENDING: (
            _("%(actor)s set the conversation to pending"),
            _("Set to pending by %(actor)s"),
        ),
        Conversation.Status.SNOOZED: (
            _("%(actor)s snoozed the conversation until %(until)s"),
            _("Snoozed until %(until)s by %(actor)s"),
        ),
    }[Conversation.Status(status)]
    activity = _line(
        actor, person_line, other_line, until=_tenant_time(conversation, snoozed_until) if snoozed_until else ""
    )
    if was_muted and conversation.muted_at is None:
        activity += "; " + _("the conversation is no longer muted")
    _save_and_publish(conversation, ["status", "snoozed_until", "resolved_at", "muted_at"], activity=activity)
    _audit(
        actor,
        AuditLogEntry.Action.CONVERSATION_STATUS_CHANGED,
        conversation,
        {
            "from": previous,
            "to": status,
            "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
            **({"unmuted": True} if was_muted and conversation.muted_at is None else {}),
        },
    )
    person = actor_user(actor)
    change = {
        Conversation.Status.RESOLVED: "resolved",
        Conversation.Status.OPEN: "reopened",
        Conversation.Status.PENDING: "pending",
        Conversation.Status.SNOOZED: "snoozed",
    }[Conversation.Status(status)]
    events_record(
        [
            ConversationStatusChanged(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                previous_status=previous,
                status=status,
                change=change,
                snoozed_until=snoozed_until,
                actor_user_id=person.pk if person else None,
                actor_type=actor_type(actor),
                actor_id=actor_id(actor),
                actor_kind=actor_kind(actor),
            )
        ]
    )
    return conversation


@transaction.atomic
def conversation_mute_set(*, actor: Actor, conversation: Conversation, muted: bool) -> Conversation:
    """Mute (resolve it, and file the customer's new messages here, resolved and unread by nobody, out of the
    queue and of every automation) or unmute (it stays resolved: the customer's next message opens a new
    conversation, as always). Meant for spam and for customers who keep writing after the matter is closed."""
    _require_reply(actor, conversation)
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    if (conversation.muted_at is not None) == muted:
        return conversation
    person = actor_user(actor)
    if not muted:
        conversation.muted_at = None
        activity = _line(actor, _("%(actor)s unmuted the conversation"), _("Unmuted by %(actor)s"))
        _save_and_publish(conversation, ["muted_at"], activity=activity)
        _audit(actor, AuditLogEntry.Action.CONVERSATION_UNMUTED, conversation, {})
        return conversation
    now = timezone.now()
    previous = conversation.status
    conversation.muted_at = now
    fields = ["muted_at"]
    if previous != Conversation.Status.RESOLVED:
        conversation.status, conversation.snoozed_until, conversation.resolved_at = (
            Conversation.Status.RESOLVED,
            None,
            now,
        )
        fields += ["status", "snoozed_until", "resolved_at"]
    activity = _line(actor, _("%(actor)s muted the conversation"), _("Muted by %(actor)s"))
    _save_and_publish(conversation, fields, activity=activity)
    _audit(actor, AuditLogEntry.Action.CONVERSATION_MUTED, conversation, {"from": previous})
    if previous != Conversation.Status.RESOLVED:
        # Resolved as muted: what follows a resolution (clocks stop, capacity frees) happens; what greets a
        # resolution (a survey, "conversation resolved" rules) does not, since ``change`` is "muted".
        events_record(
            [
                ConversationStatusChanged(
                    tenant_id=conversation.tenant_id,
                    conversation_id=conversation.pk,
                    previous_status=previous,
                    status=Conversation.Status.RESOLVED,
                    change="muted",
                    actor_user_id=person.pk if person else None,
                    actor_type=actor_type(actor),
                    actor_id=actor_id(actor),
                    actor_kind=actor_kind(actor),
                )
            ]
        )
    return conversation


@transaction.atomic
def conversation_priority_set(*, actor: Actor, conversation: Conversation, priority: str) -> Conversation:
    _require_reply(actor, conversation)
    if priority not in Conversation.Priority.values:
        raise ValidationFailed(_("Unknown priority."), details={"allowed": Conversation.Priority.values})
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    if conversation.priority == priority:
        return conversation
    previous = conversation.priority
    conversation.priority = priority
    activity = _line(
        actor,
        _("%(actor)s set the priority to %(priority)s"),
        _("Priority set to %(priority)s by %(actor)s"),
        priority=str(Conversation.Priority(priority).label),
    )
    _save_and_publish(conversation, ["priority"], activity=activity)
    _audit(actor, AuditLogEntry.Action.CONVERSATION_PRIORITY_CHANGED, conversation, {"from": previous, "to": priority})
    person = actor_user(actor)
    events_record(
        [
            ConversationPriorityChanged(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                previous_priority=previous,
                priority=priority,
                actor_user_id=person.pk if person else None,
                actor_type=actor_type(actor),
                actor_id=actor_id(actor),
                actor_kind=actor_kind(actor),
            )
        ]
    )
    return conversation


@transaction.atomic
def conversation_labels_change(
    *,
    actor: Actor,
    conversation: Conversation,
    add: Sequence[Label] = (),
    remove: Sequence[Label] = (),
) -> list[Label]:
    """Add and remove labels; returns the conversation's labels afterwards."""
    _require_reply(actor, conversation)
    for label in [*add, *remove]:
        if label.tenant_id != conversation.tenant_id:
            raise ValidationFailed(_("Unknown label."))
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant")
        .get(pk=conversation.pk)
    )
    current = set(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True))
    added = [label for label in add if label.pk not in current]
    removed = [label for label in remove if label.pk in current and label not in added]
    if added:
        ConversationLabel.objects.bulk_create(
            [ConversationLabel(tenant_id=conversation.tenant_id, conversation=conversation, label=lb) for lb in added],
            ignore_conflicts=True,
        )
    if removed:
        ConversationLabel.objects.filter(conversation=conversation, label__in=removed).delete()
    labels = list(conversation.labels.order_by("name"))
    if not added and not removed:
        return labels
    parts = []
    if added:
        names = ", ".join(lb.name for lb in added)
        parts.append(_line(actor, _("%(actor)s added %(labels)s"), _("%(labels)s added by %(actor)s"), labels=names))
    if removed:
        names = ", ".join(lb.name for lb in removed)
        parts.append(
            _line(actor, _("%(actor)s removed %(labels)s"), _("%(labels)s removed by %(actor)s"), labels=names)
        )
    _save_and_publish(conversation, [], activity="; ".join(parts))
    _audit(
        actor,
        AuditLogEntry.Action.CONVERSATION_LABELS_CHANGED,
        conversation,
        {"added": [lb.name for lb in added], "removed": [lb.name for lb in removed]},
    )
    person = actor_user(actor)
    events_record(
        [
            ConversationLabelsChanged(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                added_label_ids=tuple(lb.pk for lb in added),
                removed_label_ids=tuple(lb.pk for lb in removed),
                label_ids=tuple(sorted(lb.pk for lb in labels)),
                actor_user_id=person.pk if person else None,
                actor_type=actor_type(actor),
                actor_id=actor_id(actor),
                actor_kind=actor_kind(actor),
            )
        ]
    )
    return labels


@transaction.atomic
def conversation_activity_record(*, actor: Actor, conversation: Conversation, text: str) -> Message:
    """A system line an automation (or the system) leaves in the history about what it did or did not
    do ("No closing message sent by automation 'Auto-resolve': …"); private, never sent to the customer.
    The text names the actor itself, in the language the line is written in."""
    _require_reply(actor, conversation)
    text = text.strip()
    if not text:
        raise ValidationFailed(_("A history line cannot be empty."))
    message = _activity(conversation, text[:4096])
    publish_message_event("message.created", message)
    return message


def conversation_mark_read(*, membership: Membership, conversation: Conversation) -> None:
    """The team has seen the customer's messages: the unread count drops to zero for everyone, and
    the channel tells the customer (e.g. read ticks up to their latest message)."""
    if membership.tenant_id != conversation.tenant_id:
        raise PermissionDenied(_("You do not have permission to change this conversation."))
    with transaction.atomic():
        updated = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(unread_count=0)
        if updated:
            conversation.unread_count = 0
            publish_conversation_updated(conversation)
            read_receipt_on_commit(conversation)


def read_receipt_on_commit(conversation: Conversation) -> None:
    """Once committed, the channel tells the customer the team has read their latest message."""
    latest = (
        Message.objects.filter(
            tenant_id=conversation.tenant_id,
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            external_id__isnull=False,
        )
        .order_by("-occurred_at", "-id")
        .first()
    )
    if latest is not None:
        backend = channels.backend_for(conversation.inbox)
        on_commit_guarded(lambda: backend.enqueue_read_receipt(latest), what=f"Read receipt of message {latest.pk}")


def conversations_unsnooze_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Reopen snoozed conversations whose time has come (a beat task). Returns how many reopened."""
    now = now or timezone.now()
    reopened = 0
    ids = list(
        Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    for pk in ids:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(no_key=True, skip_locked=True)
                .filter(pk=pk, status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
                .first()
            )
            if conversation is None:
                continue
            conversation.status = Conversation.Status.OPEN
            conversation.snoozed_until = None
            _save_and_publish(conversation, ["status", "snoozed_until"], activity=_("The snooze ended"))
            events_record(
                [
                    ConversationStatusChanged(
                        tenant_id=conversation.tenant_id,
                        conversation_id=conversation.pk,
                        previous_status=Conversation.Status.SNOOZED,
                        status=Conversation.Status.OPEN,
                        change="snooze_ended",
                        actor_type="system",
                    )
                ]
            )
            reopened += 1
    return reopened


def notifications_mark_read(*, membership: Membership) -> int:
    """Mark all of the member's notifications read; returns how many changed."""
    return Notification.objects.filter(
        tenant_id=membership.tenant_id, user_id=membership.user_id, read_at__isnull=True
    ).update(read_at=timezone.now())


def conversation_answers_await(*, conversation: Conversation, until: datetime | None) -> None:
    """Keep the customer's answers in ``conversation`` until ``until`` once it is resolved (None: no longer);
    which messages are answers, the features' keepers say (``conversations.answers``)."""
    Conversation.objects.filter(pk=conversation.pk, tenant_id=conversation.tenant_id).update(answers_until=until)
    conversation.answers_until = until
