"""Reads of the tenancy domain. Every tenant-owned read takes ``tenant=``."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone

from tenants.models import ApiToken, AuditLogEntry, Invitation, Membership, Role, Tenant, User


def user_memberships(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, active=True, tenant__active=True)
        .select_related("tenant", "role")
        .order_by("tenant__name")
    )


def membership_for(*, user: User, tenant_slug: str) -> Membership:
    """The caller's active membership of the tenant; 404 when the tenant is missing or not theirs."""
    try:
        return Membership.objects.select_related("tenant", "role", "user").get(
            user=user, tenant__slug=tenant_slug, tenant__active=True, active=True
        )
    except Membership.DoesNotExist:
        raise Http404("No such workspace.") from None


def user_has_mfa(*, user: User) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()


def membership_requires_mfa(*, membership: Membership) -> bool:
    tenant = membership.tenant
    if tenant.mfa_policy == Tenant.MfaPolicy.ALL:
        return True
    if tenant.mfa_policy == Tenant.MfaPolicy.ROLES:
        return tenant.mfa_required_roles.filter(pk=membership.role_id).exists()
    return False


def member_list(*, tenant: Tenant) -> QuerySet[Membership]:
    from allauth.mfa.models import Authenticator

    has_mfa = Authenticator.objects.filter(
        user=OuterRef("user"), type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    )
    return (
        Membership.objects.filter(tenant=tenant, active=True)
        .select_related("user", "role")
        .annotate(mfa_enabled=Exists(has_mfa))
        .order_by("user__email")
    )


def member_get(*, tenant: Tenant, membership_id: int) -> Membership:
    try:
        return member_list(tenant=tenant).get(pk=membership_id)
    except Membership.DoesNotExist:
        raise Http404("No such member.") from None


def role_list(*, tenant: Tenant) -> QuerySet[Role]:
    return Role.objects.filter(tenant=tenant).order_by("-builtin", "id")


def role_get(*, tenant: Tenant, role_id: int) -> Role:
    try:
        return Role.objects.get(tenant=tenant, pk=role_id)
    except Role.DoesNotExist:
        raise Http404("No such role.") from None


def invitation_list_pending(*, tenant: Tenant) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(
            tenant=tenant, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("role", "invited_by")
        .order_by("-created_at")
    )


def invitation_get(*, tenant: Tenant, invitation_id: int) -> Invitation:
    try:
        return Invitation.objects.get(tenant=tenant, pk=invitation_id)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None


def api_token_list(*, tenant: Tenant) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(tenant=tenant).select_related("role", "created_by").order_by("-created_at")


def api_token_get(*, tenant: Tenant, token_id: int) -> ApiToken:
    try:
        return ApiToken.objects.get(tenant=tenant, pk=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such API token.") from None


def audit_log_list(
    *,
    tenant: Tenant,
    actor_id: int | None = None,
    action: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditLogEntry]:
    qs = AuditLogEntry.objects.filter(tenant=tenant).select_related("actor")
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    tz = timezone.get_current_timezone()
    if date_from:
        qs = qs.filter(created_at__gte=timezone.make_aware(datetime.combine(date_from, time.min), tz))
    if date_to:
        qs = qs.filter(created_at__lte=timezone.make_aware(datetime.combine(date_to, time.max), tz))
    return qs.order_by("-created_at", "-id")
