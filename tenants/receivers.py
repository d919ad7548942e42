"""Connects allauth's account and MFA events to the audit service (allauth offers only signals)."""

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
from django.dispatch import receiver

from tenants.models import AuditLogEntry
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
