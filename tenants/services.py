"""Writes of the tenancy domain. Each security-relevant change writes the audit log."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from helpdesk.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants.client_address import client_address
from tenants.countries import validate_country
from tenants.languages import validate_language
from tenants.models import ApiToken, AuditLogEntry, Invitation, Membership, Role, Tenant, User, token_digest
from tenants.permissions import ALL_PERMS, BUILTIN_ROLE_DESCRIPTIONS, BuiltinRole, Perm, require_perm
from tenants.selectors import user_memberships
from tenants.timezones import validate_time_zone

Action = AuditLogEntry.Action


# --- audit -----------------------------------------------------------------------------------


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return client_address(request)


def audit_log_record(
    *,
    action: str,
    tenant: Tenant | None = None,
    actor: User | None = None,
    target: Model | None = None,
    target_label: str = "",
    request: HttpRequest | None = None,
    extra: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        tenant=tenant,
        actor=actor,
        actor_label=(actor_label or (actor.email if actor else ""))[:254],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[:254],
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:512] if request else ""),
        extra=extra or {},
    )


def audit_user_event(
    *,
    action: str,
    user: User | None,
    request: HttpRequest | None,
    extra: dict[str, Any] | None = None,
    actor_label: str = "",
) -> None:
    """Record an account event in the log of every workspace the user belongs to."""
    tenants = [m.tenant for m in user_memberships(user=user)] if user is not None else []
    for tenant in tenants or [None]:  # type: ignore[list-item]  # account events of a user with no workspace
        audit_log_record(
            action=action,
            tenant=tenant,
            actor=user,
            target=user,
            request=request,
            extra=extra,
            actor_label=actor_label,
        )


# --- tenants and roles -----------------------------------------------------------------------


def _builtin_roles_create(*, tenant: Tenant) -> dict[str, Role]:
    return {
        key: Role.objects.create(
            tenant=tenant, key=key, name=str(label), builtin=True, description=str(BUILTIN_ROLE_DESCRIPTIONS[key])
        )
        for key, label in BuiltinRole.choices
    }


def role_builtin(*, tenant: Tenant, key: str) -> Role:
    return Role.objects.get(tenant=tenant, key=key, builtin=True)


@transaction.atomic
def tenant_create(
    *,
    name: str,
    owner: User,
    slug: str = "",
    timezone_name: str = "America/Sao_Paulo",
    locale: str = "pt-br",
    request: HttpRequest | None = None,
) -> Tenant:
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A workspace needs a name."))
    try:
        validate_language(locale)
        validate_time_zone(timezone_name)
    except DjangoValidationError as exc:
        raise ValidationFailed(exc.messages[0]) from None
    slug = slugify(slug or name)[:50] or "workspace"
    base, n = slug, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    tenant = Tenant.objects.create(name=name, slug=slug, timezone=timezone_name, locale=locale)
    roles = _builtin_roles_create(tenant=tenant)
    Membership.objects.create(tenant=tenant, user=owner, role=roles[BuiltinRole.OWNER])
    audit_log_record(action=Action.TENANT_CREATED, tenant=tenant, actor=owner, target=tenant, request=request)
    return tenant


def _clean_permissions(permissions: list[str]) -> list[str]:
    unknown = set(permissions) - ALL_PERMS
    if unknown:
        raise ValidationFailed(_("Unknown permissions: %s") % ", ".join(sorted(unknown)))
    return sorted(set(permissions))


@transaction.atomic
def role_create(
    *, actor: Membership, name: str, permissions: list[str], description: str = "", request: HttpRequest | None = None
) -> Role:
    require_perm(actor, Perm.MANAGE_ROLES)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A role needs a name."))
    key = slugify(name)[:40] or "role"
    if key in BuiltinRole.values or Role.objects.filter(tenant=actor.tenant, key=key).exists():
        raise Conflict(_("A role with this name already exists."))
    perms = _clean_permissions(permissions)
    role = Role.objects.create(
        tenant=actor.tenant, key=key, name=name, description=description.strip(), permissions=perms
    )
    audit_log_record(
        action=Action.ROLE_CREATED,
        tenant=actor.tenant,
        actor=actor.user,
        target=role,
        request=request,
        extra={"permissions": perms},
    )
    return role


@transaction.atomic
def role_update(
    *,
    actor: Membership,
    role: Role,
    name: str,
    permissions: list[str],
    description: str = "",
    request: HttpRequest | None = None,
) -> Role:
    require_perm(actor, Perm.MANAGE_ROLES)
    if role.tenant_id != actor.tenant_id:
        raise NotFound(_("No such role."))
    if role.builtin:
        raise ValidationFailed(_("Built-in roles cannot be edited; create a custom role instead."))
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A role needs a name."))
    perms = _clean_permissions(permissions)
    before = {"name": role.name, "permissions": role.permissions}
    role.name, role.description, role.permissions = name, description.strip(), perms
    role.save(update_fields=["name", "description", "permissions", "updated_at"])
    audit_log_record(
        action=Action.ROLE_CHANGED,
        tenant=actor.tenant,
        actor=actor.user,
        target=role,
        request=request,
        extra={"before": before, "after": {"name": name, "permissions": perms}},
    )
    return role


@transaction.atomic
def role_delete(*, actor: Membership, role: Role, request: HttpRequest | None = None) -> None:
    require_perm(actor, Perm.MANAGE_ROLES)
    if role.tenant_id != actor.tenant_id:
        raise NotFound(_("No such role."))
    if role.builtin:
        raise ValidationFailed(_("Built-in roles cannot be deleted."))
    if (
        Membership.objects.filter(role=role, active=True).exists()
        or ApiToken.objects.filter(role=role, revoked_at__isnull=True).exists()
    ):
        raise Conflict(_("Members or API tokens still have this role; give them another role first."))
    audit_log_record(action=Action.ROLE_DELETED, tenant=actor.tenant, actor=actor.user, target=role, request=request)
    Membership.objects.filter(role=role).delete()
    ApiToken.objects.filter(role=role).delete()
    role.delete()


# --- members ---------------------------------------------------------------------------------


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(
        tenant=tenant, active=True, role__builtin=True, role__key=BuiltinRole.OWNER
    ).count()


def _lock_owners(tenant: Tenant) -> None:
    # Serialises owner changes of one tenant so two concurrent demotions cannot remove the last owner.
    list(Membership.objects.select_for_update(no_key=True).filter(tenant=tenant, role__key=BuiltinRole.OWNER))


@transaction.atomic
def membership_change_role(
    *, actor: Membership, membership: Membership, role: Role, request: HttpRequest | None = None
) -> Membership:
    require_perm(actor, Perm.MANAGE_MEMBERS)
    if membership.tenant_id != actor.tenant_id or role.tenant_id != actor.tenant_id:
        raise NotFound(_("No such member or role."))
    if (membership.is_owner or role.is_owner) and not actor.is_owner:
        raise PermissionDenied(_("Only an owner can change an owner or make someone an owner."))
    if membership.role_id == role.pk:
        return membership
    _lock_owners(actor.tenant)
    if membership.is_owner and not role.is_owner and _owner_count(actor.tenant) <= 1:
        raise Conflict(_("A workspace needs at least one owner. Make someone else an owner first."))
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_log_record(
        action=Action.MEMBER_ROLE_CHANGED,
        tenant=actor.tenant,
        actor=actor.user,
        target=membership.user,
        request=request,
        extra={"from": before.key, "to": role.key},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: Membership, membership: Membership, request: HttpRequest | None = None) -> None:
    leaving = actor.pk == membership.pk
    if not leaving:
        require_perm(actor, Perm.MANAGE_MEMBERS)
    if membership.tenant_id != actor.tenant_id:
        raise NotFound(_("No such member."))
    if membership.is_owner and not actor.is_owner:
        raise PermissionDenied(_("Only an owner can remove an owner."))
    _lock_owners(actor.tenant)
    if membership.is_owner and _owner_count(actor.tenant) <= 1:
        raise Conflict(_("The last owner cannot leave or be removed. Make someone else an owner first."))
    audit_log_record(
        action=Action.MEMBER_LEFT if leaving else Action.MEMBER_REMOVED,
        tenant=actor.tenant,
        actor=actor.user,
        target=membership.user,
        request=request,
        extra={"role": membership.role.key},
    )
    membership.delete()


@transaction.atomic
def member_mfa_reset(*, actor: Membership, membership: Membership, request: HttpRequest | None = None) -> int:
    """Remove every authenticator of a member, who must enrol again if the policy requires MFA."""
    from allauth.mfa.models import Authenticator

    require_perm(actor, Perm.MANAGE_MEMBERS)
    if membership.tenant_id != actor.tenant_id:
        raise NotFound(_("No such member."))
    if membership.is_owner and not actor.is_owner:
        raise PermissionDenied(_("Only an owner can reset an owner's MFA."))
    removed, _detail = Authenticator.objects.filter(user=membership.user).delete()
    audit_log_record(
        action=Action.MFA_RESET,
        tenant=actor.tenant,
        actor=actor.user,
        target=membership.user,
        request=request,
        extra={"authenticators_removed": removed},
    )
    return removed


@transaction.atomic
def tenant_security_update(
    *, actor: Membership, mfa_policy: str, roles: list[Role], request: HttpRequest | None = None
) -> Tenant:
    require_perm(actor, Perm.MANAGE_ROLES)
    tenant = actor.tenant
    if mfa_policy not in Tenant.MfaPolicy.values:
        raise ValidationFailed(_("Unknown MFA policy."))
    if any(r.tenant_id != tenant.pk for r in roles):
        raise NotFound(_("No such role."))
    if mfa_policy == Tenant.MfaPolicy.ROLES and not roles:
        raise ValidationFailed(_("Choose at least one role that must use MFA."))
    before = {"mfa_policy": tenant.mfa_policy, "roles": sorted(r.key for r in tenant.mfa_required_roles.all())}
    tenant.mfa_policy = mfa_policy
    tenant.save(update_fields=["mfa_policy", "updated_at"])
    tenant.mfa_required_roles.set(roles if mfa_policy == Tenant.MfaPolicy.ROLES else [])
    after = {"mfa_policy": mfa_policy, "roles": sorted(r.key for r in tenant.mfa_required_roles.all())}
    if before != after:
        audit_log_record(
            action=Action.POLICY_CHANGED,
            tenant=tenant,
            actor=actor.user,
            target=tenant,
            request=request,
            extra={"before": before, "after": after},
        )
    return tenant


@transaction.atomic
def tenant_settings_update(
    *,
    actor: Membership,
    timezone_name: str | None = None,
    locale: str | None = None,
    country: str | None = None,
    request: HttpRequest | None = None,
) -> Tenant:
    """The workspace's own settings: its time zone, language and country (None: unchanged)."""
    require_perm(actor, Perm.MANAGE_ROLES)
    tenant = Tenant.objects.select_for_update().get(pk=actor.tenant_id)
    wanted = {"timezone": timezone_name, "locale": locale, "country": country}
    checks = {"timezone": validate_time_zone, "locale": validate_language, "country": validate_country}
    changes: dict[str, list[str]] = {}
    for field, value in wanted.items():
        if value is None:
            continue
        try:
            checks[field](value)
        except DjangoValidationError as exc:
            raise ValidationFailed(exc.messages[0], details={"field": field}) from None
        if getattr(tenant, field) != value:
            changes[field] = [getattr(tenant, field), value]
            setattr(tenant, field, value)
    if not changes:
        return tenant
    tenant.save(update_fields=[*changes, "updated_at"])
    actor.tenant = tenant
    audit_log_record(
        action=Action.TENANT_UPDATED,
        tenant=tenant,
        actor=actor.user,
        target=tenant,
        request=request,
        extra={"changes": changes},
    )
    return tenant


def user_preferences_update(*, user: User, time_zone: str | None = None, language: str | None = None) -> User:
    """The person's own preferences (None: unchanged); an empty time zone or language means the workspace's."""
    changed = []
    for field, value, validate in (
        ("time_zone", time_zone, validate_time_zone),
        ("language", language, validate_language),
    ):
        if value is None:
            continue
        if value:
            try:
                validate(value)
            except DjangoValidationError as exc:
                raise ValidationFailed(exc.messages[0], details={"field": field}) from None
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)
    return user


# --- invitations -----------------------------------------------------------------------------


def _invitation_url(raw_token: str, request: HttpRequest | None) -> str:
    path = reverse("invitation_accept", kwargs={"token": raw_token})
    return request.build_absolute_uri(path) if request is not None else settings.SITE_URL.rstrip("/") + path


@transaction.atomic
def invitation_create(
    *, actor: Membership, email: str, role: Role, request: HttpRequest | None = None
) -> tuple[Invitation, str]:
    require_perm(actor, Perm.MANAGE_MEMBERS)
    email = email.strip().lower()
    if role.tenant_id != actor.tenant_id:
        raise NotFound(_("No such role."))
    if role.is_owner and not actor.is_owner:
        raise PermissionDenied(_("Only an owner can invite another owner."))
    if Membership.objects.filter(tenant=actor.tenant, user__email__iexact=email, active=True).exists():
        raise Conflict(_("%(email)s is already a member of this workspace.") % {"email": email})
    # A new invitation to the same address replaces the pending one.
    Invitation.objects.filter(
        tenant=actor.tenant, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    raw_token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=actor.tenant,
        email=email,
        role=role,
        token_hash=token_digest(raw_token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_log_record(
        action=Action.INVITATION_SENT,
        tenant=actor.tenant,
        actor=actor.user,
        target=invitation,
        target_label=email,
        request=request,
        extra={"email": email, "role": role.key},
    )
    url = _invitation_url(raw_token, request)
    context = {"tenant": actor.tenant, "inviter": actor.user, "role": role, "url": url, "invitation": invitation}
    # The invitee has no language of their own yet: the e-mail speaks the workspace's, in its time zone.
    with translation.override(actor.tenant.locale), timezone.override(actor.tenant.timezone):
        subject = _("You are invited to %(tenant)s") % {"tenant": actor.tenant.name}
        body = render_to_string("tenants/email/invitation.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [email]))
    return invitation, raw_token


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation, request: HttpRequest | None = None) -> None:
    require_perm(actor, Perm.MANAGE_MEMBERS)
    if invitation.tenant_id != actor.tenant_id:
        raise NotFound(_("No such invitation."))
    if not invitation.is_pending:
        raise Conflict(_("This invitation is no longer pending."))
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_log_record(
        action=Action.INVITATION_REVOKED,
        tenant=actor.tenant,
        actor=actor.user,
        target=invitation,
        target_label=invitation.email,
        request=request,
    )


class InvitationInvalid(ValidationFailed):
    code = "invitation_invalid"
    status_code = 404


class InvitationExpired(ValidationFailed):
    code = "invitation_expired"
    status_code = 410


def invitation_by_token(*, raw_token: str) -> Invitation:
    """The pending invitation a link points to, or a typed error saying why it cannot be used."""
    if not raw_token or len(raw_token) > 128:
        raise InvitationInvalid(_("This invitation link is not valid."))
    try:
        invitation = Invitation.objects.select_related("tenant", "role").get(token_hash=token_digest(raw_token))
    except Invitation.DoesNotExist:
        raise InvitationInvalid(_("This invitation link is not valid.")) from None
    if invitation.accepted_at is not None:
        raise InvitationExpired(_("This invitation has already been used."))
    if invitation.revoked_at is not None:
        raise InvitationExpired(_("This invitation was withdrawn. Ask for a new one."))
    if invitation.expires_at <= timezone.now() or not invitation.tenant.active:
        raise InvitationExpired(_("This invitation has expired. Ask for a new one."))
    return invitation


@transaction.atomic
def invitation_accept(
    *, raw_token: str, user: User | None = None, password: str = "", name: str = "", request: HttpRequest | None = None
) -> tuple[Membership, User]:
    """Join the tenant. Without ``user``, creates the account for the invited address."""
    invitation = invitation_by_token(raw_token=raw_token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise InvitationExpired(_("This invitation has already been used."))
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise Conflict(_("An account with this e-mail already exists. Log in to accept the invitation."))
        user = User.objects.create_user(email=invitation.email, password=password, name=name.strip())
    elif user.email.lower() != invitation.email.lower():
        raise PermissionDenied(
            _("This invitation is for %(email)s. Log in with that address to accept it.") % {"email": invitation.email}
        )
    try:
        with transaction.atomic():
            membership, created = Membership.objects.get_or_create(
                tenant=invitation.tenant, user=user, defaults={"role": invitation.role}
            )
    except IntegrityError:
        membership, created = Membership.objects.get(tenant=invitation.tenant, user=user), False
    if not created and not membership.active:
        membership.active, membership.role = True, invitation.role
        membership.save(update_fields=["active", "role", "updated_at"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_log_record(
        action=Action.INVITATION_ACCEPTED,
        tenant=invitation.tenant,
        actor=user,
        target=invitation,
        target_label=invitation.email,
        request=request,
        extra={"role": invitation.role.key},
    )
    return membership, user


def invitations_purge_expired(*, older_than_days: int = 30) -> int:
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _detail = Invitation.objects.filter(accepted_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted


# --- API tokens ------------------------------------------------------------------------------

API_TOKEN_PREFIX = "hd_"


@transaction.atomic
def api_token_create(
    *, actor: Membership, name: str, role: Role, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored."""
    require_perm(actor, Perm.MANAGE_MEMBERS)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("An API token needs a name."))
    if role.tenant_id != actor.tenant_id:
        raise NotFound(_("No such role."))
    if role.is_owner:
        raise ValidationFailed(_("API tokens cannot have the owner role."))
    if not role.perm_set <= actor.role.perm_set:
        raise PermissionDenied(_("You cannot create a token with permissions you do not have."))
    prefix = secrets.token_hex(4)
    raw = f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        tenant=actor.tenant, name=name, role=role, prefix=prefix, token_hash=token_digest(raw), created_by=actor.user
    )
    audit_log_record(
        action=Action.API_TOKEN_CREATED,
        tenant=actor.tenant,
        actor=actor.user,
        target=token,
        request=request,
        extra={"role": role.key, "prefix": prefix},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: Membership, token: ApiToken, request: HttpRequest | None = None) -> ApiToken:
    require_perm(actor, Perm.MANAGE_MEMBERS)
    if token.tenant_id != actor.tenant_id:
        raise NotFound(_("No such API token."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit_log_record(
            action=Action.API_TOKEN_REVOKED,
            tenant=actor.tenant,
            actor=actor.user,
            target=token,
            request=request,
            extra={"prefix": token.prefix},
        )
    return token
