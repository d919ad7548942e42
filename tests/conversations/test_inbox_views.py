"""The inbox page and the fragments and actions its script uses, as an agent sees them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Label, Message, Notification, QuickReply
from conversations.services.inbound import InboundSpec, message_receive
from tenants.models import AuditLogEntry
from tests.factories import add_member
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def agent(tenant, channel):
    member = add_member(tenant, "agent")
    member.user.name = "Ana Agent"
    member.user.save(update_fields=["name"])
    channel.inbox.members.add(member.user)
    return member


@pytest.fixture
def client_for():
    def make(membership):
        c = Client()
        c.force_login(membership.user)
        return c

    return make


def receive(channel, *, wa_id="5511912345678", text="Olá", name="Maria", when=None, wamid=None):
    message, _ = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=wa_id,
            external_id=wamid or f"wamid.{wa_id}.{Message.objects.count()}",
            occurred_at=when or timezone.now(),
            type="text",
            text=text,
            profile_name=name,
        ),
    )
    return message


def test_inbox_page_lists_visible_conversations_with_escaped_names(tenant, channel, agent, client_for):
    receive(channel, name="<b>Maria</b>", text="Preciso de ajuda")
    response = client_for(agent).get("/t/acme/inbox/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;b&gt;Maria&lt;/b&gt;" in body
    assert "<b>Maria</b>" not in body
    assert "Preciso de ajuda" in body


def test_conversation_url_renders_the_pane_and_sidebar(tenant, channel, agent, client_for):
    message = receive(channel, text="Quero recarregar meu cartão")
    response = client_for(agent).get(f"/t/acme/inbox/c/{message.conversation.display_id}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="m-{message.pk}"' in body
    assert "data-composer" in body
    assert "Previous conversations" in body


def test_list_fragment_pages_by_cursor_without_repeats(tenant, channel, agent, client_for):
    for i in range(30):
        receive(channel, wa_id=f"55119000{i:05d}", text=f"m{i}")
    client = client_for(agent)
    first = client.get("/t/acme/inbox/list/", {"tab": "all"}).json()
    assert len(first["ids"]) == 25
    assert first["counts"] == {"all": 30, "mine": 0, "unassigned": 30}
    second = client.get("/t/acme/inbox/list/", {"tab": "all", "cursor": first["next"]}).json()
    assert len(second["ids"]) == 5
    assert second["next"] is None
    assert "counts" not in second  # the badges come with the first page only
    assert set(first["ids"]).isdisjoint(second["ids"])
    assert set(first["ids"]) | set(second["ids"]) == set(Conversation.objects.values_list("pk", flat=True))


def test_list_fragment_rejects_bad_filters_with_a_message(tenant, agent, client_for):
    response = client_for(agent).get("/t/acme/inbox/list/", {"status": "bogus"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    response = client_for(agent).get("/t/acme/inbox/list/", {"cursor": "not-a-cursor"})
    assert response.status_code == 400


def test_rows_reports_conversations_the_agent_can_no_longer_see(tenant, channel, agent, client_for):
    visible = receive(channel, wa_id="5511911111111").conversation
    hidden = receive(channel, wa_id="5511922222222").conversation
    other = add_member(tenant, "agent")
    channel.inbox.members.add(other.user)
    Conversation.objects.filter(pk=hidden.pk).update(assignee=other.user)
    data = client_for(agent).get("/t/acme/inbox/rows/", {"ids": f"{visible.pk},{hidden.pk}"}).json()
    assert list(data["rows"]) == [str(visible.pk)]
    assert data["missing"] == [hidden.pk]


def test_rows_reports_conversations_that_left_the_current_filter(tenant, channel, agent, client_for):
    open_one = receive(channel, wa_id="5511911111111").conversation
    resolved = receive(channel, wa_id="5511922222222").conversation
    Conversation.objects.filter(pk=resolved.pk).update(status="resolved")
    data = (
        client_for(agent).get("/t/acme/inbox/rows/", {"ids": f"{open_one.pk},{resolved.pk}", "status": "open"}).json()
    )
    assert list(data["rows"]) == [str(open_one.pk)]
    assert data["missing"] == [resolved.pk]
    data = client_for(agent).get("/t/acme/inbox/rows/", {"ids": f"{resolved.pk}", "status": "resolved"}).json()
    assert (list(data["rows"]), data["missing"]) == ([str(resolved.pk)], [])


def test_pane_of_a_conversation_assigned_to_someone_else_is_404(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    other = add_member(tenant, "agent")
    channel.inbox.members.add(other.user)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=other.user)
    response = client_for(agent).get(f"/t/acme/inbox/c/{conversation.display_id}/pane/")
    assert response.status_code == 404
    response = client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/send/", {"text": "oi"})
    assert response.status_code == 404
    assert not Message.objects.filter(direction="out").exists()


def test_messages_after_returns_only_newer_ones_in_order(tenant, channel, agent, client_for):
    first = receive(channel, text="um")
    second = receive(channel, text="dois")
    third = receive(channel, text="três")
    display_id = first.conversation.display_id
    data = client_for(agent).get(f"/t/acme/inbox/c/{display_id}/messages/", {"after": first.pk}).json()
    assert data["ids"] == [second.pk, third.pk]
    assert data["more"] is False
    data = client_for(agent).get(f"/t/acme/inbox/c/{display_id}/messages/", {"before": third.pk}).json()
    assert data["ids"] == [first.pk, second.pk]


def test_send_twice_with_one_key_sends_once(
    tenant, channel, agent, client_for, django_capture_on_commit_callbacks, monkeypatch
):
    from conversations import channels
    from conversations.services import delivery_jobs

    conversation = receive(channel).conversation
    handed: list[int] = []  # the messages handed to the channel for delivery, after commit
    backend = channels.backend_for(channel.inbox)
    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", lambda m: handed.append(m.pk))
    monkeypatch.setattr(backend, "enqueue_read_receipt", lambda m: None)
    client = client_for(agent)
    url = f"/t/acme/inbox/c/{conversation.display_id}/send/"
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, {"text": "Oi, Maria!", "idempotency_key": "k-1"})
        second = client.post(url, {"text": "Oi, Maria!", "idempotency_key": "k-1"})
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    sent = Message.objects.filter(direction="out", private=False)
    assert sent.count() == 1
    assert sent.get().text == "Oi, Maria!"
    assert sent.get().sender_user_id == agent.user_id
    assert handed == [first.json()["id"]]


def test_a_key_used_in_one_conversation_is_refused_in_another(tenant, channel, agent, client_for):
    first = receive(channel, wa_id="5511911111111").conversation
    second = receive(channel, wa_id="5511922222222").conversation
    client = client_for(agent)
    sent = client.post(f"/t/acme/inbox/c/{first.display_id}/send/", {"text": "Oi", "idempotency_key": "k-1"})
    reused = client.post(f"/t/acme/inbox/c/{second.display_id}/send/", {"text": "Oi", "idempotency_key": "k-1"})
    assert (sent.status_code, reused.status_code) == (201, 422)
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert list(Message.objects.filter(direction="out").values_list("pk", "conversation_id")) == [
        (sent.json()["id"], first.pk)
    ]


def test_send_after_the_window_is_refused_and_nothing_is_stored(tenant, channel, agent, client_for):
    conversation = receive(channel, when=timezone.now() - timedelta(hours=24, minutes=1)).conversation
    response = client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/send/", {"text": "Oi"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reply_window_closed"
    assert not Message.objects.filter(direction="out").exists()


def test_empty_message_is_refused(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    response = client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/send/", {"text": "   "})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Write a message first."
    assert not Message.objects.filter(direction="out").exists()


def test_note_with_mention_notifies_the_mentioned_agent(tenant, channel, agent, supervisor, client_for):
    conversation = receive(channel).conversation
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/note/",
        {"text": "@Super olha este", "mention": [str(supervisor.user_id)]},
    )
    assert response.status_code == 201
    note = Message.objects.get(private=True, sender_type="agent")
    assert note.content == {"v": 1, "kind": "text", "body": "@Super olha este", "mentions": [supervisor.user_id]}
    notification = Notification.objects.get()
    assert (notification.user_id, notification.kind, notification.message_id) == (
        supervisor.user_id,
        "mention",
        note.pk,
    )


def test_assign_to_me_is_audited_and_leaves_an_activity_line(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    response = client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/assign/", {"assignee": "me"})
    assert response.status_code == 200
    assert response.json()["conversation"]["assignee_id"] == agent.user_id
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.user_id
    entry = AuditLogEntry.objects.get(action="conversation.assigned")
    assert entry.extra == {"from": None, "to": agent.user_id}
    assert Message.objects.get(type="system").text == "Ana Agent took the conversation"


def test_assigning_away_answers_hidden_with_the_new_tab_counts(tenant, channel, agent, client_for):
    colleague = add_member(tenant, "agent")
    channel.inbox.members.add(colleague.user)
    conversation = receive(channel).conversation
    Conversation.objects.filter(pk=conversation.pk).update(assignee=agent.user)
    receive(channel, wa_id="5511912340000", text="Outra pessoa")  # an unassigned one stays in view
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/assign/", {"assignee": str(colleague.user_id)}
    )
    assert response.status_code == 200
    body = response.json()
    # When the counts were read: the page skips the count changes of events built before.
    assert isinstance(body.pop("counts_at"), float)
    assert body == {
        "hidden": True,
        "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
        "counts": {"all": 1, "mine": 0, "unassigned": 1},
    }
    assert Conversation.objects.get(pk=conversation.pk).assignee_id == colleague.user_id


def test_a_header_asked_for_after_the_conversation_was_assigned_away_answers_hidden(tenant, channel, agent, client_for):
    colleague = add_member(tenant, "agent")
    channel.inbox.members.add(colleague.user)
    conversation = receive(channel).conversation
    client = client_for(agent)
    assert client.get(f"/t/acme/inbox/c/{conversation.display_id}/header/").status_code == 200
    # A refresh on its way when someone else takes it: the same answer as the assign action's.
    Conversation.objects.filter(pk=conversation.pk).update(assignee=colleague.user)

    response = client.get(f"/t/acme/inbox/c/{conversation.display_id}/header/")

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body.pop("counts_at"), float)
    assert body == {
        "hidden": True,
        "conversation": {"id": conversation.pk, "display_id": conversation.display_id},
        "counts": {"all": 0, "mine": 0, "unassigned": 0},
    }
    # No such conversation in this workspace: a 404 as before.
    assert client.get("/t/acme/inbox/c/9999/header/").status_code == 404


def test_snooze_needs_a_future_time(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    url = f"/t/acme/inbox/c/{conversation.display_id}/status/"
    past = (timezone.now() - timedelta(minutes=5)).isoformat()
    response = client_for(agent).post(url, {"status": "snoozed", "snoozed_until": past})
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.status == "open"
    until = timezone.now() + timedelta(hours=1)
    response = client_for(agent).post(url, {"status": "snoozed", "snoozed_until": until.isoformat()})
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("snoozed", until)


def test_labels_are_added_and_removed(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    vip = Label.objects.create(tenant=tenant, name="vip", color="#ff0000")
    client = client_for(agent)
    url = f"/t/acme/inbox/c/{conversation.display_id}/labels/"
    assert client.post(url, {"add": [vip.pk]}).status_code == 200
    assert list(conversation.labels.values_list("name", flat=True)) == ["vip"]
    assert client.post(url, {"remove": [vip.pk]}).status_code == 200
    assert list(conversation.labels.all()) == []
    assert client.post(url, {"add": [999999]}).status_code == 400


def test_another_tenants_label_cannot_be_added(tenant, other_tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    foreign = Label.objects.create(tenant=other_tenant, name="foreign")
    response = client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/labels/", {"add": [foreign.pk]})
    assert response.status_code == 400
    assert list(conversation.labels.all()) == []


def test_quick_replies_come_with_variables_filled_in(tenant, channel, agent, client_for):
    conversation = receive(channel, name="Maria Silva").conversation
    QuickReply.objects.create(tenant=tenant, shortcut="oi", text="Olá {{contact.first_name}}, aqui é {{agent.name}}.")
    QuickReply.objects.create(tenant=tenant, shortcut="meu", text="pessoal", scope="personal", owner=agent.user)
    other = add_member(tenant, "agent")
    QuickReply.objects.create(tenant=tenant, shortcut="dele", text="de outro", scope="personal", owner=other.user)
    data = client_for(agent).get(f"/t/acme/inbox/c/{conversation.display_id}/quick-replies/").json()
    assert [(q["shortcut"], q["text"]) for q in data["quick_replies"]] == [
        ("meu", "pessoal"),
        ("oi", "Olá Maria, aqui é Ana Agent."),
    ]


def test_contact_edit_saves_name_phone_attributes(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/contact/",
        {"name": "Maria da Silva", "phone": "(11) 91234-5678", "attr_key": ["plano", ""], "attr_value": ["ouro", "x"]},
    )
    assert response.status_code == 200
    contact = conversation.contact
    contact.refresh_from_db()
    assert (contact.name, contact.phone_e164, contact.custom_attributes) == (
        "Maria da Silva",
        "+5511912345678",
        {"plano": "ouro"},
    )


def test_contact_edit_with_a_bad_phone_changes_nothing(tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/contact/", {"name": "Outra", "phone": "12"}
    )
    assert response.status_code == 400
    contact = conversation.contact
    contact.refresh_from_db()
    assert contact.name == ""
    assert not AuditLogEntry.objects.filter(action="contact.updated").exists()


def test_mark_read_clears_the_unread_count(tenant, channel, agent, client_for):
    receive(channel, text="a")
    conversation = receive(channel, text="b").conversation
    conversation.refresh_from_db()
    assert conversation.unread_count == 2
    assert client_for(agent).post(f"/t/acme/inbox/c/{conversation.display_id}/read/").json() == {"ok": True}
    conversation.refresh_from_db()
    assert conversation.unread_count == 0


def test_templates_endpoint_offers_approved_templates_only(tenant, channel, agent, client_for):
    from whatsapp.models import MessageTemplate

    body = [{"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu."}]
    for name, status in (("pedido", "APPROVED"), ("rascunho", "PENDING")):
        MessageTemplate.objects.create(
            tenant=tenant, waba_id=channel.waba_id, name=name, language="pt_BR", status=status, components=body
        )
    conversation = receive(channel).conversation
    data = client_for(agent).get(f"/t/acme/inbox/c/{conversation.display_id}/templates/").json()
    assert [(t["name"], t["body_placeholders"]) for t in data["templates"]] == [("pedido", ["1", "2"])]


def test_template_send_from_the_inbox_after_the_window(tenant, channel, agent, client_for):
    from whatsapp.models import MessageTemplate

    MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=channel.waba_id,
        name="retomar",
        language="pt_BR",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Olá {{1}}, podemos continuar?"}],
    )
    conversation = receive(channel, when=timezone.now() - timedelta(days=2)).conversation
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/send/",
        {
            "template": "retomar",
            "language": "pt_BR",
            "params": json.dumps({"body": ["Maria"]}),
            "idempotency_key": "t1",
        },
    )
    assert response.status_code == 201, response.content
    message = Message.objects.get(direction="out", type="template")
    assert message.text == "Olá Maria, podemos continuar?"


def _queries(client, url, params=None):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/t/acme/inbox/list/")  # the first request of a session records the last workspace
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _labelled_conversations(tenant, channel, n, *, start=0):
    from conversations.models import ConversationLabel

    label = Label.objects.get_or_create(tenant=tenant, name="vip")[0]
    for i in range(start, start + n):
        conversation = receive(channel, wa_id=f"55119100{i:05d}", text=f"pedido {i}").conversation
        ConversationLabel.objects.create(tenant=tenant, conversation=conversation, label=label)


@pytest.mark.parametrize("tab", ["mine", "unassigned", "all"])
def test_list_fragment_query_count_does_not_grow_with_rows(tenant, channel, agent, client_for, tab):
    client = client_for(agent)
    assignee = agent.user if tab == "mine" else None
    _labelled_conversations(tenant, channel, 5)
    Conversation.objects.update(assignee=assignee)
    few = _queries(client, "/t/acme/inbox/list/", {"tab": tab})
    _labelled_conversations(tenant, channel, 25, start=5)
    Conversation.objects.update(assignee=assignee)
    many = _queries(client, "/t/acme/inbox/list/", {"tab": tab})
    # Rows of the "mine" tab have an assignee to read; the others' rows here have none.
    assert few == many == (LIST_QUERIES + 1 if tab == "mine" else LIST_QUERIES)


def test_search_fragment_query_count_is_pinned(tenant, channel, agent, client_for):
    _labelled_conversations(tenant, channel, 30)
    from django.db import connection

    # On PostgreSQL a word search first asks the planner how many messages match (an EXPLAIN).
    estimate = 1 if connection.vendor == "postgresql" else 0
    assert _queries(client_for(agent), "/t/acme/inbox/list/", {"q": "pedido"}) == LIST_QUERIES + estimate
    assert _queries(client_for(agent), "/t/acme/inbox/list/", {"q": "9100000"}) == LIST_QUERIES


def test_conversation_pane_query_count_does_not_grow_with_messages(tenant, channel, agent, client_for):
    client = client_for(agent)
    first = receive(channel, text="primeira")
    url = f"/t/acme/inbox/c/{first.conversation.display_id}/pane/"
    few = _queries(client, url)
    for i in range(60):
        receive(channel, text=f"mensagem {i}")
    many = _queries(client, url)
    assert few == many == PANE_QUERIES


def test_messages_fragment_query_count_is_pinned(tenant, channel, agent, client_for):
    first = receive(channel, text="primeira")
    for i in range(60):
        receive(channel, text=f"mensagem {i}")
    url = f"/t/acme/inbox/c/{first.conversation.display_id}/messages/"
    assert _queries(client_for(agent), url, {"before": first.pk + 55}) == MESSAGES_QUERIES
    # Catching up also reads the day of the message it follows (for the first day separator).
    assert _queries(client_for(agent), url, {"after": first.pk}) == MESSAGES_QUERIES + 1


# Every request reads the user and the membership (with its role): 2 queries; the session comes from the cache.
# List: the page of conversations (contact and inbox joined), their labels, their last messages, the
# tab counts (and their assignees, when any row has one).
LIST_QUERIES = 6
# Pane: the conversation, 50 messages with their attachments and reactions, the labels flagged for
# this conversation, the members it can be assigned to, the teams it can be moved to.
PANE_QUERIES = 9
# Messages: the conversation, the messages with their attachments and reactions.
MESSAGES_QUERIES = 6


def test_sidebar_query_count_is_pinned(tenant, channel, agent, supervisor, client_for):
    from conversations.services.actions import conversation_status_set
    from conversations.services.outbound import note_create

    # Three earlier conversations of the customer, resolved, each with notes by two members.
    earlier = []
    for i in range(3):
        conversation = receive(channel, text=f"conversa {i}").conversation
        for member in (agent, supervisor):
            note_create(actor=member, conversation=conversation, text=f"nota {i} {member.user.name}")
        conversation_status_set(actor=agent, conversation=conversation, status="resolved")
        earlier.append(conversation)
    current = receive(channel, text="primeira").conversation
    assert current.pk not in {c.pk for c in earlier}
    url = f"/t/acme/inbox/c/{current.display_id}/sidebar/"
    # The conversation, the labels flagged for it and its contact, the contact's channel identities,
    # earlier conversations, notes, the contact's orders (a section of the payments app), their consent
    # (3, the campaigns app's section) and their scheduled messages (1, another section of campaigns).
    assert _queries(client_for(agent), url) == 12

    body = client_for(agent).get(url).json()["html"]
    assert [f"#{c.display_id}" in body for c in earlier] == [True, True, True]
    assert body.count("nota ") == 6


def test_notifications_list_only_the_members_own_and_mark_read(tenant, channel, agent, supervisor, client_for):
    conversation = receive(channel, name="Maria").conversation
    client_for(supervisor).post(
        f"/t/acme/inbox/c/{conversation.display_id}/note/", {"text": "@Ana veja", "mention": [str(agent.user_id)]}
    )
    client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/note/", {"text": "@Super ok", "mention": [str(supervisor.user_id)]}
    )
    data = client_for(agent).get("/t/acme/inbox/notifications/").json()
    assert data["unread"] == 1
    assert "mentioned you in #1" in data["html"]
    assert data["html"].count("<li") == 1
    assert client_for(agent).post("/t/acme/inbox/notifications/read/").json() == {"unread": 0}
    assert Notification.objects.filter(user=agent.user, read_at__isnull=True).count() == 0
    # The supervisor's own notification is untouched by the agent marking theirs read.
    assert Notification.objects.filter(user=supervisor.user, read_at__isnull=True).count() == 1


def test_contact_edit_with_an_unknown_label_changes_nothing(tenant, other_tenant, channel, agent, client_for):
    conversation = receive(channel).conversation
    foreign = Label.objects.create(tenant=other_tenant, name="foreign")
    response = client_for(agent).post(
        f"/t/acme/inbox/c/{conversation.display_id}/contact/", {"name": "Outra", "label": [str(foreign.pk)]}
    )
    assert response.status_code == 400
    contact = conversation.contact
    contact.refresh_from_db()
    assert (contact.name, list(contact.labels.all())) == ("", [])


def test_settings_and_api_find_the_same_quick_replies_to_manage(tenant, channel, client_for):
    from conversations.models import Inbox
    from conversations.selectors import quick_reply_settings_list
    from tenants.permissions import Perm
    from tests.conversations.factories import make_role

    # May manage quick replies but works in no inbox and cannot see all conversations.
    manager = add_member(tenant, make_role(tenant, [Perm.MANAGE_LABELS, Perm.REPLY]))
    elsewhere = Inbox.objects.create(tenant=tenant, name="Other number", channel_type="whatsapp")
    reply = QuickReply.objects.create(
        tenant=tenant, shortcut="frete", text="Frete grátis", scope="inbox", inbox=elsewhere
    )
    assert list(quick_reply_settings_list(membership=manager)) == [reply]
    response = client_for(manager).patch(
        f"/api/v1/t/acme/quick-replies/{reply.pk}/",
        {"text": "Frete grátis acima de R$ 100"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    reply.refresh_from_db()
    assert reply.text == "Frete grátis acima de R$ 100"


def _header(client, conversation, **headers):
    return client.get(f"/t/acme/inbox/c/{conversation.display_id}/header/", **headers).json()["header"]


def test_the_header_shows_the_number_nationally_the_waiting_age_and_the_time_left(tenant, channel, agent, client_for):
    conversation = receive(channel, wa_id="5511912345678", when=timezone.now() - timedelta(hours=1)).conversation
    client = client_for(agent)

    header = _header(client, conversation)
    assert "Support · (11) 91234-5678\n" in header
    assert ">waiting 1 hr</span>" in header
    assert ">Reply window closes in 22h 59m</span>" in header  # 23 hours left, less the test's few seconds
    assert "+5511912345678" not in header

    agent.user.language = "pt-br"
    agent.user.save(update_fields=["language"])
    pt_header = _header(client, conversation)
    assert "Support · (11) 91234-5678\n" in pt_header
    assert ">aguardando 1 h</span>" in pt_header
    assert ">A janela de resposta fecha em 22 h 59 min</span>" in pt_header
    agent.user.language = ""
    agent.user.save(update_fields=["language"])

    tenant.country = "US"
    tenant.save(update_fields=["country"])
    assert "Support · +55 11 91234-5678\n" in _header(client, conversation)


def test_the_contact_panel_shows_a_whatsapp_address_as_a_phone_number(tenant, channel, agent, client_for):
    conversation = receive(channel, wa_id="5511912345678").conversation
    html = client_for(agent).get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").json()["html"]
    assert "Address on WhatsApp: (11) 91234-5678</p>" in html


def test_the_page_opened_on_a_conversation_renders_the_same_header_as_its_refresh(tenant, channel, agent, client_for):
    conversation = receive(channel, wa_id="5511912345678", when=timezone.now() - timedelta(hours=1)).conversation
    client = client_for(agent)
    page = client.get(f"/t/acme/inbox/c/{conversation.display_id}/").content.decode()
    assert '<option value="none" selected>No priority</option><option value="low">Low</option>' in page
    header = _header(client, conversation)
    start = page.index('<header class="pane-head"')
    assert page[start : page.index("</header>", start) + len("</header>")] == header.strip()
