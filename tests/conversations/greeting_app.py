"""A feature app of the tests' own: it greets each new conversation as the automation 'Boas-vindas'.

It is written as an automation app will be (docs/actors.md): it imports only the core, subscribes to
a core event and sends through the core's service as itself; an idempotency key from the event's id
makes a redelivered event greet once.
"""

from __future__ import annotations

from conversations import events
from conversations.actors import AutomationActor
from conversations.models import Conversation
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send

SUBSCRIBER = "tests.greeting"
AUTOMATION_ID = 12
TEXT = "Olá! Já vamos te atender."


def greet(event: events.ConversationCreated) -> None:
    conversation = Conversation.objects.select_related("inbox", "tenant").get(
        tenant_id=event.tenant_id, pk=event.conversation_id
    )
    actor = AutomationActor(tenant_id=event.tenant_id, automation_id=AUTOMATION_ID, name="Boas-vindas", kind="greeting")
    try:
        message_send(
            actor=actor,
            conversation=conversation,
            spec=OutboundSpec(type="text", text=TEXT),
            idempotency_key=f"greeting-{event.event_id}",
        )
    except ReplyWindowClosed:
        return  # only a template may be sent now


def install() -> None:
    events.subscribe(events.ConversationCreated, greet, name=SUBSCRIBER)


def uninstall() -> None:
    events.unsubscribe(events.ConversationCreated, name=SUBSCRIBER)
