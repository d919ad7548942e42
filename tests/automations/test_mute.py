"""Muted conversations and the automations: a rule can mute; a muted conversation's messages are seen by no
rule, greeting or away message; muting resolves without a satisfaction survey."""

from __future__ import annotations

import pytest

from automations.models import AutomatedMessage, CsatSurvey, RuleRun
from conversations.models import Conversation, Message
from conversations.services.actions import conversation_mute_set, conversation_status_set
from tenants.models import AuditLogEntry
from tests.automations.csat_helpers import csat_configure
from tests.automations.rules_helpers import history, make_rule, runs

pytestmark = pytest.mark.django_db


def _customer_messages(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, direction="in").order_by("id").values_list("text", flat=True)
    )


def test_a_rule_mutes_and_then_no_rule_sees_the_muted_conversations_messages(admin, customer_writes, clock):
    spam = make_rule(
        admin, name="Spam", items=[{"type": "keywords", "values": ["promoção"]}], actions=[{"type": "mute"}]
    )
    every = make_rule(admin, name="Every message", actions=[{"type": "add_note", "text": "seen"}])

    conversation = customer_writes("PROMOÇÃO imperdível").conversation
    clock.advance(minutes=1)
    later = customer_writes("outra promoção").conversation

    conversation.refresh_from_db()
    assert later.pk == conversation.pk
    assert (conversation.status, conversation.unread_count) == ("resolved", 1)
    assert conversation.muted_at is not None
    assert runs(spam) == [("matched", conversation.pk)]
    assert runs(every) == [("matched", conversation.pk)]
    assert RuleRun.objects.get(rule=spam).actions_done == [{"type": "mute", "result": "done", "detail": ""}]
    assert history(conversation) == ["Muted by automation 'Spam'"]
    entry = AuditLogEntry.objects.get(action="conversation.muted")
    assert (entry.actor_id, entry.actor_label) == (None, f"automation 'Spam' (#{spam.pk})")
    assert _customer_messages(conversation) == ["PROMOÇÃO imperdível", "outra promoção"]
    assert Conversation.objects.count() == 1


def test_a_muted_conversation_gets_no_greeting_nor_away_message(
    admin, channel, clock, sends, configure, customer_writes, office_hours
):
    configure(greeting_enabled=True, away_enabled=True)
    conversation = customer_writes("Oi").conversation
    greeted = list(AutomatedMessage.objects.values_list("kind", flat=True).order_by("kind"))
    sent = list(sends.message_ids)
    conversation_mute_set(actor=admin, conversation=conversation, muted=True)
    clock.advance(hours=30)  # past the away message's 4 hours and the greeting's days without contact

    assert customer_writes("Oi de novo").conversation_id == conversation.pk

    assert greeted == ["away", "greeting"]
    assert sorted(AutomatedMessage.objects.values_list("kind", flat=True)) == ["away", "greeting"]
    assert sends.message_ids == sent


def test_muting_resolves_without_a_satisfaction_survey(
    admin, channel, clock, sends, customer_writes, django_capture_on_commit_callbacks
):
    csat_configure(admin, channel.inbox)
    conversation = customer_writes("Oi").conversation
    other = customer_writes("Oi", source_id="5511900001111").conversation

    with django_capture_on_commit_callbacks(execute=True):
        conversation_mute_set(actor=admin, conversation=conversation, muted=True)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_status_set(actor=admin, conversation=other, status="resolved")

    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    # The same survey goes out on a plain resolve: only muting sent none.
    assert list(CsatSurvey.objects.values_list("conversation_id", flat=True)) == [other.pk]
    assert len(sends.message_ids) == 1
