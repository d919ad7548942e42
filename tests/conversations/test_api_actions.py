"""The inbox REST API: each action changes the row, audits, answers with the result; refusals change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import (
    Contact,
    ContactLabel,
    Conversation,
    ConversationLabel,
    Message,
    Notification,
    QuickReply,
)
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole, Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_conversation, make_inbox, make_label, make_message, make_role
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"


@dataclass
class Scene:
    ana: Membership  # agent of inbox A
    bia: Membership  # agent of inbox A
    caio: Membership  # agent of inbox B only
    conversation: Conversation  # unassigned, inbox A
    theirs: Conversation  # assigned to Bia, inbox A
    ana_client: Client


@pytest.fixture
def scene(tenant) -> Scene:
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    bia = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bia"))
    caio = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Caio"))
    inbox_a = make_inbox(tenant, name="A", members=[ana, bia])
    make_inbox(tenant, name="B", members=[caio])
    conversation = make_conversation(inbox_a, name="Cliente", phone="+5511911110000")
    theirs = make_conversation(inbox_a, name="Outro", assignee=bia)
    client = Client()
    client.force_login(ana.user)
    return Scene(ana, bia, caio, conversation, theirs, client)


@pytest.fixture
def foreign(other_tenant) -> Conversation:
    inbox = make_inbox(other_tenant, name="Globex")
    conversation = make_conversation(inbox, name="Not yours")
    # A display id that Acme does not use, so /t/acme/conversations/<it>/ cannot hit Acme's own row.
    Conversation.objects.filter(pk=conversation.pk).update(display_id=900)
    conversation.refresh_from_db()
    return conversation


def _token_client(tenant, perms) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name="Bot", role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _audit(tenant, prefix: str = "") -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(tenant=tenant, action__startswith=prefix).order_by("id"))


def _state(conversation: Conversation) -> tuple:
    conversation.refresh_from_db()
    labels = sorted(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True))
    return (
        conversation.assignee_id,
        conversation.status,
        conversation.priority,
        conversation.snoozed_until,
        conversation.unread_count,
        labels,
        Message.objects.filter(conversation=conversation).count(),
    )


def _put(client: Client, url: str, body: dict) -> object:
    return client.put(url, body, content_type="application/json")


def _url(conversation: Conversation, tail: str) -> str:
    return f"{API}/conversations/{conversation.display_id}/{tail}"


# --- assignee -----------------------------------------------------------------------------------


def test_assign_sets_the_assignee_audits_and_answers_with_the_conversation(scene, tenant):
    response = _put(scene.ana_client, _url(scene.conversation, "assignee/"), {"assignee_id": scene.bia.user_id})

    assert response.status_code == 200
    body = response.json()
    assert (body["display_id"], body["assignee_id"], body["assignee"]) == (
        scene.conversation.display_id,
        scene.bia.user_id,
        {"id": scene.bia.user_id, "name": "Bia"},
    )
    scene.conversation.refresh_from_db()
    assert scene.conversation.assignee_id == scene.bia.user_id
    [entry] = _audit(tenant, "conversation.")
    assert (entry.action, entry.actor_id, entry.target_id, entry.extra) == (
        "conversation.assigned",
        scene.ana.user_id,
        str(scene.conversation.pk),
        {"from": None, "to": scene.bia.user_id},
    )


def test_assign_null_unassigns(scene, tenant):
    scene.conversation.assignee_id = scene.ana.user_id
    scene.conversation.save(update_fields=["assignee"])

    response = _put(scene.ana_client, _url(scene.conversation, "assignee/"), {"assignee_id": None})

    assert response.status_code == 200
    assert (response.json()["assignee_id"], response.json()["assignee"]) == (None, None)
    scene.conversation.refresh_from_db()
    assert scene.conversation.assignee_id is None
    assert [e.extra for e in _audit(tenant, "conversation.")] == [{"from": scene.ana.user_id, "to": None}]


@pytest.mark.parametrize("who", ["stranger", "other_tenant_member", "inactive_member"])
def test_assign_to_someone_who_is_not_an_active_member_is_400_and_changes_nothing(scene, tenant, other_tenant, who):
    if who == "stranger":
        user_id = make_user().pk
    elif who == "other_tenant_member":
        user_id = add_member(other_tenant, BuiltinRole.AGENT).user_id
    else:
        gone = add_member(tenant, BuiltinRole.AGENT)
        gone.active = False
        gone.save(update_fields=["active"])
        user_id = gone.user_id
    before = _state(scene.conversation)

    response = _put(scene.ana_client, _url(scene.conversation, "assignee/"), {"assignee_id": user_id})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert response.json()["error"]["details"] == {"assignee_id": user_id}
    assert _state(scene.conversation) == before
    assert _audit(tenant, "conversation.") == []


def test_assign_to_a_member_outside_the_inbox_is_400(scene, tenant):
    before = _state(scene.conversation)
    response = _put(scene.ana_client, _url(scene.conversation, "assignee/"), {"assignee_id": scene.caio.user_id})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"assignee_id": scene.caio.user_id}
    assert _state(scene.conversation) == before


@pytest.mark.parametrize("body", [{}, {"assignee_id": "ana"}])
def test_assign_with_a_malformed_body_is_400_naming_the_field(scene, body):
    before = _state(scene.conversation)
    response = _put(scene.ana_client, _url(scene.conversation, "assignee/"), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert list(response.json()["error"]["details"]) == ["assignee_id"]
    assert _state(scene.conversation) == before


# --- status and priority ------------------------------------------------------------------------


def test_snooze_stores_the_time_audits_and_answers(scene, tenant):
    until = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = _put(
        scene.ana_client,
        _url(scene.conversation, "status/"),
        {"status": "snoozed", "snoozed_until": until.astimezone(timezone.get_fixed_timezone(-180)).isoformat()},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "snoozed"
    scene.conversation.refresh_from_db()
    assert (scene.conversation.status, scene.conversation.snoozed_until) == ("snoozed", until)
    [entry] = _audit(tenant, "conversation.")
    assert (entry.action, entry.extra) == (
        "conversation.status_changed",
        {"from": "open", "to": "snoozed", "snoozed_until": until.isoformat()},
    )


def test_resolve_sets_resolved_at(scene, tenant):
    response = _put(scene.ana_client, _url(scene.conversation, "status/"), {"status": "resolved"})
    assert response.status_code == 200
    scene.conversation.refresh_from_db()
    assert scene.conversation.status == "resolved"
    assert scene.conversation.resolved_at is not None
    assert [e.extra["to"] for e in _audit(tenant, "conversation.")] == ["resolved"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "snoozed", "snoozed_until": "2030-01-31T09:00:00"}, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": "tomorrow"}, "snoozed_until"),
    ],
)
def test_status_with_an_invalid_value_is_400_naming_the_field(scene, tenant, body, field):
    before = _state(scene.conversation)
    response = _put(scene.ana_client, _url(scene.conversation, "status/"), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert list(response.json()["error"]["details"]) == [field]
    assert _state(scene.conversation) == before
    assert _audit(tenant, "conversation.") == []


def test_snooze_without_a_time_is_400_from_the_rule(scene, tenant):
    before = _state(scene.conversation)
    response = _put(scene.ana_client, _url(scene.conversation, "status/"), {"status": "snoozed"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Say until when to snooze the conversation."
    assert _state(scene.conversation) == before


def test_priority_is_set_and_audited(scene, tenant):
    response = _put(scene.ana_client, _url(scene.conversation, "priority/"), {"priority": "urgent"})
    assert response.status_code == 200
    assert response.json()["priority"] == "urgent"
    scene.conversation.refresh_from_db()
    assert scene.conversation.priority == "urgent"
    [entry] = _audit(tenant, "conversation.")
    assert (entry.action, entry.extra) == ("conversation.priority_changed", {"from": "none", "to": "urgent"})


def test_unknown_priority_is_400(scene, tenant):
    before = _state(scene.conversation)
    response = _put(scene.ana_client, _url(scene.conversation, "priority/"), {"priority": "asap"})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["priority"]
    assert _state(scene.conversation) == before


# --- labels -------------------------------------------------------------------------------------


def test_labels_are_listed_added_and_removed(scene, tenant):
    vip = make_label(tenant, "vip")
    billing = make_label(tenant, "billing")
    url = _url(scene.conversation, "labels/")
    assert scene.ana_client.get(url).json() == []

    added = scene.ana_client.post(url, {"label_id": vip.pk}, content_type="application/json")
    scene.ana_client.post(url, {"label_id": billing.pk}, content_type="application/json")

    assert added.status_code == 200
    assert added.json() == [{"id": vip.pk, "name": "vip", "color": "#1f6feb"}]
    assert [lb["name"] for lb in scene.ana_client.get(url).json()] == ["billing", "vip"]
    removed = scene.ana_client.delete(_url(scene.conversation, f"labels/{vip.pk}/"))
    assert removed.status_code == 204
    assert list(
        ConversationLabel.objects.filter(conversation=scene.conversation).values_list("label_id", flat=True)
    ) == [billing.pk]
    assert [e.extra for e in _audit(tenant, "conversation.")] == [
        {"added": ["vip"], "removed": []},
        {"added": ["billing"], "removed": []},
        {"added": [], "removed": ["vip"]},
    ]


def test_adding_another_tenants_label_is_400_and_removing_it_is_404(scene, tenant, other_tenant):
    theirs = make_label(other_tenant, "theirs")
    mine = make_label(tenant, "mine")
    ConversationLabel.objects.create(tenant=tenant, conversation=scene.conversation, label=mine)
    before = _state(scene.conversation)

    added = scene.ana_client.post(
        _url(scene.conversation, "labels/"), {"label_id": theirs.pk}, content_type="application/json"
    )
    removed = scene.ana_client.delete(_url(scene.conversation, f"labels/{theirs.pk}/"))

    assert added.status_code == 400
    assert added.json()["error"]["details"] == {"field": "label_id", "ids": [theirs.pk]}
    assert removed.status_code == 404
    assert _state(scene.conversation) == before
    assert _audit(tenant, "conversation.") == []


def test_workspace_labels_are_listed_by_name_without_other_tenants(scene, tenant, other_tenant):
    make_label(other_tenant, "alien")
    zeta = make_label(tenant, "zeta")
    alpha_label = make_label(tenant, "alpha")
    body = scene.ana_client.get(f"{API}/labels/").json()
    assert body == [
        {"id": alpha_label.pk, "name": "alpha", "color": "#1f6feb", "description": ""},
        {"id": zeta.pk, "name": "zeta", "color": "#1f6feb", "description": ""},
    ]


# --- notes and read -----------------------------------------------------------------------------


def test_note_is_created_private_with_mentions_and_returned(scene, tenant):
    response = scene.ana_client.post(
        _url(scene.conversation, "notes/"),
        {"text": "  check the invoice  ", "mention_user_ids": [scene.bia.user_id, scene.caio.user_id]},
        content_type="application/json",
    )

    assert response.status_code == 201
    body = response.json()
    note = Message.objects.get(pk=body["id"])
    assert (note.text, note.private, note.sender_user_id, note.content) == (
        "check the invoice",
        True,
        scene.ana.user_id,
        # Caio cannot see the conversation: not mentioned
        {"v": 1, "kind": "text", "body": "check the invoice", "mentions": [scene.bia.user_id]},
    )
    assert (body["text"], body["private"], body["sender_user_id"], body["attachments"], body["reactions"]) == (
        "check the invoice",
        True,
        scene.ana.user_id,
        [],
        [],
    )
    assert list(Notification.objects.values_list("user_id", "kind", "message_id")) == [
        (scene.bia.user_id, "mention", note.pk)
    ]


def test_empty_note_is_400_and_creates_nothing(scene):
    before = _state(scene.conversation)
    response = scene.ana_client.post(
        _url(scene.conversation, "notes/"), {"text": "   "}, content_type="application/json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["text"]
    assert _state(scene.conversation) == before


def test_a_token_cannot_write_notes_or_mark_read(scene, tenant):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    scene.conversation.unread_count = 2
    scene.conversation.save(update_fields=["unread_count"])
    before = _state(scene.conversation)

    note = client.post(_url(scene.conversation, "notes/"), {"text": "hi"}, content_type="application/json")
    read = client.post(_url(scene.conversation, "read/"))

    assert (note.status_code, read.status_code) == (403, 403)
    assert note.json()["error"] == {
        "code": "permission_denied",
        "message": "Notes are written by members: sign in as a person, not with an API token.",
        "details": {},
    }
    assert read.json()["error"]["code"] == "permission_denied"
    assert _state(scene.conversation) == before


def test_mark_read_zeroes_the_unread_count(scene):
    scene.conversation.unread_count = 3
    scene.conversation.save(update_fields=["unread_count"])
    response = scene.ana_client.post(_url(scene.conversation, "read/"))
    assert response.status_code == 204
    scene.conversation.refresh_from_db()
    assert scene.conversation.unread_count == 0


# --- visibility, permissions, tenancy -----------------------------------------------------------

ACTIONS = [
    ("put", "assignee/", {"assignee_id": None}),
    ("put", "status/", {"status": "resolved"}),
    ("put", "priority/", {"priority": "high"}),
    ("get", "labels/", None),
    ("post", "labels/", "label"),
    ("delete", "labels/{label}/", None),
    ("post", "notes/", {"text": "hello"}),
    ("post", "read/", None),
]


def _call(client: Client, method: str, url: str, body: object) -> object:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, content_type="application/json")


def _action_args(tail: str, body: object, label_id: int) -> tuple[str, object]:
    return tail.replace("{label}", str(label_id)), ({"label_id": label_id} if body == "label" else body)


@pytest.mark.parametrize(("method", "tail", "body"), ACTIONS)
def test_an_agent_gets_404_for_a_conversation_assigned_to_someone_else(scene, tenant, method, tail, body):
    label = make_label(tenant, "vip")
    ConversationLabel.objects.create(tenant=tenant, conversation=scene.theirs, label=label)
    scene.theirs.unread_count = 1
    scene.theirs.save(update_fields=["unread_count"])
    before = _state(scene.theirs)
    tail, body = _action_args(tail, body, label.pk)

    response = _call(scene.ana_client, method, _url(scene.theirs, tail), body)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _state(scene.theirs) == before
    assert _audit(tenant, "conversation.") == []


@pytest.mark.parametrize(("method", "tail", "body"), ACTIONS)
def test_another_tenants_conversation_is_404(scene, tenant, other_tenant, foreign, method, tail, body):
    label = make_label(other_tenant, "vip")
    before = _state(foreign)
    tail, body = _action_args(tail, body, label.pk)

    own_slug = _url(foreign, tail)
    their_slug = own_slug.replace("/t/acme/", "/t/globex/")
    for client in (scene.ana_client, _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])):
        for url in (own_slug, their_slug):
            response = _call(client, method, url, body)
            assert response.status_code == 404, (method, url)

    assert _state(foreign) == before
    assert AuditLogEntry.objects.filter(action__startswith="conversation.").count() == 0


@pytest.mark.parametrize(("method", "tail", "body"), [a for a in ACTIONS if a[0] != "get" and a[1] != "read/"])
def test_a_token_without_reply_gets_403_and_nothing_changes(scene, tenant, method, tail, body):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])
    label = make_label(tenant, "vip")
    ConversationLabel.objects.create(tenant=tenant, conversation=scene.conversation, label=label)
    before = _state(scene.conversation)
    tail, body = _action_args(tail, body, label.pk)

    response = _call(client, method, _url(scene.conversation, tail), body)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert _state(scene.conversation) == before
    assert _audit(tenant, "conversation.") == []


def test_a_token_with_reply_may_act_and_is_named_in_the_audit(scene, tenant):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    response = _put(client, _url(scene.conversation, "priority/"), {"priority": "low"})
    assert response.status_code == 200
    [entry] = _audit(tenant, "conversation.")
    assert (entry.actor_id, entry.actor_label) == (None, "API token Bot")


# --- contacts -----------------------------------------------------------------------------------


def test_contact_is_shown_with_its_labels(scene, tenant):
    contact = scene.conversation.contact
    vip = make_label(tenant, "vip")
    ContactLabel.objects.create(tenant=tenant, contact=contact, label=vip)
    contact.custom_attributes = {"plan": "gold"}
    contact.save(update_fields=["custom_attributes"])

    body = scene.ana_client.get(f"{API}/contacts/{contact.pk}/").json()

    assert body == {
        "id": contact.pk,
        "name": "Cliente",
        "profile_name": "",
        "display_name": "Cliente",
        "phone": "+5511911110000",
        "identities": [{"channel": "whatsapp", "address": "5511911110000"}],
        "custom_attributes": {"plan": "gold"},
        "labels": [{"id": vip.pk, "name": "vip", "color": "#1f6feb"}],
        "marketing_consent": "unknown",
        "created_at": body["created_at"],
    }


def test_contact_update_changes_fields_and_labels_and_audits(scene, tenant):
    contact = scene.conversation.contact
    vip = make_label(tenant, "vip")
    response = scene.ana_client.patch(
        f"{API}/contacts/{contact.pk}/",
        {"name": " Maria ", "phone": "+55 11 91234-5678", "custom_attributes": {"plan": 2}, "label_ids": [vip.pk]},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["phone"], body["custom_attributes"], body["labels"]) == (
        "Maria",
        "+5511912345678",
        {"plan": "2"},
        [{"id": vip.pk, "name": "vip", "color": "#1f6feb"}],
    )
    contact.refresh_from_db()
    assert (contact.name, contact.phone_e164, contact.custom_attributes) == ("Maria", "+5511912345678", {"plan": "2"})
    assert list(ContactLabel.objects.filter(contact=contact).values_list("label_id", flat=True)) == [vip.pk]
    [entry] = _audit(tenant, "contact.")
    assert (entry.actor_id, entry.target_id, entry.extra) == (
        scene.ana.user_id,
        str(contact.pk),
        {"fields": ["custom_attributes", "name", "phone_e164"], "labels_added": ["vip"], "labels_removed": []},
    )


def test_a_partial_contact_update_keeps_the_other_fields(scene, tenant):
    contact = scene.conversation.contact
    response = scene.ana_client.patch(
        f"{API}/contacts/{contact.pk}/", {"custom_attributes": {"a": "b"}}, content_type="application/json"
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.name, contact.phone_e164, contact.custom_attributes) == ("Cliente", "+5511911110000", {"a": "b"})


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"phone": "12"}, {"field": "phone"}),
        ({"label_ids": [987654]}, {"field": "label_ids", "ids": [987654]}),
        ({"custom_attributes": "gold"}, None),
    ],
)
def test_invalid_contact_update_is_400_and_changes_nothing(scene, tenant, body, details):
    contact = scene.conversation.contact
    before = Contact.objects.filter(pk=contact.pk).values().get()
    response = scene.ana_client.patch(f"{API}/contacts/{contact.pk}/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    if details is not None:
        assert response.json()["error"]["details"] == details
    assert Contact.objects.filter(pk=contact.pk).values().get() == before
    assert _audit(tenant, "contact.") == []


def test_contact_of_a_conversation_the_agent_cannot_see_is_404(scene, tenant, foreign):
    for contact in (scene.theirs.contact, foreign.contact):
        before = Contact.objects.filter(pk=contact.pk).values().get()
        url = f"{API}/contacts/{contact.pk}/"
        assert scene.ana_client.get(url).status_code == 404
        assert scene.ana_client.patch(url, {"name": "X"}, content_type="application/json").status_code == 404
        assert Contact.objects.filter(pk=contact.pk).values().get() == before
    assert _audit(tenant, "contact.") == []


def test_a_token_without_manage_contacts_may_read_but_not_change_a_contact(scene, tenant):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])
    contact = scene.conversation.contact
    url = f"{API}/contacts/{contact.pk}/"
    assert client.get(url).status_code == 200
    response = client.patch(url, {"name": "X"}, content_type="application/json")
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.name == "Cliente"
    assert _audit(tenant, "contact.") == []


# --- quick replies ------------------------------------------------------------------------------


@pytest.fixture
def replies(scene, tenant):
    inbox_a = scene.conversation.inbox
    inbox_b = make_inbox(tenant, name="C")
    return {
        "tenant": QuickReply.objects.create(tenant=tenant, shortcut="hello", text="Hello!"),
        "inbox_a": QuickReply.objects.create(tenant=tenant, shortcut="a", text="A", scope="inbox", inbox=inbox_a),
        "inbox_c": QuickReply.objects.create(tenant=tenant, shortcut="c", text="C", scope="inbox", inbox=inbox_b),
        "ana": QuickReply.objects.create(
            tenant=tenant, shortcut="mine", text="Mine", scope="personal", owner=scene.ana.user
        ),
        "bia": QuickReply.objects.create(
            tenant=tenant, shortcut="bias", text="B", scope="personal", owner=scene.bia.user
        ),
    }


def test_quick_replies_list_what_the_member_may_use(scene, tenant, replies):
    body = scene.ana_client.get(f"{API}/quick-replies/").json()
    assert [(r["shortcut"], r["scope"], r["can_manage"]) for r in body] == [
        ("a", "inbox", False),
        ("hello", "tenant", False),
        ("mine", "personal", True),
    ]
    assert body[2] == {
        "id": replies["ana"].pk,
        "shortcut": "mine",
        "text": "Mine",
        "scope": "personal",
        "inbox_id": None,
        "owner_id": scene.ana.user_id,
        "attachment_url": None,
        "can_manage": True,
    }
    narrowed = scene.ana_client.get(f"{API}/quick-replies/?inbox={scene.conversation.inbox_id}").json()
    assert [r["shortcut"] for r in narrowed] == ["a", "hello", "mine"]
    assert scene.ana_client.get(f"{API}/quick-replies/?inbox={replies['inbox_c'].inbox_id}").status_code == 400


def test_quick_reply_crud_for_a_personal_reply(scene, tenant, replies):
    created = scene.ana_client.post(
        f"{API}/quick-replies/",
        {"shortcut": "/bye", "text": "Bye!", "scope": "personal"},
        content_type="application/json",
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    assert QuickReply.objects.filter(pk=pk).values_list("shortcut", "scope", "owner_id").get() == (
        "bye",
        "personal",
        scene.ana.user_id,
    )

    changed = scene.ana_client.patch(f"{API}/quick-replies/{pk}/", {"text": "Bye now"}, content_type="application/json")
    assert changed.status_code == 200
    assert (changed.json()["shortcut"], changed.json()["text"]) == ("bye", "Bye now")

    assert scene.ana_client.delete(f"{API}/quick-replies/{pk}/").status_code == 204
    assert not QuickReply.objects.filter(pk=pk).exists()
    assert [e.action for e in _audit(tenant, "quick_reply.")] == [
        "quick_reply.created",
        "quick_reply.changed",
        "quick_reply.deleted",
    ]


def test_an_agent_cannot_create_or_change_shared_replies_nor_see_anothers_personal_one(scene, tenant, replies):
    before = list(QuickReply.objects.order_by("id").values())
    shared = scene.ana_client.post(
        f"{API}/quick-replies/", {"shortcut": "x", "text": "X", "scope": "tenant"}, content_type="application/json"
    )
    edit = scene.ana_client.patch(
        f"{API}/quick-replies/{replies['tenant'].pk}/", {"text": "changed"}, content_type="application/json"
    )
    bias = scene.ana_client.delete(f"{API}/quick-replies/{replies['bia'].pk}/")

    assert (shared.status_code, edit.status_code, bias.status_code) == (403, 403, 404)
    assert list(QuickReply.objects.order_by("id").values()) == before
    assert _audit(tenant, "quick_reply.") == []


def test_quick_replies_are_for_members_not_tokens(scene, tenant, replies):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY, Perm.MANAGE_LABELS])
    response = client.get(f"{API}/quick-replies/")
    assert response.status_code == 403
    assert "API token" in response.json()["error"]["message"]
    assert client.delete(f"{API}/quick-replies/{replies['tenant'].pk}/").status_code == 403
    assert QuickReply.objects.filter(pk=replies["tenant"].pk).exists()


def test_another_tenants_quick_reply_is_404(scene, tenant, other_tenant):
    theirs = QuickReply.objects.create(tenant=other_tenant, shortcut="hello", text="Hi")
    owner = Client()
    owner.force_login(owner_of(tenant).user)
    assert (
        owner.patch(f"{API}/quick-replies/{theirs.pk}/", {"text": "x"}, content_type="application/json").status_code
        == 404
    )
    assert owner.delete(f"{API}/quick-replies/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.text == "Hi"


# --- the conversations list ---------------------------------------------------------------------


def test_conversation_list_rows_carry_unread_waiting_labels_and_a_last_message_preview(scene, tenant):
    vip = make_label(tenant, "vip")
    ConversationLabel.objects.create(tenant=tenant, conversation=scene.conversation, label=vip)
    message = make_message(scene.conversation, "x" * 200)
    waiting = timezone.now() - timedelta(minutes=5)
    Conversation.objects.filter(pk=scene.conversation.pk).update(
        last_message=message, unread_count=4, waiting_since=waiting
    )

    body = scene.ana_client.get(f"{API}/conversations/").json()

    assert body["next"] is None
    [row] = body["results"]  # Bia's conversation is not visible to Ana
    assert row["display_id"] == scene.conversation.display_id
    assert (row["unread_count"], row["labels"], row["last_message"]) == (
        4,
        [{"id": vip.pk, "name": "vip", "color": "#1f6feb"}],
        {
            "id": message.pk,
            "type": "text",
            "text": "x" * 120,
            "direction": "in",
            "status": "received",
            "private": False,
        },
    )
    assert row["waiting_since"] == waiting.isoformat().replace("+00:00", "Z")
    assert row["contact"] == {
        "id": scene.conversation.contact_id,
        "name": "Cliente",
        "phone": "+5511911110000",
    }
    assert row["reply_window_open"] is False


def test_conversation_list_filters_and_pages_by_cursor(scene, tenant):
    owner = Client()
    owner.force_login(owner_of(tenant).user)
    inbox = scene.conversation.inbox
    resolved = make_conversation(inbox, name="Done", status="resolved")

    every = owner.get(f"{API}/conversations/?page_size=2").json()
    assert len(every["results"]) == 2
    rest = owner.get(f"{API}/conversations/?page_size=2&cursor={every['next']}").json()
    assert rest["next"] is None
    ids = [r["display_id"] for r in every["results"] + rest["results"]]
    assert sorted(ids) == sorted([scene.conversation.display_id, scene.theirs.display_id, resolved.display_id])

    def ids_for(query: str) -> list[int]:
        return [r["display_id"] for r in owner.get(f"{API}/conversations/?{query}").json()["results"]]

    assert ids_for("status=resolved") == [resolved.display_id]
    assert ids_for("tab=unassigned&status=open") == [scene.conversation.display_id]
    assert ids_for(f"assignee={scene.bia.user_id}") == [scene.theirs.display_id]
    assert ids_for("q=Outro") == [scene.theirs.display_id]
    assert ids_for("q=5511911110000") == [scene.conversation.display_id]


@pytest.mark.parametrize(
    "query",
    ["tab=everything", "status=closed", "sort=oldest", "inbox=abc", "cursor=zzz", "page_size=0", "page_size=500"],
)
def test_conversation_list_rejects_bad_parameters(scene, query):
    response = scene.ana_client.get(f"{API}/conversations/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"


def test_conversation_list_of_another_workspace_is_404(scene, other_tenant):
    assert scene.ana_client.get("/api/v1/t/globex/conversations/").status_code == 404


def test_the_api_token_of_a_tenant_sees_only_its_tenants_conversations(scene, tenant, foreign):
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])
    body = client.get(f"{API}/conversations/").json()
    assert {r["id"] for r in body["results"]} == {scene.conversation.pk, scene.theirs.pk}


def test_a_contact_is_changed_with_json_only_and_an_empty_form_changes_nothing(scene, tenant):
    contact = scene.conversation.contact
    response = scene.ana_client.patch(
        f"{API}/contacts/{contact.pk}/", "--x\r\nNone--x--\r\n", content_type="multipart/form-data; boundary=x"
    )

    assert response.status_code == 415
    contact.refresh_from_db()
    assert contact.name == "Cliente"
    assert not AuditLogEntry.objects.filter(tenant=tenant, action__startswith="contact.").exists()
