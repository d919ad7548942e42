"""Live sockets follow inbox and team membership: a member added to or removed from an inbox or a team
re-reads their access (a team's members see its queue's unassigned conversations)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from conversations.models import Inbox, TeamMember
from helpdesk.realtime import control_on_commit


@receiver(m2m_changed, sender=Inbox.members.through)
def _inbox_members_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # user.inboxes.add(...): the instance is the user, pk_set the inboxes
        inbox_ids = list(pk_set or ()) if action != "pre_clear" else list(instance.inboxes.values_list("pk", flat=True))
        tenant_ids = set(Inbox.objects.filter(pk__in=inbox_ids).values_list("tenant_id", flat=True))
        for tenant_id in sorted(tenant_ids):
            control_on_commit(tenant_id=tenant_id, user_ids=[instance.pk])
        return
    user_ids = list(instance.members.values_list("pk", flat=True)) if action == "pre_clear" else list(pk_set or ())
    if user_ids:
        control_on_commit(tenant_id=instance.tenant_id, user_ids=user_ids)


@receiver(post_save, sender=TeamMember)
@receiver(post_delete, sender=TeamMember)
def _team_members_changed(sender: Any, instance: TeamMember, **kwargs: Any) -> None:
    if kwargs.get("created") is False:  # a supervisor flag changed: what they see did not
        return
    control_on_commit(tenant_id=instance.tenant_id, user_ids=[instance.user_id])
