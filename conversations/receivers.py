"""Live sockets follow inbox membership: a member added to or removed from an inbox re-reads their access."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from conversations.models import Inbox
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
