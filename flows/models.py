"""Guided bot flows: versioned definitions, the sessions that run them per conversation, the inputs each
session consumed (once), and where customers came from (wa.me links and ads)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from helpdesk import crypto
from tenants.models import TenantOwnedModel

DEFAULT_HANDOVER_KEYWORDS = ["atendente", "humano", "agent"]


def _handover_keywords() -> list[str]:
    return list(DEFAULT_HANDOVER_KEYWORDS)


class Flow(TenantOwnedModel):
    """A bot flow of a workspace: its triggers and behaviour; its steps are in its versions."""

    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # None: every inbox of the workspace.
    inbox = models.ForeignKey(
        "conversations.Inbox",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("inbox"),
    )
    enabled = models.BooleanField(_("on"), default=False)
    # Lower first when several flows' triggers match one message.
    position = models.PositiveIntegerField(_("order"), default=0)
    trigger_keywords = models.JSONField(_("keywords"), default=list, blank=True)
    trigger_regex = models.CharField(_("regular expression"), max_length=200, blank=True)
    trigger_first_message = models.BooleanField(_("any first message"), default=False)
    trigger_outside_hours = models.BooleanField(_("outside business hours"), default=False)
    trigger_payloads = models.JSONField(_("button payloads"), default=list, blank=True)
    handover_keywords = models.JSONField(_("words that call a person"), default=_handover_keywords, blank=True)
    handover_team = models.ForeignKey(
        "conversations.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team that takes over"),
    )
    timeout_minutes = models.PositiveIntegerField(_("ends after minutes of silence"), default=30)
    timeout_message = models.TextField(_("message when it ends for silence"), blank=True)
    # The built-in template it was installed from ("transit_recharge"), if any.
    template_key = models.CharField(max_length=40, blank=True)
    published = models.ForeignKey(
        "FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("published")
    )

    class Meta:
        verbose_name = _("bot flow")
        verbose_name_plural = _("bot flows")
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "enabled", "position"], name="flow_tenant_enabled")]

    def __str__(self) -> str:
        return self.name


class FlowVersion(TenantOwnedModel):
    """A flow's steps as edited (the one draft) or as published (frozen; sessions keep the version they began on)."""

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("flow version", "Draft")
        PUBLISHED = "published", pgettext_lazy("flow version", "Published")
        RETIRED = "retired", pgettext_lazy("flow version", "Retired")

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    definition = models.JSONField(_("steps"), default=dict)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("flow version")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique_number"),
            models.UniqueConstraint(fields=["flow"], condition=Q(status="draft"), name="flow_version_one_draft"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id} v{self.number}"


class FlowSession(TenantOwnedModel):
    """One run of a flow in a conversation: where it is, what it collected, how it ended."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("flow session", "Running")
        WAITING = "waiting", pgettext_lazy("flow session", "Waiting for payment")
        COMPLETED = "completed", pgettext_lazy("flow session", "Completed")
        HANDED_OVER = "handed_over", pgettext_lazy("flow session", "Handed over")
        ABANDONED = "abandoned", pgettext_lazy("flow session", "Abandoned")
        STOPPED = "stopped", pgettext_lazy("flow session", "Stopped by an agent")
        FAILED = "failed", pgettext_lazy("flow session", "Failed")

    RUNNING = (Status.ACTIVE, Status.WAITING)

    class Trigger(models.TextChoices):
        KEYWORD = "keyword", pgettext_lazy("flow trigger", "Keyword")
        REGEX = "regex", pgettext_lazy("flow trigger", "Regular expression")
        FIRST_MESSAGE = "first_message", pgettext_lazy("flow trigger", "First message")
        OUTSIDE_HOURS = "outside_hours", pgettext_lazy("flow trigger", "Outside business hours")
        PAYLOAD = "payload", pgettext_lazy("flow trigger", "Button")
        LINK = "link", pgettext_lazy("flow trigger", "wa.me link")
        API = "api", pgettext_lazy("flow trigger", "API")
        TEST = "test", pgettext_lazy("flow trigger", "Test in the simulator")

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="sessions")
    version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="sessions")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE)
    trigger = models.CharField(_("started by"), max_length=16, choices=Trigger.choices)
    source = models.ForeignKey("EntryLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    step = models.CharField(_("step"), max_length=40, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    variables = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(_("started"))
    last_activity_at = models.DateTimeField(_("last activity"))
    # The channel time of the latest customer message it took: an older one arriving late is not an answer.
    last_input_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_step = models.CharField(_("ended at step"), max_length=40, blank=True)
    # Waiting for a payment: until when, and whether the reminder went.
    wait_until = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "payments.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("order")
    )
    # Counts the bot's messages, for their idempotency keys.
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("flow session")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["active", "waiting"]),
                name="flow_session_one_running",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "flow", "status"], name="flow_session_flow_status"),
            models.Index(fields=["status", "last_activity_at"], name="flow_session_running"),
            models.Index(fields=["order"], name="flow_session_order"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id}/{self.pk}"

    @property
    def running(self) -> bool:
        return self.status in self.RUNNING


class FlowInput(TenantOwnedModel):
    """A customer message a session took (answer, late or ignored): at most once, whatever the channel repeats."""

    session = models.ForeignKey(FlowSession, on_delete=models.CASCADE, related_name="inputs")
    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=20)

    class Meta:
        verbose_name = _("flow input")


class FlowStepLog(TenantOwnedModel):
    """What happened at each step of a session, for the reports and the session's page."""

    session = models.ForeignKey(FlowSession, on_delete=models.CASCADE, related_name="log")
    step = models.CharField(max_length=40)
    step_name = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=20)
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["session", "id"], name="flow_step_log_session")]


class FlowSettings(TenantOwnedModel):
    """A workspace's secrets for its flows: the key integration calls are signed with and the transit
    operator's API key (encrypted at rest)."""

    secrets_encrypted = models.TextField(blank=True)

    class Meta:
        verbose_name = _("flow settings")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="flow_settings_one_per_tenant")]

    @property
    def secrets(self) -> dict[str, Any]:
        return json.loads(crypto.decrypt(self.secrets_encrypted)) if self.secrets_encrypted else {}

    @secrets.setter
    def secrets(self, values: dict[str, Any]) -> None:
        self.secrets_encrypted = crypto.encrypt(json.dumps(values)) if values else ""


class EntryLink(TenantOwnedModel):
    """A wa.me link (and its QR code) to an inbox's number with a prefilled text carrying a ``ref`` token,
    one per campaign or place (a shop window, a flyer, a website); it may start a flow."""

    class Kind(models.TextChoices):
        SHOP_WINDOW = "shop_window", pgettext_lazy("link source", "Shop window")
        FLYER = "flyer", pgettext_lazy("link source", "Flyer")
        WEBSITE = "website", pgettext_lazy("link source", "Website")
        SOCIAL = "social", pgettext_lazy("link source", "Social media")
        CAMPAIGN = "campaign", pgettext_lazy("link source", "Campaign")
        OTHER = "other", pgettext_lazy("link source", "Other")

    inbox = models.ForeignKey("conversations.Inbox", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("source"), max_length=12, choices=Kind.choices, default=Kind.OTHER)
    ref = models.CharField(_("reference"), max_length=32)
    text = models.CharField(_("prefilled text"), max_length=500, blank=True)
    flow = models.ForeignKey(Flow, null=True, blank=True, on_delete=models.SET_NULL, related_name="links")
    archived = models.BooleanField(_("archived"), default=False)

    class Meta:
        verbose_name = _("wa.me link")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "ref"], name="entry_link_unique_ref")]

    def __str__(self) -> str:
        return self.name


class ConversationSource(TenantOwnedModel):
    """Where a conversation came from: a wa.me link's token in its first message, or a click-to-WhatsApp ad."""

    class Kind(models.TextChoices):
        LINK = "link", pgettext_lazy("conversation source", "wa.me link")
        AD = "ad", pgettext_lazy("conversation source", "Click-to-WhatsApp ad")

    conversation = models.OneToOneField("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    link = models.ForeignKey(EntryLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An ad's id and headline as the channel gave them (``Message.referral``).
    ad_id = models.CharField(max_length=64, blank=True)
    ad_headline = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("conversation source")
        indexes = [models.Index(fields=["tenant", "link"], name="conversation_source_link")]
