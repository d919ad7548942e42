"""Automations' tables: business hours calendars and which calendar each inbox keeps; each inbox's greeting
and away messages with the record of what they sent, and its auto-resolve with the record of what it
resolved."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import ContactInbox, Conversation, Inbox, Label, Message
from tenants.models import TenantOwnedModel
from tenants.timezones import validate_time_zone


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessCalendar(TenantOwnedModel):
    """When a workspace (or one of its inboxes) is open: weekly hours, holidays and its own dates."""

    class Mode(models.TextChoices):
        SCHEDULE = "schedule", _("By schedule")
        OPEN = "open", _("Open all day")
        CLOSED = "closed", _("Closed")

    name = models.CharField(_("name"), max_length=80)
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.SCHEDULE)
    holidays_enabled = models.BooleanField(_("closed on public holidays"), default=True)
    # ISO 3166-1 alpha-2, and a subdivision code of the ``holidays`` package ("SP").
    holiday_country = models.CharField(_("holidays of country"), max_length=2, blank=True)
    holiday_subdivision = models.CharField(_("holidays of state or region"), max_length=40, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="business_calendar_unique_name_per_tenant")
        ]
        verbose_name = _("business hours calendar")
        verbose_name_plural = _("business hours calendars")

    def __str__(self) -> str:
        return self.name


class WeeklyInterval(TenantOwnedModel):
    """Opening hours on one weekday; an end not after the start ends on the next day (22:00-06:00)."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="weekly_intervals", verbose_name=_("calendar")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("opens"))
    end = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday", "start", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="weekly_interval_weekday_in_week"),
            models.CheckConstraint(condition=~models.Q(start=models.F("end")), name="weekly_interval_not_empty"),
        ]
        verbose_name = _("weekly interval")
        verbose_name_plural = _("weekly intervals")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}\u2013{self.end:%H:%M}"


class CalendarDate(TenantOwnedModel):
    """A date of the workspace's own: closed all day (no intervals) or a half-day (its own intervals)."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="dates", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=80, blank=True)

    class Meta:
        ordering = ["date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "calendar", "date"], name="calendar_date_unique_per_calendar")
        ]
        verbose_name = _("calendar date")
        verbose_name_plural = _("calendar dates")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


class CalendarDateInterval(TenantOwnedModel):
    """Opening hours of a half-day; an end not after the start ends on the next day."""

    calendar_date = models.ForeignKey(
        CalendarDate, on_delete=models.CASCADE, related_name="intervals", verbose_name=_("date")
    )
    start = models.TimeField(_("opens"))
    end = models.TimeField(_("closes"))

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(start=models.F("end")), name="calendar_date_interval_not_empty")
        ]
        verbose_name = _("date interval")
        verbose_name_plural = _("date intervals")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}\u2013{self.end:%H:%M}"


class InboxSettings(TenantOwnedModel):
    """What automations keep about an inbox (the core's ``Inbox`` knows nothing of them)."""

    inbox = models.OneToOneField(
        Inbox, on_delete=models.CASCADE, related_name="automation_settings", verbose_name=_("inbox")
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbox_settings",
        verbose_name=_("business hours"),
    )

    class Meta:
        indexes = [models.Index(fields=["tenant", "calendar"], name="inbox_settings_tenant_calendar")]
        verbose_name = _("inbox automation settings")
        verbose_name_plural = _("inbox automation settings")

    def __str__(self) -> str:
        return str(self.inbox)


class GreetingSettings(TenantOwnedModel):
    """An inbox's greeting and away messages: when each is sent. Their wording is the workspace's customer
    texts ``greeting-inbox-<id>`` and ``away-inbox-<id>`` (``conversations.customer_texts``), per language."""

    class When(models.TextChoices):
        FIRST_EVER = "first_ever", _("The customer's first message ever")
        AFTER_DAYS = "after_days", _("The first message after some days without contact")

    inbox = models.OneToOneField(
        Inbox, on_delete=models.CASCADE, related_name="greeting_settings", verbose_name=_("inbox")
    )
    greeting_enabled = models.BooleanField(_("greeting on"), default=False)
    greeting_when = models.CharField(_("greet on"), max_length=12, choices=When.choices, default=When.FIRST_EVER)
    greeting_after_days = models.PositiveSmallIntegerField(_("days without contact"), default=30)
    away_enabled = models.BooleanField(_("away message on"), default=False)
    away_every_hours = models.PositiveSmallIntegerField(_("at most once every (hours)"), default=4)
    away_agent_quiet_minutes = models.PositiveSmallIntegerField(
        _("not after an agent's reply within (minutes)"), default=15
    )

    class Meta:
        verbose_name = _("greeting and away settings")
        verbose_name_plural = _("greeting and away settings")


AUTO_RESOLVE_HOURS_MIN = 1
AUTO_RESOLVE_HOURS_MAX = 720  # 30 days


class AutoResolveSettings(TenantOwnedModel):
    """Auto-resolve of one inbox: its open conversations are resolved once the customer has been quiet for
    ``after_hours`` since the conversation's last message. The closing message's wording, per language, is
    the workspace's customer text ``auto_resolve.closing_key(inbox)``."""

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    enabled = models.BooleanField(_("active"), default=False)
    after_hours = models.PositiveSmallIntegerField(
        _("hours without customer activity"),
        default=24,
        validators=[MinValueValidator(AUTO_RESOLVE_HOURS_MIN), MaxValueValidator(AUTO_RESOLVE_HOURS_MAX)],
    )
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("label to add")
    )
    include_waiting = models.BooleanField(_("also resolve conversations waiting for an agent"), default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(after_hours__gte=AUTO_RESOLVE_HOURS_MIN, after_hours__lte=AUTO_RESOLVE_HOURS_MAX),
                name="auto_resolve_after_hours_in_range",
            )
        ]
        # The beat job reads the inboxes that have it on, across workspaces.
        indexes = [models.Index(fields=["tenant"], condition=models.Q(enabled=True), name="auto_resolve_enabled")]
        verbose_name = _("auto-resolve settings")
        verbose_name_plural = _("auto-resolve settings")

    def __str__(self) -> str:
        return str(self.inbox)


class AutomatedMessage(TenantOwnedModel):
    """A greeting or away message sent for a customer's message. Written in the transaction that queues
    the message, and unique per customer message and kind: a retried job or a repeated event sends once."""

    class Kind(models.TextChoices):
        GREETING = "greeting", _("Greeting")
        AWAY = "away", _("Away message")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    contact_inbox = models.ForeignKey(ContactInbox, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    # The customer's message it answers, and what was sent.
    trigger_message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    language = models.CharField(_("language"), max_length=15)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "trigger_message", "kind"], name="automated_message_unique_per_trigger"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "contact_inbox", "kind", "created_at"], name="automated_msg_contact_kind"),
            models.Index(fields=["tenant", "conversation", "kind", "created_at"], name="automated_msg_conv_kind"),
        ]
        verbose_name = _("automated message")
        verbose_name_plural = _("automated messages")

    def __str__(self) -> str:
        return f"{self.kind} for message {self.trigger_message_id}"


class AutoResolution(TenantOwnedModel):
    """A conversation auto-resolved after one quiet spell: one row per conversation and last activity, so
    two jobs at once never resolve (nor send a closing message) twice for the same silence."""

    class Closing(models.TextChoices):
        SENT = "sent", _("Closing message sent")
        WINDOW_CLOSED = "window_closed", _("Not sent: the reply window is closed")
        NONE = "none", _("No closing message")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    # The conversation's ``last_activity_at`` the quiet spell was counted from.
    activity_at = models.DateTimeField(_("last activity"))
    # When it was resolved: a conversation reopened without a message since is not resolved again.
    resolved_at = models.DateTimeField(_("resolved at"))
    closing = models.CharField(_("closing message"), max_length=20, choices=Closing.choices)
    # Only a pointer: a message deleted later (retention) leaves the record as it was.
    closing_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    label_added = models.BooleanField(_("label added"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "activity_at"], name="auto_resolution_once_per_activity")
        ]
        indexes = [models.Index(fields=["tenant", "inbox", "-created_at"], name="auto_resolution_tenant_inbox")]
        verbose_name = _("auto-resolution")
        verbose_name_plural = _("auto-resolutions")

    def __str__(self) -> str:
        return f"{self.conversation_id} @ {self.activity_at:%Y-%m-%d %H:%M}"


class AutomationRule(TenantOwnedModel):
    """A workspace's automation rule: on one kind of event, when its conditions hold, do its actions in
    order (``automations.rules_engine``). ``conditions`` is a tree of AND/OR groups and ``actions`` an
    ordered list, both validated by ``automations.rules_schema`` on every save."""

    class Event(models.TextChoices):
        MESSAGE_RECEIVED = "message_received", _("A customer's message is received")
        CONVERSATION_CREATED = "conversation_created", _("A conversation is created")
        CONVERSATION_RESOLVED = "conversation_resolved", _("A conversation is resolved")
        CONVERSATION_REOPENED = "conversation_reopened", _("A conversation is reopened")
        CONVERSATION_ASSIGNED = "conversation_assigned", _("A conversation is assigned")
        SLA_BREACHED = "sla_breached", _("An SLA target is breached")
        REPLY_WINDOW_CLOSING = "reply_window_closing", _("The customer's reply window is closing")

    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    event = models.CharField(_("event"), max_length=32, choices=Event.choices)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    # The order the workspace's rules of one event run in: lowest first.
    position = models.PositiveIntegerField(_("position"), default=0)
    stop_processing = models.BooleanField(_("stop processing further rules after this one"), default=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "event", "position"], name="rule_tenant_event_position")]
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")

    def __str__(self) -> str:
        return self.name


class RuleRun(TenantOwnedModel):
    """One rule handed one event: the dedupe (unique per rule and event: a repeated delivery does nothing
    more) and the rule's run log (what matched, what was done, what failed)."""

    class Outcome(models.TextChoices):
        MATCHED = "matched", _("Matched")
        NOT_MATCHED = "not_matched", _("Not matched")
        LOOP_GUARD = "loop_guard", _("Skipped by the loop guard")
        ERROR = "error", _("Error")

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs", verbose_name=_("rule"))
    # The domain event's id, or "sla:<breach id>" for an SLA breach.
    event_key = models.CharField(_("event"), max_length=80)
    event_type = models.CharField(_("event type"), max_length=32)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("conversation")
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    # How many rules acted before this one in a chain of events (0: the event was not caused by a rule).
    depth = models.PositiveSmallIntegerField(_("chain depth"), default=0)
    # What each action did: [{"type": "add_label", "result": "done" | "not_sent" | "skipped" | "error", "detail": "…"}].
    actions_done = models.JSONField(_("actions done"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "event_key"], name="rule_run_once_per_event")]
        indexes = [
            models.Index(fields=["tenant", "rule", "-created_at"], name="rule_run_tenant_rule_created"),
            models.Index(fields=["rule", "conversation", "-created_at"], name="rule_run_rule_conversation"),
            # The purge's, across workspaces.
            models.Index(fields=["created_at"], name="rule_run_created"),
        ]
        verbose_name = _("rule run")
        verbose_name_plural = _("rule runs")

    def __str__(self) -> str:
        return f"{self.rule_id} {self.event_key} {self.outcome}"
