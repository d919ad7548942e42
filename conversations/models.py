"""The helpdesk core: inboxes, contacts, conversations and messages (channel-agnostic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.models import TenantOwnedModel

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Inbox(TenantOwnedModel):
    """Where conversations arrive: one per connected channel (e.g. a business phone number)."""

    name = models.CharField(_("name"), max_length=120)
    channel_type = models.CharField(_("channel"), max_length=32)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="inboxes", verbose_name=_("members")
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "channel_type"], name="inbox_tenant_channel")]
        verbose_name = _("inbox")
        verbose_name_plural = _("inboxes")

    def __str__(self) -> str:
        return self.name


class Label(TenantOwnedModel):
    """A coloured tag for conversations and contacts ("vip", "billing")."""

    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(_("colour"), max_length=7, default="#1f6feb")
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="label_unique_name_per_tenant")]
        verbose_name = _("label")
        verbose_name_plural = _("labels")

    def __str__(self) -> str:
        return self.name


class Contact(TenantOwnedModel):
    class MarketingConsent(models.TextChoices):
        UNKNOWN = "unknown", pgettext_lazy("marketing consent", "Unknown")
        OPTED_IN = "opted_in", _("Opted in")
        OPTED_OUT = "opted_out", _("Opted out")

    name = models.CharField(_("name"), max_length=255, blank=True)
    profile_name = models.CharField(_("profile name"), max_length=255, blank=True)
    phone_e164 = models.CharField(_("phone number"), max_length=20, blank=True)
    custom_attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    marketing_consent = models.CharField(
        _("marketing consent"), max_length=12, choices=MarketingConsent.choices, default=MarketingConsent.UNKNOWN
    )
    marketing_consent_at = models.DateTimeField(_("marketing consent changed"), null=True, blank=True)
    labels = models.ManyToManyField(
        Label, through="ContactLabel", blank=True, related_name="contacts", verbose_name=_("labels")
    )

    class Meta:
        indexes = [models.Index(fields=["tenant", "phone_e164"], name="contact_tenant_phone")]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.profile_name or self.phone_e164


class ContactIdentity(TenantOwnedModel):
    """Who the contact is on one channel: the channel's address for them (e.g. a phone number's digits).

    An address names one contact per tenant and channel type, whichever of the tenant's inboxes of that
    channel the customer writes to; the same address on another channel type is another identity.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    channel_type = models.CharField(max_length=32)
    address = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("contact's address on a channel")
        verbose_name_plural = _("contacts' addresses on channels")
        ordering = ["channel_type", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel_type", "address"], name="contact_identity_unique_address"
            ),
            models.UniqueConstraint(
                fields=["tenant", "contact", "channel_type"], name="contact_identity_one_per_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_type}:{self.address}"


class ContactInbox(TenantOwnedModel):
    """The contact as one inbox knows them: ``source_id`` is their address on the inbox's channel."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="contact_inboxes")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="contact_inboxes")
    source_id = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("contact in an inbox")
        verbose_name_plural = _("contacts in inboxes")
        constraints = [
            models.UniqueConstraint(fields=["inbox", "source_id"], name="contact_inbox_unique_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} @ {self.inbox_id}"


class ConversationCounter(models.Model):
    """Hands out per-tenant conversation numbers (the ``display_id`` used in URLs)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_display_id = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation counter")
        verbose_name_plural = _("conversation counters")

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.last_display_id}"


class Conversation(TenantOwnedModel):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("conversation status", "Open")
        PENDING = "pending", pgettext_lazy("conversation status", "Pending")
        SNOOZED = "snoozed", pgettext_lazy("conversation status", "Snoozed")
        RESOLVED = "resolved", pgettext_lazy("conversation status", "Resolved")

    class Priority(models.TextChoices):
        NONE = "none", pgettext_lazy("conversation priority", "None")
        LOW = "low", pgettext_lazy("conversation priority", "Low")
        MEDIUM = "medium", pgettext_lazy("conversation priority", "Medium")
        HIGH = "high", pgettext_lazy("conversation priority", "High")
        URGENT = "urgent", pgettext_lazy("conversation priority", "Urgent")

    display_id = models.PositiveIntegerField(_("number"))
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("inbox"))
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("contact")
    )
    contact_inbox = models.ForeignKey(ContactInbox, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NONE)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(
        "Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The customer's oldest message not answered yet (cleared by the business's reply): "waiting since".
    # Never earlier than the last reply: a message delivered after it waits from the reply at the earliest.
    waiting_since = models.DateTimeField(null=True, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    # Customer messages the team has not opened yet, and the newest message for the list's preview.
    unread_count = models.PositiveIntegerField(default=0)
    last_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    # The preview's place in the history (its ``occurred_at``): a message placed after it replaces it.
    last_message_at = models.DateTimeField(null=True, blank=True)
    # When the customer's reply window ends (``last_inbound_at`` plus the channel's window; None when the
    # channel has none), and the window ends the ReplyWindowClosing/ReplyWindowClosed events were recorded
    # for: a new customer message moves the end and clears both, so the new window gets its own events.
    reply_window_closes_at = models.DateTimeField(null=True, blank=True)
    reply_window_closing_event_for = models.DateTimeField(null=True, blank=True)
    reply_window_closed_event_for = models.DateTimeField(null=True, blank=True)
    # The service-level clock, kept by whatever feature measures it (``conversation_sla_set``): the nearest
    # deadline not met yet (None: none running, or the clock is paused) and when the earliest deadline
    # still unmet passed (None: nothing breached). The core only shows, sorts and filters by them.
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True)
    sla_breached_at = models.DateTimeField(_("SLA breached"), null=True, blank=True)
    # Until when a resolved conversation takes the customer's answers to what a feature asked them (a
    # survey) instead of a new conversation opening for them (``conversations.answers``). None: not waiting.
    answers_until = models.DateTimeField(null=True, blank=True)
    # Muted (always resolved): the customer's new messages are filed here, unread by nobody and seen by no
    # automation, instead of opening a new conversation in the queue; None: not muted. Reopening unmutes.
    muted_at = models.DateTimeField(_("muted"), null=True, blank=True)
    labels = models.ManyToManyField(
        Label, through="ConversationLabel", blank=True, related_name="conversations", verbose_name=_("labels")
    )

    # (status, assignee id, inbox id, team id) as loaded, for live events (not a column).
    live_before: tuple[str, int | None, int, int | None] | None

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Conversation:
        instance = super().from_db(db, field_names, values, **kwargs)
        # What live events compare against: who saw it and how it counted before this change.
        data = instance.__dict__
        if "status" in data and "assignee_id" in data and "inbox_id" in data and "team_id" in data:
            instance.live_before = (data["status"], data["assignee_id"], data["inbox_id"], data["team_id"])
        return instance

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "display_id"], name="conversation_unique_display_id"),
            # At most one unresolved conversation per customer and inbox: the race-safe "reuse".
            models.UniqueConstraint(
                fields=["tenant", "contact_inbox"],
                condition=~Q(status="resolved"),
                name="conversation_one_unresolved_per_contact_inbox",
            ),
            models.CheckConstraint(
                condition=Q(muted_at__isnull=True) | Q(status="resolved"), name="conversation_muted_is_resolved"
            ),
        ]
        # Keyset pagination of the inbox list: every order ends with the id, so a cursor is exact.
        indexes = [
            models.Index(fields=["tenant", "status", "-last_activity_at", "-id"], name="conv_tenant_status_activity"),
            models.Index(fields=["tenant", "-last_activity_at", "-id"], name="conv_tenant_activity"),
            models.Index(fields=["tenant", "status", "waiting_since", "id"], name="conv_tenant_status_waiting"),
            models.Index(
                fields=["tenant", "assignee", "status", "-last_activity_at", "-id"], name="conv_tenant_assignee_status"
            ),
            models.Index(fields=["tenant", "contact", "-id"], name="conv_tenant_contact"),
            # The tab counts read only these columns: an index-only scan.
            models.Index(
                fields=["tenant", "status", "assignee", "inbox"], include=["id"], name="conv_tenant_status_counts"
            ),
            # The list sorted by "SLA due first": only conversations with a deadline running.
            models.Index(
                fields=["tenant", "status", "sla_due_at", "id"],
                condition=Q(sla_due_at__isnull=False),
                name="conv_tenant_status_sla_due",
            ),
            # The reply-window sweep (every tenant at once): only windows whose end has no event yet.
            models.Index(
                fields=["reply_window_closes_at"],
                condition=Q(reply_window_closed_event_for__isnull=True, reply_window_closes_at__isnull=False),
                name="conv_reply_window_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.display_id}"

    @staticmethod
    def preview_later(*, at: Any, pk: Any) -> Q:
        """Whether the history places the message (``at``, ``pk``) after the conversation's current preview."""
        return (
            Q(last_message_at__isnull=True) | Q(last_message_at__lt=at) | Q(last_message_at=at, last_message_id__lt=pk)
        )

    @staticmethod
    def preview_update(*, at: Any, pk: Any) -> dict[str, Case]:
        """``update()`` arguments making the message (``at``, ``pk``) the preview if the history places it
        after the current one; values or expressions. Read from the row as it is when updated, so
        concurrent writers end with the latest in history order, whichever commits last."""
        later = Conversation.preview_later(at=at, pk=pk)
        return {
            "last_message_id": Case(
                When(later, then=pk), default=F("last_message_id"), output_field=models.BigIntegerField()
            ),
            "last_message_at": Case(
                When(later, then=at), default=F("last_message_at"), output_field=models.DateTimeField()
            ),
        }


class ConversationLabel(TenantOwnedModel):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("label of a conversation")
        verbose_name_plural = _("labels of conversations")
        constraints = [
            models.UniqueConstraint(fields=["conversation", "label"], name="conversation_label_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "label", "conversation"], name="conv_label_tenant_label")]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.label_id}"


class Team(TenantOwnedModel):
    """A group of agents with a queue of its own ("Sales", "Support level 2"): a conversation moved to a
    team waits in that team's queue, which its members see even when they may not view unassigned
    conversations in general (``conversations.selectors.conversation_visibility_q``)."""

    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMember", blank=True, related_name="+", verbose_name=_("members")
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="team_unique_name_per_tenant")]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class TeamMember(TenantOwnedModel):
    """A member of a team; a supervisor is told about the team's breaches and problems."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships", verbose_name=_("user")
    )
    is_supervisor = models.BooleanField(_("supervisor"), default=False)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_unique_user")]
        indexes = [models.Index(fields=["tenant", "user"], name="team_member_tenant_user")]
        verbose_name = _("team member")
        verbose_name_plural = _("team members")

    def __str__(self) -> str:
        return f"{self.team_id}: {self.user_id}"


class ContactLabel(TenantOwnedModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("label of a contact")
        verbose_name_plural = _("labels of contacts")
        constraints = [models.UniqueConstraint(fields=["contact", "label"], name="contact_label_unique")]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.label_id}"


class Message(TenantOwnedModel):
    class Direction(models.TextChoices):
        INBOUND = "in", _("From the customer")
        OUTBOUND = "out", _("To the customer")

    class SenderType(models.TextChoices):
        CONTACT = "contact", _("Contact")
        AGENT = "agent", _("Agent")
        BOT = "bot", _("Automation")
        SYSTEM = "system", _("System")
        API = "api", _("API")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        AUDIO = "audio", _("Audio")
        VIDEO = "video", _("Video")
        DOCUMENT = "document", _("Document")
        STICKER = "sticker", _("Sticker")
        LOCATION = "location", _("Location")
        CONTACTS = "contacts", _("Contact card")
        INTERACTIVE = "interactive", _("Interactive")
        BUTTON = "button", _("Button reply")
        REACTION = "reaction", _("Reaction")
        ORDER = "order", _("Order")
        TEMPLATE = "template", _("Template")
        SYSTEM = "system", _("System")
        UNSUPPORTED = "unsupported", _("Unsupported")
        PAYMENT_REQUEST = "payment_request", _("Payment request")
        ORDER_STATUS = "order_status", _("Order status")
        PRODUCT = "product", _("Product")
        PRODUCT_LIST = "product_list", _("Product list")
        CATALOG = "catalog", _("Catalog")

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("message status", "Queued")
        SENDING = "sending", pgettext_lazy("message status", "Sending")
        SENT = "sent", pgettext_lazy("message status", "Sent")
        DELIVERED = "delivered", pgettext_lazy("message status", "Delivered")
        READ = "read", pgettext_lazy("message status", "Read")
        PLAYED = "played", pgettext_lazy("message status", "Played")
        FAILED = "failed", pgettext_lazy("message status", "Failed")
        RECEIVED = "received", pgettext_lazy("message status", "Received")

    # How far a status is along; a status only ever moves to a higher rank. Failed is terminal.
    STATUS_RANK: ClassVar[dict[str, int]] = {
        "queued": 0,
        "sending": 1,
        "sent": 2,
        "delivered": 3,
        "read": 4,
        "played": 5,
        "failed": 9,
        "received": 0,
    }

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    sender_type = models.CharField(_("sender"), max_length=10, choices=SenderType.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who sent it when no person did: the automation's or API token's name (conversations.actors).
    sender_label = models.CharField(max_length=120, blank=True, default="")
    sender_automation_id = models.PositiveBigIntegerField(null=True, blank=True)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.TEXT)
    text = models.TextField(_("text"), blank=True)
    # The channel-neutral content of its kind (``conversations.content``), with its version marker.
    content = models.JSONField(default=dict, blank=True)
    # The channel's own payload the content was made from (or the request it was sent as), for support.
    raw = models.JSONField(null=True, blank=True)
    private = models.BooleanField(default=False)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reply_to_external_id = models.CharField(max_length=128, blank=True)
    forwarded = models.BooleanField(default=False)
    frequently_forwarded = models.BooleanField(default=False)
    referral = models.JSONField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)
    # SHA-256 of the request sent with the key: the same key with another body is refused, not replayed.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True, default="")
    external_timestamp = models.DateTimeField(null=True, blank=True)
    # When the message was written: the channel's timestamp for the customer's, our clock for ours.
    # The history is in this order, ties by arrival (id), whatever order the webhooks come in.
    occurred_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    pricing = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            # The database is the dedupe: a redelivered webhook cannot create a second message.
            models.UniqueConstraint(
                fields=["inbox", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "conversation", "-id"], name="message_tenant_conv_id"),
            # The history, a page at a time in either direction (keyset on occurred_at, id).
            models.Index(fields=["tenant", "conversation", "occurred_at", "id"], name="message_tenant_conv_time"),
            models.Index(fields=["status", "next_attempt_at"], name="message_status_next_attempt"),
            # An inbox's send queue, oldest first (what the senders claim from).
            models.Index(fields=["inbox", "id"], condition=Q(status="queued"), name="message_queued_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.type} {self.external_id or self.pk}"

    @property
    def history_key(self) -> str:
        """The message's place in the history as a string that sorts like (occurred_at, id)."""
        micros = (self.occurred_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros:020d}.{self.pk:020d}"


class Attachment(TenantOwnedModel):
    class DownloadStatus(models.TextChoices):
        PENDING = "pending", pgettext_lazy("attachment download", "Pending")
        STORED = "stored", pgettext_lazy("attachment download", "Stored")
        FAILED = "failed", pgettext_lazy("attachment download", "Failed")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/", blank=True)
    kind = models.CharField(max_length=16)
    mime_type = models.CharField(max_length=128, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=128, blank=True)
    external_media_id = models.CharField(max_length=128, blank=True)
    download_status = models.CharField(
        _("download"), max_length=10, choices=DownloadStatus.choices, default=DownloadStatus.PENDING
    )
    download_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [
            # The channel's sweeper looks for files still waiting for their download.
            models.Index(
                fields=["created_at"], condition=Q(download_status="pending"), name="attachment_download_pending"
            ),
        ]

    def __str__(self) -> str:
        return self.filename or self.external_media_id or str(self.pk)


class Reaction(TenantOwnedModel):
    """The current reaction of one person (the contact or an agent) to a message."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    emoji = models.CharField(max_length=32)
    external_id = models.CharField(max_length=128, blank=True)

    class Meta:
        verbose_name = _("reaction")
        verbose_name_plural = _("reactions")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "contact"], condition=Q(contact__isnull=False), name="reaction_one_per_contact"
            ),
            models.UniqueConstraint(
                fields=["message", "user"], condition=Q(user__isnull=False), name="reaction_one_per_user"
            ),
        ]

    def __str__(self) -> str:
        return self.emoji


class PendingStatus(TenantOwnedModel):
    """A delivery status that arrived before its message is known; applied when the message appears."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=128)
    status = models.CharField(max_length=10)
    occurred_at = models.DateTimeField()
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    pricing = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("early delivery status")
        verbose_name_plural = _("early delivery statuses")
        constraints = [models.UniqueConstraint(fields=["inbox", "external_id", "status"], name="pending_status_unique")]
        # The sweeper's look for statuses whose message never came, across tenants.
        indexes = [models.Index(fields=["created_at"], name="pending_status_created")]

    def __str__(self) -> str:
        return f"{self.external_id} {self.status}"


class QuickReply(TenantOwnedModel):
    """A canned answer an agent inserts with ``/shortcut``; text may hold ``{{contact.name}}``-style variables."""

    class Scope(models.TextChoices):
        TENANT = "tenant", _("Everyone in the workspace")
        INBOX = "inbox", _("One inbox")
        PERSONAL = "personal", _("Only me")

    shortcut = models.SlugField(_("shortcut"), max_length=40)
    text = models.TextField(_("text"))
    attachment = models.FileField(_("attachment"), upload_to="quick_replies/%Y/%m/", blank=True)
    scope = models.CharField(_("who can use it"), max_length=10, choices=Scope.choices, default=Scope.TENANT)
    inbox = models.ForeignKey(
        Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("inbox")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )

    class Meta:
        verbose_name = _("quick reply")
        verbose_name_plural = _("quick replies")
        ordering = ["shortcut", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "shortcut"], condition=Q(scope="tenant"), name="quick_reply_unique_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant", "inbox", "shortcut"], condition=Q(scope="inbox"), name="quick_reply_unique_inbox"
            ),
            models.UniqueConstraint(
                fields=["tenant", "owner", "shortcut"],
                condition=Q(scope="personal"),
                name="quick_reply_unique_personal",
            ),
            models.CheckConstraint(
                condition=(Q(scope="tenant", inbox__isnull=True, owner__isnull=True))
                | Q(scope="inbox", inbox__isnull=False, owner__isnull=True)
                | Q(scope="personal", inbox__isnull=True, owner__isnull=False),
                name="quick_reply_scope_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class CustomerText(TenantOwnedModel):
    """A text the product itself sends to customers ("greeting", "away", "csat_question"…), one per key
    and workspace; its wording per language is in ``CustomerTextVariant`` (``conversations.customer_texts``)."""

    key = models.SlugField(_("key"), max_length=60)

    class Meta:
        verbose_name = _("customer text")
        verbose_name_plural = _("customer texts")
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="customer_text_unique_key")]

    def __str__(self) -> str:
        return self.key


class CustomerTextVariant(TenantOwnedModel):
    """The wording of a customer text in one language (a tag normalised like Django's: "pt-br", "en")."""

    BODY_MAX = 4096

    text = models.ForeignKey(
        CustomerText, on_delete=models.CASCADE, related_name="variants", verbose_name=_("customer text")
    )
    language = models.CharField(_("language"), max_length=15)
    body = models.TextField(_("wording"))

    class Meta:
        verbose_name = _("wording of a customer text")
        verbose_name_plural = _("wordings of customer texts")
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(fields=["text", "language"], name="customer_text_variant_unique_language"),
            models.CheckConstraint(condition=~Q(body=""), name="customer_text_variant_body_not_empty"),
        ]

    def __str__(self) -> str:
        return self.language


class Notification(TenantOwnedModel):
    """Something an agent should look at: a mention in a note, a conversation assigned to them, a service
    level deadline of a conversation they answer for that passed."""

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mentioned in a note")
        ASSIGNED = "assigned", _("Conversation assigned")
        SLA_BREACHED = "sla_breached", _("SLA breached")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who, when no person did: "automation 'Round robin'", "the system" (conversations.actors).
    actor_label = models.CharField(max_length=150, blank=True, default="")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "user", "read_at", "-id"], name="notification_tenant_user")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class OutboxEvent(TenantOwnedModel):
    """A domain event (``conversations.events``), written in the same transaction as the fact it
    describes; its deliveries to subscribers are written with it."""

    id = models.UUIDField(primary_key=True)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    # Set by the sweeper's pass once every subscriber's delivery is done (at once when the event had
    # no subscriber); None while one is pending or failed.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["tenant", "event_type", "-created_at"], name="outbox_tenant_type_created"),
            # The purge's (every tenant at once): delivered events by when, and undelivered ones by age.
            models.Index(fields=["dispatched_at"], condition=Q(dispatched_at__isnull=False), name="outbox_dispatched"),
            models.Index(
                fields=["created_at"], condition=Q(dispatched_at__isnull=True), name="outbox_undispatched_created"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.pk}"


class EventDelivery(TenantOwnedModel):
    """One event handed to one subscriber: at most one done per (event, subscriber)."""

    class State(models.TextChoices):
        PENDING = "pending", pgettext_lazy("event delivery", "Pending")
        DONE = "done", pgettext_lazy("event delivery", "Done")
        FAILED = "failed", pgettext_lazy("event delivery", "Failed")

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event"))
    subscriber = models.CharField(_("subscriber"), max_length=200)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # When the next attempt is due (or was last handed to the broker); the sweeper looks at pending
    # deliveries whose time passed long ago.
    due_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "subscriber"], name="event_delivery_unique")]
        indexes = [
            models.Index(fields=["tenant", "state", "-id"], name="event_delivery_tenant_state"),
            # The sweeper's (every tenant at once): pending deliveries by due time.
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="event_delivery_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- {self.event_id}"
