"""Domain events from webhooks: each fact is recorded once, whatever Meta repeats or reorders."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Contact, Conversation, Message, OutboxEvent
from tests.whatsapp.conftest import make_sent_message
from tests.whatsapp.test_batch_processing import envelope, status, text

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)
T0 = 1_760_000_000
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def recorded(event_type: str, **payload) -> list[dict]:
    filters = {f"payload__{key}": value for key, value in payload.items()}
    return list(
        OutboxEvent.objects.filter(event_type=event_type, **filters)
        .order_by("created_at")
        .values_list("payload", flat=True)
    )


@HYPOTHESIS
@given(data=st.data())
def test_each_fact_is_recorded_once_under_duplicated_and_reordered_webhooks(webhook, channel, data):
    n = next(_seq)
    customer, known = f"5511977{n:06d}", f"5511988{n:06d}"
    reply = make_sent_message(channel, source_id=known, external_id=f"wamid.out-{n}")
    inbound = {f"wamid.in-{n}-{i}": T0 + 10 * i for i in range(2)}
    arrivals = [("in", wamid, k) for wamid in inbound for k in range(data.draw(st.integers(1, 3), label=wamid))]
    arrivals += [
        (name, reply.external_id, k)
        for name in ("sent", "delivered", "read")
        for k in range(data.draw(st.integers(0, 3), label=name))
    ]
    for kind, wamid, k in data.draw(st.permutations(arrivals), label="arrival order"):
        if kind == "in":
            payload = envelope(channel, messages=[text(customer, wamid, inbound[wamid], "Oi")])
        else:
            payload = envelope(
                channel, statuses=[status(wamid, kind, T0 + {"sent": 1, "delivered": 2, "read": 3}[kind])]
            )
        if k == 1:
            payload["entry"][0]["time"] = T0 + k  # the same fact in another body: not deduplicated by hash
        response = webhook.post(channel, payload)
        assert response.status_code == 200

    messages = {m.external_id: m for m in Message.objects.filter(external_id__in=inbound)}
    assert len(messages) == 2
    for message in messages.values():
        assert [p["conversation_id"] for p in recorded("message.received", message_id=message.pk)] == [
            message.conversation_id
        ]
    contact = Contact.objects.get(tenant=channel.tenant, identities__address=customer)
    conversation = Conversation.objects.get(contact=contact)
    assert [p["display_id"] for p in recorded("conversation.created", conversation_id=conversation.pk)] == [
        conversation.display_id
    ]
    assert [p["inbox_id"] for p in recorded("contact.created", contact_id=contact.pk)] == [channel.inbox_id]
    # The delivery statuses: one event per forward move, each from where the previous one left it.
    moves = [(p["previous_status"], p["status"]) for p in recorded("message.status_changed", message_id=reply.pk)]
    reply.refresh_from_db()
    chain = ["sent", *(after for _before, after in moves)]
    assert [before for before, _after in moves] == chain[:-1]
    assert chain[-1] == reply.status
    assert len(set(chain)) == len(chain)
    arrived = {kind for kind, _wamid, _k in arrivals} - {"in"}
    assert reply.status == max(["sent", *arrived], key=Message.STATUS_RANK.__getitem__)
