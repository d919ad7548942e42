"""Sending broadcasts: started now or at their time, their recipients planned set-based, the core's send
queue fed at the number's pace within the account's messaging limit, quiet hours and the number's quality,
paused, resumed and canceled at any moment, and each recipient's outcome followed from the core's events.

**Exactly once.** A feeding batch is one transaction: it locks the broadcast's row (a cancel waits for it,
and a batch after a cancel sees it), claims pending recipients with ``FOR UPDATE SKIP LOCKED``, queues one
core message per recipient through ``messages_send_bulk`` (the batch's messages set-based) with the
idempotency key ``broadcast:<broadcast>:<recipient>`` and records each recipient's message, all committed
together. A crash anywhere before the commit leaves the recipients pending and no message; after it, every
recipient has its message, which the core's send queue sends once (its claim, lease and sweeper). A recipient found
``sending`` without a message (a state no batch commits; a row edited by hand, say) is released by the
sweeper, and the idempotency key makes that harmless.

**Pace.** The broadcast's messages join the end of the inbox's send queue (``messages_send_bulk``), so
agents' and automations' replies still go ahead of it (``delivery_jobs.AHEAD_OF_QUEUE``). The feeder keeps
that queue short (``CAMPAIGNS_FEED_BACKLOG`` messages waiting at most): the channel's throughput limiter sets
the pace, a cancel has little to withdraw, and nothing holds thousands of rows at once.

**Messaging limit.** ``conversations.channels.messaging_limit_of`` says how many unique customers the
account may write to first in a rolling 24 hours (an unread WhatsApp tier counts as 250). Counted as used:
the distinct contacts of the workspace's inboxes of the same channel type who got a template message in the
last 24 hours (queued, sent, delivered or read, or failed after the channel took it) without having written
to that inbox in the 24 hours before it: broadcasts and agents' templates alike. A recipient who already
counts, or whose reply window is open, costs nothing. When nothing is left, the broadcast waits
(``wait_reason`` "messaging_limit") until the earliest of those contacts leaves the window, and the sweeper
carries on from there. A feeding job counts the account's usage when it starts and keeps count of its own
sends; it counts again every ``CAMPAIGNS_LIMIT_READ_SECONDS`` only once what is left comes within
``CAMPAIGNS_LIMIT_HEADROOM`` (or a tenth of the limit). Two broadcasts of one account fed at the same moment
may overshoot by a batch: Meta then refuses the excess, recorded as failures.

**Quality.** A number rated RED pauses the broadcast (``wait_reason`` "quality"): sending more of the same
risks the number. A person resumes it once the rating recovers.

**Quiet hours** are the workspace's time zone; the broadcast waits (``quiet_hours``) until they end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Concat, JSONObject, NullIf, Trim
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Broadcast, BroadcastRecipient, ConsentState
from campaigns.segments import segment_contacts
from conversations import channels
from conversations.actors import Actor, AutomationActor, SystemActor, actor_audit_record
from conversations.events import MessageReceived, MessageStatusChanged
from conversations.models import Contact, ContactInbox, Conversation, Inbox, Message
from conversations.services.outbound import BulkSend, OutboundSpec, messages_send_bulk
from conversations.services.proactive import contact_inboxes_for, conversations_for_proactive
from helpdesk.bulk import rows_update
from helpdesk.exceptions import ApplicationError, Conflict, ValidationFailed
from helpdesk.jobs import BROKER_ERRORS, HOLD_TTL, held, inline, redis_client
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

Status = Broadcast.Status
RStatus = BroadcastRecipient.Status
Skip = BroadcastRecipient.SkipReason
Action = AuditLogEntry.Action

SUBSCRIBER_STATUSES = "campaigns.broadcast_statuses"
SUBSCRIBER_REPLIES = "campaigns.broadcast_replies"
ACTOR_KIND = "broadcast"
MARKETING_CATEGORY = "MARKETING"
# Meta's per-user marketing limit ("healthy ecosystem"): not retried, the recipient is skipped.
USER_MARKETING_LIMIT = 131049
WAIT_MESSAGING_LIMIT = "messaging_limit"
WAIT_QUIET_HOURS = "quiet_hours"
PAUSE_QUALITY = "quality"
E164 = r"^\+[1-9][0-9]{7,14}$"
WINDOW = timedelta(hours=24)
# A reply counts for the broadcast a customer got at most this long before it.
REPLY_ATTRIBUTION = timedelta(days=7)
PHONE_COLUMN = "phone"
# A feeder waiting for the send queue to drain marks its broadcast as alive this often.
STALL_TOUCH_SECONDS = 5
RUNNING = (Status.SENDING, Status.WAITING)


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def broadcast_actor(broadcast: Broadcast) -> AutomationActor:
    """Who sends a broadcast's messages: the broadcast itself, as an automation (its name on each message)."""
    return AutomationActor(
        tenant_id=broadcast.tenant_id, automation_id=broadcast.pk, name=broadcast.name, kind=ACTOR_KIND
    )


def _task(name: str) -> Any:
    return current_app.tasks[f"campaigns.tasks.{name}"]


def _enqueue(name: str, broadcast_id: int) -> None:
    """Ask for a job after commit; a broker outage is left to the sweeper."""

    def send() -> None:
        try:
            _task(name).delay(broadcast_id)
        except BROKER_ERRORS as exc:
            logger.warning("Broadcast %s: %s not enqueued, left for the sweeper: %s", broadcast_id, name, exc)

    transaction.on_commit(send)


def _audit(actor: Actor, action: str, broadcast: Broadcast, request: HttpRequest | None = None, **extra: Any) -> None:
    actor_audit_record(
        actor,
        action=action,
        tenant=broadcast.tenant,
        target=broadcast,
        target_label=broadcast.name,
        request=request,
        extra={"broadcast_id": broadcast.pk, **extra},
    )


def _locked(broadcast: Broadcast) -> Broadcast:
    return (
        Broadcast.objects.select_for_update()
        .select_related("tenant", "inbox")
        .get(pk=broadcast.pk, tenant_id=broadcast.tenant_id)
    )


# --- start, pause, resume, cancel ------------------------------------------------------------------------------


def _template_of(broadcast: Broadcast) -> dict[str, Any] | None:
    try:
        templates = channels.backend_for(broadcast.inbox).templates_for(broadcast.inbox)
    except LookupError:
        return None
    return next(
        (t for t in templates if t["name"] == broadcast.template_name and t["language"] == broadcast.template_language),
        None,
    )


def broadcast_start(
    *, actor: Actor, broadcast: Broadcast, now: datetime | None = None, request: HttpRequest | None = None
) -> Broadcast:
    """Start a draft: scheduled when its time is still ahead, else prepared and sent now (audited)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(broadcast)
        if locked.status != Status.DRAFT:
            raise Conflict(_("Only a draft broadcast can be started."), code="broadcast_not_draft")
        if not locked.segment_id and not locked.audience_file:
            raise ValidationFailed(
                _("Choose who receives the broadcast: a segment or a file of phone numbers."),
                details={"field": "segment"},
            )
        template = _template_of(locked)
        if template is None:
            raise ValidationFailed(
                _("The template %(name)s (%(language)s) is not approved in this inbox.")
                % {"name": locked.template_name, "language": locked.template_language},
                details={"field": "template_name"},
            )
        locked.template_category = str(template.get("category") or "").upper()[:32]
        if locked.scheduled_at is not None and locked.scheduled_at > now:
            locked.status, action = Status.SCHEDULED, Action.BROADCAST_SCHEDULED
        else:
            locked.status, action, locked.started_at = Status.PLANNING, Action.BROADCAST_STARTED, now
            _enqueue("broadcast_plan", locked.pk)
        locked.wait_reason, locked.wait_until, locked.failure = "", None, ""
        locked.save(
            update_fields=[
                "status",
                "template_category",
                "started_at",
                "wait_reason",
                "wait_until",
                "failure",
                "updated_at",
            ]
        )
        _audit(
            actor,
            action,
            locked,
            request,
            scheduled_at=locked.scheduled_at.isoformat() if locked.scheduled_at else None,
        )
    return locked


def broadcasts_start_due(*, now: datetime | None = None) -> int:
    """Start the scheduled broadcasts whose time has come (the beat job); returns how many."""
    now = now or timezone.now()
    started = 0
    for pk in Broadcast.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True)[
        :500
    ]:
        with transaction.atomic():
            broadcast = Broadcast.objects.select_for_update().select_related("tenant").filter(pk=pk).first()
            if broadcast is None or broadcast.status != Status.SCHEDULED:
                continue
            broadcast.status, broadcast.started_at = Status.PLANNING, now
            broadcast.save(update_fields=["status", "started_at", "updated_at"])
            _audit(SystemActor(tenant_id=broadcast.tenant_id), Action.BROADCAST_STARTED, broadcast)
            _enqueue("broadcast_plan", pk)
            started += 1
    return started


def broadcast_pause(*, actor: Actor, broadcast: Broadcast, request: HttpRequest | None = None) -> Broadcast:
    """Stop feeding a sending (or waiting) broadcast; messages already queued still go (audited)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    with transaction.atomic():
        locked = _locked(broadcast)
        if locked.status not in RUNNING:
            raise Conflict(_("Only a broadcast that is sending can be paused."), code="broadcast_not_running")
        locked.status, locked.wait_reason, locked.wait_until = Status.PAUSED, "", None
        locked.save(update_fields=["status", "wait_reason", "wait_until", "updated_at"])
        _audit(actor, Action.BROADCAST_PAUSED, locked, request)
    return locked


def broadcast_resume(*, actor: Actor, broadcast: Broadcast, request: HttpRequest | None = None) -> Broadcast:
    """Carry on with a paused broadcast (audited)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    with transaction.atomic():
        locked = _locked(broadcast)
        if locked.status != Status.PAUSED:
            raise Conflict(_("Only a paused broadcast can be resumed."), code="broadcast_not_paused")
        locked.status, locked.wait_reason, locked.wait_until = Status.SENDING, "", None
        locked.save(update_fields=["status", "wait_reason", "wait_until", "updated_at"])
        _audit(actor, Action.BROADCAST_RESUMED, locked, request)
        _enqueue("broadcast_feed", locked.pk)
    return locked


CANCELABLE = (Status.SCHEDULED, Status.PLANNING, Status.SENDING, Status.WAITING, Status.PAUSED)


def broadcast_cancel(*, actor: Actor, broadcast: Broadcast, request: HttpRequest | None = None) -> Broadcast:
    """Cancel a broadcast: nothing more is queued once this commits, and its messages still waiting in the
    send queue are withdrawn. Messages the queue already handed to the channel count as sent (audited)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=broadcast.tenant_id)
    from conversations.services.delivery import messages_withdraw

    now = timezone.now()
    with transaction.atomic():
        # Waits for a feeding batch that holds the row; the next one finds the broadcast canceled.
        locked = _locked(broadcast)
        if locked.status not in CANCELABLE:
            raise Conflict(_("This broadcast can no longer be canceled."), code="broadcast_not_cancelable")
        locked.status, locked.finished_at, locked.wait_reason, locked.wait_until = Status.CANCELED, now, "", None
        locked.save(update_fields=["status", "finished_at", "wait_reason", "wait_until", "updated_at"])
        recipients = BroadcastRecipient.objects.filter(broadcast=locked)
        pending = recipients.filter(status=RStatus.PENDING).update(status=RStatus.CANCELED)
        in_queue = list(
            recipients.filter(status=RStatus.SENDING, message__isnull=False).values_list("message_id", flat=True)
        )
        withdrawn = messages_withdraw(message_ids=in_queue, details="The broadcast was canceled.")
        if withdrawn:
            recipients.filter(message_id__in=withdrawn, status=RStatus.SENDING).update(status=RStatus.CANCELED)
        recipients.filter(status=RStatus.SENDING, message__isnull=True).update(status=RStatus.CANCELED)
        _audit(actor, Action.BROADCAST_CANCELED, locked, request, canceled=pending + len(withdrawn))
    return locked


# --- planning --------------------------------------------------------------------------------------------------


def _needs_marketing_consent(broadcast: Broadcast) -> bool:
    purpose = broadcast.consent_purpose
    return broadcast.template_category == MARKETING_CATEGORY or (purpose is not None and purpose.is_marketing)


def _purpose(broadcast: Broadcast) -> int | None:
    """The workspace's own consent purpose a broadcast needs an opt-in to (not marketing: that is the contact's)."""
    purpose = broadcast.consent_purpose
    return purpose.pk if purpose is not None and not purpose.is_marketing else None


def _value_expression(mapping: Mapping[str, Any]) -> Any:
    """SQL for one parameter's value of a contact (NULL when it has none and no fallback)."""
    if "value" in mapping:
        return Value(str(mapping["value"]), output_field=CharField())
    source = str(mapping.get("attribute", ""))
    fallback = str(mapping.get("fallback", "") or "").strip()
    parts: list[Any] = []
    text = CharField()
    if source == "name":
        parts = [NullIf(Trim(field), Value(""), output_field=text) for field in ("name", "profile_name", "phone_e164")]
    elif source == "phone":
        parts = [NullIf(Trim("phone_e164"), Value(""), output_field=text)]
    elif source.startswith("attr:"):
        attribute = Trim(KeyTextTransform(source[5:], "custom_attributes"), output_field=text)
        parts = [NullIf(attribute, Value(""), output_field=text)]
    if fallback:
        parts.append(Value(fallback))
    if not parts:
        return Value(None, output_field=CharField())
    if len(parts) == 1:
        return parts[0]
    return Coalesce(*parts, output_field=CharField())


def _segment_plan(broadcast: Broadcast, now: datetime) -> None:
    """Every contact of the segment as a recipient, in one INSERT … SELECT (a contact already there, or a
    second contact with the same phone, is left as it is)."""
    if broadcast.segment is None:
        raise ValidationFailed(_("The broadcast's segment was deleted."))
    contacts: QuerySet[Contact] = segment_contacts(tenant=broadcast.tenant, filters=broadcast.segment.filters)
    keys = sorted(broadcast.variables or {})
    annotations: dict[str, Any] = {f"v{i}": _value_expression(broadcast.variables[key]) for i, key in enumerate(keys)}
    whens = [When(~Q(phone_e164__regex=E164), then=Value(Skip.INVALID_PHONE.value))]
    if _needs_marketing_consent(broadcast):
        whens += [
            When(marketing_consent=Contact.MarketingConsent.OPTED_OUT, then=Value(Skip.OPTED_OUT.value)),
            When(~Q(marketing_consent=Contact.MarketingConsent.OPTED_IN), then=Value(Skip.NO_CONSENT.value)),
        ]
    if (purpose := _purpose(broadcast)) is not None:
        annotations["purpose_state"] = Subquery(
            ConsentState.objects.filter(tenant_id=broadcast.tenant_id, contact=OuterRef("pk"), purpose_id=purpose)
            .order_by()
            .values("kind")[:1]
        )
        whens += [
            When(purpose_state="opt_out", then=Value(Skip.OPTED_OUT.value)),
            When(Q(purpose_state__isnull=True) | ~Q(purpose_state="opt_in"), then=Value(Skip.NO_CONSENT.value)),
        ]
    if keys:
        missing = Q()
        for i in range(len(keys)):
            missing |= Q(**{f"v{i}__isnull": True})
        whens.append(When(missing, then=Value(Skip.MISSING_VARIABLE.value)))
    skip = Case(*whens, default=Value(""), output_field=CharField())
    columns = {
        "r_tenant": Value(broadcast.tenant_id),
        "r_broadcast": Value(broadcast.pk),
        "r_contact": F("pk"),
        "r_phone": Case(
            When(phone_e164="", then=Concat(Value("#"), Cast("pk", CharField()))),
            default=F("phone_e164"),
            output_field=CharField(),
        ),
        "r_variables": JSONObject(**{key: F(f"v{i}") for i, key in enumerate(keys)}),
        "r_status": Case(
            When(r_skip="", then=Value(RStatus.PENDING.value)),
            default=Value(RStatus.SKIPPED.value),
            output_field=CharField(),
        ),
        "r_skip": F("r_skip"),
        "r_error_title": Value(""),
        "r_country": Value(""),
        "r_updated_at": Value(now),
    }
    selected = (
        contacts.order_by()
        .annotate(**annotations)
        .annotate(r_skip=skip)
        .annotate(**{name: expression for name, expression in columns.items() if name != "r_skip"})
        .values(*columns)
        .order_by("pk")
    )
    sql, params = selected.query.sql_with_params()
    names = ", ".join(
        connection.ops.quote_name(name)
        for name in (
            "tenant_id",
            "broadcast_id",
            "contact_id",
            "phone",
            "variables",
            "status",
            "skip_reason",
            "error_title",
            "country",
            "updated_at",
        )
    )
    select = ", ".join(connection.ops.quote_name(name) for name in columns)
    table = connection.ops.quote_name(BroadcastRecipient._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # Names quoted by the backend and the ORM's own compiled query; values only as parameters.
            f"INSERT INTO {table} ({names}) SELECT {select} FROM ({sql}) planned WHERE true ON CONFLICT DO NOTHING",  # noqa: S608
            params,
        )


def _csv_rows(broadcast: Broadcast) -> Iterator[dict[str, str]]:
    with broadcast.audience_file.open("rb") as handle:
        try:
            text = handle.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(_("The audience file is not a CSV file in UTF-8.")) from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = [cell.strip() for cell in next(reader, [])]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        values = {column: (row[i].strip() if i < len(row) else "") for i, column in enumerate(header)}
        values[PHONE_COLUMN] = next((v for k, v in values.items() if k.lower() == PHONE_COLUMN), "")
        yield values


def _phone_e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region or "BR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _row_value(mapping: Mapping[str, Any], contact: Contact | None, row: Mapping[str, str]) -> str:
    if "value" in mapping:
        return str(mapping["value"])
    source = str(mapping.get("attribute", ""))
    value: Any = ""
    if source == "name":
        value = (contact.display_name if contact is not None else "") or row.get("name", "")
    elif source == "phone":
        value = (contact.phone_e164 if contact is not None else "") or row.get(PHONE_COLUMN, "")
    elif source.startswith("attr:"):
        value = (contact.custom_attributes or {}).get(source[5:], "") if contact is not None else ""
        value = value or row.get(source[5:], "")
    elif source.startswith("column:"):
        value = row.get(source[7:], "")
    value = "" if value is None else str(value).strip()
    return value or str(mapping.get("fallback", "") or "").strip()


def _consent_skip(broadcast: Broadcast, contact: Contact | None, purpose_states: Mapping[int, str]) -> str:
    if _needs_marketing_consent(broadcast):
        consent = contact.marketing_consent if contact is not None else Contact.MarketingConsent.UNKNOWN
        if consent == Contact.MarketingConsent.OPTED_OUT:
            return Skip.OPTED_OUT
        if consent != Contact.MarketingConsent.OPTED_IN:
            return Skip.NO_CONSENT
    if _purpose(broadcast) is not None:
        state = purpose_states.get(contact.pk) if contact is not None else None
        if state == "opt_out":
            return Skip.OPTED_OUT
        if state != "opt_in":
            return Skip.NO_CONSENT
    return ""


def _file_plan(broadcast: Broadcast, now: datetime) -> None:
    """The CSV audience's rows as recipients (phone and values per row; the workspace's contact with that
    phone, if any, gives consent and its fields), in batches of a few thousand."""
    region = str(getattr(broadcast.tenant, "country", "") or "BR")
    purpose = _purpose(broadcast)
    rows = list(_csv_rows(broadcast))
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        phones = [_phone_e164(row[PHONE_COLUMN], region) for row in chunk]
        contacts: dict[str, Contact] = {}
        for known in Contact.objects.filter(
            tenant_id=broadcast.tenant_id, phone_e164__in={p for p in phones if p}
        ).order_by("-pk"):
            contacts[known.phone_e164] = known  # the oldest contact of a phone wins
        states: dict[int, str] = {}
        if purpose is not None and contacts:
            states = dict(
                ConsentState.objects.filter(
                    tenant_id=broadcast.tenant_id, purpose_id=purpose, contact__in=[c.pk for c in contacts.values()]
                ).values_list("contact_id", "kind")
            )
        recipients = []
        for number, (row, phone) in enumerate(zip(chunk, phones, strict=True), start=start + 2):
            contact: Contact | None = contacts.get(phone) if phone else None
            values = {key: _row_value(mapping, contact, row) for key, mapping in (broadcast.variables or {}).items()}
            skip = ""
            if phone is None:
                skip = Skip.INVALID_PHONE
            else:
                skip = _consent_skip(broadcast, contact, states) or (
                    Skip.MISSING_VARIABLE if any(not v for v in values.values()) else ""
                )
            recipients.append(
                BroadcastRecipient(
                    tenant_id=broadcast.tenant_id,
                    broadcast=broadcast,
                    contact=contact,
                    phone=phone or (row[PHONE_COLUMN][:20] or f"#row{number}"),
                    variables=values,
                    status=RStatus.SKIPPED if skip else RStatus.PENDING,
                    skip_reason=skip,
                    updated_at=now,
                )
            )
        BroadcastRecipient.objects.bulk_create(recipients, batch_size=2000, ignore_conflicts=True)


def broadcast_plan(*, broadcast_id: int, now: datetime | None = None) -> int:
    """Create a broadcast's recipients (once: a second run adds nothing) and start feeding; returns the total."""
    now = now or timezone.now()
    failure = ""
    with transaction.atomic():
        # Locked: a cancel waits for the plan, and a plan after a cancel does nothing.
        broadcast = (
            Broadcast.objects.select_for_update(no_key=True, of=("self",))
            .select_related("tenant", "segment", "consent_purpose")
            .filter(pk=broadcast_id)
            .first()
        )
        if broadcast is None or broadcast.status != Status.PLANNING:
            return 0
        try:
            with transaction.atomic():
                if broadcast.audience_file:
                    _file_plan(broadcast, now)
                else:
                    _segment_plan(broadcast, now)
        except (ApplicationError, OSError) as exc:
            failure = getattr(exc, "message", "") or str(exc)
        if failure:
            broadcast.status, broadcast.failure, broadcast.finished_at = Status.FAILED, failure[:2000], now
            broadcast.save(update_fields=["status", "failure", "finished_at", "updated_at"])
            return 0
        broadcast.total = BroadcastRecipient.objects.filter(broadcast=broadcast).count()
        broadcast.status = Status.SENDING
        broadcast.save(update_fields=["total", "status", "updated_at"])
        _enqueue("broadcast_feed", broadcast.pk)
    return broadcast.total


# --- feeding ---------------------------------------------------------------------------------------------------


def quiet_until(broadcast: Broadcast, now: datetime) -> datetime | None:
    """When the broadcast's quiet hours end, if ``now`` is inside them (the workspace's time zone); else None."""
    start, end = broadcast.quiet_start, broadcast.quiet_end
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(broadcast.tenant.timezone or settings.TIME_ZONE)
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= moment < end, local.date()
    else:  # across midnight: from start to midnight, and from midnight to end
        inside = moment >= start or moment < end
        day = local.date() + timedelta(days=1) if moment >= start else local.date()
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=zone)


@dataclass
class Usage:
    """What of the messaging limit a feeding job knows is used, read again every few seconds."""

    limit: int | None
    used: int = 0
    frees_at: datetime | None = None
    read_at: float = 0.0


def messaging_limit_usage(*, inbox: Inbox, now: datetime) -> tuple[int, datetime | None]:
    """(How many unique customers the account wrote to first in the 24 hours before ``now``, when the first
    of them leaves that window): see the module's docstring for what counts."""
    inboxes = Inbox.objects.filter(tenant_id=inbox.tenant_id, channel_type=inbox.channel_type).values("pk")
    answered_before = Message.objects.filter(
        tenant_id=inbox.tenant_id,
        conversation__contact_inbox=OuterRef("conversation__contact_inbox"),
        direction=Message.Direction.INBOUND,
        occurred_at__lte=OuterRef("created_at"),
        occurred_at__gt=OuterRef("created_at") - WINDOW,
    )
    firsts = (
        Message.objects.filter(
            tenant_id=inbox.tenant_id,
            inbox_id__in=inboxes,
            direction=Message.Direction.OUTBOUND,
            type=Message.Type.TEMPLATE,
            created_at__gt=now - WINDOW,
        )
        .exclude(status=Message.Status.FAILED, external_id__isnull=True)
        .exclude(Exists(answered_before))
        .values("conversation__contact_id")
        .annotate(last=Max("created_at"))
        .values_list("last", flat=True)
    )
    lasts = list(firsts)
    return len(lasts), (min(lasts) + WINDOW if lasts else None)


def _free_recipients(broadcast: Broadcast, addresses: list[str], now: datetime) -> set[str]:
    """Of these channel addresses, those a template costs nothing of the messaging limit: written to first in
    the last 24 hours already, or with their reply window open in this inbox."""
    if not addresses:
        return set()
    inboxes = Inbox.objects.filter(tenant_id=broadcast.tenant_id, channel_type=broadcast.inbox.channel_type).values(
        "pk"
    )
    open_window = set(
        Conversation.objects.filter(
            tenant_id=broadcast.tenant_id,
            inbox_id=broadcast.inbox_id,
            contact_inbox__source_id__in=addresses,
            last_inbound_at__gt=now - WINDOW,
        ).values_list("contact_inbox__source_id", flat=True)
    )
    counted = set(
        Message.objects.filter(
            tenant_id=broadcast.tenant_id,
            inbox_id__in=inboxes,
            conversation__contact_inbox__source_id__in=addresses,
            direction=Message.Direction.OUTBOUND,
            type=Message.Type.TEMPLATE,
            created_at__gt=now - WINDOW,
        )
        .exclude(status=Message.Status.FAILED, external_id__isnull=True)
        .values_list("conversation__contact_inbox__source_id", flat=True)
    )
    return open_window | counted


def _params(values: Mapping[str, Any]) -> dict[str, Any]:
    """A recipient's values by parameter key (``body.1``, ``header.name``, ``button.0``) as the channel takes them."""
    shaped: dict[str, dict[Any, Any]] = {}
    for key, value in values.items():
        part, _dot, name = str(key).partition(".")
        group = {"header": "header", "body": "body", "button": "buttons"}.get(part)
        if group is None or not name:
            continue
        shaped.setdefault(group, {})[int(name) if group == "buttons" and name.isdigit() else name] = value
    return shaped


def _crashpoint(name: str) -> None:
    """Where tests make the feeder fail, as a crash would (nothing in production)."""


def _consent_now(broadcast: Broadcast, contacts: Mapping[int, Contact]) -> dict[int, str]:
    """The skip reason of each contact whose consent no longer allows the broadcast (read at send time)."""
    purpose = _purpose(broadcast)
    states: dict[int, str] = {}
    if purpose is not None and contacts:
        states = dict(
            ConsentState.objects.filter(
                tenant_id=broadcast.tenant_id, purpose_id=purpose, contact__in=list(contacts)
            ).values_list("contact_id", "kind")
        )
    reasons = {}
    for pk, contact in contacts.items():
        if reason := _consent_skip(broadcast, contact, states):
            reasons[pk] = reason
    return reasons


class BroadcastStopped(Exception):
    """The broadcast cannot go on (its template can no longer be sent): it fails with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Fed:
    """What one feeding batch did: ``state`` is ``fed`` (queued ``queued``), ``full`` (the send queue is
    long enough), ``waiting``, ``paused``, ``draining`` (nothing pending, messages on their way), ``done``
    or the broadcast's status when it is not sending."""

    state: str
    queued: int = 0


def broadcast_feed_batch(*, broadcast_id: int, now: datetime | None = None, usage: Usage | None = None) -> Fed:
    """Queue the next recipients' messages, as many as the send queue, the messaging limit, quiet hours and
    the number's quality allow: one transaction (see the module's docstring)."""
    now = now or timezone.now()
    try:
        return _feed_batch(broadcast_id, now, usage)
    except BroadcastStopped as exc:
        Broadcast.objects.filter(pk=broadcast_id, status=Status.SENDING).update(
            status=Status.FAILED, failure=exc.message[:2000], finished_at=now, updated_at=now
        )
        return Fed(Status.FAILED)


def _feed_batch(broadcast_id: int, now: datetime, usage: Usage | None) -> Fed:
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update(no_key=True, of=("self",))
            .select_related("tenant", "inbox", "consent_purpose")
            .filter(pk=broadcast_id)
            .first()
        )
        if broadcast is None:
            return Fed("missing")
        if broadcast.status == Status.COMPLETED:
            return Fed("done")
        if broadcast.status != Status.SENDING:
            return Fed(broadcast.status)
        if (until := quiet_until(broadcast, now)) is not None:
            _wait(broadcast, WAIT_QUIET_HOURS, until)
            return Fed(Status.WAITING)
        if channels.quality_of(broadcast.inbox) == channels.QUALITY_RED:
            broadcast.status, broadcast.wait_reason, broadcast.wait_until = Status.PAUSED, PAUSE_QUALITY, None
            broadcast.save(update_fields=["status", "wait_reason", "wait_until", "updated_at"])
            return Fed(Status.PAUSED)
        backlog = Message.objects.filter(inbox_id=broadcast.inbox_id, status=Message.Status.QUEUED).count()
        room = int(_setting("CAMPAIGNS_FEED_BACKLOG", 200)) - backlog
        if room <= 0:
            return Fed("full")
        candidates = list(
            BroadcastRecipient.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact")
            .filter(broadcast=broadcast, status=RStatus.PENDING)
            .order_by("pk")[: min(room, int(_setting("CAMPAIGNS_FEED_BATCH", 50)))]
        )
        _crashpoint("claimed")
        if not candidates:
            return Fed("done" if broadcast_complete(broadcast_id=broadcast.pk, now=now) else "draining")
        taken = _within_limit(broadcast, candidates, now, usage)
        if not taken:
            return Fed(Status.WAITING)
        queued = _queue(broadcast, taken, now)
        Broadcast.objects.filter(pk=broadcast.pk).update(updated_at=now)
    _crashpoint("committed")
    return Fed("fed", queued)


def _wait(broadcast: Broadcast, reason: str, until: datetime | None) -> None:
    broadcast.status, broadcast.wait_reason, broadcast.wait_until = Status.WAITING, reason, until
    broadcast.save(update_fields=["status", "wait_reason", "wait_until", "updated_at"])


def _within_limit(
    broadcast: Broadcast, candidates: list[BroadcastRecipient], now: datetime, usage: Usage | None
) -> list[BroadcastRecipient]:
    """The first candidates the messaging limit lets through (in order); none: the broadcast waits."""
    if usage is None:
        usage = Usage(limit=channels.messaging_limit_of(broadcast.inbox))
    if usage.limit is None:
        return candidates
    # The account's usage is counted again every few seconds (others send too), but only while what is left
    # of the limit comes near: with a TIER_100K account, 2,000 used, no other sender can make up the rest
    # in those seconds, and the count grows with every customer written to.
    stale = time.monotonic() - usage.read_at > _setting("CAMPAIGNS_LIMIT_READ_SECONDS", 5)
    near = usage.limit - usage.used < max(_setting("CAMPAIGNS_LIMIT_HEADROOM", 1000), usage.limit / 10)
    if not usage.read_at or (stale and near):
        usage.used, usage.frees_at = messaging_limit_usage(inbox=broadcast.inbox, now=now)
        usage.read_at = time.monotonic()
    free = _free_recipients(broadcast, [r.phone.lstrip("+") for r in candidates], now)
    left = usage.limit - usage.used
    taken = []
    for recipient in candidates:
        if recipient.phone.lstrip("+") in free:
            taken.append(recipient)
        elif left > 0:
            left -= 1
            usage.used += 1
            taken.append(recipient)
        # Else it stays pending until the limit frees up (a customer further on who costs nothing goes now).
    if not taken:
        # Read again at once: what the job counted may have freed up since.
        usage.used, usage.frees_at = messaging_limit_usage(inbox=broadcast.inbox, now=now)
        usage.read_at = time.monotonic()
        if usage.used < usage.limit:
            return candidates[: usage.limit - usage.used]
        _wait(broadcast, WAIT_MESSAGING_LIMIT, usage.frees_at or now + WINDOW)
    return taken


def _queue(broadcast: Broadcast, recipients: list[BroadcastRecipient], now: datetime) -> int:
    """Queue one message per recipient (in the caller's transaction); returns how many were queued."""
    actor = broadcast_actor(broadcast)
    skips = _consent_now(broadcast, {r.contact.pk: r.contact for r in recipients if r.contact is not None})
    keys = {r.pk: f"broadcast:{broadcast.pk}:{r.pk}" for r in recipients}
    existing = dict(
        Message.objects.filter(tenant_id=broadcast.tenant_id, idempotency_key__in=list(keys.values())).values_list(
            "idempotency_key", "pk"
        )
    )
    to_send = [r for r in recipients if r.contact_id not in skips and keys[r.pk] not in existing]
    people = {r.phone.lstrip("+"): (r.contact_id, r.phone) for r in to_send}
    links = contact_inboxes_for(inbox=broadcast.inbox, people=people) if people else {}
    conversations = conversations_for_proactive(inbox=broadcast.inbox, contact_inboxes=list(links.values()))
    _crashpoint("conversations")
    sends: list[tuple[BroadcastRecipient, ContactInbox]] = []
    for recipient in recipients:
        recipient.updated_at = now
        key = keys[recipient.pk]
        if key in existing:
            recipient.status, recipient.message_id = RStatus.SENDING, existing[key]
            continue
        if recipient.contact_id in skips:
            recipient.status, recipient.skip_reason = RStatus.SKIPPED, skips[recipient.contact_id]
            continue
        sends.append((recipient, links[recipient.phone.lstrip("+")]))
    outcomes = messages_send_bulk(
        actor=actor,
        sends=[
            BulkSend(
                conversation=conversations[link.pk],
                spec=OutboundSpec(
                    type=Message.Type.TEMPLATE,
                    content={
                        "name": broadcast.template_name,
                        "language": broadcast.template_language,
                        "params": _params(recipient.variables or {}),
                    },
                ),
                idempotency_key=keys[recipient.pk],
            )
            for recipient, link in sends
        ],
    )
    _crashpoint("message")
    queued = 0
    for (recipient, link), outcome in zip(sends, outcomes, strict=True):
        if (exc := outcome.error) is not None:
            if exc.code == "no_marketing_consent":  # the sender's own check, should consent change meanwhile
                recipient.status, recipient.skip_reason = RStatus.SKIPPED, Skip.NO_CONSENT
                continue
            if exc.code == "template_params_invalid":  # this recipient's values (too long, say)
                recipient.status, recipient.error_title = RStatus.FAILED, exc.message[:255]
                continue
            # The template itself can no longer be sent (paused, disabled, deleted): nobody else can get it.
            raise BroadcastStopped(exc.message) from exc
        assert outcome.message is not None
        recipient.status, recipient.message_id, recipient.contact_id = (
            RStatus.SENDING,
            outcome.message.pk,
            link.contact_id,
        )
        queued += 1
    rows_update(
        BroadcastRecipient, recipients, ["status", "skip_reason", "error_title", "message", "contact", "updated_at"]
    )
    _crashpoint("recorded")
    return queued


def broadcast_complete(*, broadcast_id: int, now: datetime | None = None) -> bool:
    """Mark a sending (or waiting) broadcast completed once no recipient is pending or on its way."""
    now = now or timezone.now()
    unsettled = BroadcastRecipient.objects.filter(
        broadcast_id=OuterRef("pk"), status__in=[RStatus.PENDING, RStatus.SENDING]
    )
    return bool(
        Broadcast.objects.filter(pk=broadcast_id, status__in=RUNNING)
        .exclude(Exists(unsettled))
        .update(status=Status.COMPLETED, finished_at=now, wait_reason="", wait_until=None, updated_at=now)
    )


def _feed_key(broadcast_id: int) -> str:
    return f"helpdesk:broadcast-feed:{broadcast_id}"


def _next_key(broadcast_id: int) -> str:
    # Set by the job that is to carry on once it runs: the job feeding now lets go of the broadcast's key.
    return f"helpdesk:broadcast-feed:{broadcast_id}:next"


# How long before its time is up a feeding job asks for the next one: the next one runs (it may wait for a worker
# process behind long jobs) while this one still feeds, so that the send queue does not run dry between them.
HANDOVER_LEAD_SECONDS = 10.0


def broadcast_feed(
    *, broadcast_id: int, seconds: float | None = None, now: Callable[[], datetime] | None = None, after: str = ""
) -> str:
    """Feed a broadcast until it is done, waits, is paused or canceled, or ``seconds`` pass (then a fresh job
    carries on). With a worker one job at a time feeds a broadcast: it holds a Redis key, kept alive by its
    process (``helpdesk.jobs.held``); a killed job's key is gone ``HELPDESK_HOLD_TTL`` seconds later and the
    sweeper asks again. The row lock keeps a second one harmless anyway.

    A job asks for the next one shortly before its time is up and goes on feeding; the next one (``after``: the
    token it was asked for with) says it is running and waits for the key, which the first then lets go of: the
    broadcast is fed throughout, however long the next job waited for a worker process. Only the job asked for
    is let in: a copy of an earlier one (the broker hands out again a job it took for lost) waits in vain."""
    clock = now or timezone.now
    seconds = _setting("CAMPAIGNS_FEED_SECONDS", 30) if seconds is None else seconds
    if inline():
        return _feed(broadcast_id, seconds, clock, working=False)
    client = redis_client()
    key = _feed_key(broadcast_id)
    if not (
        _key_wait(client, broadcast_id, after, timeout=seconds) if after else client.set(key, "1", nx=True, ex=HOLD_TTL)
    ):
        return "busy"
    try:
        with held(key, client=client):
            return _feed(broadcast_id, seconds, clock, working=True, client=client)
    finally:
        with contextlib.suppress(*BROKER_ERRORS):
            client.delete(key)


def _key_wait(client: Any, broadcast_id: int, token: str, *, timeout: float) -> bool:
    """Take the broadcast's key as the job that carries on (asked for with ``token``): say so (the one feeding
    then lets go) and wait for it, up to ``timeout`` seconds (the one feeding died: its key expires after
    ``HOLD_TTL``)."""
    key, ask = _feed_key(broadcast_id), _next_key(broadcast_id)
    poll = _setting("CAMPAIGNS_FEED_POLL_SECONDS", 0.05)
    deadline = time.monotonic() + timeout
    while True:
        client.set(ask, token, ex=HOLD_TTL)
        if client.set(key, "1", nx=True, ex=HOLD_TTL):
            _delete_if(client, ask, token)
            return True
        if time.monotonic() > deadline:
            _delete_if(client, ask, token)
            return False
        time.sleep(poll)


def _delete_if(client: Any, key: str, value: str) -> None:
    # Another job's word is left as it is (a watch would do it in one step; a stale word expires anyway).
    if client.get(key) == value.encode():
        client.delete(key)


def _feed(
    broadcast_id: int, seconds: float, clock: Callable[[], datetime], *, working: bool, client: Any = None
) -> str:
    """The feeding loop (``working``: a worker's job, which waits for the queue to drain instead of returning, and
    hands over to the next job as ``broadcast_feed`` says)."""
    started = time.monotonic()
    deadline = started + seconds
    lead = min(HANDOVER_LEAD_SECONDS, max(seconds, 0) / 3)
    asked: list[str] = []  # the tokens of the next jobs asked for (asked again when one is long in coming)
    # Past this, a job lets go whatever came: within Celery's soft time limit.
    cap = min(_setting("CAMPAIGNS_FEED_MAX_SECONDS", 200), settings.CELERY_TASK_SOFT_TIME_LIMIT - 30)
    longest = max(seconds, cap) if seconds > 0 else 0
    usage: Usage | None = None
    poll = _setting("CAMPAIGNS_FEED_POLL_SECONDS", 0.05)
    touched = time.monotonic()
    while True:
        if usage is None:
            usage = Usage(limit=_limit_of_broadcast(broadcast_id))
        fed = broadcast_feed_batch(broadcast_id=broadcast_id, now=clock(), usage=usage)
        if fed.state not in ("fed", "full"):
            return fed.state
        elapsed = time.monotonic()
        # The next job is asked for ahead of the time, and again each ``seconds`` it has not come (the broker may
        # have lost it with a Redis restart, or every worker process may be busy with long jobs).
        due = deadline - lead + len(asked) * max(seconds, 0)
        if working and elapsed > due and (not asked or elapsed < started + longest):
            asked.append(uuid.uuid4().hex)
            _task("broadcast_feed").delay(broadcast_id, asked[-1])
        if asked and (client.get(_next_key(broadcast_id)) or b"").decode() in asked:
            return "succeeded"  # the next job runs and waits for the key
        if elapsed > (started + longest if working else deadline):
            # Let go: the next job asked for takes the key when it runs (the sweeper feeds again a broadcast no
            # job holds, should none come).
            if not working:
                _task("broadcast_feed").delay(broadcast_id)
            return "handed-over"
        if fed.state == "full":
            if not working:
                return "full"
            if time.monotonic() - touched > STALL_TOUCH_SECONDS:
                # Still at work while the queue drains: the sweeper must not take it for stalled.
                Broadcast.objects.filter(pk=broadcast_id, status=Status.SENDING).update(updated_at=timezone.now())
                touched = time.monotonic()
            time.sleep(poll)


def _feeder_alive(broadcast_id: int) -> bool:
    """Whether a feeding job holds the broadcast's key (without a worker, or with Redis down: taken as alive,
    and the ``stall`` time decides)."""
    if inline():
        return True
    try:
        return bool(redis_client().exists(_feed_key(broadcast_id)))
    except BROKER_ERRORS:
        return True


def _limit_of_broadcast(broadcast_id: int) -> int | None:
    inbox = Inbox.objects.filter(pk=Broadcast.objects.filter(pk=broadcast_id).values("inbox_id")[:1]).first()
    return channels.messaging_limit_of(inbox) if inbox is not None else None


# --- the sweeper -----------------------------------------------------------------------------------------------


def broadcasts_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The beat job: start scheduled broadcasts that are due, carry on with those whose wait is over, and ask
    again for the jobs of broadcasts whose preparation or feeding stalled (a worker died, the broker was down)."""
    now = now or timezone.now()
    stall = timedelta(seconds=_setting("CAMPAIGNS_STALL_SECONDS", 30))
    counts = {"started": 0, "resumed": 0, "replanned": 0, "refed": 0, "released": 0}
    for pk in Broadcast.objects.filter(status=Status.WAITING, wait_until__lte=now).values_list("pk", flat=True)[:500]:
        if Broadcast.objects.filter(pk=pk, status=Status.WAITING, wait_until__lte=now).update(
            status=Status.SENDING, wait_reason="", wait_until=None, updated_at=now
        ):
            counts["resumed"] += 1
            _enqueue("broadcast_feed", pk)
    for pk in Broadcast.objects.filter(status=Status.PLANNING, updated_at__lte=now - stall).values_list(
        "pk", flat=True
    )[:100]:
        counts["replanned"] += 1
        _enqueue("broadcast_plan", pk)
    # A recipient claimed without a message (no batch commits that; a hand edit) goes back to pending: its
    # idempotency key makes a second attempt harmless.
    counts["released"] = BroadcastRecipient.objects.filter(
        status=RStatus.SENDING, message__isnull=True, updated_at__lte=now - stall, broadcast__status__in=RUNNING
    ).update(status=RStatus.PENDING, updated_at=now)
    # Stalled: quiet for ``stall``, or quiet for a moment with no job holding its feeding key (its worker was
    # killed, or Redis restarted and lost the queued jobs).
    quiet = Broadcast.objects.filter(status=Status.SENDING, updated_at__lte=now - timedelta(seconds=HOLD_TTL))
    for pk, updated_at in quiet.values_list("pk", "updated_at")[:500]:
        if updated_at > now - stall and _feeder_alive(pk):
            continue
        if not broadcast_complete(broadcast_id=pk, now=now):
            counts["refed"] += 1
            _enqueue("broadcast_feed", pk)
    # Last: what it starts now is not taken for stalled.
    counts["started"] = broadcasts_start_due(now=now)
    return counts


# --- outcomes (subscribers of the core's events) ---------------------------------------------------------------

_RANK: dict[str, int] = {RStatus.PENDING: 0, RStatus.SENDING: 1, RStatus.SENT: 2, RStatus.DELIVERED: 3, RStatus.READ: 4}
_FROM_MESSAGE: dict[str, str] = {
    Message.Status.SENT: RStatus.SENT,
    Message.Status.DELIVERED: RStatus.DELIVERED,
    Message.Status.READ: RStatus.READ,
}


def message_statuses_apply(events: Sequence[MessageStatusChanged]) -> None:
    """A broadcast's message moved on: its recipient follows (forward only; a failure is final, and Meta's
    per-user marketing limit skips the recipient instead), and a broadcast with nothing left completes."""
    ids = {event.message_id for event in events}
    recipients = {
        r.message_id: r
        for r in BroadcastRecipient.objects.select_for_update(of=("self",))
        .select_related("message")
        .filter(message_id__in=ids)
        .order_by("pk")
    }
    if not recipients:
        return
    changed: dict[int, BroadcastRecipient] = {}
    for event in events:
        recipient = recipients.get(event.message_id)
        if recipient is None or recipient.tenant_id != event.tenant_id or recipient.status not in _RANK:
            continue
        if event.status == Message.Status.FAILED:
            if event.error_code == USER_MARKETING_LIMIT:
                recipient.status, recipient.skip_reason = RStatus.SKIPPED, Skip.USER_LIMIT
            else:
                recipient.status = RStatus.FAILED
            recipient.error_code = event.error_code
            recipient.error_title = (recipient.message.error_title if recipient.message else "")[:255]
        elif (status := _FROM_MESSAGE.get(event.status)) is not None and _RANK[status] > _RANK[recipient.status]:
            recipient.status = status
            recipient.sent_at = recipient.sent_at or (recipient.message.sent_at if recipient.message else None)
            recipient.sent_at = recipient.sent_at or event.occurred_at
        else:
            continue
        changed[recipient.pk] = recipient
    if not changed:
        return
    now = timezone.now()
    for recipient in changed.values():
        recipient.updated_at = now
    rows_update(
        BroadcastRecipient,
        list(changed.values()),
        ["status", "skip_reason", "error_code", "error_title", "sent_at", "updated_at"],
    )
    for broadcast_id in sorted({r.broadcast_id for r in changed.values()}):
        broadcast_complete(broadcast_id=broadcast_id, now=now)


def replies_record(events: Sequence[MessageReceived]) -> None:
    """A customer wrote after a broadcast reached them (within a week, in the broadcast's inbox): its
    recipient's ``replied_at`` (the first reply only)."""
    # When the customer wrote, as the channel stamped it (the event is when it was stored).
    written = dict(
        Message.objects.filter(pk__in=[event.message_id for event in events]).values_list("pk", "occurred_at")
    )
    for event in events:
        at = written.get(event.message_id, event.occurred_at)
        BroadcastRecipient.objects.filter(
            tenant_id=event.tenant_id,
            contact_id=event.contact_id,
            broadcast__inbox_id=event.inbox_id,
            replied_at__isnull=True,
            sent_at__isnull=False,
            sent_at__lte=at,
            sent_at__gt=at - REPLY_ATTRIBUTION,
        ).update(replied_at=at)
