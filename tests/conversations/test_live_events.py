"""What live events carry: the row once per transaction, the tab counts' change, versions."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conversations.services.inbound import InboundSpec, message_receive
from tests.conversations.factories import captured_events, make_inbox, of_type
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


def test_a_new_conversations_first_message_carries_the_row_and_its_update_does_not_repeat_it(tenant):
    owner = owner_of(tenant)
    inbox = make_inbox(tenant, name="Vendas", members=[owner])
    spec = InboundSpec(
        source_id="5511955501234",
        external_id="wamid.first",
        occurred_at=timezone.now(),
        type="text",
        text="Quero recarregar meu cartão",
        profile_name="Rita",
    )

    with captured_events() as events:
        message, _created = message_receive(inbox=inbox, spec=spec)

    [(created_to, created)] = of_type(events, "message.created")
    [(updated_to, updated)] = of_type(events, "conversation.updated")
    assert created_to == updated_to == [owner.user_id]
    assert created["row"]["id"] == message.conversation_id
    assert "Quero recarregar meu cartão" in next(iter(created["row"]["html"].values()))
    assert "row" not in updated and updated["row_sent"] is True
    # A new conversation counts in the tabs from now on: it did not exist before.
    assert updated["counts"]["before"] is None
    assert updated["counts"]["after"]["open"] is True and updated["counts"]["after"]["assignee_id"] is None
    # Those without the conversation open get no bubble (the sockets that watch it get the fuller variant).
    assert "html" not in created["message"] and created["message"]["previous_id"] == 0
