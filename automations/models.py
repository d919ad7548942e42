"""Automations' tables: business hours calendars and which calendar each inbox keeps; each inbox's greeting
and away messages with the record of what they sent, and its auto-resolve with the record of what it
resolved."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import ContactInbox, Conversation, Inbox, Label, Message, Team
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


def greeting_media_path(instance: GreetingSettings, filename: str) -> str:
    """A folder of its own for each file, so that it keeps the name the customer sees ("menu.pdf")."""
    return f"automations/greeting/{instance.tenant_id}/{uuid.uuid4().hex}/{filename}"


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
    # An optional file sent with each message, its wording as the caption (``automations.greeting_media``).
    greeting_media = models.FileField(_("greeting file"), upload_to=greeting_media_path, blank=True)
    away_media = models.FileField(_("away message file"), upload_to=greeting_media_path, blank=True)

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


class TeamSettings(TenantOwnedModel):
    """What automations keep about a team (the core's ``Team`` knows nothing of them): its business hours,
    outside which its members get no conversation from auto-assignment."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="+", verbose_name=_("team"))
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="team_settings",
        verbose_name=_("business hours"),
    )

    class Meta:
        indexes = [models.Index(fields=["tenant", "calendar"], name="team_settings_tenant_calendar")]
        verbose_name = _("team automation settings")
        verbose_name_plural = _("team automation settings")

    def __str__(self) -> str:
        return str(self.team_id)


CAPACITY_MIN = 1
CAPACITY_MAX = 1000


class AssignmentPolicy(TenantOwnedModel):
    """Auto-assignment of one inbox. Its row is also the inbox's lock: every assignment decision of the
    inbox is taken holding it (``select_for_update``), so two at once never exceed a capacity nor assign
    one conversation twice."""

    class Method(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round-robin")
        LEAST_OPEN = "least_open", _("Fewest open conversations")

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    enabled = models.BooleanField(_("active"), default=False)
    method = models.CharField(_("method"), max_length=12, choices=Method.choices, default=Method.ROUND_ROBIN)
    capacity = models.PositiveSmallIntegerField(
        _("open conversations per agent"),
        default=10,
        validators=[MinValueValidator(CAPACITY_MIN), MaxValueValidator(CAPACITY_MAX)],
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team queue for new conversations"),
    )
    reassign_on_offline = models.BooleanField(_("reassign when the agent goes offline"), default=False)
    # Round-robin: who got the inbox's last conversation (the next goes to the one after them).
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=CAPACITY_MIN, capacity__lte=CAPACITY_MAX),
                name="assignment_policy_capacity_in_range",
            )
        ]
        indexes = [models.Index(fields=["tenant"], condition=models.Q(enabled=True), name="assignment_policy_on")]
        verbose_name = _("auto-assignment policy")
        verbose_name_plural = _("auto-assignment policies")

    def __str__(self) -> str:
        return str(self.inbox)


class AgentCapacity(TenantOwnedModel):
    """An agent's own capacity: in one inbox (instead of the inbox's default), or overall (``inbox`` empty:
    their open assigned conversations across every inbox with auto-assignment)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("agent")
    )
    inbox = models.ForeignKey(
        Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox")
    )
    capacity = models.PositiveSmallIntegerField(
        _("open conversations"), validators=[MinValueValidator(0), MaxValueValidator(CAPACITY_MAX)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "inbox"], condition=models.Q(inbox__isnull=False), name="agent_capacity_inbox"
            ),
            models.UniqueConstraint(
                fields=["tenant", "user"], condition=models.Q(inbox__isnull=True), name="agent_capacity_overall"
            ),
            models.CheckConstraint(condition=models.Q(capacity__lte=CAPACITY_MAX), name="agent_capacity_in_range"),
        ]
        verbose_name = _("agent capacity")
        verbose_name_plural = _("agent capacities")

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.inbox_id or '*'}: {self.capacity}"


class SlaMetric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


SLA_TARGET_MINUTES_MAX = 525_600  # a year


class SlaPolicy(TenantOwnedModel):
    """Service-level targets (minutes, each optional) for the conversations it applies to: those of its
    inboxes, with one of its labels and one of its priorities (an empty list: any). The first matching
    policy by ``position`` (then id) is a conversation's."""

    name = models.CharField(_("name"), max_length=80)
    enabled = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("order"), default=0)
    first_response_minutes = models.PositiveIntegerField(
        _("first response (minutes)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response (minutes)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution (minutes)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    business_hours_only = models.BooleanField(_("count business hours only"), default=True)
    # Ids of the workspace's inboxes and labels, and Conversation.Priority values; empty: any.
    inbox_ids = models.JSONField(_("inboxes"), default=list, blank=True)
    label_ids = models.JSONField(_("labels"), default=list, blank=True)
    priorities = models.JSONField(_("priorities"), default=list, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="sla_policy_unique_name_per_tenant")]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def target_minutes(self, metric: str) -> int | None:
        value: int | None = getattr(self, f"{metric}_minutes")
        return value


class ConversationSla(TenantOwnedModel):
    """A conversation's SLA: the policy that applies to it now, the calendar its clocks count in, and since
    when its clocks are paused (pending or snoozed; None: running). Its clocks are ``SlaClock`` rows."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("SLA policy")
    )
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True)
    # The calendar its clocks count in now (None: every hour counts).
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("business hours"),
    )

    class Meta:
        verbose_name = _("conversation SLA")
        verbose_name_plural = _("conversation SLAs")

    def __str__(self) -> str:
        return f"SLA of {self.conversation_id}"


class SlaClock(TenantOwnedModel):
    """One run of one metric of a conversation (the first response once; a next response per customer wait;
    the resolution per opening), numbered by ``cycle``. Business time is counted in the policy's calendar:
    ``remaining_seconds`` is what was left when the clock last started running (``resumed_at``) or paused
    (``paused_at``); ``due_at`` is the deadline while it runs (kept as it was while paused)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metric = models.CharField(_("metric"), max_length=20, choices=SlaMetric.choices)
    cycle = models.PositiveIntegerField(_("cycle"), default=0)
    target_seconds = models.PositiveIntegerField(_("target (seconds)"))
    started_at = models.DateTimeField(_("started at"))
    resumed_at = models.DateTimeField(null=True, blank=True)
    remaining_seconds = models.BigIntegerField()
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True)
    paused_seconds = models.BigIntegerField(_("time paused (seconds)"), default=0)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    met_at = models.DateTimeField(_("met at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached at"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "metric", "cycle"], name="sla_clock_unique_cycle")
        ]
        indexes = [
            # The breach job (every workspace at once): running clocks by deadline, none breached yet.
            models.Index(
                fields=["due_at"],
                condition=models.Q(
                    due_at__isnull=False,
                    paused_at__isnull=True,
                    met_at__isnull=True,
                    stopped_at__isnull=True,
                    breached_at__isnull=True,
                ),
                name="sla_clock_due",
            ),
            models.Index(fields=["tenant", "conversation", "metric", "-cycle"], name="sla_clock_conv_metric"),
        ]
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")

    def __str__(self) -> str:
        return f"{self.metric} #{self.cycle} of {self.conversation_id}"

    @property
    def running(self) -> bool:
        return self.met_at is None and self.stopped_at is None


class SlaBreach(TenantOwnedModel):
    """A deadline that passed unmet, recorded once per conversation, metric and cycle (two jobs at once
    record it once), for reports and the automations that react to it."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("SLA policy")
    )
    metric = models.CharField(_("metric"), max_length=20, choices=SlaMetric.choices)
    cycle = models.PositiveIntegerField(_("cycle"))
    due_at = models.DateTimeField(_("due at"))
    breached_at = models.DateTimeField(_("breached at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "metric", "cycle"], name="sla_breach_once_per_cycle")
        ]
        indexes = [models.Index(fields=["tenant", "-breached_at"], name="sla_breach_tenant_time")]
        verbose_name = _("SLA breach")
        verbose_name_plural = _("SLA breaches")

    def __str__(self) -> str:
        return f"{self.metric} #{self.cycle} of {self.conversation_id}"


CSAT_COMMENT_MINUTES_MAX = 1440


class CsatSettings(TenantOwnedModel):
    """The satisfaction survey (CSAT) of one inbox: whether and when it is sent, as a list of five ratings or
    three reply buttons, whether a comment is asked for after the rating, and the approved template sent
    instead when the customer's reply window has closed. What the customer reads, per language, is the
    workspace's customer texts ``csat.text_key(inbox, part)``, with built-in wording where none is written."""

    class Style(models.TextChoices):
        LIST = "list", _("A list of five ratings (1 to 5)")
        BUTTONS = "buttons", _("Three reply buttons (good, regular, bad)")

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    enabled = models.BooleanField(_("active"), default=False)
    style = models.CharField(_("format"), max_length=10, choices=Style.choices, default=Style.LIST)
    send_on_resolve = models.BooleanField(_("send when the conversation is resolved"), default=True)
    send_before_window_closes = models.BooleanField(
        _("send shortly before the reply window closes on a resolved conversation not surveyed yet"), default=False
    )
    ask_comment = models.BooleanField(_("ask for a comment after the rating"), default=False)
    comment_minutes = models.PositiveSmallIntegerField(
        _("minutes to write the comment"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(CSAT_COMMENT_MINUTES_MAX)],
    )
    # The approved template (UTILITY) sent when the window is closed; blank: nothing is sent then.
    template_name = models.CharField(_("template"), max_length=512, blank=True)
    template_language = models.CharField(_("template language"), max_length=15, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(comment_minutes__gte=1, comment_minutes__lte=CSAT_COMMENT_MINUTES_MAX),
                name="csat_comment_minutes_in_range",
            )
        ]
        verbose_name = _("satisfaction survey settings")
        verbose_name_plural = _("satisfaction survey settings")

    def __str__(self) -> str:
        return str(self.inbox)


class CsatSurvey(TenantOwnedModel):
    """The one satisfaction survey of a conversation: written in the transaction that queues its message (or
    records why none was sent), unique per conversation, so a repeated event or a second resolve sends
    nothing more. Who is rated is fixed here, as the conversation stood when the survey went out."""

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        TEMPLATE = "template", _("Sent as a template")
        WINDOW_CLOSED = "window_closed", _("Not sent: the reply window is closed")
        FAILED = "failed", _("Not sent: refused")

    class Trigger(models.TextChoices):
        RESOLVED = "resolved", _("Resolved")
        WINDOW_CLOSING = "window_closing", _("Reply window closing")

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    contact_inbox = models.ForeignKey(ContactInbox, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    trigger = models.CharField(_("sent on"), max_length=20, choices=Trigger.choices)
    style = models.CharField(_("format"), max_length=10, choices=CsatSettings.Style.choices)
    language = models.CharField(_("language"), max_length=15, blank=True)
    # Only a pointer: a message deleted later (retention) leaves the record as it was.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    # The conversation as it stood when the survey went out: whom a rating is attributed to.
    assignee = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("agent")
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    labels = models.JSONField(_("labels"), default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="csat_survey_tenant_created")]
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")

    def __str__(self) -> str:
        return f"survey {self.pk} of conversation {self.conversation_id}"


class CsatResponse(TenantOwnedModel):
    """The customer's rating (1 to 5) of a survey, with their optional comment: one per survey (a second
    answer changes nothing). Attributed to the agent, team, inbox and labels the survey was sent for."""

    survey = models.OneToOneField(CsatSurvey, on_delete=models.CASCADE, related_name="response")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox"))
    assignee = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("agent")
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    labels = models.JSONField(_("labels"), default=list, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    responded_at = models.DateTimeField(_("answered at"))
    # The customer's answer, only a pointer (see ``CsatSurvey.message``).
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    comment = models.TextField(_("comment"), blank=True)
    # Until when the customer's next text is taken as the comment; null: no comment asked for (or given).
    comment_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="csat_rating_1_to_5")
        ]
        indexes = [
            models.Index(fields=["tenant", "responded_at"], name="csat_response_tenant_time"),
            models.Index(fields=["tenant", "inbox", "responded_at"], name="csat_response_tenant_inbox"),
            models.Index(fields=["tenant", "team", "responded_at"], name="csat_response_tenant_team"),
        ]
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")

    def __str__(self) -> str:
        return f"{self.rating} for conversation {self.conversation_id}"


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
