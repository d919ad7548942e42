"""Two auto-resolve jobs at once (two beat runs, two workers) on PostgreSQL: each conversation is resolved
once and its customer gets one closing message."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connections

from automations import auto_resolve_run
from automations.models import AutoResolution
from conversations.models import Conversation, Message
from conversations.services import delivery_jobs
from tests.automations.auto_resolve_helpers import (
    HOUR,
    NOW,
    Clock,
    agent_answers,
    auto_resolve_on,
    customer_writes,
    set_now,
    whatsapp_inbox,
)
from tests.prerequisites import require_postgresql

CONVERSATIONS = 12


@pytest.mark.django_db(transaction=True)
def test_two_jobs_at_once_resolve_each_conversation_once_with_one_closing_message(tenant, admin, monkeypatch):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    clock = set_now(monkeypatch, Clock())
    handed_over: list[int] = []
    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", lambda message: handed_over.append(message.pk) or True)
    inbox = whatsapp_inbox(tenant)
    auto_resolve_on(admin, inbox, after_hours=1, closing_message={"en": "Closing this chat, bye!"})
    for n in range(CONVERSATIONS):
        conversation = customer_writes(inbox, clock, at=NOW - 3 * HOUR, customer=f"55119444400{n:02d}")
        agent_answers(conversation, clock, at=NOW - 2 * HOUR)
    clock.set(NOW)
    handed_over.clear()

    # Both jobs have read the same due conversations before either takes the first one.
    barrier = threading.Barrier(2)
    original = auto_resolve_run._resolve_one
    first_calls = itertools.count()

    def resolve_after_both_looked(*args, **kwargs):
        if next(first_calls) < 2:
            barrier.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(auto_resolve_run, "_resolve_one", resolve_after_both_looked)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(auto_resolve_run.conversations_auto_resolve(now=NOW))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r["resolved"] for r in results) == CONVERSATIONS
    assert sum(r["sent"] for r in results) == CONVERSATIONS
    assert Conversation.objects.filter(tenant=tenant, status="resolved").count() == CONVERSATIONS
    closing = list(Message.objects.filter(tenant=tenant, sender_type="bot").values_list("conversation_id", flat=True))
    assert sorted(closing) == sorted(Conversation.objects.filter(tenant=tenant).values_list("pk", flat=True))
    assert AutoResolution.objects.filter(tenant=tenant).count() == CONVERSATIONS
    assert sorted(handed_over) == sorted(
        Message.objects.filter(tenant=tenant, sender_type="bot").values_list("pk", flat=True)
    )
