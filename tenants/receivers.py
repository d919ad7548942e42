"""Connects allauth's account and MFA events to the audit service (allauth offers only signals), and
access changes to the live sockets."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import (
    authentication_failed,
    authenticator_added,
    authenticator_removed,
    authenticator_reset,
    authenticator_used,
)
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from helpdesk.realtime import control_on_commit
from tenants.models import AuditLogEntry, Membership, Role, Tenant
from tenants.services import audit_user_event

Action = AuditLogEntry.Action


@receiver(authenticator_added)
def _mfa_added(sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    audit_user_event(action=Action.MFA_ENABLED, user=user, request=request, extra={"type": authenticator.type})


@receiver(authenticator_removed)
def _mfa_removed(sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    audit_user_event(action=Action.MFA_DISABLED, user=user, request=request, extra={"type": authenticator.type})


@receiver(authenticator_reset)
def _mfa_reset(sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        audit_user_event(action=Action.RECOVERY_CODES_REGENERATED, user=user, request=request)


@receiver(authenticator_used)
def _mfa_used(sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        fresh = Authenticator.objects.get(pk=authenticator.pk)
        remaining = len(fresh.wrap().get_unused_codes())
        audit_user_event(action=Action.RECOVERY_CODE_USED, user=user, request=request, extra={"remaining": remaining})


@receiver(authentication_failed)
def _mfa_failed(sender: Any, request: Any, user: Any, authenticator: Any = None, **kwargs: Any) -> None:
    audit_user_event(
        action=Action.LOGIN_FAILED,
        user=user,
        request=request,
        extra={"stage": "mfa", "type": getattr(authenticator, "type", "")},
    )


@receiver(password_changed)
def _password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_user_event(action=Action.PASSWORD_CHANGED, user=user, request=request)


@receiver(password_reset)
def _password_reset(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_user_event(action=Action.PASSWORD_RESET, user=user, request=request)


# --- Live sockets follow access changes at once -------------------------------------------------
# Whatever changes a member's access (role, role permissions, removal, the workspace's MFA policy),
# through a service, the admin site or a shell, their open sockets re-read it after the commit: they
# join or leave audience groups, or are closed.

_ACCESS_FIELDS = {"role", "role_id", "active"}


@receiver(post_save, sender=Membership)
def _membership_saved(sender: Any, instance: Membership, created: bool, update_fields: Any, **kwargs: Any) -> None:
    if created or (update_fields is not None and not _ACCESS_FIELDS.intersection(update_fields)):
        return  # a new member has no socket yet; availability and the like change no access
    control_on_commit(tenant_id=instance.tenant_id, user_ids=[instance.user_id])


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    control_on_commit(tenant_id=instance.tenant_id, user_ids=[instance.user_id])


@receiver(post_save, sender=Role)
def _role_saved(sender: Any, instance: Role, created: bool, **kwargs: Any) -> None:
    if not created:
        control_on_commit(tenant_id=instance.tenant_id)


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender: Any, instance: Tenant, created: bool, update_fields: Any, **kwargs: Any) -> None:
    if not created and (update_fields is None or "mfa_policy" in update_fields):
        control_on_commit(tenant_id=instance.pk)


@receiver(m2m_changed, sender=Tenant.mfa_required_roles.through)
def _mfa_roles_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, Tenant):
        control_on_commit(tenant_id=instance.pk)
