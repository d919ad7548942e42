"""Builders of the CSAT tests: an inbox's survey saved through the service, a customer's conversation
resolved by an agent (subscribers run after the commit, as in their jobs), and the customer's answers."""

from __future__ import annotations

import itertools
from typing import Any

from django.utils import timezone

from automations.csat import CsatSpec, csat_update
from conversations.models import Conversation, Message
from conversations.services.actions import conversation_status_set
from conversations.services.inbound import InboundSpec, message_receive
from tenants.models import Membership
from whatsapp.models import MessageTemplate

_wamids = itertools.count(1)
CUSTOMER = "5511987654321"


def csat_configure(admin: Membership, inbox: Any, **fields: Any) -> None:
    csat_update(actor=admin, inbox=inbox, spec=CsatSpec(**{"enabled": True, **fields}))


def status_set(capture: Any, actor: Membership, conversation: Conversation, status: str) -> None:
    with capture(execute=True):
        conversation_status_set(actor=actor, conversation=conversation, status=status)
    conversation.refresh_from_db()


def customer_sends(capture: Any, channel: Any, spec: dict[str, Any], *, source_id: str = CUSTOMER) -> Message:
    """One customer message through the core's ingest, then its subscribers."""
    values = {
        "source_id": source_id,
        "external_id": f"wamid.csat-{next(_wamids)}",
        "occurred_at": timezone.now(),
        "type": "text",
        "profile_name": "Maria",
        **spec,
    }
    with capture(execute=True):
        message, _created = message_receive(inbox=channel.inbox, spec=InboundSpec(**values))
    return message


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": body, "content": {"v": 1, "kind": "text", "body": body}}


def list_reply(answer_id: str, title: str = "5") -> dict[str, Any]:
    return {
        "type": "interactive",
        "text": title,
        "content": {"v": 1, "kind": "reply", "reply_type": "list", "id": answer_id, "title": title},
    }


def button_reply(answer_id: str, title: str = "") -> dict[str, Any]:
    return {
        "type": "interactive",
        "text": title,
        "content": {"v": 1, "kind": "reply", "reply_type": "button", "id": answer_id, "title": title},
    }


def template_button(payload: str, title: str = "") -> dict[str, Any]:
    return {
        "type": "button",
        "text": title,
        "content": {"v": 1, "kind": "reply", "reply_type": "template_button", "id": payload, "title": title},
    }


def approved_template(channel: Any, *, name: str = "avaliacao", buttons: int = 3) -> MessageTemplate:
    titles = ["Ótimo", "Bom", "Regular", "Ruim", "Péssimo"] if buttons == 5 else ["Ótimo", "Regular", "Ruim"]
    return MessageTemplate.objects.create(
        tenant_id=channel.tenant_id,
        waba_id=channel.waba_id,
        name=name,
        language="pt_BR",
        category="UTILITY",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": "Como foi o nosso atendimento?"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": t} for t in titles[:buttons]]},
        ],
    )
