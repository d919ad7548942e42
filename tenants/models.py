"""Users, tenants, memberships, roles, invitations, API tokens and the audit log."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tenants.countries import DEFAULT_COUNTRY, validate_country
from tenants.languages import DEFAULT_LANGUAGE, validate_language
from tenants.permissions import BUILTIN_ROLE_DESCRIPTIONS, BUILTIN_ROLE_PERMS, BuiltinRole
from tenants.timezones import validate_time_zone


def token_digest(raw: str) -> str:
    """SHA-256 of a high-entropy token; such tokens need no slow hash."""
    return hashlib.sha256(raw.encode()).hexdigest()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with an e-mail address; belongs to tenants through memberships."""

    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    last_tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last workspace"),
    )
    # Empty: times are shown in the zone of the workspace being viewed.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_time_zone])
    # Empty: the product speaks the language of the workspace being viewed.
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        default="",
        db_default="",
        choices=settings.LANGUAGES,
        validators=[validate_language],
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Tenant(models.Model):
    """A business using the helpdesk. Everything it owns carries its id."""

    class MfaPolicy(models.TextChoices):
        OFF = "off", _("Not required")
        ALL = "all", _("Required for every member")
        ROLES = "roles", _("Required for chosen roles")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Sao_Paulo", validators=[validate_time_zone]
    )
    locale = models.CharField(
        _("language"),
        max_length=10,
        default=DEFAULT_LANGUAGE,
        choices=settings.LANGUAGES,
        validators=[validate_language],
    )
    # ISO 3166-1 alpha-2: phone numbers are shown in this country's national format.
    country = models.CharField(
        _("country"), max_length=2, default=DEFAULT_COUNTRY, db_default=DEFAULT_COUNTRY, validators=[validate_country]
    )
    active = models.BooleanField(_("active"), default=True)
    mfa_policy = models.CharField(
        _("multi-factor authentication"), max_length=10, choices=MfaPolicy.choices, default=MfaPolicy.OFF
    )
    mfa_required_roles = models.ManyToManyField(
        "tenants.Role", blank=True, related_name="+", verbose_name=_("roles that must use MFA")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")

    def __str__(self) -> str:
        return self.name


class TenantOwnedModel(models.Model):
    """Base of all tenant data: every row names its tenant; indexes start with it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("workspace"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class Role(TenantOwnedModel):
    """A named set of permissions. Built-in roles take their permissions from code."""

    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    builtin = models.BooleanField(_("built-in"), default=False)
    permissions = models.JSONField(_("permissions"), default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="role_unique_key_per_tenant")]
        ordering = ["-builtin", "id"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name people see: a built-in role's in the viewer's language, a custom role's as written."""
        if self.builtin and self.key in BuiltinRole.values:
            return str(BuiltinRole(self.key).label)
        return self.name

    @property
    def display_description(self) -> str:
        if self.builtin and self.key in BUILTIN_ROLE_DESCRIPTIONS:
            return str(BUILTIN_ROLE_DESCRIPTIONS[self.key])
        return self.description

    @property
    def is_owner(self) -> bool:
        return self.builtin and self.key == BuiltinRole.OWNER

    @property
    def perm_set(self) -> frozenset[str]:
        if self.builtin:
            return BUILTIN_ROLE_PERMS.get(self.key, frozenset())
        return frozenset(self.permissions)


class Membership(TenantOwnedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )

    class Availability(models.TextChoices):
        ONLINE = "online", _("Online")
        BUSY = "busy", _("Busy")
        OFFLINE = "offline", _("Offline")

    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("role"))
    active = models.BooleanField(_("active"), default=True)
    availability = models.CharField(
        _("availability"), max_length=8, choices=Availability.choices, default=Availability.OFFLINE
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant")]
        indexes = [models.Index(fields=["user", "active"], name="membership_user_active")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return gettext("%(user)s in %(workspace)s") % {"user": self.user, "workspace": self.tenant}

    def has_perm(self, perm: str) -> bool:
        """The single permission check of the product."""
        return self.active and perm in self.role.perm_set

    @property
    def is_owner(self) -> bool:
        return self.role.is_owner


class Invitation(TenantOwnedModel):
    email = models.EmailField(_("e-mail address"))
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="+", verbose_name=_("role"))
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("invited by")
    )
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "email"], name="invitation_tenant_email")]
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return gettext("Invitation of %(email)s") % {"email": self.email}

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ApiToken(TenantOwnedModel):
    """A tenant's API credential. The secret is shown once and stored as a SHA-256 digest."""

    name = models.CharField(_("name"), max_length=80)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+", verbose_name=_("role"))
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    token_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("created by")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def has_perm(self, perm: str) -> bool:
        return self.active and perm in self.role.perm_set


class AuditLogQuerySet(models.QuerySet["AuditLogEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("The audit log is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("The audit log is append-only.")


class AuditLogEntry(models.Model):
    """An append-only record of a security-relevant action."""

    class Action(models.TextChoices):
        LOGIN_SUCCEEDED = "auth.login", _("Logged in")
        LOGIN_FAILED = "auth.login_failed", _("Login failed")
        LOGOUT = "auth.logout", _("Logged out")
        PASSWORD_CHANGED = "auth.password_changed", _("Password changed")
        PASSWORD_RESET = "auth.password_reset", _("Password reset")
        MFA_ENABLED = "mfa.enabled", _("MFA method enabled")
        MFA_DISABLED = "mfa.disabled", _("MFA method disabled")
        MFA_RESET = "mfa.reset", _("MFA reset by an admin")
        RECOVERY_CODE_USED = "mfa.recovery_code_used", _("Recovery code used")
        RECOVERY_CODES_REGENERATED = "mfa.recovery_codes_regenerated", _("Recovery codes regenerated")
        INVITATION_SENT = "invitation.sent", _("Invitation sent")
        INVITATION_REVOKED = "invitation.revoked", _("Invitation revoked")
        INVITATION_ACCEPTED = "invitation.accepted", _("Invitation accepted")
        ROLE_CREATED = "role.created", _("Role created")
        ROLE_CHANGED = "role.changed", _("Role changed")
        ROLE_DELETED = "role.deleted", _("Role deleted")
        MEMBER_ROLE_CHANGED = "member.role_changed", _("Member's role changed")
        MEMBER_REMOVED = "member.removed", _("Member removed")
        MEMBER_LEFT = "member.left", _("Member left")
        POLICY_CHANGED = "policy.changed", _("Security policy changed")
        TENANT_CREATED = "tenant.created", _("Workspace created")
        TENANT_UPDATED = "tenant.updated", _("Workspace settings changed")
        API_TOKEN_CREATED = "api_token.created", _("API token created")
        API_TOKEN_REVOKED = "api_token.revoked", _("API token revoked")
        CHANNEL_CONNECTED = "channel.connected", _("Channel connected")
        CHANNEL_UPDATED = "channel.updated", _("Channel settings changed")
        CHANNEL_DISCONNECTED = "channel.disconnected", _("Channel disconnected")
        WEBHOOK_REPROCESSED = "webhook.reprocessed", _("Webhook event reprocessed")
        CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversation assigned")
        CONVERSATION_STATUS_CHANGED = "conversation.status_changed", _("Conversation status changed")
        CONVERSATION_PRIORITY_CHANGED = "conversation.priority_changed", _("Conversation priority changed")
        CONVERSATION_LABELS_CHANGED = "conversation.labels_changed", _("Conversation labels changed")
        PRODUCT_CREATED = "product.created", _("Product created")
        PRODUCT_CHANGED = "product.changed", _("Product changed")
        PRODUCT_DELETED = "product.deleted", _("Product deleted")
        PRODUCTS_IMPORTED = "product.imported", _("Products imported")
        ORDER_CREATED = "order.created", _("Order created")
        ORDER_STATUS_CHANGED = "order.status_changed", _("Order status changed")
        PAYMENT_ACCOUNT_SAVED = "payment_account.saved", _("Payment account saved")
        PAYMENT_REQUESTED = "payment.requested", _("Payment requested")
        PAYMENT_RECEIVED = "payment.received", _("Payment received")
        PAYMENT_REFUNDED = "payment.refunded", _("Refund requested")
        FLOW_CREATED = "flow.created", _("Bot flow created")
        FLOW_CHANGED = "flow.changed", _("Bot flow changed")
        FLOW_PUBLISHED = "flow.published", _("Bot flow published")
        FLOW_DELETED = "flow.deleted", _("Bot flow deleted")
        FLOW_SETTINGS_CHANGED = "flow.settings_changed", _("Bot flow keys changed")
        ENTRY_LINK_CREATED = "entry_link.created", _("wa.me link created")
        ENTRY_LINK_CHANGED = "entry_link.changed", _("wa.me link changed")
        ENTRY_LINK_ARCHIVED = "entry_link.archived", _("wa.me link archived")
        ENTRY_LINK_RESTORED = "entry_link.restored", _("wa.me link restored")
        CONVERSATION_MUTED = "conversation.muted", _("Conversation muted")
        CONVERSATION_UNMUTED = "conversation.unmuted", _("Conversation unmuted")
        CONTACT_UPDATED = "contact.updated", _("Contact changed")
        MESSAGE_SENT = "message.sent", _("Message sent by an automation or the system")
        LABEL_CREATED = "label.created", _("Label created")
        LABEL_CHANGED = "label.changed", _("Label changed")
        LABEL_DELETED = "label.deleted", _("Label deleted")
        QUICK_REPLY_CREATED = "quick_reply.created", _("Quick reply created")
        QUICK_REPLY_CHANGED = "quick_reply.changed", _("Quick reply changed")
        QUICK_REPLY_DELETED = "quick_reply.deleted", _("Quick reply deleted")
        AVAILABILITY_CHANGED = "member.availability_changed", _("Availability changed")
        EVENT_DELIVERY_RETRIED = "event_delivery.retried", _("Event delivery tried again")
        CUSTOMER_TEXT_CREATED = "customer_text.created", _("Customer text created")
        CUSTOMER_TEXT_CHANGED = "customer_text.changed", _("Customer text changed")
        CUSTOMER_TEXT_DELETED = "customer_text.deleted", _("Customer text deleted")
        BUSINESS_CALENDAR_CREATED = "business_calendar.created", _("Business hours created")
        BUSINESS_CALENDAR_CHANGED = "business_calendar.changed", _("Business hours changed")
        BUSINESS_CALENDAR_DELETED = "business_calendar.deleted", _("Business hours deleted")
        GREETING_SETTINGS_CHANGED = "greeting_settings.changed", _("Greeting and away changed")
        AUTO_RESOLVE_CHANGED = "auto_resolve.changed", _("Auto-resolve changed")
        SLA_POLICY_CREATED = "sla_policy.created", _("SLA policy created")
        SLA_POLICY_CHANGED = "sla_policy.changed", _("SLA policy changed")
        SLA_POLICY_DELETED = "sla_policy.deleted", _("SLA policy deleted")
        SLA_BREACHED = "sla.breached", _("SLA breached")
        CONVERSATION_TEAM_CHANGED = "conversation.team_changed", _("Conversation moved to a team")
        TEAM_CREATED = "team.created", _("Team created")
        TEAM_CHANGED = "team.changed", _("Team changed")
        TEAM_DELETED = "team.deleted", _("Team deleted")
        ASSIGNMENT_POLICY_CHANGED = "assignment_policy.changed", _("Auto-assignment changed")
        CSAT_SETTINGS_CHANGED = "csat_settings.changed", _("Satisfaction survey changed")
        AUTOMATION_RULE_CREATED = "automation_rule.created", _("Automation rule created")
        AUTOMATION_RULE_CHANGED = "automation_rule.changed", _("Automation rule changed")
        AUTOMATION_RULE_DELETED = "automation_rule.deleted", _("Automation rule deleted")
        TEMPLATE_SUBMITTED = "template.submitted", _("Message template submitted")
        TEMPLATE_EDITED = "template.edited", _("Message template edited")
        TEMPLATE_DELETED = "template.deleted", _("Message template deleted")
        CONSENT_RECORDED = "consent.recorded", _("Consent recorded")
        CONSENT_SETTINGS_CHANGED = "consent_settings.changed", _("Consent keywords changed")
        CONSENT_PURPOSE_CREATED = "consent_purpose.created", _("Consent purpose created")
        CONSENT_PURPOSE_CHANGED = "consent_purpose.changed", _("Consent purpose changed")
        CONSENT_PURPOSE_DELETED = "consent_purpose.deleted", _("Consent purpose deleted")
        CONTACTS_IMPORTED = "contacts.imported", _("Contacts imported")
        SEGMENT_CREATED = "segment.created", _("Segment created")
        SEGMENT_CHANGED = "segment.changed", _("Segment changed")
        SEGMENT_DELETED = "segment.deleted", _("Segment deleted")
        BROADCAST_CREATED = "broadcast.created", _("Broadcast created")
        BROADCAST_CHANGED = "broadcast.changed", _("Broadcast changed")
        BROADCAST_STARTED = "broadcast.started", _("Broadcast started")
        BROADCAST_SCHEDULED = "broadcast.scheduled", _("Broadcast scheduled")
        BROADCAST_PAUSED = "broadcast.paused", _("Broadcast paused")
        BROADCAST_RESUMED = "broadcast.resumed", _("Broadcast resumed")
        BROADCAST_CANCELED = "broadcast.canceled", _("Broadcast canceled")
        BROADCAST_DELETED = "broadcast.deleted", _("Broadcast deleted")
        MESSAGE_SCHEDULED = "message.scheduled", _("Message scheduled")
        SCHEDULED_MESSAGE_CANCELED = "message.schedule_canceled", _("Scheduled message canceled")
        MESSAGE_PRICES_CHANGED = "message_prices.changed", _("Message prices changed")

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("workspace")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor name"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=64, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    extra = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=False)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_created"),
            models.Index(fields=["tenant", "action", "-created_at"], name="audit_tenant_action_created"),
            models.Index(fields=["tenant", "actor", "-created_at"], name="audit_tenant_actor_created"),
        ]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log entries")

    def __str__(self) -> str:
        return gettext("%(time)s %(action)s by %(actor)s") % {
            "time": f"{self.created_at:%Y-%m-%d %H:%M}",
            "action": self.get_action_display(),
            "actor": self.actor_label or "—",
        }

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("The audit log is append-only.")
