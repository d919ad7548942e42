"""``messages_send_bulk``: many messages the business writes first (a broadcast's batch) with the checks, rows,
events and live updates of ``message_send(bulk=True)``, written set-based; a refused one does not stop the
others, replays return the first message, and the statements do not grow with the batch."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.actors import AutomationActor
from conversations.models import Contact, Conversation, Inbox, Message, OutboxEvent
from conversations.services import delivery_jobs
from conversations.services.outbound import (
    BulkSend,
    IdempotencyKeyMismatch,
    IdempotencyKeyReused,
    OutboundSpec,
    message_send,
    messages_send_bulk,
)
from conversations.services.proactive import contact_inboxes_for, conversations_for_proactive
from helpdesk.exceptions import PermissionDenied
from tenants.permissions import Perm
from tests.campaigns.sending_fixtures import MetaRecorder, install, make_contacts, make_number
from tests.conversations.channel_double import CHANNEL_TYPE, registered
from tests.conversations.factories import make_role
from tests.factories import add_member, make_tenant

pytestmark = pytest.mark.django_db

# What every bulk message leaves alone on its conversation (it is not an answer).
UNTOUCHED = ("unread_count", "waiting_since", "last_activity_at", "last_reply_at")


@pytest.fixture
def number(tenant):
    install(MetaRecorder())
    return make_number(tenant)


@pytest.fixture
def requests(monkeypatch) -> list[list[tuple[int, int]]]:
    """The send queues asked for after each commit (nothing is sent: the test looks at what was queued)."""
    asked: list[list[tuple[int, int]]] = []
    monkeypatch.setattr(delivery_jobs, "send_requests", lambda messages: asked.append(list(messages)) or 0)
    return asked


def _actor(tenant) -> AutomationActor:
    return AutomationActor(tenant_id=tenant.pk, automation_id=7, name="Black Friday", kind="broadcast")


def _conversations(tenant, inbox, contacts) -> list[Conversation]:
    people = {c.phone_e164.lstrip("+"): (c.pk, c.phone_e164) for c in contacts}
    links = contact_inboxes_for(inbox=inbox, people=people)
    by_link = conversations_for_proactive(inbox=inbox, contact_inboxes=list(links.values()))
    return [by_link[links[c.phone_e164.lstrip("+")].pk] for c in contacts]


def _promo(name: str = "Ana", code: str = "BF10") -> OutboundSpec:
    return OutboundSpec(
        type=Message.Type.TEMPLATE,
        content={"name": "promo", "language": "pt_BR", "params": {"body": [name, code]}},
    )


def _send(tenant, sends, capture) -> list:
    with capture(execute=True), transaction.atomic():
        return messages_send_bulk(actor=_actor(tenant), sends=sends)


def test_each_message_is_the_row_message_send_would_have_written(
    tenant, number, requests, django_capture_on_commit_callbacks
):
    contacts = make_contacts(tenant, 3)
    conversations = _conversations(tenant, number.inbox, contacts)
    before = {c.pk: [getattr(c, f) for f in UNTOUCHED] for c in Conversation.objects.filter(tenant=tenant)}
    results = _send(
        tenant,
        [
            BulkSend(conversation=c, spec=_promo(f"C{i}"), idempotency_key=f"bulk:{i}")
            for i, c in enumerate(conversations)
        ],
        django_capture_on_commit_callbacks,
    )
    assert [(r.created, r.error) for r in results] == [(True, None)] * 3
    for conversation, result in zip(conversations, results, strict=True):
        row = Conversation.objects.get(pk=conversation.pk)
        message = Message.objects.get(pk=result.message.pk)
        assert (row.last_message_id, row.last_message_at) == (message.pk, message.occurred_at)
        assert message.conversation_id == conversation.pk
        assert [getattr(row, f) for f in UNTOUCHED] == before[conversation.pk]
    one, _created = message_send(
        actor=_actor(tenant), conversation=conversations[0], spec=_promo("C0"), idempotency_key="single", bulk=True
    )
    fields = ("type", "text", "content", "raw", "status", "sender_type", "sender_label", "sender_automation_id")
    bulk = Message.objects.get(pk=results[0].message.pk)
    assert [getattr(bulk, f) for f in fields] == [getattr(one, f) for f in fields]
    assert bulk.text == "Oi C0, seu cupom é BF10."
    assert bulk.idempotency_fingerprint == one.idempotency_fingerprint != ""
    events = OutboxEvent.objects.filter(event_type="message.sent").order_by("occurred_at")
    assert [e.payload["message_id"] for e in events][:3] == [r.message.pk for r in results]
    assert {e.payload["actor_kind"] for e in events} == {"broadcast"}
    # The inbox's send queue is asked for once, for the whole batch, after the commit.
    assert requests[0] == [(r.message.pk, number.inbox.pk) for r in results]


def test_a_refused_message_writes_nothing_and_the_others_go(
    tenant, number, requests, django_capture_on_commit_callbacks
):
    consenting = make_contacts(tenant, 2)
    refusing = make_contacts(tenant, 1, consent="opted_out", start=50)
    conversations = _conversations(tenant, number.inbox, [consenting[0], refusing[0], consenting[1]])
    missing = OutboundSpec(type=Message.Type.TEMPLATE, content={"name": "nope", "language": "pt_BR", "params": {}})
    results = _send(
        tenant,
        [
            BulkSend(conversation=conversations[0], spec=_promo(), idempotency_key="k0"),
            BulkSend(conversation=conversations[1], spec=_promo(), idempotency_key="k1"),
            BulkSend(conversation=conversations[2], spec=missing, idempotency_key="k2"),
            BulkSend(conversation=conversations[2], spec=_promo("x" * 1100), idempotency_key="k3"),
        ],
        django_capture_on_commit_callbacks,
    )
    assert results[0].created and results[0].error is None
    assert [r.message for r in results[1:]] == [None, None, None]
    assert [r.error.code for r in results[1:]] == ["no_marketing_consent", "not_found", "template_params_invalid"]
    assert list(Message.objects.values_list("idempotency_key", flat=True)) == ["k0"]
    assert OutboxEvent.objects.filter(event_type="message.sent").count() == 1
    assert requests == [[(results[0].message.pk, number.inbox.pk)]]


def test_keys_already_used_replay_or_are_refused_as_message_send_does(
    tenant, number, requests, django_capture_on_commit_callbacks
):
    conversations = _conversations(tenant, number.inbox, make_contacts(tenant, 2))
    first = _send(
        tenant,
        [BulkSend(conversation=conversations[0], spec=_promo(), idempotency_key="k")],
        django_capture_on_commit_callbacks,
    )[0].message
    again = _send(
        tenant,
        [
            BulkSend(conversation=conversations[0], spec=_promo(), idempotency_key="k"),
            BulkSend(conversation=conversations[1], spec=_promo(), idempotency_key="k"),
            BulkSend(conversation=conversations[0], spec=_promo("Bia"), idempotency_key="k"),
        ],
        django_capture_on_commit_callbacks,
    )
    assert (again[0].message.pk, again[0].created) == (first.pk, False)
    assert isinstance(again[1].error, IdempotencyKeyReused)
    assert isinstance(again[2].error, IdempotencyKeyMismatch)
    assert Message.objects.count() == 1
    assert len(requests) == 1  # nothing new: no second request


def test_the_same_key_twice_in_one_batch_is_sent_once(tenant, number, requests, django_capture_on_commit_callbacks):
    conversation = _conversations(tenant, number.inbox, make_contacts(tenant, 1))[0]
    results = _send(
        tenant,
        [
            BulkSend(conversation=conversation, spec=_promo(), idempotency_key="twice"),
            BulkSend(conversation=conversation, spec=_promo(), idempotency_key="twice"),
        ],
        django_capture_on_commit_callbacks,
    )
    assert [r.created for r in results] == [True, False]
    assert results[0].message.pk == results[1].message.pk
    assert Message.objects.filter(idempotency_key="twice").count() == 1
    assert OutboxEvent.objects.filter(event_type="message.sent").count() == 1


def test_another_workspaces_conversation_is_refused(tenant, number, requests, django_capture_on_commit_callbacks):
    mine = _conversations(tenant, number.inbox, make_contacts(tenant, 1))[0]
    other_tenant = make_tenant(name="Outra")
    theirs = Conversation.objects.filter(tenant=tenant).first()
    theirs.tenant_id = other_tenant.pk  # a conversation object of another workspace, as a caller might pass
    results = _send(
        tenant,
        [
            BulkSend(conversation=theirs, spec=_promo(), idempotency_key="a"),
            BulkSend(conversation=mine, spec=_promo(), idempotency_key="b"),
        ],
        django_capture_on_commit_callbacks,
    )
    assert isinstance(results[0].error, PermissionDenied)
    assert results[1].created
    assert list(Message.objects.values_list("idempotency_key", flat=True)) == ["b"]


def test_an_older_message_does_not_replace_a_newer_preview(
    tenant, number, requests, django_capture_on_commit_callbacks
):
    conversation = _conversations(tenant, number.inbox, make_contacts(tenant, 1))[0]
    newer, _created = message_send(
        actor=_actor(tenant), conversation=conversation, spec=_promo(), idempotency_key="newer", bulk=True
    )
    Message.objects.filter(pk=newer.pk).update(occurred_at=timezone.now() + timezone.timedelta(minutes=5))
    newer.refresh_from_db()
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=newer.occurred_at)
    conversation.refresh_from_db()
    _send(
        tenant,
        [BulkSend(conversation=conversation, spec=_promo(), idempotency_key="older")],
        django_capture_on_commit_callbacks,
    )
    row = Conversation.objects.get(pk=conversation.pk)
    assert (row.last_message_id, row.last_message_at) == (newer.pk, newer.occurred_at)


def test_statements_do_not_grow_with_the_batch(tenant, number, requests, django_capture_on_commit_callbacks):
    contacts = make_contacts(tenant, 33)
    conversations = _conversations(tenant, number.inbox, contacts)

    def count(batch: list[Conversation], prefix: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            _send(
                tenant,
                [BulkSend(conversation=c, spec=_promo(), idempotency_key=f"{prefix}{c.pk}") for c in batch],
                django_capture_on_commit_callbacks,
            )
        return len(queries)

    # SQLite takes at most 999 values a statement: 30 messages' rows are two inserts there.
    split = 0 if connection.vendor == "postgresql" else 1
    assert count(conversations[3:], "b") == count(conversations[:3], "a") + split
    assert Message.objects.count() == 33


def test_a_channel_without_a_batch_prepares_each_message_on_its_own(tenant, django_capture_on_commit_callbacks):
    with registered():
        inbox = Inbox.objects.create(tenant=tenant, name="Test", channel_type=CHANNEL_TYPE)
        contact = Contact.objects.create(tenant=tenant, name="Dani", phone_e164="+5511955550000")
        conversation = _conversations(tenant, inbox, [contact])[0]
        results = _send(
            tenant,
            [
                BulkSend(conversation=conversation, spec=OutboundSpec(type="text", text="Oi"), idempotency_key="t1"),
                BulkSend(conversation=conversation, spec=OutboundSpec(type="text", text="Tchau"), idempotency_key="t2"),
            ],
            django_capture_on_commit_callbacks,
        )
    assert [Message.objects.get(pk=r.message.pk).text for r in results] == ["Oi", "Tchau"]
    assert Conversation.objects.get(pk=conversation.pk).last_message_id == results[1].message.pk


def test_a_member_who_may_not_send_templates_is_refused(tenant, number, requests, django_capture_on_commit_callbacks):
    conversation = _conversations(tenant, number.inbox, make_contacts(tenant, 1))[0]
    replier = add_member(tenant, make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY]))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        result = messages_send_bulk(
            actor=replier, sends=[BulkSend(conversation=conversation, spec=_promo(), idempotency_key="p")]
        )
    assert isinstance(result[0].error, PermissionDenied)
    assert not Message.objects.exists()
    assert requests == []
