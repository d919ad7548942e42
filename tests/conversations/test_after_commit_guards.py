"""Side effects handed to Redis or the broker after commit never reach the caller when Redis is down:
the fact stays committed, the caller gets its normal answer, and a WARNING says what was not handed over."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import OperationalError
from django.test import override_settings

from conversations import channels
from conversations.models import Conversation
from conversations.services.actions import conversation_mark_read
from tests.conversations.channel_double import QuietChannel
from tests.conversations.factories import make_conversation, make_inbox, make_message
from tests.e2e.harness import free_port

pytestmark = pytest.mark.django_db

GUARD_LOGGERS = ("helpdesk.after_commit", "helpdesk.realtime")


class RedisDownChannel(QuietChannel):
    """A channel whose every hand-over to the broker fails as redis-py does with Redis stopped."""

    channel_type = "tests-redis-down"
    read_receipts_asked: list[int] = []

    def __init__(self) -> None:
        super().__init__(self.channel_type)

    def enqueue_read_receipt(self, message):
        self.read_receipts_asked.append(message.pk)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class DownChannelLayer:
    """A channel layer whose Redis is gone."""

    sends = 0

    def __init__(self, **kwargs):
        pass

    async def group_send(self, group, message):
        DownChannelLayer.sends += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.fixture
def down_channel():
    backend = RedisDownChannel()
    backend.read_receipts_asked.clear()
    channels.register(backend)
    yield backend
    channels._registry.pop(RedisDownChannel.channel_type, None)


@pytest.fixture
def unread(tenant, owner) -> Conversation:
    inbox = make_inbox(tenant, members=[owner])
    inbox.channel_type = RedisDownChannel.channel_type
    inbox.save()
    conversation = make_conversation(inbox, unread_count=3)
    message = make_message(conversation, "Oi")
    message.external_id = "wamid.latest"
    message.save(update_fields=["external_id"])
    return conversation


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in GUARD_LOGGERS and r.levelno == logging.WARNING]


def test_a_read_receipt_not_handed_to_the_broker_never_fails_marking_read(
    owner, unread, down_channel, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        conversation_mark_read(membership=owner, conversation=unread)
    assert len(callbacks) == 2  # the live update and the read receipt
    assert Conversation.objects.get(pk=unread.pk).unread_count == 0
    latest = unread.messages.get()
    assert down_channel.read_receipts_asked == [latest.pk]
    assert warnings(caplog) == [f"Read receipt of message {latest.pk} not handed over after commit"]


@override_settings(
    CHANNEL_LAYERS={"default": {"BACKEND": "tests.conversations.test_after_commit_guards.DownChannelLayer"}}
)
def test_live_updates_not_published_never_fail_the_caller(tenant, owner, django_capture_on_commit_callbacks, caplog):
    conversation = make_conversation(make_inbox(tenant, members=[owner]), unread_count=2)
    DownChannelLayer.sends = 0
    with django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(membership=owner, conversation=conversation)
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0
    assert DownChannelLayer.sends == 1
    assert warnings(caplog) == ["1 live update(s) not handed over after commit"]


def test_live_updates_to_a_stopped_redis_are_logged_by_the_publisher(
    tenant, owner, django_capture_on_commit_callbacks, caplog
):
    # channels-redis on a port where nothing listens: the send runs on the publisher's own loop.
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    conversation = make_conversation(make_inbox(tenant, members=[owner]), unread_count=2)
    with override_settings(CHANNEL_LAYERS=layers), django_capture_on_commit_callbacks(execute=True):
        conversation_mark_read(membership=owner, conversation=conversation)
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0
    deadline = time.monotonic() + 30
    while not warnings(caplog) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the publisher thread's outcome, not for time to pass
    assert warnings(caplog) == ["Live updates not handed over after commit (2 group sends)"]
