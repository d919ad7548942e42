"""How delivery jobs are asked for: one send job per inbox's queue, or a message sent ahead of it.

The jobs live in ``conversations/tasks.py`` and are found by name in Celery's registry. A broker
(or Redis) outage never reaches the caller: the message is already committed as queued and due,
and the delivery sweeper (``messages_sweep``, every few seconds) asks again once the broker is back.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import current_app

from conversations.models import Message
from helpdesk.jobs import BROKER_ERRORS, DRAIN_KEY_TTL, inline, redis_client

logger = logging.getLogger(__name__)

# A customer is waiting for these: they go ahead of the inbox's send queue (an integrator's
# broadcast of thousands), instead of behind it. The system's own history lines are private and
# never reach the channel; what the system sends the customer is a reply like an agent's.
AHEAD_OF_QUEUE = frozenset({Message.SenderType.AGENT, Message.SenderType.BOT, Message.SenderType.SYSTEM})


def task(name: str) -> Any:
    """The core's Celery task ``name`` (a function of ``conversations/tasks.py``)."""
    return current_app.tasks[f"conversations.tasks.{name}"]


def send_key(inbox_id: int) -> str:
    return f"helpdesk:send:{inbox_id}"


def delivery_enqueue(message: Message, *, ahead: bool = True) -> bool:
    """Have a queued outbound message sent (called after commit). Returns False when the broker is
    down: the message stays queued and the sweeper hands it over later. A message of a sender that
    goes ahead of the queue joins the queue all the same when ``ahead`` is False (a broadcast's)."""
    try:
        if ahead and message.sender_type in AHEAD_OF_QUEUE:
            send_ahead_request(message_id=message.pk)
        else:
            send_request(message_id=message.pk, inbox_id=message.inbox_id)
    except BROKER_ERRORS as exc:
        # The exception's text names the broker's host at most, never a credential (no URL).
        logger.warning("Delivery of message %s not enqueued, left for the sweeper: %s", message.pk, type(exc).__name__)
        return False
    return True


def send_ahead_request(*, message_id: int) -> None:
    """Have a queued message sent now, ahead of its inbox's send queue (see ``message_deliver_ahead``)."""
    if inline():
        task("message_deliver").delay(message_id)
        return
    task("message_deliver_ahead").delay(message_id)


def send_request(*, message_id: int, inbox_id: int) -> None:
    """Have a queued message sent now.

    With a worker, one job at a time works an inbox's send queue (see ``messages_deliver_parts``).
    It is enqueued only when none is running (one Redis call), so a broadcast of thousands costs
    one job, not one per message. Without a worker, the message is sent now.
    """
    if inline():
        task("message_deliver").delay(message_id)
        return
    client = redis_client()
    if client.set(send_key(inbox_id), "1", nx=True, ex=DRAIN_KEY_TTL):
        try:
            task("messages_send_drain").delay(inbox_id)
        except BROKER_ERRORS:
            # No job holds the key: let the next request (or the sweeper) take it, not in a minute.
            with contextlib.suppress(*BROKER_ERRORS):
                client.delete(send_key(inbox_id))
            raise


def send_requests(messages: list[tuple[int, int]]) -> int:
    """``send_request`` for many ``(message_id, inbox_id)`` pairs: with a worker, one request per inbox.
    Stops at the first broker error (the sweeper tries again); returns how many were asked for."""
    asked: set[int] = set()
    done = 0
    for message_id, inbox_id in messages:
        if not inline() and inbox_id in asked:
            continue
        asked.add(inbox_id)
        try:
            send_request(message_id=message_id, inbox_id=inbox_id)
        except BROKER_ERRORS as exc:
            logger.warning("Delivery requests not enqueued, left for the next sweep: %s", type(exc).__name__)
            break
        done += 1
    return done
