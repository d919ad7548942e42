"""The core's answers to a resolved conversation: a message a feature's keeper claims is filed in the resolved
conversation waiting for answers, which stays resolved and adds nothing to the queue; anything else opens a
new conversation as always; a conversation not waiting, or no longer, is never looked at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import answers
from conversations.models import Conversation
from conversations.services.actions import conversation_answers_await
from conversations.services.inbound import InboundSpec, message_receive
from tests.conversations.factories import make_conversation, make_inbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def keeper() -> Iterator[list[str]]:
    """A keeper that claims texts starting with "answer", recording what it was asked."""
    asked: list[str] = []

    def keep(conversation: Conversation, spec: InboundSpec) -> bool:
        asked.append(spec.text)
        return spec.text.startswith("answer")

    answers.answer_keeper_register("tests.answers", keep)
    yield asked
    answers.answer_keeper_unregister("tests.answers")


def _receive(conversation: Conversation, text: str, wamid: str) -> Conversation:
    spec = InboundSpec(
        source_id=conversation.contact_inbox.source_id,
        external_id=wamid,
        occurred_at=timezone.now(),
        type="text",
        text=text,
        content={"v": 1, "kind": "text", "body": text},
    )
    message, _created = message_receive(inbox=conversation.inbox, spec=spec)
    return message.conversation


def test_a_claimed_answer_stays_in_the_resolved_conversation_and_the_rest_opens_a_new_one(tenant, keeper):
    resolved = make_conversation(make_inbox(tenant), status="resolved", resolved_at=timezone.now())
    conversation_answers_await(conversation=resolved, until=timezone.now() + timedelta(hours=1))

    kept = _receive(resolved, "answer: 5", "wamid.a1")
    other = _receive(resolved, "I have another question", "wamid.a2")

    resolved.refresh_from_db()
    assert kept.pk == resolved.pk
    assert (resolved.status, resolved.unread_count, resolved.waiting_since) == ("resolved", 0, None)
    assert resolved.last_inbound_at is not None
    assert other.pk != resolved.pk
    assert (other.status, other.unread_count) == ("open", 1)
    assert keeper == ["answer: 5", "I have another question"]
    # With an open conversation, the customer's messages go there; the keeper is not asked.
    assert _receive(resolved, "answer: 4", "wamid.a3").pk == other.pk
    assert keeper == ["answer: 5", "I have another question"]


def test_a_resolved_conversation_not_waiting_or_no_longer_waiting_is_never_asked_about(tenant, keeper):
    inbox = make_inbox(tenant)
    never = make_conversation(inbox, status="resolved")
    expired = make_conversation(inbox, status="resolved")
    conversation_answers_await(conversation=expired, until=timezone.now() - timedelta(seconds=1))

    assert _receive(never, "answer: 5", "wamid.b1").pk != never.pk
    assert _receive(expired, "answer: 5", "wamid.b2").pk != expired.pk
    assert keeper == []
