"""WhatsApp Cloud API channels, the raw webhook events they receive, and synced message templates."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from conversations.models import Inbox
from helpdesk import crypto
from tenants.models import TenantOwnedModel

DEFAULT_API_VERSION = "v23.0"


def new_webhook_key() -> str:
    return secrets.token_urlsafe(24)


def new_verify_token() -> str:
    return secrets.token_urlsafe(18)


class WhatsAppChannel(TenantOwnedModel):
    """One connected WhatsApp Business number; its inbox is where its conversations live."""

    class Health(models.TextChoices):
        UNKNOWN = "unknown", pgettext_lazy("channel connection", "Not checked")
        OK = "ok", pgettext_lazy("channel connection", "Connected")
        ERROR = "error", pgettext_lazy("channel connection", "Error")

    inbox = models.OneToOneField(
        Inbox, on_delete=models.CASCADE, related_name="whatsapp_channel", verbose_name=_("inbox")
    )
    display_phone_number = models.CharField(_("phone number"), max_length=32)
    phone_number_id = models.CharField(_("phone number ID"), max_length=32, unique=True)
    waba_id = models.CharField(_("WhatsApp Business Account ID"), max_length=32)
    access_token_encrypted = models.TextField()
    app_secret_encrypted = models.TextField()
    verify_token = models.CharField(max_length=64, default=new_verify_token)
    webhook_key = models.CharField(max_length=64, unique=True, default=new_webhook_key)
    api_version = models.CharField(_("Graph API version"), max_length=10, default=DEFAULT_API_VERSION)
    throughput_per_second = models.PositiveIntegerField(_("messages per second"), default=80)
    health = models.CharField(_("connection"), max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    health_detail = models.CharField(_("connection details"), max_length=500, blank=True)
    health_checked_at = models.DateTimeField(_("connection checked"), null=True, blank=True)
    verified_name = models.CharField(_("verified name"), max_length=255, blank=True)
    templates_synced_at = models.DateTimeField(_("templates synced"), null=True, blank=True)
    # The Meta catalog connected to this number's WhatsApp Business Account (COMMERCE.md §1): product
    # messages name it, and the workspace's products are synced to it. Empty: no catalog.
    catalog_id = models.CharField(_("catalog ID"), max_length=32, blank=True)
    # Meta's messaging limit (unique customers written to first per rolling 24 hours: TIER_250, TIER_2K,
    # TIER_10K, TIER_100K, TIER_UNLIMITED) and the number's quality (GREEN, YELLOW, RED, UNKNOWN), read from
    # the phone-number API and kept up to date by webhooks. Empty: not read yet.
    messaging_limit_tier = models.CharField(_("messaging limit"), max_length=20, blank=True)
    quality_rating = models.CharField(_("quality rating"), max_length=10, blank=True)
    limits_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("WhatsApp channel")
        verbose_name_plural = _("WhatsApp channels")
        indexes = [models.Index(fields=["tenant", "waba_id"], name="wa_channel_tenant_waba")]

    def __str__(self) -> str:
        return f"+{self.display_phone_number.lstrip('+')}"

    @property
    def phone_e164(self) -> str:
        """The business number as ``+`` and its digits, whatever separators its display form has."""
        return "+" + "".join(ch for ch in self.display_phone_number if ch.isdigit())

    # Secrets are only ever decrypted when used; they are never shown or logged.
    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = crypto.encrypt(value)

    @property
    def app_secret(self) -> str:
        return crypto.decrypt(self.app_secret_encrypted)

    @app_secret.setter
    def app_secret(self, value: str) -> None:
        self.app_secret_encrypted = crypto.encrypt(value)


class WebhookEvent(TenantOwnedModel):
    """A signed webhook body exactly as received; processed by a job, kept when it cannot be."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("webhook event status", "Pending")
        PROCESSED = "processed", pgettext_lazy("webhook event status", "Processed")
        FAILED = "failed", pgettext_lazy("webhook event status", "Failed")

    channel = models.ForeignKey(
        WhatsAppChannel, on_delete=models.CASCADE, related_name="webhook_events", verbose_name=_("channel")
    )
    body = models.BinaryField(_("body"))
    body_sha256 = models.CharField(max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    # What the body held, as ``whatsapp.summary`` writes it (in English); shown through ``summary_display``.
    summary = models.CharField(_("contents"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [
            models.UniqueConstraint(fields=["channel", "body_sha256"], name="webhook_event_unique_body"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="webhook_tenant_status_created"),
            models.Index(fields=["status", "created_at"], name="webhook_status_created"),
            # The drainers' queue: a channel's pending events, oldest first, however many are processed.
            models.Index(
                fields=["channel", "id"], condition=models.Q(status="pending"), name="webhook_channel_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.body_sha256[:12]}"

    @property
    def summary_display(self) -> str:
        from whatsapp.summary import summary_display

        return summary_display(self.summary)


# What a template status webhook may say happened besides landing in one of the statuses.
STATUS_EVENTS = {
    "FLAGGED": pgettext_lazy("message template status event", "Flagged"),
    "REINSTATED": pgettext_lazy("message template status event", "Reinstated"),
}


class MessageTemplate(TenantOwnedModel):
    """A WhatsApp message template of a WABA, synced from Meta (the source of truth)."""

    # Meta's template statuses; only APPROVED ones are offered and sent.
    class Status(models.TextChoices):
        APPROVED = "APPROVED", pgettext_lazy("message template status", "Approved")
        PENDING = "PENDING", pgettext_lazy("message template status", "In review")
        REJECTED = "REJECTED", pgettext_lazy("message template status", "Rejected")
        PAUSED = "PAUSED", pgettext_lazy("message template status", "Paused")
        DISABLED = "DISABLED", pgettext_lazy("message template status", "Disabled")
        IN_APPEAL = "IN_APPEAL", pgettext_lazy("message template status", "In appeal")
        PENDING_DELETION = "PENDING_DELETION", pgettext_lazy("message template status", "Pending deletion")
        DELETED = "DELETED", pgettext_lazy("message template status", "Deleted")
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", pgettext_lazy("message template status", "Limit exceeded")
        ARCHIVED = "ARCHIVED", pgettext_lazy("message template status", "Archived")

    # Meta's template categories (a template may carry another that Meta adds later: shown as written).
    class Category(models.TextChoices):
        MARKETING = "MARKETING", pgettext_lazy("message template category", "Marketing")
        UTILITY = "UTILITY", pgettext_lazy("message template category", "Utility")
        AUTHENTICATION = "AUTHENTICATION", pgettext_lazy("message template category", "Authentication")

    waba_id = models.CharField(_("WhatsApp Business Account ID"), max_length=32)
    meta_id = models.CharField(max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=16)
    category = models.CharField(_("category"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=20, default=Status.PENDING)
    components = models.JSONField(default=list, blank=True)
    parameter_format = models.CharField(max_length=16, default="POSITIONAL")
    status_reason = models.CharField(max_length=255, blank=True)
    # What the last status webhook said happened (REINSTATED, FLAGGED...), beside the status it led to.
    status_event = models.CharField(max_length=32, blank=True)
    # Meta's advice when it rejected the template (rejection_info.recommendation).
    status_detail = models.TextField(blank=True)
    # The template's quality (GREEN, YELLOW, RED, UNKNOWN) from message_template_quality_update.
    quality_score = models.CharField(_("quality"), max_length=10, blank=True)
    # Authored here (not only synced): who submitted it and the sample of its media header.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    header_sample = models.FileField(upload_to="template-samples/", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "waba_id", "name", "language"], name="template_unique_name_language"
            )
        ]
        ordering = ["name", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    # Status and category have no choices on the field: Meta may send a value added after this code.
    @property
    def status_display(self) -> str:
        return str(self.Status(self.status).label) if self.status in self.Status.values else self.status

    @property
    def status_event_display(self) -> str:
        if self.status_event in self.Status.values:
            return str(self.Status(self.status_event).label)
        return str(STATUS_EVENTS.get(self.status_event, self.status_event))

    @property
    def category_display(self) -> str:
        return str(self.Category(self.category).label) if self.category in self.Category.values else self.category


class UserPreferenceEvent(TenantOwnedModel):
    """A customer's marketing stop/resume as reported by WhatsApp (kept as a ledger)."""

    channel = models.ForeignKey(WhatsAppChannel, on_delete=models.CASCADE, related_name="+")
    wa_id = models.CharField(max_length=32)
    category = models.CharField(max_length=64)
    value = models.CharField(max_length=16)
    detail = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        verbose_name = _("customer's marketing preference")
        verbose_name_plural = _("customers' marketing preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "wa_id", "category", "occurred_at", "value"], name="user_pref_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.wa_id} {self.category}={self.value}"
