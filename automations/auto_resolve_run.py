"""The auto-resolve job (a beat task, every few minutes): in each workspace, the open conversations of the
inboxes that have auto-resolve on whose customer has been quiet long enough are resolved by the automation,
each once.

- **Due**: open (never pending, snoozed or resolved), and the conversation's last message (``last_activity_at``:
  the customer's, or the business's answer they have not taken up) at least the inbox's hours ago; one whose
  last message is the customer's (``waiting_since`` set: waiting for an agent) only where the inbox says so.
  A customer who writes again moves ``last_activity_at``, so the hours count from there. Found with one query
  per workspace on the index ``(tenant, status, last_activity_at, id)``, in keyset batches.
- **Once**: each conversation is locked (``FOR NO KEY UPDATE SKIP LOCKED``), checked again, and claimed by an
  ``AutoResolution`` unique per conversation and last activity before anything is sent: two jobs at once never
  send two closing messages. A conversation a person reopens without a message since is left alone.
- **What it does**, as ``AutomationActor(kind="auto_resolve")`` through the core's services, each a line in the
  history naming it: the closing message in the contact's language (inside the reply window only; outside it
  nothing is sent and a line says so), the label, then the resolve.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import groupby

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations.auto_resolve import closing_key, closing_messages, due_filter
from automations.models import AutoResolution, AutoResolveSettings
from conversations.actors import AutomationActor, actor_display_name
from conversations.customer_texts import customer_text_pick
from conversations.models import Conversation, ConversationLabel, Message
from conversations.services.actions import (
    conversation_activity_record,
    conversation_labels_change,
    conversation_status_set,
)
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send, reply_window_closes_at
from conversations.services.variables import text_fill, text_variables
from helpdesk.exceptions import ApplicationError
from tenants.models import Tenant

logger = logging.getLogger(__name__)

KIND = "auto_resolve"
BATCH = 200
# A workspace's share of one run; the rest waits for the next run, so one backlog does not hold up the others.
PER_WORKSPACE = 1000
# A run stops taking new conversations after this long (the task's time limit is 300 s).
RUN_SECONDS = 150.0

Closing = AutoResolution.Closing


def automation_actor(settings: AutoResolveSettings) -> AutomationActor:
    """The automation as it acts and is named (in the active language, the workspace's during a run)."""
    return AutomationActor(tenant_id=settings.tenant_id, automation_id=settings.pk, name=_("Auto-resolve"), kind=KIND)


def conversations_auto_resolve(
    *, now: datetime | None = None, batch: int = BATCH, per_workspace: int = PER_WORKSPACE
) -> dict[str, int]:
    """Resolve every due conversation of every workspace (up to ``per_workspace`` each). Returns how many
    were resolved and what became of their closing messages."""
    now = now or timezone.now()
    deadline = time.monotonic() + RUN_SECONDS
    totals: Counter[str] = Counter()
    enabled = (
        AutoResolveSettings.objects.filter(enabled=True, tenant__active=True)
        .select_related("tenant", "label")
        .order_by("tenant_id", "inbox_id")
    )
    for _tenant_id, rows in groupby(enabled, key=lambda row: row.tenant_id):
        settings = list(rows)
        tenant = settings[0].tenant
        # History lines and the automation's name are written once, in the workspace's language.
        with translation.override(tenant.locale), timezone.override(tenant.timezone):
            totals += _workspace_run(tenant, settings, now=now, batch=batch, limit=per_workspace, deadline=deadline)
        if time.monotonic() > deadline:
            break
    return {key: totals[key] for key in ("resolved", *Closing.values)}


def _workspace_run(
    tenant: Tenant, settings: list[AutoResolveSettings], *, now: datetime, batch: int, limit: int, deadline: float
) -> Counter[str]:
    by_inbox = {row.inbox_id: row for row in settings}
    with_closing = set(closing_messages(tenant_id=tenant.pk, inbox_ids=list(by_inbox)))
    due = Q()
    for row in settings:
        due |= due_filter(row, now=now)
    # Resolved already, and nothing said since (a person reopened it): not this automation's to resolve again.
    resolved_since = AutoResolution.objects.filter(
        conversation_id=OuterRef("pk"), resolved_at__gte=OuterRef("last_activity_at")
    )
    # The shortest wait bounds them all: the index range that holds every inbox's due conversations.
    latest = now - timedelta(hours=min(row.after_hours for row in settings))
    candidates = (
        Conversation.objects.filter(tenant_id=tenant.pk, status=Conversation.Status.OPEN, last_activity_at__lte=latest)
        .filter(due)
        .exclude(Exists(resolved_since))
        .order_by("last_activity_at", "id")
    )
    done: Counter[str] = Counter()
    after: tuple[datetime, int] | None = None
    seen = 0
    while seen < limit and time.monotonic() < deadline:
        page = candidates
        if after is not None:
            page = page.filter(Q(last_activity_at__gt=after[0]) | Q(last_activity_at=after[0], id__gt=after[1]))
        rows = list(page.values_list("pk", "inbox_id", "last_activity_at")[: min(batch, limit - seen)])
        for pk, inbox_id, _activity in rows:
            row = by_inbox[inbox_id]
            try:
                outcome = _resolve_one(tenant, row, pk, now=now, has_closing=inbox_id in with_closing)
            except ApplicationError as exc:
                # Refused by a core service (e.g. the channel refused the message): left open, tried next run.
                logger.warning("Auto-resolve of conversation %s refused: %s", pk, exc.message)
                outcome = None
            if outcome is not None:
                done["resolved"] += 1
                done[outcome] += 1
        seen += len(rows)
        if len(rows) < batch:
            break
        after = (rows[-1][2], rows[-1][0])
    return done


def _resolve_one(
    tenant: Tenant, settings: AutoResolveSettings, pk: int, *, now: datetime, has_closing: bool
) -> str | None:
    """Resolve one conversation if it is still due and no other job has it; returns what became of its
    closing message, or None when it was left (taken by another job, no longer due, resolved already)."""
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("contact", "inbox")
            .filter(Q(pk=pk, tenant_id=tenant.pk, status=Conversation.Status.OPEN) & due_filter(settings, now=now))
            .first()
        )
        if conversation is None:
            return None
        conversation.tenant = tenant
        try:
            with transaction.atomic():
                record = AutoResolution.objects.create(
                    tenant_id=tenant.pk,
                    conversation=conversation,
                    inbox_id=conversation.inbox_id,
                    activity_at=conversation.last_activity_at,
                    resolved_at=now,
                    closing=Closing.NONE,
                )
        except IntegrityError:
            return None  # resolved for this silence already
        actor = automation_actor(settings)
        closing, message = _closing_send(actor, tenant, conversation, record, now=now, has_closing=has_closing)
        label_added = False
        if settings.label is not None:
            label_added = not ConversationLabel.objects.filter(conversation=conversation, label=settings.label).exists()
            conversation_labels_change(actor=actor, conversation=conversation, add=[settings.label])
        conversation_status_set(actor=actor, conversation=conversation, status=Conversation.Status.RESOLVED)
        record.closing = closing
        record.closing_message = message
        record.label_added = label_added
        record.resolved_at = max(now, timezone.now())
        record.save(update_fields=["closing", "closing_message", "label_added", "resolved_at", "updated_at"])
    return closing


def _closing_send(
    actor: AutomationActor,
    tenant: Tenant,
    conversation: Conversation,
    record: AutoResolution,
    *,
    now: datetime,
    has_closing: bool,
) -> tuple[str, Message | None]:
    """The closing message in the contact's language, inside the reply window only."""
    if not has_closing:
        return Closing.NONE, None
    choice = customer_text_pick(tenant=tenant, key=closing_key(conversation.inbox_id), contact=conversation.contact)
    if choice is None:
        return Closing.NONE, None
    closes_at = reply_window_closes_at(conversation)
    if closes_at is None or now < closes_at:
        text = text_fill(choice.body, text_variables(conversation=conversation, workspace=tenant))
        try:
            message, _created = message_send(
                actor=actor,
                conversation=conversation,
                spec=OutboundSpec(type=Message.Type.TEXT, text=text),
                # The claim above makes this once already; the key keeps a replayed run from sending again.
                idempotency_key=f"auto-resolve-{conversation.pk}-{record.activity_at.timestamp():.6f}",
            )
        except ReplyWindowClosed:
            pass  # it closed between the look and the send
        else:
            return Closing.SENT, message
    conversation_activity_record(
        actor=actor,
        conversation=conversation,
        text=_("No closing message sent by %(actor)s: the customer's reply window is closed.")
        % {"actor": actor_display_name(actor)},
    )
    return Closing.WINDOW_CLOSED, None
