"""Campaigns: the consent ledger, contact imports and segments, broadcasts and their recipients, scheduled
messages, one-time codes and the price table used to estimate what a broadcast costs.

Templates themselves are the channel's (``whatsapp.MessageTemplate``); a broadcast names one by name and
language, as the core's outbound messages do, so this app never reads a channel's protocol.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.models import TenantOwnedModel

DEFAULT_OPT_OUT_KEYWORDS = ["PARAR", "SAIR", "STOP", "CANCELAR", "DESCADASTRAR", "UNSUBSCRIBE"]
DEFAULT_OPT_IN_KEYWORDS = ["VOLTAR", "START"]
MARKETING = "marketing"


def _opt_out_keywords() -> list[str]:
    return list(DEFAULT_OPT_OUT_KEYWORDS)


def _opt_in_keywords() -> list[str]:
    return list(DEFAULT_OPT_IN_KEYWORDS)


# --- consent --------------------------------------------------------------------------------------------------


class ConsentPurpose(TenantOwnedModel):
    """What a contact agrees to be written to for: ``marketing`` (every workspace has it) and the
    workspace's own purposes ("order updates", "newsletter")."""

    key = models.SlugField(_("key"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # Templates of Meta's marketing category need a current opt-in to this purpose.
    is_marketing = models.BooleanField(_("marketing"), default=False)

    class Meta:
        ordering = ["-is_marketing", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="consent_purpose_unique_key")]
        verbose_name = _("consent purpose")
        verbose_name_plural = _("consent purposes")

    def __str__(self) -> str:
        return self.name


class ConsentEventQuerySet(models.QuerySet["ConsentEvent"]):
    """The ledger is append-only: rows are added, never changed or removed (a contact's erasure removes
    the contact, and its ledger with it, through the database's cascade)."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError("The consent ledger is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("The consent ledger is append-only.")


class ConsentEvent(TenantOwnedModel):
    """One opt-in or opt-out of a contact for a purpose: who or what recorded it, when, and the evidence."""

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", _("Opted in")
        OPT_OUT = "opt_out", _("Opted out")
        # WhatsApp's "resume": the customer lifted their stop; consent still has to be asked for.
        RESUME = "resume", _("Stop lifted")

    class Source(models.TextChoices):
        KEYWORD = "keyword", _("Keyword in a message")
        BUTTON = "button", _("Button reply")
        WEB_FORM = "web_form", _("Web form")
        IMPORT = "import", _("Contact import")
        API = "api", pgettext_lazy("consent source", "API")
        AGENT = "agent", _("Agent")
        WHATSAPP = "whatsapp", _("WhatsApp marketing preferences")
        FLOW = "flow", _("Bot flow")

    contact = models.ForeignKey(
        "conversations.Contact", on_delete=models.CASCADE, related_name="+", verbose_name=_("contact")
    )
    purpose = models.ForeignKey(
        ConsentPurpose, on_delete=models.PROTECT, related_name="events", verbose_name=_("purpose")
    )
    kind = models.CharField(_("change"), max_length=10, choices=Kind.choices)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    occurred_at = models.DateTimeField(_("when"))
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("by"), max_length=255, blank=True)
    # What proves it: the keyword and the message's id, the import and its row, the agent's note, the form's
    # address and the text the customer agreed to...
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)
    # Makes a replayed source harmless (a webhook, a message, an import row): one row per key.
    dedupe_key = models.CharField(max_length=160, null=True, blank=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "contact", "purpose", "-occurred_at"], name="consent_event_contact"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "dedupe_key"], condition=Q(dedupe_key__isnull=False), name="consent_event_dedupe"
            )
        ]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self) -> str:
        return f"{self.contact_id} {self.purpose_id} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("The consent ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("The consent ledger is append-only.")


class ConsentState(TenantOwnedModel):
    """A contact's current answer for a purpose: the latest ledger row (derived; rebuilt from the ledger)."""

    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    purpose = models.ForeignKey(ConsentPurpose, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=ConsentEvent.Kind.choices)
    occurred_at = models.DateTimeField()
    event = models.ForeignKey(ConsentEvent, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "contact", "purpose"], name="consent_state_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "purpose", "kind"], name="consent_state_purpose")]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.purpose_id} {self.kind}"


class ConsentSettings(TenantOwnedModel):
    """The words that opt a customer out of (and back into) marketing, per workspace."""

    opt_out_keywords = models.JSONField(_("words that stop marketing"), default=_opt_out_keywords, blank=True)
    opt_in_keywords = models.JSONField(_("words that resume marketing"), default=_opt_in_keywords, blank=True)
    # Whether a keyword answer is confirmed to the customer (in their language).
    confirm = models.BooleanField(_("confirm to the customer"), default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="consent_settings_one_per_tenant")]
        verbose_name = _("consent settings")
        verbose_name_plural = _("consent settings")

    def __str__(self) -> str:
        return f"consent settings {self.tenant_id}"


# --- audience: imports and segments ---------------------------------------------------------------------------


def _import_upload_to(instance: ContactImport, filename: str) -> str:
    return f"imports/{instance.tenant_id}/{filename}"


class ContactImport(TenantOwnedModel):
    """A CSV or XLSX file of contacts being (or having been) imported in the background."""

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Choosing columns")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    file = models.FileField(upload_to=_import_upload_to)
    filename = models.CharField(_("file"), max_length=255)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.MAPPING)
    # The file's header and a few rows, read when it was uploaded (to choose the columns).
    columns = models.JSONField(default=list, blank=True)
    sample = models.JSONField(default=list, blank=True)
    # Column name -> what it fills: "phone", "name", "label", "attribute:<key>", "consent" ("" = ignored).
    mapping = models.JSONField(default=dict, blank=True)
    labels = models.ManyToManyField("conversations.Label", blank=True, related_name="+")
    # Consent the rows carry (with proof), for this purpose; none: the import records no consent.
    consent_purpose = models.ForeignKey(
        ConsentPurpose, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_proof = models.TextField(_("proof of consent"), blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")

    def __str__(self) -> str:
        return self.filename


class ContactImportError(TenantOwnedModel):
    """A row of an import that was not imported, and why."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    message = models.CharField(max_length=500)
    values = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["row", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact_import", "row", "column"], name="import_error_unique_cell")
        ]

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


class Segment(TenantOwnedModel):
    """A saved filter of contacts (labels, attributes, consent, inbox, last message, open conversation)."""

    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="segment_unique_name")]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


# --- broadcasts -----------------------------------------------------------------------------------------------


def _audience_upload_to(instance: Broadcast, filename: str) -> str:
    return f"broadcasts/{instance.tenant_id}/{filename}"


class Broadcast(TenantOwnedModel):
    """A template sent to many contacts of one inbox, paced by the number's throughput and messaging limit."""

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("broadcast status", "Draft")
        SCHEDULED = "scheduled", pgettext_lazy("broadcast status", "Scheduled")
        PLANNING = "planning", pgettext_lazy("broadcast status", "Preparing")
        SENDING = "sending", pgettext_lazy("broadcast status", "Sending")
        WAITING = "waiting", pgettext_lazy("broadcast status", "Waiting")
        PAUSED = "paused", pgettext_lazy("broadcast status", "Paused")
        COMPLETED = "completed", pgettext_lazy("broadcast status", "Completed")
        CANCELED = "canceled", pgettext_lazy("broadcast status", "Canceled")
        FAILED = "failed", pgettext_lazy("broadcast status", "Failed")

    name = models.CharField(_("name"), max_length=120)
    inbox = models.ForeignKey(
        "conversations.Inbox", on_delete=models.PROTECT, related_name="+", verbose_name=_("inbox")
    )
    template_name = models.CharField(_("template"), max_length=512)
    template_language = models.CharField(_("language"), max_length=16)
    # The template's category when the broadcast was prepared (MARKETING needs consent).
    template_category = models.CharField(max_length=32, blank=True)
    # Template parameter -> {"attribute": "<contact field or attribute>", "fallback": "...", "value": "..."}.
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("segment")
    )
    # Or a CSV of recipients (a phone column and variables).
    audience_file = models.FileField(upload_to=_audience_upload_to, blank=True)
    consent_purpose = models.ForeignKey(
        ConsentPurpose, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Why it waits (the messaging limit, quiet hours, the number's quality), in words for the page.
    wait_reason = models.CharField(max_length=40, blank=True)
    wait_until = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Quiet hours in the workspace's time zone: nothing is sent from start to end (may cross midnight).
    quiet_start = models.TimeField(_("quiet from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet until"), null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="broadcast_status_due")]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")

    def __str__(self) -> str:
        return self.name


class BroadcastRecipient(models.Model):
    """One contact of a broadcast and what happened to their message. Created set-based when the
    broadcast is prepared; each is sent at most once (its message is claimed by a conditional update)."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("recipient status", "Waiting")
        SENDING = "sending", pgettext_lazy("recipient status", "Sending")
        SENT = "sent", pgettext_lazy("recipient status", "Sent")
        DELIVERED = "delivered", pgettext_lazy("recipient status", "Delivered")
        READ = "read", pgettext_lazy("recipient status", "Read")
        FAILED = "failed", pgettext_lazy("recipient status", "Failed")
        SKIPPED = "skipped", pgettext_lazy("recipient status", "Skipped")
        CANCELED = "canceled", pgettext_lazy("recipient status", "Not sent (canceled)")

    class SkipReason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent")
        OPTED_OUT = "opted_out", _("Opted out")
        INVALID_PHONE = "invalid_phone", _("Invalid phone number")
        DUPLICATE = "duplicate", _("Duplicate phone number")
        MISSING_VARIABLE = "missing_variable", _("A variable has no value")
        USER_LIMIT = "user_limit", _("WhatsApp's per-customer marketing limit")

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField(max_length=20)
    variables = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    country = models.CharField(max_length=2, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "phone"], name="broadcast_recipient_unique_phone"),
        ]
        indexes = [
            models.Index(fields=["broadcast", "status", "id"], name="broadcast_recipient_next"),
            models.Index(fields=["tenant", "contact"], name="broadcast_recipient_contact"),
            models.Index(fields=["message"], name="broadcast_recipient_message"),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id} → {self.phone}"


class MessagePrice(TenantOwnedModel):
    """What Meta charges for delivered template messages, by category and the recipient's country (editable:
    Meta changes its rate card). ``price_minor`` is the price of 1,000 messages in minor units of ``currency``
    (a message costs a fraction of a cent); ``country`` "ZZ" prices every country the table does not name."""

    country = models.CharField(_("country"), max_length=2)
    category = models.CharField(_("category"), max_length=32)
    price_minor = models.PositiveIntegerField(_("price"))
    currency = models.CharField(_("currency"), max_length=3, default="USD")

    class Meta:
        ordering = ["country", "category"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "country", "category"], name="message_price_unique"),
        ]
        verbose_name = _("message price")
        verbose_name_plural = _("message prices")

    def __str__(self) -> str:
        return f"{self.country} {self.category}"


# --- scheduled messages and one-time codes ---------------------------------------------------------------------


class ScheduledMessage(TenantOwnedModel):
    """A template (or a text, if the reply window will be open) to send to a contact at a set time."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", pgettext_lazy("scheduled message status", "Scheduled")
        # Claimed by the job that sends it: no longer cancelable; re-tried if its job died.
        SENDING = "sending", pgettext_lazy("scheduled message status", "Sending")
        SENT = "sent", pgettext_lazy("scheduled message status", "Sent")
        CANCELED = "canceled", pgettext_lazy("scheduled message status", "Canceled")
        FAILED = "failed", pgettext_lazy("scheduled message status", "Not sent")

    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey("conversations.Inbox", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "template" (name, language, params) or "text".
    kind = models.CharField(max_length=10, default="template")
    template_name = models.CharField(max_length=512, blank=True)
    template_language = models.CharField(max_length=16, blank=True)
    params = models.JSONField(default=dict, blank=True)
    text = models.TextField(blank=True)
    send_at = models.DateTimeField(_("send at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    failure = models.CharField(max_length=500, blank=True)
    # The error's code when it was not sent ("reply_window_closed", "no_marketing_consent"...).
    failure_code = models.CharField(max_length=40, blank=True)
    # When the sending job claimed it (a claim older than a few minutes is taken again by the sweeper).
    claimed_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=80, null=True, blank=True)

    class Meta:
        ordering = ["send_at", "id"]
        indexes = [models.Index(fields=["status", "send_at"], name="scheduled_message_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="scheduled_message_idempotency",
            )
        ]
        verbose_name = _("scheduled message")
        verbose_name_plural = _("scheduled messages")

    def __str__(self) -> str:
        return f"{self.contact_id} at {self.send_at}"


class OtpChallenge(TenantOwnedModel):
    """A one-time code sent to a contact with an authentication template. Only a keyed hash of the code is
    kept; it is checked at most ``max_attempts`` times before it expires."""

    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey("conversations.Inbox", on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=128)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whether the code was masked in the message's channel request (kept there only until it was sent).
    message_masked = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "contact", "-created_at"], name="otp_contact_recent"),
            models.Index(fields=["expires_at"], condition=Q(message_masked=False), name="otp_message_unmasked"),
        ]

    def __str__(self) -> str:
        return f"otp {self.pk} for {self.contact_id}"
