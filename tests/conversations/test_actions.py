"""What agents do to a conversation: audited, a system line in the history, live to who can see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import formats, timezone

from conversations import channels, tasks
from conversations.models import Conversation, ConversationLabel, Message, Notification
from conversations.services.actions import (
    conversation_assign,
    conversation_labels_change,
    conversation_mark_read,
    conversation_priority_set,
    conversation_status_set,
    conversations_unsnooze_due,
)
from conversations.services.inbound import InboundSpec, message_receive
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole, Perm
from tests.conversations.factories import (
    captured_events,
    make_conversation,
    make_inbox,
    make_label,
    make_message,
    make_role,
    make_token,
    of_type,
)
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    owner: Membership
    supervisor: Membership
    ana: Membership  # agent in inbox A
    bia: Membership  # agent in inbox A
    caio: Membership  # agent in inbox B only
    conversation: Conversation  # unassigned, in inbox A


@pytest.fixture
def scene(tenant) -> Scene:
    owner = owner_of(tenant)
    owner.user.name = "Olga"
    owner.user.save(update_fields=["name"])
    supervisor = add_member(tenant, BuiltinRole.SUPERVISOR, user=make_user(name="Sofia"))
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    bia = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bia"))
    caio = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Caio"))
    inbox_a = make_inbox(tenant, name="A", members=[ana, bia])
    make_inbox(tenant, name="B", members=[caio])
    conversation = make_conversation(inbox_a, name="Cliente")
    return Scene(owner, supervisor, ana, bia, caio, conversation)


def _audit(tenant) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(tenant=tenant, action__startswith="conversation.").order_by("id"))


def _activity(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, sender_type="system")
        .order_by("id")
        .values_list("text", flat=True)
    )


def _state(conversation) -> tuple:
    conversation.refresh_from_db()
    return (
        conversation.assignee_id,
        conversation.status,
        conversation.priority,
        conversation.snoozed_until,
        conversation.resolved_at,
        sorted(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True)),
    )


def _nothing_happened(scene: Scene, tenant, events, state) -> None:
    assert _state(scene.conversation) == state
    assert _audit(tenant) == []
    assert _activity(scene.conversation) == []
    assert Notification.objects.count() == 0
    assert events == []


# --- assign -------------------------------------------------------------------------------------


def test_assign_audits_writes_history_and_tells_the_new_and_the_lost_audience(scene, tenant):
    conversation = scene.conversation
    with captured_events() as events:
        result = conversation_assign(actor=scene.supervisor, conversation=conversation, assignee=scene.ana.user)
    assert result.assignee_id == scene.ana.user_id
    conversation.refresh_from_db()
    assert conversation.assignee_id == scene.ana.user_id

    [entry] = _audit(tenant)
    assert (
        entry.action,
        entry.actor_id,
        entry.actor_label,
        entry.target_type,
        entry.target_id,
        entry.target_label,
    ) == (
        "conversation.assigned",
        scene.supervisor.user_id,
        scene.supervisor.user.email,
        "conversations.conversation",
        str(conversation.pk),
        f"#{conversation.display_id}",
    )
    assert entry.extra == {"from": None, "to": scene.ana.user_id}
    [line] = Message.objects.filter(conversation=conversation)
    assert (line.text, line.type, line.sender_type, line.private, line.direction) == (
        "Sofia assigned the conversation to Ana",
        "system",
        "system",
        True,
        "out",
    )
    [notification] = Notification.objects.all()
    assert (notification.user_id, notification.kind, notification.conversation_id, notification.actor_id) == (
        scene.ana.user_id,
        "assigned",
        conversation.pk,
        scene.supervisor.user_id,
    )

    audience = sorted([scene.owner.user_id, scene.supervisor.user_id, scene.ana.user_id])
    assert [(users, event["type"]) for _t, users, event in events] == [
        (audience, "message.created"),
        (audience, "conversation.updated"),
        ([scene.bia.user_id], "conversation.hidden"),  # Bia saw it while unassigned
        ([scene.ana.user_id], "notification.created"),
    ]
    assert {t for t, _u, _e in events} == {tenant.pk}
    [(_users, created)] = of_type(events, "message.created")
    assert created["message"]["id"] == line.pk
    assert created["message"]["text"] == "Sofia assigned the conversation to Ana"
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert updated["conversation"]["assignee_id"] == scene.ana.user_id
    [(_users, hidden)] = of_type(events, "conversation.hidden")
    assert hidden["conversation"] == {"id": conversation.pk, "display_id": conversation.display_id}
    [(_users, notified)] = of_type(events, "notification.created")
    assert notified["notification"] == {
        "id": notification.pk,
        "kind": "assigned",
        "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
        "message_id": None,
        "actor": "Sofia",
    }


def test_reassigning_hides_the_conversation_from_the_previous_assignee(scene, tenant):
    conversation_assign(actor=scene.supervisor, conversation=scene.conversation, assignee=scene.ana.user)
    with captured_events() as events:
        conversation_assign(actor=scene.supervisor, conversation=scene.conversation, assignee=scene.bia.user)
    [(users, _event)] = of_type(events, "conversation.hidden")
    assert users == [scene.ana.user_id]
    assert _audit(tenant)[-1].extra == {"from": scene.ana.user_id, "to": scene.bia.user_id}


def test_taking_a_conversation_notifies_nobody(scene, tenant):
    with captured_events() as events:
        conversation_assign(actor=scene.ana, conversation=scene.conversation, assignee=scene.ana.user)
    assert _activity(scene.conversation) == ["Ana took the conversation"]
    assert Notification.objects.count() == 0
    assert of_type(events, "notification.created") == []
    [(users, _event)] = of_type(events, "conversation.hidden")
    assert users == [scene.bia.user_id]


def test_unassigning_shows_the_conversation_again_to_the_inbox(scene, tenant):
    conversation_assign(actor=scene.ana, conversation=scene.conversation, assignee=scene.ana.user)
    with captured_events() as events:
        conversation_assign(actor=scene.ana, conversation=scene.conversation, assignee=None)
    assert _activity(scene.conversation)[-1] == "Ana unassigned the conversation"
    assert _audit(tenant)[-1].extra == {"from": scene.ana.user_id, "to": None}
    [(users, _event)] = of_type(events, "conversation.updated")
    assert users == sorted([scene.owner.user_id, scene.supervisor.user_id, scene.ana.user_id, scene.bia.user_id])
    assert [users for users, _event in of_type(events, "conversation.hidden")] in ([], [[]])  # nobody loses it
    assert Notification.objects.count() == 0


def test_assigning_the_current_assignee_again_changes_nothing(scene, tenant):
    conversation_assign(actor=scene.ana, conversation=scene.conversation, assignee=scene.ana.user)
    with captured_events() as events:
        conversation_assign(actor=scene.supervisor, conversation=scene.conversation, assignee=scene.ana.user)
    assert len(_audit(tenant)) == 1
    assert len(_activity(scene.conversation)) == 1
    assert events == []


def test_assigning_a_supervisor_outside_the_inbox_is_allowed(scene, tenant):
    conversation_assign(actor=scene.ana, conversation=scene.conversation, assignee=scene.supervisor.user)
    scene.conversation.refresh_from_db()
    assert scene.conversation.assignee_id == scene.supervisor.user_id


@pytest.mark.parametrize("who", ["caio", "stranger", "inactive"])
def test_assigning_someone_who_cannot_see_the_inbox_is_refused_and_changes_nothing(scene, tenant, other_tenant, who):
    if who == "caio":
        assignee = scene.caio.user  # an agent of inbox B
    elif who == "stranger":
        assignee = owner_of(other_tenant).user  # not a member of this tenant
    else:
        scene.bia.active = False
        scene.bia.save(update_fields=["active"])
        assignee = scene.bia.user
    state = _state(scene.conversation)
    with captured_events() as events, pytest.raises(ValidationFailed) as excinfo:
        conversation_assign(actor=scene.supervisor, conversation=scene.conversation, assignee=assignee)
    assert excinfo.value.details == {"assignee_id": assignee.pk}
    _nothing_happened(scene, tenant, events, state)


def test_an_api_token_assigns_as_api_and_the_assignee_is_notified(scene, tenant):
    token = make_token(tenant, make_role(tenant, [Perm.REPLY, Perm.VIEW_UNASSIGNED]), name="CRM")
    with captured_events() as events:
        conversation_assign(actor=token, conversation=scene.conversation, assignee=scene.ana.user)
    assert _activity(scene.conversation) == ["API assigned the conversation to Ana"]
    [entry] = _audit(tenant)
    assert (entry.actor_id, entry.actor_label) == (None, "API token CRM")
    [notification] = Notification.objects.all()
    assert (notification.user_id, notification.actor_id, notification.actor_label) == (scene.ana.user_id, None, "API")
    [(_users, notified)] = of_type(events, "notification.created")
    assert notified["notification"]["actor"] == "API"


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["assign", "status", "snooze", "priority", "labels"])
def test_a_role_without_reply_changes_nothing(scene, tenant, action):
    nobody = add_member(tenant, make_role(tenant, []))
    make_inbox(tenant, members=[nobody])
    label = make_label(tenant, "vip")
    state = _state(scene.conversation)
    calls = {
        "assign": lambda: conversation_assign(actor=nobody, conversation=scene.conversation, assignee=scene.ana.user),
        "status": lambda: conversation_status_set(actor=nobody, conversation=scene.conversation, status="resolved"),
        "snooze": lambda: conversation_status_set(
            actor=nobody,
            conversation=scene.conversation,
            status="snoozed",
            snoozed_until=timezone.now() + timedelta(hours=1),
        ),
        "priority": lambda: conversation_priority_set(actor=nobody, conversation=scene.conversation, priority="high"),
        "labels": lambda: conversation_labels_change(actor=nobody, conversation=scene.conversation, add=[label]),
    }
    with captured_events() as events, pytest.raises(PermissionDenied):
        calls[action]()
    _nothing_happened(scene, tenant, events, state)


def test_a_member_of_another_tenant_cannot_change_the_conversation(scene, tenant, other_tenant):
    state = _state(scene.conversation)
    with pytest.raises(PermissionDenied):
        conversation_status_set(actor=owner_of(other_tenant), conversation=scene.conversation, status="resolved")
    with pytest.raises(PermissionDenied):
        conversation_mark_read(membership=owner_of(other_tenant), conversation=scene.conversation)
    assert _state(scene.conversation) == state
    assert _audit(tenant) == []


# --- status -------------------------------------------------------------------------------------


def test_resolve_sets_resolved_at_and_reopen_clears_it(scene, tenant):
    before = timezone.now()
    with captured_events() as events:
        conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="resolved")
    conversation = scene.conversation
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert before <= conversation.resolved_at <= timezone.now()
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert updated["conversation"]["status"] == "resolved"

    conversation_status_set(actor=scene.ana, conversation=conversation, status="open")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_at) == ("open", None)
    assert _activity(conversation) == ["Ana resolved the conversation", "Ana reopened the conversation"]
    assert [(e.action, e.extra) for e in _audit(tenant)] == [
        ("conversation.status_changed", {"from": "open", "to": "resolved", "snoozed_until": None}),
        ("conversation.status_changed", {"from": "resolved", "to": "open", "snoozed_until": None}),
    ]


def test_pending_and_the_same_status_again(scene, tenant):
    conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="pending")
    conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="pending")
    assert _activity(scene.conversation) == ["Ana set the conversation to pending"]
    assert len(_audit(tenant)) == 1


def test_snooze_stores_the_time_and_writes_it_in_the_history(scene, tenant):
    until = (timezone.now() + timedelta(days=2)).replace(hour=15, minute=30, second=0, microsecond=0)
    conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="snoozed", snoozed_until=until)
    scene.conversation.refresh_from_db()
    assert (scene.conversation.status, scene.conversation.snoozed_until) == ("snoozed", until)
    local = until.astimezone(ZoneInfo(tenant.timezone))
    day = formats.date_format(local.date(), "DATE_FORMAT")  # e.g. "Dec. 8, 2026"
    assert _activity(scene.conversation) == [f"Ana snoozed the conversation until {day}, {local:%H:%M}"]
    assert _audit(tenant)[0].extra == {"from": "open", "to": "snoozed", "snoozed_until": until.isoformat()}


def test_snooze_time_in_the_history_is_in_the_tenants_time_zone(scene, tenant):
    assert tenant.timezone == "America/Sao_Paulo"
    local = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo(tenant.timezone))
    until = local.replace(hour=9, minute=0, second=0, microsecond=0)
    conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="snoozed", snoozed_until=until)
    day = formats.date_format(until.date(), "DATE_FORMAT")
    assert _activity(scene.conversation) == [f"Ana snoozed the conversation until {day}, 09:00"]


@pytest.mark.parametrize(
    ("status", "until", "message"),
    [
        ("snoozed", None, "Say until when to snooze the conversation."),
        ("snoozed", "naive", "The snooze time needs a time zone."),
        ("snoozed", "past", "The snooze time must be in the future."),
        ("snoozed", "year+", "A conversation can be snoozed for a year at most."),
        ("open", "tomorrow", "Only a snoozed conversation has a snooze time."),
        ("closed", None, "Unknown status."),
    ],
)
def test_invalid_status_changes_are_refused_and_change_nothing(scene, tenant, status, until, message):
    now = timezone.now()
    snoozed_until = {
        None: None,
        "naive": datetime(2099, 1, 1, 12, 0),
        "past": now - timedelta(minutes=1),
        "year+": now + timedelta(days=365, minutes=5),
        "tomorrow": now + timedelta(days=1),
    }[until]
    state = _state(scene.conversation)
    with captured_events() as events, pytest.raises(ValidationFailed) as excinfo:
        conversation_status_set(
            actor=scene.ana, conversation=scene.conversation, status=status, snoozed_until=snoozed_until
        )
    assert str(excinfo.value) == message
    _nothing_happened(scene, tenant, events, state)


def test_snooze_for_almost_a_year_is_allowed(scene):
    until = timezone.now() + timedelta(days=364, hours=23)
    conversation_status_set(actor=scene.ana, conversation=scene.conversation, status="snoozed", snoozed_until=until)
    scene.conversation.refresh_from_db()
    assert scene.conversation.snoozed_until == until


def _inbound(inbox, external_id: str, *, text: str = "Oi", minutes_ago: float = 1, source_id: str = "5511987654321"):
    message, _created = message_receive(
        inbox=inbox,
        spec=InboundSpec(
            source_id=source_id,
            external_id=external_id,
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            type="text",
            text=text,
            profile_name="Cliente",
        ),
    )
    return message


def test_reopening_a_resolved_conversation_when_a_newer_one_is_open_is_refused(scene, tenant):
    inbox = scene.conversation.inbox
    first = _inbound(inbox, "wamid.first").conversation
    conversation_status_set(actor=scene.ana, conversation=first, status="resolved")
    second = _inbound(inbox, "wamid.second").conversation
    assert second.pk != first.pk
    audit_before = len(_audit(tenant))
    with pytest.raises(ValidationFailed) as excinfo:
        conversation_status_set(actor=scene.ana, conversation=first, status="open")
    assert excinfo.value.code == "newer_conversation_open"
    assert excinfo.value.details == {"display_id": second.display_id}
    first.refresh_from_db()
    assert first.status == "resolved"
    assert len(_audit(tenant)) == audit_before
    # Once the newer one is resolved too, the older one can be reopened.
    conversation_status_set(actor=scene.ana, conversation=second, status="resolved")
    conversation_status_set(actor=scene.ana, conversation=first, status="open")
    first.refresh_from_db()
    assert first.status == "open"


def test_a_new_customer_message_reopens_a_snoozed_conversation(scene, tenant):
    inbox = scene.conversation.inbox
    conversation = _inbound(inbox, "wamid.1").conversation
    until = timezone.now() + timedelta(days=1)
    conversation_status_set(actor=scene.ana, conversation=conversation, status="snoozed", snoozed_until=until)
    with captured_events() as events:
        message = _inbound(inbox, "wamid.2", text="Ainda preciso de ajuda")
    assert message.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert (updated["conversation"]["status"], updated["conversation"]["snoozed_until"]) == ("open", None)


def test_unsnooze_due_reopens_only_the_due_ones(scene, tenant):
    inbox = scene.conversation.inbox
    now = timezone.now()
    due = make_conversation(inbox, status="snoozed", snoozed_until=now - timedelta(minutes=1))
    exactly_now = make_conversation(inbox, status="snoozed", snoozed_until=now)
    later = make_conversation(inbox, status="snoozed", snoozed_until=now + timedelta(minutes=1))
    pending = make_conversation(inbox, status="pending")
    with captured_events() as events:
        assert conversations_unsnooze_due(now=now) == 2
    for conversation in (due, exactly_now, later, pending):
        conversation.refresh_from_db()
    assert [(c.status, c.snoozed_until) for c in (due, exactly_now, later, pending)] == [
        ("open", None),
        ("open", None),
        ("snoozed", now + timedelta(minutes=1)),
        ("pending", None),
    ]
    assert _activity(due) == ["The snooze ended"]
    assert _activity(later) == []
    assert sorted(e["conversation"]["id"] for _u, e in of_type(events, "conversation.updated")) == sorted(
        [due.pk, exactly_now.pk]
    )
    assert conversations_unsnooze_due(now=now) == 0


def test_the_unsnooze_task_calls_the_service(scene):
    make_conversation(scene.conversation.inbox, status="snoozed", snoozed_until=timezone.now() - timedelta(hours=1))
    assert tasks.conversations_unsnooze_due() == 1
    assert Conversation.objects.filter(status="snoozed").count() == 0


# --- priority, labels, read ---------------------------------------------------------------------


def test_priority_is_audited_once_per_change(scene, tenant):
    with captured_events() as events:
        conversation_priority_set(actor=scene.ana, conversation=scene.conversation, priority="urgent")
    conversation_priority_set(actor=scene.ana, conversation=scene.conversation, priority="urgent")
    scene.conversation.refresh_from_db()
    assert scene.conversation.priority == "urgent"
    assert _activity(scene.conversation) == ["Ana set the priority to Urgent"]
    assert [(e.action, e.extra) for e in _audit(tenant)] == [
        ("conversation.priority_changed", {"from": "none", "to": "urgent"})
    ]
    [(_users, updated)] = of_type(events, "conversation.updated")
    assert updated["conversation"]["priority"] == "urgent"


def test_unknown_priority_is_refused(scene, tenant):
    with pytest.raises(ValidationFailed):
        conversation_priority_set(actor=scene.ana, conversation=scene.conversation, priority="critical")
    scene.conversation.refresh_from_db()
    assert scene.conversation.priority == "none"
    assert _audit(tenant) == []


def test_labels_add_and_remove_are_idempotent(scene, tenant):
    vip = make_label(tenant, "vip")
    billing = make_label(tenant, "billing")
    conversation = scene.conversation
    with captured_events() as events:
        labels = conversation_labels_change(actor=scene.ana, conversation=conversation, add=[vip, billing])
    assert [lb.name for lb in labels] == ["billing", "vip"]
    assert len(of_type(events, "conversation.updated")) == 1

    with captured_events() as events:
        labels = conversation_labels_change(actor=scene.ana, conversation=conversation, add=[vip])
    assert [lb.name for lb in labels] == ["billing", "vip"]
    assert events == []

    labels = conversation_labels_change(actor=scene.ana, conversation=conversation, add=[], remove=[vip])
    assert [lb.name for lb in labels] == ["billing"]
    labels = conversation_labels_change(actor=scene.ana, conversation=conversation, remove=[vip])
    assert [lb.name for lb in labels] == ["billing"]

    assert _activity(conversation) == ["Ana added vip, billing", "Ana removed vip"]
    assert [e.extra for e in _audit(tenant)] == [
        {"added": ["vip", "billing"], "removed": []},
        {"added": [], "removed": ["vip"]},
    ]
    assert ConversationLabel.objects.filter(conversation=conversation).count() == 1


def test_a_label_of_another_tenant_is_refused(scene, tenant, other_tenant):
    foreign = make_label(other_tenant, "vip")
    with pytest.raises(ValidationFailed):
        conversation_labels_change(actor=scene.ana, conversation=scene.conversation, add=[foreign])
    assert ConversationLabel.objects.count() == 0
    assert _audit(tenant) == []


def test_mark_read_zeroes_the_unread_count_once(scene, tenant):
    Conversation.objects.filter(pk=scene.conversation.pk).update(unread_count=3)
    scene.conversation.refresh_from_db()
    with captured_events() as events:
        conversation_mark_read(membership=scene.ana, conversation=scene.conversation)
    scene.conversation.refresh_from_db()
    assert scene.conversation.unread_count == 0
    [(users, updated)] = of_type(events, "conversation.updated")
    assert updated["conversation"]["unread_count"] == 0
    assert users == sorted([scene.owner.user_id, scene.supervisor.user_id, scene.ana.user_id, scene.bia.user_id])

    with captured_events() as events:
        conversation_mark_read(membership=scene.bia, conversation=scene.conversation)
    assert events == []
    assert _audit(tenant) == []


@pytest.fixture
def receipts(scene, monkeypatch) -> list[int]:
    """Ids of the messages the conversation's channel was asked to send read receipts for."""
    asked: list[int] = []
    backend = channels.backend_for(scene.conversation.inbox)
    monkeypatch.setattr(backend, "enqueue_read_receipt", lambda message: asked.append(message.pk))
    return asked


def _with_external_id(message: Message, external_id: str) -> Message:
    Message.objects.filter(pk=message.pk).update(external_id=external_id)
    return message


def test_mark_read_asks_the_channel_after_commit_for_a_receipt_of_the_latest_message_it_knows(
    scene, receipts, django_capture_on_commit_callbacks
):
    _with_external_id(make_message(scene.conversation, "um"), "wamid.1")
    known = _with_external_id(make_message(scene.conversation, "dois"), "wamid.2")
    make_message(scene.conversation, "sem id")  # never came through the channel: it cannot be marked
    _with_external_id(make_message(scene.conversation, "resposta", direction=Message.Direction.OUTBOUND), "wamid.out")
    Conversation.objects.filter(pk=scene.conversation.pk).update(unread_count=3)
    scene.conversation.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(membership=scene.ana, conversation=scene.conversation)
        assert receipts == []

    assert receipts == [known.pk]


def test_mark_read_asks_for_no_receipt_when_nothing_was_unread_or_no_message_has_an_external_id(
    scene, receipts, django_capture_on_commit_callbacks
):
    _with_external_id(make_message(scene.conversation, "lida"), "wamid.1")
    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(membership=scene.ana, conversation=scene.conversation)
    assert receipts == []

    other = make_conversation(scene.conversation.inbox, name="Outra")
    make_message(other, "sem id")
    Conversation.objects.filter(pk=other.pk).update(unread_count=1)
    other.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(membership=scene.ana, conversation=other)
    other.refresh_from_db()
    assert (other.unread_count, receipts) == (0, [])
