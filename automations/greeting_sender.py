"""Greeting and away messages, sent when a customer writes (a subscriber to the core's ``MessageReceived``).

For each customer message of an inbox whose greeting or away message is on:

- **Greeting**: on the customer's first message ever in the inbox, or (if so set) on their first message
  after N days in which no message went either way. Once per customer and inbox (first ever), or once
  per such silence.
- **Away message**: when the inbox's business hours are closed at the moment the customer wrote and
  still closed now; at most once per conversation every N hours; never while an agent (a person, not an
  automation or an integration) replied in the conversation within the last M minutes.
- Both due for the same message (a first message outside hours): the greeting, then the away message,
  as the customer of a helpdesk expects (hello, then when someone will answer).

Each is written in the contact's language (``customer_text_pick``), with the inbox's file for it if it has
one (the wording as its caption, ``automations.greeting_media``), sent through the core as the
automation (``kind`` "greeting" or "away"), only inside the reply window (a closed window sends nothing),
and followed by a line in the history naming the automation. An ``AutomatedMessage`` row, unique per
customer message and kind, is written in the same transaction as the message it queues: a job run again
or an event delivered twice sends nothing more. A refusal of the core (the window closed meanwhile, the
channel refused the content) is logged and sends nothing; anything else fails the job, which the event
delivery retries, and never reaches the webhook's ingest, which committed before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from automations import business_hours
from automations.business_hours import Calendar
from automations.greeting_media import media_kind, media_upload
from automations.greeting_services import text_key
from automations.greeting_texts import body_render, contact_values, next_open_phrase
from automations.models import AutomatedMessage, BusinessCalendar, GreetingSettings
from automations.selectors import Calendars
from conversations import events
from conversations.actors import AutomationActor, actor_display_name
from conversations.customer_texts import customer_text_pick
from conversations.events import by_conversation
from conversations.models import ContactInbox, Conversation, Message
from conversations.services.actions import conversation_activity_record
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send
from helpdesk.exceptions import ApplicationError

logger = logging.getLogger(__name__)

SUBSCRIBER = "automations.greeting"
Kind = AutomatedMessage.Kind


@dataclass(frozen=True)
class _Closed:
    """The business hours that were closed when the customer wrote, and when they next open."""

    record: BusinessCalendar
    calendar: Calendar
    opens: datetime | None


def messages_received(received: Sequence[events.MessageReceived]) -> None:
    """A delivery job's customer messages (``events.subscribe_many``): which of them may call for a greeting
    or an away message is read for all of them at once (a few statements per batch); only those go through
    ``greetings_send``, one by one, in order. Most messages are a conversation's later ones, settled here."""
    calendars = Calendars()
    settings_of, maybe = _candidates(received, calendars, timezone.now())
    for event in by_conversation(received):
        if event.message_id in maybe:
            greetings_send(
                tenant_id=event.tenant_id,
                inbox_id=event.inbox_id,
                message_id=event.message_id,
                settings=settings_of[event.inbox_id],
                calendars=calendars,
            )


def _candidates(
    received: Sequence[events.MessageReceived], calendars: Calendars, now: datetime
) -> tuple[dict[int, GreetingSettings], set[int]]:
    """The inboxes' settings, and the messages that may call for something. Only ever too many: what the
    batch sends makes the later messages' greeting and away message less due, never more, and each
    candidate is checked again exactly by ``greetings_send``."""
    tenant_of = {event.inbox_id: event.tenant_id for event in received}
    settings_of = {
        s.inbox_id: s
        for s in GreetingSettings.objects.filter(inbox_id__in=tenant_of).filter(
            Q(greeting_enabled=True) | Q(away_enabled=True)
        )
        if tenant_of.get(s.inbox_id) == s.tenant_id
    }
    wanted = {e.message_id: e for e in received if e.inbox_id in settings_of}
    if not wanted:
        return settings_of, set()
    rows = list(
        Message.objects.filter(pk__in=wanted, direction=Message.Direction.INBOUND)
        .exclude(conversation__status=Conversation.Status.RESOLVED)
        .values_list("pk", "tenant_id", "occurred_at", "conversation_id", "conversation__contact_inbox_id")
    )
    rows = [r for r in rows if r[1] == wanted[r[0]].tenant_id]
    done = set(
        AutomatedMessage.objects.filter(trigger_message_id__in=[r[0] for r in rows]).values_list(
            "trigger_message_id", flat=True
        )
    )
    rows = [r for r in rows if r[0] not in done]
    if not rows:
        return settings_of, set()
    contact_inboxes = {r[4] for r in rows}
    conversations = {r[3] for r in rows}
    first_ever = [
        s for s in settings_of.values() if s.greeting_enabled and s.greeting_when == GreetingSettings.When.FIRST_EVER
    ]
    greeted: set[int] = set()
    first_inbound: dict[int, datetime] = {}
    if first_ever:
        greeted = set(
            AutomatedMessage.objects.filter(contact_inbox_id__in=contact_inboxes, kind=Kind.GREETING).values_list(
                "contact_inbox_id", flat=True
            )
        )
        first_inbound = dict(
            Message.objects.filter(
                conversation__contact_inbox_id__in=contact_inboxes - greeted, direction=Message.Direction.INBOUND
            )
            .values("conversation__contact_inbox_id")
            .annotate(first=Min("occurred_at"))
            .values_list("conversation__contact_inbox_id", "first")
        )
    away_on = [s for s in settings_of.values() if s.away_enabled]
    last_away: dict[int, datetime] = {}
    last_agent: dict[int, datetime] = {}
    if away_on:
        last_away = dict(
            AutomatedMessage.objects.filter(conversation_id__in=conversations, kind=Kind.AWAY)
            .values("conversation_id")
            .annotate(last=Max("created_at"))
            .values_list("conversation_id", "last")
        )
        if any(s.away_agent_quiet_minutes for s in away_on):
            last_agent = dict(
                Message.objects.filter(
                    conversation_id__in=conversations,
                    direction=Message.Direction.OUTBOUND,
                    sender_type=Message.SenderType.AGENT,
                    private=False,
                )
                .exclude(type=Message.Type.SYSTEM)
                .values("conversation_id")
                .annotate(last=Max("created_at"))
                .values_list("conversation_id", "last")
            )
    maybe = set()
    for pk, tenant_id, occurred_at, conversation_id, contact_inbox_id in rows:
        settings = settings_of[wanted[pk].inbox_id]
        greeting = settings.greeting_enabled and (
            settings.greeting_when != GreetingSettings.When.FIRST_EVER
            or (contact_inbox_id not in greeted and occurred_at <= first_inbound.get(contact_inbox_id, occurred_at))
        )
        away = (
            settings.away_enabled
            and not (
                conversation_id in last_away
                and last_away[conversation_id] > now - timedelta(hours=settings.away_every_hours)
            )
            and not (
                settings.away_agent_quiet_minutes
                and conversation_id in last_agent
                and last_agent[conversation_id] >= now - timedelta(minutes=settings.away_agent_quiet_minutes)
            )
            and _closed(calendars, tenant_id, settings.inbox_id, occurred_at, now)
        )
        if greeting or away:
            maybe.add(pk)
    return settings_of, maybe


def _closed(calendars: Calendars, tenant_id: int, inbox_id: int, occurred_at: datetime, now: datetime) -> bool:
    loaded = calendars.of_inbox(tenant_id=tenant_id, inbox_id=inbox_id)
    if loaded is None:
        return False
    calendar = loaded[1]
    return not business_hours.is_open(calendar, occurred_at) and not business_hours.is_open(calendar, now)


def greetings_send(
    *,
    tenant_id: int,
    inbox_id: int,
    message_id: int,
    settings: GreetingSettings | None = None,
    calendars: Calendars | None = None,
) -> list[Message]:
    """Send what the customer's message calls for; returns the messages queued (none, one or both)."""
    if settings is None:
        settings = (
            GreetingSettings.objects.filter(tenant_id=tenant_id, inbox_id=inbox_id)
            .filter(Q(greeting_enabled=True) | Q(away_enabled=True))
            .first()
        )
    if settings is None:
        return []
    calendars = calendars or Calendars()
    trigger = (
        Message.objects.select_related(
            "conversation__contact", "conversation__inbox", "conversation__tenant", "conversation__contact_inbox"
        )
        .filter(tenant_id=tenant_id, pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if trigger is None or trigger.conversation.status == Conversation.Status.RESOLVED:
        return []
    conversation = trigger.conversation
    # One decision at a time per customer and inbox: two of their messages handled at once (webhooks out of
    # order, a job run twice) see each other's sends. Ingest never updates this row, so it never waits.
    ContactInbox.objects.select_for_update(no_key=True).filter(pk=conversation.contact_inbox_id).first()
    if AutomatedMessage.objects.filter(tenant_id=tenant_id, trigger_message=trigger).exists():
        return []
    now = timezone.now()
    due: list[tuple[str, _Closed | None]] = []
    if settings.greeting_enabled and _greeting_due(settings, trigger):
        due.append((Kind.GREETING, None))
    if settings.away_enabled and (closed := _away_due(settings, trigger, now, calendars)) is not None:
        due.append((Kind.AWAY, closed))
    sent = []
    for kind, closed in due:
        try:
            message = _send(settings, trigger, kind, closed, now)
        except ReplyWindowClosed:
            logger.info("No %s for message %s: the customer's reply window is closed", kind, trigger.pk)
            break
        except ApplicationError as exc:
            logger.warning("The %s for message %s was not sent: %s (%s)", kind, trigger.pk, exc.message, exc.code)
            continue
        if message is not None:
            sent.append(message)
    return sent


def _greeting_due(settings: GreetingSettings, trigger: Message) -> bool:
    conversation = trigger.conversation
    before = Q(occurred_at__lt=trigger.occurred_at) | Q(occurred_at=trigger.occurred_at, pk__lt=trigger.pk)
    earlier = Message.objects.filter(
        before, tenant_id=trigger.tenant_id, conversation__contact_inbox_id=conversation.contact_inbox_id
    ).exclude(pk=trigger.pk)
    greeted = AutomatedMessage.objects.filter(
        tenant_id=trigger.tenant_id, contact_inbox_id=conversation.contact_inbox_id, kind=Kind.GREETING
    )
    if settings.greeting_when == GreetingSettings.When.FIRST_EVER:
        return not earlier.filter(direction=Message.Direction.INBOUND).exists() and not greeted.exists()
    since = trigger.occurred_at - timedelta(days=settings.greeting_after_days)
    # Contact is any message that went either way: not the team's notes and lines, not a send that failed.
    contact = (
        earlier.filter(occurred_at__gte=since, private=False)
        .exclude(type=Message.Type.SYSTEM)
        .exclude(status=Message.Status.FAILED)
    )
    # A greeting sent meanwhile for a later message (webhooks out of order) is this silence's greeting.
    return not contact.exists() and not greeted.filter(created_at__gte=since).exists()


def _away_due(settings: GreetingSettings, trigger: Message, now: datetime, calendars: Calendars) -> _Closed | None:
    # The cheap checks first: most of a conversation's messages had their away message a while ago, and
    # those need no calendar read.
    conversation_id = trigger.conversation_id
    if AutomatedMessage.objects.filter(
        tenant_id=trigger.tenant_id,
        conversation_id=conversation_id,
        kind=Kind.AWAY,
        created_at__gt=now - timedelta(hours=settings.away_every_hours),
    ).exists():
        return None
    if settings.away_agent_quiet_minutes and (
        Message.objects.filter(
            tenant_id=trigger.tenant_id,
            conversation_id=conversation_id,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.SenderType.AGENT,
            private=False,
            created_at__gte=now - timedelta(minutes=settings.away_agent_quiet_minutes),
        )
        .exclude(type=Message.Type.SYSTEM)
        .exists()
    ):
        return None
    loaded = calendars.of_inbox(tenant_id=trigger.tenant_id, inbox_id=trigger.conversation.inbox_id)
    if loaded is None:
        return None
    record, calendar = loaded
    # Closed when the customer wrote, and still closed now (a job that ran late tells no stale hours).
    if business_hours.is_open(calendar, trigger.occurred_at) or business_hours.is_open(calendar, now):
        return None
    return _Closed(record=record, calendar=calendar, opens=business_hours.next_open(calendar, now))


def _automation_name(kind: str) -> str:
    return _("Greeting") if kind == Kind.GREETING else _("Away message")


def _history_line(settings: GreetingSettings, actor: AutomationActor, kind: str, closed: _Closed | None) -> str:
    who = actor_display_name(actor)
    if kind == Kind.GREETING:
        if settings.greeting_when == GreetingSettings.When.FIRST_EVER:
            return _("Greeting sent by %(actor)s: the customer's first message.") % {"actor": who}
        days = settings.greeting_after_days
        return ngettext(
            "Greeting sent by %(actor)s: the first message after %(days)s day without contact.",
            "Greeting sent by %(actor)s: the first message after %(days)s days without contact.",
            days,
        ) % {"actor": who, "days": days}
    assert closed is not None
    if closed.opens is None:
        return _("Away message sent by %(actor)s: outside the business hours “%(calendar)s”.") % {
            "actor": who,
            "calendar": closed.record.name,
        }
    opens = next_open_phrase(
        closed.opens, now=timezone.now(), zone=closed.calendar.zone, language=translation.get_language() or ""
    )
    return _("Away message sent by %(actor)s: outside the business hours “%(calendar)s”, open again %(when)s.") % {
        "actor": who,
        "calendar": closed.record.name,
        "when": opens,
    }


def _spec(settings: GreetingSettings, kind: str, body: str) -> OutboundSpec:
    """The wording alone, or the message's file with the wording as its caption."""
    upload = media_upload(settings, kind)
    if upload is None:
        return OutboundSpec(type=Message.Type.TEXT, text=body)
    return OutboundSpec(type=media_kind(upload.name or ""), text=body, upload=upload)


def _send(
    settings: GreetingSettings, trigger: Message, kind: str, closed: _Closed | None, now: datetime
) -> Message | None:
    conversation = trigger.conversation
    tenant = conversation.tenant
    choice = customer_text_pick(tenant=tenant, key=text_key(kind, conversation.inbox_id), contact=conversation.contact)
    if choice is None:
        logger.info("No %s for message %s: the inbox has no wording for it", kind, trigger.pk)
        return None
    values = {
        **contact_values(conversation.contact),
        "inbox.name": conversation.inbox.name,
        "next_open": ""
        if closed is None
        else next_open_phrase(closed.opens, now=now, zone=closed.calendar.zone, language=choice.language),
    }
    body = body_render(choice.body, values)
    if not body:
        logger.info("No %s for message %s: its wording is empty once filled in", kind, trigger.pk)
        return None
    # The automation's name and its line in the history are the team's: in the workspace's language.
    with translation.override(tenant.locale):
        actor = AutomationActor(
            tenant_id=tenant.pk, automation_id=settings.pk, name=_automation_name(kind), kind=str(kind)
        )
        line = _history_line(settings, actor, kind, closed)
    try:
        with transaction.atomic():
            message, created = message_send(
                actor=actor,
                conversation=conversation,
                spec=_spec(settings, kind, body),
                idempotency_key=f"automation-{kind}-{trigger.pk}",
            )
            if not created:
                return None  # sent by an earlier run of this job
            AutomatedMessage.objects.create(
                tenant_id=tenant.pk,
                kind=kind,
                inbox_id=conversation.inbox_id,
                contact_inbox_id=conversation.contact_inbox_id,
                conversation=conversation,
                trigger_message=trigger,
                message=message,
                language=choice.language,
            )
            conversation_activity_record(actor=actor, conversation=conversation, text=line)
    except IntegrityError:
        logger.info("The %s for message %s was sent by another job", kind, trigger.pk)
        return None
    return message
