"""Unread counts, "waiting since" and the list preview; private notes and the mentions they notify."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations import channels
from conversations.models import Conversation, Message, Notification
from conversations.selectors import ConversationFilters, audience_cache_clear, conversation_inbox_page
from conversations.services.actions import conversation_assign, conversation_status_set
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send, note_create
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import Membership
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import captured_events, make_inbox, make_role, of_type
from tests.factories import add_member, make_user, owner_of
from whatsapp.services import channel_create

pytestmark = pytest.mark.django_db

_customers = itertools.count(1)


@dataclass
class Scene:
    owner: Membership
    ana: Membership  # agent in the inbox
    bia: Membership  # agent in the inbox
    caio: Membership  # agent of another inbox
    inbox: object


@pytest.fixture
def scene(tenant) -> Scene:
    owner = owner_of(tenant)
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    bia = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bia"))
    caio = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Caio"))
    channel = channel_create(
        actor=owner,
        name="Suporte",
        display_phone_number="+55 11 90000-0001",
        phone_number_id="106540352242922",
        waba_id="102290129340398",
        access_token="test-access-token",
        app_secret="test-app-secret",
        verify=False,
    )
    channel.inbox.members.set([ana.user_id, bia.user_id])
    make_inbox(tenant, members=[caio])
    audience_cache_clear()
    return Scene(owner, ana, bia, caio, channel.inbox)


def _receive(inbox, external_id: str, *, minutes_ago: float, text: str = "Oi") -> tuple[Message, bool]:
    return message_receive(
        inbox=inbox,
        spec=InboundSpec(
            source_id="5511987654321",
            external_id=external_id,
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text=text,
            profile_name="Cliente",
        ),
    )


def _counters(conversation: Conversation) -> tuple:
    conversation.refresh_from_db()
    return (conversation.unread_count, conversation.waiting_since, conversation.last_message_id)


# --- counters -----------------------------------------------------------------------------------


def test_inbound_counts_unread_and_keeps_the_oldest_waiting_time(scene):
    first, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    with captured_events() as events:
        second, _created = _receive(scene.inbox, "wamid.2", minutes_ago=5)
    conversation = second.conversation
    assert conversation.pk == first.conversation_id
    assert _counters(conversation) == (2, first.external_timestamp, second.pk)
    assert conversation.last_inbound_at == second.external_timestamp
    assert conversation.last_activity_at >= second.created_at
    audience = sorted([scene.owner.user_id, scene.ana.user_id, scene.bia.user_id])
    # A message to an open conversation is one event: the inbox re-reads the row on message.created.
    assert [(users, e["type"]) for _t, users, e in events] == [(audience, "message.created")]
    [(_users, created)] = of_type(events, "message.created")
    assert created["conversation"] == {"id": conversation.pk, "display_id": conversation.display_id}


def test_a_duplicate_inbound_message_counts_once(scene):
    message, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    with captured_events() as events:
        again, created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    assert (created, again.pk) == (False, message.pk)
    assert _counters(message.conversation) == (1, message.external_timestamp, message.pk)
    assert events == []


def test_an_older_message_delivered_late_moves_waiting_since_back(scene):
    newer, _created = _receive(scene.inbox, "wamid.newer", minutes_ago=5)
    older, _created = _receive(scene.inbox, "wamid.older", minutes_ago=10)
    assert _counters(newer.conversation)[1] == older.external_timestamp


def test_a_reply_clears_waiting_and_unread_and_becomes_the_preview(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    _receive(scene.inbox, "wamid.2", minutes_ago=9)
    conversation = inbound.conversation
    conversation.refresh_from_db()
    with captured_events() as events:
        reply, created = message_send(
            actor=scene.ana, conversation=conversation, spec=OutboundSpec(type="text", text="Olá! Como ajudo?")
        )
    assert created
    assert _counters(conversation) == (0, None, reply.pk)
    assert conversation.last_activity_at >= reply.created_at
    audience = sorted([scene.owner.user_id, scene.ana.user_id, scene.bia.user_id])
    assert [(users, e["type"]) for _t, users, e in events] == [
        (audience, "message.created"),
        (audience, "conversation.updated"),
    ]
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert (updated["conversation"]["unread_count"], updated["conversation"]["waiting_since"]) == (0, None)

    # The customer writes again: the wait starts over from that message.
    again, _created = _receive(scene.inbox, "wamid.3", minutes_ago=0)
    assert _counters(conversation) == (1, again.external_timestamp, again.pk)


def _reply(scene, conversation: Conversation, text: str = "Olá!") -> Message:
    conversation.refresh_from_db()
    reply, _created = message_send(
        actor=scene.ana, conversation=conversation, spec=OutboundSpec(type="text", text=text)
    )
    return reply


def test_a_message_stamped_a_year_ago_delivered_after_the_reply_waits_from_the_reply(scene):
    first, _created = _receive(scene.inbox, "wamid.1", minutes_ago=30)
    conversation = first.conversation
    _reply(scene, conversation)
    conversation.refresh_from_db()
    replied_at = conversation.last_reply_at
    assert replied_at is not None and conversation.waiting_since is None

    late, _created = _receive(scene.inbox, "wamid.late", minutes_ago=378 * 24 * 60)
    conversation.refresh_from_db()
    assert late.external_timestamp < replied_at
    assert (conversation.unread_count, conversation.waiting_since) == (1, replied_at)
    # The copy the real-time events describe says the same.
    assert late.conversation.waiting_since == replied_at


def test_a_message_stamped_after_the_reply_waits_from_its_own_time(scene):
    first, _created = _receive(scene.inbox, "wamid.1", minutes_ago=30)
    _reply(scene, first.conversation)
    again, _created = _receive(scene.inbox, "wamid.2", minutes_ago=0)  # stamped after the reply
    assert _counters(first.conversation)[:2] == (1, again.external_timestamp)


def test_a_late_old_message_does_not_move_its_conversation_to_the_top_of_longest_waiting(scene):
    waiting = message_receive(
        inbox=scene.inbox,
        spec=InboundSpec(
            source_id="5511900000099",
            external_id="wamid.other",
            occurred_at=timezone.now() - timedelta(hours=2),
            type="text",
            text="Alguém?",
        ),
    )[0].conversation
    first, _created = _receive(scene.inbox, "wamid.1", minutes_ago=30)
    replied = first.conversation
    _reply(scene, replied)
    _receive(scene.inbox, "wamid.late", minutes_ago=378 * 24 * 60)

    rows, _cursor = conversation_inbox_page(membership=scene.owner, filters=ConversationFilters(sort="waiting"))
    assert [c.pk for c in rows] == [waiting.pk, replied.pk]


def test_a_late_old_message_after_a_resolve_opens_a_conversation_waiting_from_the_last_reply(scene):
    first, _created = _receive(scene.inbox, "wamid.1", minutes_ago=30)
    resolved = first.conversation
    _reply(scene, resolved)
    conversation_status_set(actor=scene.ana, conversation=resolved, status=Conversation.Status.RESOLVED)
    resolved.refresh_from_db()

    late, _created = _receive(scene.inbox, "wamid.late", minutes_ago=378 * 24 * 60)
    opened = late.conversation
    opened.refresh_from_db()
    assert opened.pk != resolved.pk
    assert (opened.last_reply_at, opened.waiting_since) == (resolved.last_reply_at, resolved.last_reply_at)
    assert late.conversation.waiting_since == resolved.last_reply_at  # the copy the events describe
    # A customer's first message in this inbox has no reply before it: it waits from its own time.
    newcomer = message_receive(
        inbox=scene.inbox,
        spec=InboundSpec(
            source_id="5511900000088",
            external_id="wamid.new",
            occurred_at=timezone.now() - timedelta(days=2),
            type="text",
        ),
    )[0]
    newcomer.conversation.refresh_from_db()
    assert newcomer.conversation.waiting_since == newcomer.occurred_at


# Offsets of a customer's timestamp from its arrival, in seconds: late by up to a year, or a little ahead.
_STAMPED = st.integers(min_value=-400 * 86400, max_value=120)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
@given(data=st.data())
def test_waiting_since_is_the_oldest_unanswered_message_never_before_the_last_reply(scene, data):
    """Customer messages (delivered on time, late with an old timestamp, or stamped a little ahead of our
    clock) and replies, in any order: waiting since is the earliest of the messages that arrived after the
    last reply, each counted from its own time but no earlier than that reply and no later than its arrival."""
    steps = data.draw(
        st.lists(st.one_of(st.tuples(st.just("in"), _STAMPED), st.just(("reply", 0))), max_size=10), label="steps"
    )
    gaps = data.draw(st.lists(st.integers(1, 3600), min_size=len(steps) + 1, max_size=len(steps) + 1), label="gaps")
    source_id = f"55119{next(_customers):08d}"
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    last_reply = None
    unanswered: list[datetime] = []
    conversation = None
    with patch("django.utils.timezone.now", lambda: clock[0]):
        # The first message comes on time, so the reply window stays open for the replies.
        for n, (kind, offset) in enumerate([("in", 0), *steps]):
            clock[0] += timedelta(seconds=gaps[n])
            now = clock[0]
            if kind == "reply":
                assert conversation is not None
                _reply(scene, conversation)
                last_reply, unanswered = now, []
            else:
                stamped = now + timedelta(seconds=offset)
                message, created = message_receive(
                    inbox=scene.inbox,
                    spec=InboundSpec(
                        source_id=source_id, external_id=f"wamid.{source_id}.{n}", occurred_at=stamped, type="text"
                    ),
                )
                assert created
                conversation = message.conversation
                unanswered.append(min(max(stamped, last_reply or stamped), now))
            assert conversation is not None
            memory = conversation.waiting_since if kind == "in" else None
            conversation.refresh_from_db()
            assert conversation.last_reply_at == last_reply
            assert conversation.waiting_since == (min(unanswered) if unanswered else None)
            if kind == "in":
                assert memory == conversation.waiting_since
            if conversation.waiting_since is not None:
                assert last_reply is None or conversation.waiting_since >= last_reply
                assert conversation.waiting_since <= now


@pytest.fixture
def receipts(scene, monkeypatch) -> list[int]:
    """Ids of the messages the channel was asked to send read receipts for."""
    asked: list[int] = []
    backend = channels.backend_for(scene.inbox)
    monkeypatch.setattr(backend, "enqueue_read_receipt", lambda message: asked.append(message.pk))
    return asked


def test_a_reply_to_unread_messages_asks_for_a_read_receipt_of_the_latest_after_commit(
    scene, receipts, django_capture_on_commit_callbacks
):
    _receive(scene.inbox, "wamid.1", minutes_ago=10)
    latest, _created = _receive(scene.inbox, "wamid.2", minutes_ago=9)
    conversation = latest.conversation
    conversation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        message_send(actor=scene.ana, conversation=conversation, spec=OutboundSpec(type="text", text="Oi!"))
        assert receipts == []
    assert receipts == [latest.pk]

    # Nothing unread any more: the next reply asks for no receipt.
    conversation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        message_send(actor=scene.ana, conversation=conversation, spec=OutboundSpec(type="text", text="Mais uma"))
    assert receipts == [latest.pk]


def test_a_refused_reply_leaves_the_counters_alone(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    conversation = inbound.conversation
    before = _counters(conversation)
    nobody = add_member(scene.owner.tenant, make_role(scene.owner.tenant, [Perm.VIEW_ALL_CONVERSATIONS]))
    with captured_events() as events, pytest.raises(PermissionDenied):
        message_send(actor=nobody, conversation=conversation, spec=OutboundSpec(type="text", text="Oi"))
    assert _counters(conversation) == before
    assert Message.objects.filter(direction="out").count() == 0
    assert events == []


def test_a_reply_after_the_window_leaves_the_counters_alone(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=25 * 60)
    conversation = inbound.conversation
    before = _counters(conversation)
    with captured_events() as events, pytest.raises(ReplyWindowClosed):
        message_send(actor=scene.ana, conversation=conversation, spec=OutboundSpec(type="text", text="Oi"))
    assert _counters(conversation) == before
    assert Message.objects.filter(direction="out").count() == 0
    assert events == []


def test_a_note_does_not_answer_the_customer(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    conversation = inbound.conversation
    conversation.refresh_from_db()
    before = (*_counters(conversation), conversation.last_activity_at)
    note = note_create(actor=scene.ana, conversation=conversation, text="Cliente recorrente")
    assert (note.private, note.direction, note.sender_type, note.sender_user_id, note.status) == (
        True,
        "out",
        "agent",
        scene.ana.user_id,
        "sent",
    )
    assert (*_counters(conversation), conversation.last_activity_at) == before


# --- notes and mentions -------------------------------------------------------------------------


def test_mentions_notify_only_members_who_see_the_conversation_and_not_the_author(scene, other_tenant):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    conversation = inbound.conversation
    mentioned = [
        scene.bia.user_id,  # in the inbox
        scene.owner.user_id,  # sees everything
        scene.caio.user_id,  # another inbox: cannot see it
        scene.ana.user_id,  # the author
        owner_of(other_tenant).user_id,  # another tenant
        999_999,  # nobody
    ]
    with captured_events() as events:
        note = note_create(
            actor=scene.ana, conversation=conversation, text="  @Bia @Olga vejam  ", mention_user_ids=mentioned
        )
    assert note.text == "@Bia @Olga vejam"
    assert note.content == {
        "v": 1,
        "kind": "text",
        "body": "@Bia @Olga vejam",
        "mentions": sorted([scene.ana.user_id, scene.bia.user_id, scene.owner.user_id]),
    }
    notifications = list(Notification.objects.order_by("user_id"))
    assert [(n.user_id, n.kind, n.conversation_id, n.message_id, n.actor_id) for n in notifications] == [
        (user_id, "mention", conversation.pk, note.pk, scene.ana.user_id)
        for user_id in sorted([scene.bia.user_id, scene.owner.user_id])
    ]
    audience = sorted([scene.owner.user_id, scene.ana.user_id, scene.bia.user_id])
    [(users, created)] = of_type(events, "message.created")
    assert users == audience
    assert (created["message"]["id"], created["message"]["private"]) == (note.pk, True)
    notified = sorted((users, e["notification"]["id"]) for users, e in of_type(events, "notification.created"))
    assert notified == sorted(([n.user_id], n.pk) for n in notifications)
    for _users, event in of_type(events, "notification.created"):
        assert event["notification"]["message_id"] == note.pk
        assert event["notification"]["actor"] == "Ana"


def test_a_colleague_loses_mentions_once_the_conversation_is_assigned_to_someone_else(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    conversation = inbound.conversation
    conversation_assign(actor=scene.ana, conversation=conversation, assignee=scene.ana.user)
    conversation.refresh_from_db()
    note = note_create(actor=scene.ana, conversation=conversation, text="Bia?", mention_user_ids=[scene.bia.user_id])
    assert note.content == {"v": 1, "kind": "text", "body": "Bia?"}
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "A note cannot be empty."), ("x" * 4097, "A note can be 4096 characters long at most.")],
)
def test_an_invalid_note_is_not_stored(scene, text, message):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    with captured_events() as events, pytest.raises(ValidationFailed) as excinfo:
        note_create(actor=scene.ana, conversation=inbound.conversation, text=text, mention_user_ids=[scene.bia.user_id])
    assert str(excinfo.value) == message
    assert Message.objects.filter(private=True).count() == 0
    assert Notification.objects.count() == 0
    assert events == []


def test_a_note_of_4096_characters_is_stored(scene):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    note = note_create(actor=scene.ana, conversation=inbound.conversation, text="x" * 4096)
    assert len(note.text) == 4096


def test_a_role_without_reply_cannot_write_notes(scene, other_tenant):
    inbound, _created = _receive(scene.inbox, "wamid.1", minutes_ago=10)
    reader = add_member(scene.owner.tenant, make_role(scene.owner.tenant, [Perm.VIEW_ALL_CONVERSATIONS]))
    for membership in (reader, owner_of(other_tenant)):
        with captured_events() as events, pytest.raises(PermissionDenied):
            note_create(
                actor=membership,
                conversation=inbound.conversation,
                text="Olá",
                mention_user_ids=[scene.bia.user_id],
            )
        assert events == []
    assert Message.objects.filter(private=True).count() == 0
    assert Notification.objects.count() == 0
