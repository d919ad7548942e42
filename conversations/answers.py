"""Answers to a resolved conversation: what a feature asked the customer after resolving (a satisfaction
survey) is answered in that conversation, which stays resolved, instead of opening a new one in the agents'
queue.

A feature marks a resolved conversation as waiting for answers until some moment
(``conversations.services.actions.conversation_answers_await``) and registers an ``AnswerKeeper`` that
tells, for a customer message, whether it is such an answer. Ingest then files each message of a customer
whose latest conversation is resolved and waiting: an answer a keeper claims goes to the resolved
conversation (no unread count, no waiting time, the status unchanged; the reply window moves, as for any
customer message); anything else opens a new conversation as always. The core never knows what the
answers are about; features never touch ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conversations.models import Conversation

# (the resolved conversation waiting for answers, the customer's message as ingest has it: an
# ``InboundSpec`` of ``conversations.services.inbound``, which imports this module) -> whether it is an answer.
AnswerKeeper = Callable[[Conversation, Any], bool]

_keepers: dict[str, AnswerKeeper] = {}


def answer_keeper_register(name: str, keeper: AnswerKeeper) -> None:
    """Let ``keeper`` claim customer messages as answers to resolved conversations waiting for them."""
    if name in _keepers and _keepers[name] is not keeper:
        raise ValueError(f"An answer keeper named {name!r} is registered already.")
    _keepers[name] = keeper


def answer_keeper_unregister(name: str) -> None:
    _keepers.pop(name, None)


def answer_keepers_registered() -> bool:
    return bool(_keepers)


def answer_kept(conversation: Conversation, spec: Any) -> bool:
    """Whether a keeper claims ``spec`` as an answer in ``conversation`` (resolved, waiting for answers)."""
    return any(keeper(conversation, spec) for keeper in _keepers.values())
