"""On PostgreSQL, with threads: one customer message taken by several workers at once takes one step and sends one
reply; two flows' first messages at once start one session per conversation."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from conversations.models import Message
from flows import runtime
from flows.models import FlowInput, FlowSession
from tests.prerequisites import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


def _at_once(callers: int, act) -> list[object]:
    barrier = threading.Barrier(callers)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(act(index))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_one_message_taken_by_four_workers_at_once_takes_one_step(recharge, write, sent):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    conversation = write("recarregar").conversation
    answer = write("123456789012")
    FlowInput.objects.filter(message=answer).delete()
    session = FlowSession.objects.get(conversation=conversation)
    FlowSession.objects.filter(pk=session.pk).update(step="ask_card", variables=session.variables | {"card": None})
    bot_before = (
        Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .exclude(type="system")
        .count()
    )

    outcomes = _at_once(
        4,
        lambda _i: runtime.input_take(
            Message.objects.select_related("conversation__tenant", "conversation__contact", "conversation__inbox").get(
                pk=answer.pk
            )
        ),
    )

    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "taken"]
    bot_after = (
        Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .exclude(type="system")
        .count()
    )
    assert bot_after == bot_before + 1
    assert FlowSession.objects.get(pk=session.pk).step == "ask_amount"


def test_a_flow_started_by_four_workers_at_once_starts_once(recharge, write, sent, monkeypatch):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    # The message is stored without its subscribers; then four workers take it at once.
    monkeypatch.setattr(runtime, "input_take", lambda message: "held back")
    first = write("recarregar")
    monkeypatch.undo()

    outcomes = _at_once(
        4,
        lambda _i: runtime.input_take(
            Message.objects.select_related("conversation__tenant", "conversation__contact", "conversation__inbox").get(
                pk=first.pk
            )
        ),
    )

    assert sorted(outcomes).count("started") == 1
    assert FlowSession.objects.filter(conversation=first.conversation).count() == 1
    assert (
        Message.objects.filter(conversation=first.conversation, sender_type="bot", private=False)
        .exclude(type="system")
        .count()
        == 1
    )
