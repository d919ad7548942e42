"""Migrations that fill new columns from the rows already stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.migrations

BEFORE = [("conversations", "0007_pending_status_created_index")]
# Both fill from stored rows: the last reply (0008), each message's time and each preview (0009).
AFTER = [("conversations", "0009_message_occurred_at_history_order")]
STAMPED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def executor(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The database taken back to ``BEFORE``, and forward to the latest migrations afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_stored_messages_take_their_own_time_and_conversations_their_latest_as_preview(executor):
    apps = executor.loader.project_state(BEFORE).apps
    tenant = apps.get_model("tenants", "Tenant").objects.create(name="Acme", slug="acme-migration")
    inbox = apps.get_model("conversations", "Inbox").objects.create(tenant=tenant, name="A", channel_type="whatsapp")
    contact = apps.get_model("conversations", "Contact").objects.create(tenant=tenant, wa_id="5511900000001")
    link = apps.get_model("conversations", "ContactInbox").objects.create(
        tenant=tenant, contact=contact, inbox=inbox, source_id="5511900000001"
    )
    conversation = apps.get_model("conversations", "Conversation").objects.create(
        tenant=tenant, display_id=1, inbox=inbox, contact=contact, contact_inbox=link
    )
    Message = apps.get_model("conversations", "Message")

    def message(name: str, *, direction: str = "in", stamped: datetime | None = None, private: bool = False):
        return Message.objects.create(
            tenant=tenant,
            conversation=conversation,
            inbox=inbox,
            direction=direction,
            sender_type="contact" if direction == "in" else "agent",
            text=name,
            private=private,
            status="received" if direction == "in" else "sent",
            external_timestamp=stamped,
        )

    reply = message("reply", direction="out")
    Message.objects.filter(pk=reply.pk).update(created_at=STAMPED - timedelta(hours=1))
    # Then the customer wrote twice; the webhook of the first came last.
    newer = message("newer", stamped=STAMPED + timedelta(minutes=1))
    older = message("older", stamped=STAMPED)
    note = message("note", direction="out", private=True)
    # Stored as the last to arrive, the older message was the preview.
    type(conversation).objects.filter(pk=conversation.pk).update(last_message_id=older.pk)

    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Message = apps.get_model("conversations", "Message")
    times = dict(Message.objects.values_list("text", "occurred_at"))
    created = dict(Message.objects.values_list("text", "created_at"))
    assert times == {
        "reply": STAMPED - timedelta(hours=1),
        "newer": STAMPED + timedelta(minutes=1),
        "older": STAMPED,
        "note": created["note"],
    }
    conversation = apps.get_model("conversations", "Conversation").objects.get(pk=conversation.pk)
    # The preview is the customer's latest message; a note (written later still) is never one.
    assert created["note"] > STAMPED + timedelta(minutes=1)
    assert (conversation.last_message_id, conversation.last_message_at) == (newer.pk, STAMPED + timedelta(minutes=1))
    assert conversation.last_reply_at == STAMPED - timedelta(hours=1)
    assert note.pk > older.pk
