"""Real-time events of the core (documented in docs/events.md), published after commit.

Events go to the audience groups of the visibility rule (``selectors.conversation_live_groups``)
and carry what the page shows: the list row and the message, rendered once per time zone and language
in use in the workspace (a row shows times and words), from the committed rows, so an agent's page fetches nothing
after an event unless it detects a gap. Counting changes (status, assignee, inbox) carry the state
before and after, from which each page moves its tab counts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db.models import Max
from django.template.loader import get_template
from django.utils import timezone, translation

from conversations import channels, selectors
from conversations.models import Conversation, Message, Notification
from helpdesk.realtime import LiveBatch, member_group, publish_on_commit
from tenants.languages import effective_language
from tenants.models import Membership, Tenant
from tenants.timezones import zone_or_none

logger = logging.getLogger(__name__)

WINDOW_SOON_SECONDS = 2 * 3600


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "sender_type": message.sender_type,
        "type": message.type,
        "text": message.text,
        "private": message.private,
        "status": message.status,
        "error_code": message.error_code,
        "error_title": message.error_title,
        "external_id": message.external_id,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "occurred_at": message.occurred_at.isoformat(),
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "display_id": conversation.display_id,
        "inbox_id": conversation.inbox_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "last_inbound_at": conversation.last_inbound_at.isoformat() if conversation.last_inbound_at else None,
        "last_activity_at": conversation.last_activity_at.isoformat() if conversation.last_activity_at else None,
        "waiting_since": conversation.waiting_since.isoformat() if conversation.waiting_since else None,
        "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        "muted_at": conversation.muted_at.isoformat() if conversation.muted_at else None,
        "unread_count": conversation.unread_count,
        "sla_due_at": conversation.sla_due_at.isoformat() if conversation.sla_due_at else None,
        "sla_breached_at": conversation.sla_breached_at.isoformat() if conversation.sla_breached_at else None,
    }


def row_window(conversation: Conversation, now: Any) -> dict[str, Any]:
    """The reply window as a list row and the pane show it."""
    window = channels.backend_for(conversation.inbox).reply_window(conversation.inbox)
    if window is None:
        return {"closes_at": None, "open": True, "soon": False}
    if conversation.last_inbound_at is None:  # the customer never wrote: closed, with no moment to show
        return {"closes_at": None, "open": False, "soon": False}
    closes = conversation.last_inbound_at + window
    remaining = (closes - now).total_seconds()
    return {"closes_at": closes, "open": remaining > 0, "soon": 0 < remaining <= WINDOW_SOON_SECONDS}


# --- What events carry, built once per transaction after the commit -------------------------------


# The variants of a workspace change when a member changes their zone or language: a few seconds' cache
# per process keeps that from costing two queries per event.
_VARIANTS_TTL = 5.0
_variants_cache: dict[int, tuple[float, list[tuple[str, str, str]]]] = {}


def live_variant(zone: str, language: str) -> str:
    """The key of one rendering of a live row or message: a time zone and a language (``data-variant``)."""
    return f"{zone}|{language}"


def _variants(batch: LiveBatch, tenant_id: int) -> list[tuple[str, str, str]]:
    """(key, time zone, language) of each way the workspace's members see the inbox: their own zone and
    language, else the workspace's."""

    def compute() -> list[tuple[str, str, str]]:
        now = time.monotonic()
        cached = _variants_cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        workspace = Tenant.objects.filter(pk=tenant_id).values_list("timezone", "locale").first()
        tenant_zone, tenant_language = workspace or ("", "")
        own = Membership.objects.filter(tenant_id=tenant_id, active=True).values_list(
            "user__time_zone", "user__language"
        )
        found = set()
        for zone_name, language in {*own.distinct(), ("", "")}:
            zone = zone_or_none(zone_name) or zone_or_none(tenant_zone)
            key = zone.key if zone is not None else "UTC"
            found.add((key, effective_language(user_language=language, tenant_language=tenant_language)))
        variants = [(live_variant(zone, language), zone, language) for zone, language in sorted(found)]
        if len(_variants_cache) > 10_000:
            _variants_cache.clear()
        _variants_cache[tenant_id] = (now + _VARIANTS_TTL, variants)
        return variants

    return batch.memo(("variants", tenant_id), compute)  # type: ignore[no-any-return]


def variants_cache_clear() -> None:
    _variants_cache.clear()


def _render_variants(batch: LiveBatch, tenant_id: int, template: Any, context: dict[str, Any]) -> dict[str, str]:
    html = {}
    for key, zone, language in _variants(batch, tenant_id):
        with timezone.override(zone), translation.override(language):
            html[key] = template.render(context)
    return html


def _row_snapshots(batch: LiveBatch, tenant_id: int) -> dict[int, tuple[Conversation, dict[str, Any]]]:
    """Every conversation of this transaction's events, read once and rendered as list rows."""

    def compute() -> dict[int, tuple[Conversation, dict[str, Any]]]:
        ids = sorted(
            {
                event.conversation_id
                for _t, _g, event in batch.items
                if isinstance(event, _ConversationEvent) and event.tenant_id == tenant_id
            }
        )
        rows = selectors.conversation_live_rows(tenant_id=tenant_id, ids=ids)
        now = timezone.now()  # after the read: the row shows the state as of this moment at least
        template = get_template("conversations/list_rows.html", using="jinja2")
        out = {}
        for pk, conversation in rows.items():
            window = row_window(conversation, now)
            context = {"rows": [(conversation, window)], "current_tenant": conversation.tenant, "now": now}
            html = _render_variants(batch, tenant_id, template, context)
            out[pk] = (
                conversation,
                {
                    "id": pk,
                    "display_id": conversation.display_id,
                    "status": conversation.status,
                    "inbox_id": conversation.inbox_id,
                    "assignee_id": conversation.assignee_id,
                    "team_id": conversation.team_id,
                    "labels": sorted(label.pk for label in conversation.labels.all()),
                    "waiting": conversation.waiting_since is not None,
                    "sla_due_at": conversation.sla_due_at.isoformat() if conversation.sla_due_at else None,
                    "sla_breached": conversation.sla_breached_at is not None,
                    "version": now.timestamp(),
                    "html": html,
                },
            )
        return out

    return batch.memo(("rows", tenant_id), compute)  # type: ignore[no-any-return]


def _message_view(
    batch: LiveBatch, conversation: Conversation, message_id: int, *, created: bool
) -> dict[str, Any] | None:
    """The message as the open conversation shows it, and the message that arrived just before it
    (a page whose newest message is older has missed one: it catches up)."""

    def read() -> dict[int, Message]:
        # Every message of this conversation that the transaction's events show, in one read.
        ids = [
            event.message_id
            for _t, _g, event in batch.items
            if isinstance(event, _ConversationEvent)
            and event.conversation_id == conversation.pk
            and event.message_id is not None
        ]
        found: dict[int, Message] = {}
        for start in range(0, len(ids), 200):  # the most ``message_page`` reads by id at a time
            chunk = ids[start : start + 200]
            found.update((m.pk, m) for m in selectors.message_page(conversation=conversation, ids=chunk)[0])
        return found

    message = batch.memo(("messages", conversation.pk), read).get(message_id)
    if message is None:
        return None
    previous = None
    if created:  # a changed message (status, reaction) is already shown or comes with the catch-up
        previous = (
            Message.objects.filter(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, pk__lt=message_id)
            .aggregate(previous=Max("id"))
            .get("previous")
        )
    template = get_template("conversations/message.html", using="jinja2")
    context = {
        "messages": [message],
        "previous_day": None,
        "conversation": conversation,
        "current_tenant": conversation.tenant,
        # Every member who sees the conversation gets the same bubble; a page without the
        # permission to reply removes the reply and react buttons (the server refuses them anyway).
        "can_reply": True,
        "can_retry": True,
    }
    html = _render_variants(batch, conversation.tenant_id, template, context)
    return {**message_payload(message), "previous_id": previous or 0, "html": html}


LiveState = tuple[str, int | None, int, int | None]  # status, assignee id, inbox id, team id


def _live_state(conversation: Conversation) -> LiveState:
    return (conversation.status, conversation.assignee_id, conversation.inbox_id, conversation.team_id)


def _state(status: str, assignee_id: int | None, inbox_id: int, team_id: int | None, tenant_id: int) -> dict[str, Any]:
    groups = selectors.conversation_live_groups(
        tenant_id=tenant_id, inbox_id=inbox_id, assignee_id=assignee_id, team_id=team_id
    )
    return {"open": status == Conversation.Status.OPEN, "assignee_id": assignee_id, "groups": groups}


class _ConversationEvent:
    """An event about one conversation, built after the commit from the committed row."""

    def __init__(
        self,
        event_type: str,
        conversation: Conversation,
        *,
        message_id: int | None = None,
        before: LiveState | None = None,
        counts: bool = False,
    ) -> None:
        self.event_type = event_type
        self.tenant_id = conversation.tenant_id
        self.conversation_id = conversation.pk
        self.display_id = conversation.display_id
        self.message_id = message_id
        self.before = before
        self.counts = counts
        self.state = _live_state(conversation)

    def __call__(self, batch: LiveBatch) -> tuple[Any, ...] | None:
        snapshot = _row_snapshots(batch, self.tenant_id).get(self.conversation_id)
        if snapshot is None:
            return None  # deleted meanwhile (e.g. erased)
        conversation, row = snapshot
        groups = selectors.conversation_live_groups(
            tenant_id=self.tenant_id,
            inbox_id=conversation.inbox_id,
            assignee_id=conversation.assignee_id,
            team_id=conversation.team_id,
        )
        event: dict[str, Any] = {
            "type": self.event_type,
            "conversation": {"id": self.conversation_id, "display_id": self.display_id},
        }
        if batch.first(("row", self.conversation_id)):
            event["row"] = row
        else:
            # An earlier event of this transaction, to the same groups, carried this very row.
            event["row_sent"] = True
        view = None
        if self.message_id is not None:
            view = _message_view(batch, conversation, self.message_id, created=self.event_type == "message.created")
            if view is None:
                return None
            event["message"] = {k: v for k, v in view.items() if k != "html"}
        if self.event_type == "conversation.updated":
            event["conversation"] = conversation_payload(conversation)
        if self.counts:
            after = _state(*self.state, self.tenant_id)
            event["counts"] = {
                "before": _state(*self.before, self.tenant_id) if self.before is not None else None,
                "after": after,
            }
        if view is None:
            return groups, event, []
        # The bubble only to the sockets with the conversation open: the others show the row alone.
        return groups, event, [], (str(self.conversation_id), {**event, "message": view})


class _HiddenEvent:
    """To the groups that saw the conversation before a change and no longer do."""

    def __init__(self, conversation: Conversation, before: LiveState) -> None:
        self.tenant_id = conversation.tenant_id
        self.conversation_id = conversation.pk
        self.display_id = conversation.display_id
        self.before = before
        self.after = _live_state(conversation)

    def __call__(self, batch: LiveBatch) -> tuple[list[str], dict[str, Any], list[str]] | None:
        before = _state(*self.before, self.tenant_id)
        after = _state(*self.after, self.tenant_id)
        lost = [g for g in before["groups"] if g not in after["groups"]]
        if not lost:
            return None
        event = {
            "type": "conversation.hidden",
            "conversation": {"id": self.conversation_id, "display_id": self.display_id},
            "counts": {"before": before, "after": None},
            "version": timezone.now().timestamp(),
        }
        # A member in a lost group and in a group that still sees it (e.g. the new assignee, who also
        # saw it unassigned) keeps it: their socket ignores this event.
        return lost, event, after["groups"]


def _before(conversation: Conversation) -> LiveState | None:
    return getattr(conversation, "live_before", None)


def _settle(conversation: Conversation) -> None:
    # The next event of this transaction compares against the state just published.
    conversation.live_before = _live_state(conversation)


def publish_message_event(event_type: str, message: Message) -> None:
    """A message was created or changed (status, reaction, text): its bubble and its conversation's row."""
    conversation = message.conversation
    publish_on_commit(
        tenant_id=message.tenant_id, event=_ConversationEvent(event_type, conversation, message_id=message.pk)
    )


def publish_conversation_updated(conversation: Conversation, *, new: bool = False) -> None:
    """The conversation changed: its row, its header, and (status, assignee, inbox) the tab counts and
    who sees it. ``new``: it did not exist before this transaction."""
    before = None if new else _before(conversation)
    after = _live_state(conversation)
    counts = new or (before is not None and before != after)
    publish_on_commit(
        tenant_id=conversation.tenant_id,
        event=_ConversationEvent("conversation.updated", conversation, before=before, counts=counts),
    )
    if before is not None and before[1:] != after[1:]:
        publish_on_commit(tenant_id=conversation.tenant_id, event=_HiddenEvent(conversation, before))
    _settle(conversation)


def publish_notification(notification: Notification) -> None:
    conversation = notification.conversation
    publish_on_commit(
        tenant_id=notification.tenant_id,
        groups=[member_group(notification.tenant_id, notification.user_id)],
        event={
            "type": "notification.created",
            "notification": {
                "id": notification.pk,
                "kind": notification.kind,
                "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
                "message_id": notification.message_id,
                "actor": notification.actor.display_name if notification.actor else notification.actor_label,
            },
        },
    )
